"""Service cluster IPs: allocated from the service range at create, unique, kept on update, released on
delete, as the real Service registry does. They are only a field: nothing ever sends traffic to one."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from slipway_dev.apiserver.errors import field_cause

SERVICE_RANGE = ipaddress.IPv4Network("10.96.0.0/12")


def _go_strings(values: list[Any]) -> str:
    """How Go prints a []string in a validation message."""
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


def _needs_cluster_ip(spec: dict[str, Any]) -> bool:
    return bool(spec.get("type", "ClusterIP") != "ExternalName")


class ServiceIPs:
    """The allocator of one cluster: which addresses of the range are taken."""

    def __init__(self, network: ipaddress.IPv4Network = SERVICE_RANGE) -> None:
        self.network = network
        self._taken: set[str] = set()
        self._random = random.Random()

    def allocated(self) -> set[str]:
        return set(self._taken)

    def assign(self, obj: dict[str, Any], dry_run: bool) -> list[dict[str, str]]:
        """Give a new Service its clusterIP(s): the one asked for if free and in range, else a free one
        (None for headless). Returns validation causes instead when the requested one is unusable."""
        spec = obj.setdefault("spec", {})
        if not _needs_cluster_ip(spec):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            return []
        requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
        if requested == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return []
        if requested:
            causes = self._check_requested(requested, spec)
            if causes:
                return causes
            address = requested
        else:
            address = self._free()
        if not dry_run:
            self._taken.add(address)
        spec["clusterIP"], spec["clusterIPs"] = address, [address]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        return []

    def _check_requested(self, requested: str, spec: dict[str, Any]) -> list[dict[str, str]]:
        shown = _go_strings(spec.get("clusterIPs") or [requested])
        try:
            address = ipaddress.ip_address(requested)
        except ValueError:
            return [
                field_cause(
                    "spec.clusterIPs[0]",
                    f'Invalid value: "{requested}": must be a valid IP address, '
                    "(e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            ]
        if address not in self.network or address in (
            self.network.network_address,
            self.network.broadcast_address,
        ):
            return [
                field_cause(
                    "spec.clusterIPs",
                    f"Invalid value: {shown}: failed to allocate IP {requested}: provided IP ({requested}) "
                    f"is not in the valid range. The range of valid IPs is {self.network}",
                )
            ]
        if requested in self._taken:
            return [
                field_cause(
                    "spec.clusterIPs",
                    f"Invalid value: {shown}: failed to allocate IP {requested}: "
                    "provided IP is already allocated",
                )
            ]
        return []

    def _free(self) -> str:
        size = self.network.num_addresses
        base = int(self.network.network_address)
        while True:
            candidate = str(ipaddress.ip_address(base + self._random.randrange(1, size - 1)))
            if candidate not in self._taken:
                return candidate

    def keep_on_update(self, old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, str]]:
        """An update that leaves clusterIP out keeps the allocated one; changing it is refused."""
        old_spec, spec = old.get("spec") or {}, new.setdefault("spec", {})
        if not (_needs_cluster_ip(old_spec) and _needs_cluster_ip(spec)):
            return []
        old_ips = old_spec.get("clusterIPs") or ([old_spec["clusterIP"]] if old_spec.get("clusterIP") else [])
        if not old_ips:
            return []
        if not spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIP"], spec["clusterIPs"] = old_spec.get("clusterIP", old_ips[0]), list(old_ips)
        elif spec.get("clusterIP") and spec.get("clusterIPs") == old_ips and spec["clusterIP"] != old_ips[0]:
            spec["clusterIPs"] = [spec["clusterIP"]]  # the server's normalisation: clusterIP wins
        elif spec.get("clusterIPs") and not spec.get("clusterIP"):
            spec["clusterIP"] = spec["clusterIPs"][0]
        elif spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        ips = spec["clusterIPs"]
        for index, address in enumerate(old_ips):
            if index < len(ips) and ips[index] != address:
                return [
                    field_cause(
                        f"spec.clusterIPs[{index}]",
                        f"Invalid value: {_go_strings(ips)}: may not change once set",
                    )
                ]
        for key in ("ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            if key in old_spec:
                spec.setdefault(key, old_spec[key])
        return []

    def release(self, obj: dict[str, Any]) -> None:
        for address in (obj.get("spec") or {}).get("clusterIPs") or ():
            self._taken.discard(address)
