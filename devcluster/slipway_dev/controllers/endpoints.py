"""The endpoints controller: each Service with a selector gets an Endpoints object and EndpointSlices
naming its pods.

All simulated pods share 127.0.0.1, so each pod is an Endpoints subset of its own, and an
EndpointSlice of its own (a slice has one port list for all its endpoints), with the port its server
listens on (annotation slipway.dev/sim-port): `kubectl get endpoints`, `kubectl get endpointslices`
and `kubectl describe service` (which reads the slices) then show where the Service's traffic really
goes. Pods not ready are `notReadyAddresses` and slice endpoints with `ready: false`, as upstream;
terminating pods leave the Endpoints and stay in their slice with `ready: false, terminating: true`;
pods whose server is not up yet are left out. Services without a selector keep the Endpoints their
owner writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slipway_dev.controllers.client import ENDPOINT_SLICES, ENDPOINTS, PODS, SERVICES, JsonObject
from slipway_dev.controllers.runtime import Controller, Informers, Key, create_all, key_of
from slipway_dev.controllers.workloads import is_deleting, pod_is_ready
from slipway_dev.pods import SIM_PORT_ANNOTATION

POD_IP = "127.0.0.1"
# An Endpoints object lists every pod (1,000 pods: 150 KB): rewrite it at most once a second while
# pods churn, as upstream batches endpoint updates too. Nothing in the world routes by it. The first
# change after a quiet second is written at once, so a lone pod turning ready or terminating shows
# without delay.
GATHER_SECONDS = 1.0
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


@dataclass(frozen=True)
class PodEndpoint:
    """A pod a Service selects, with the port its simulated server listens on."""

    name: str
    uid: str
    port: int
    ready: bool
    terminating: bool = False

    def target_ref(self, namespace: str) -> JsonObject:
        return {"kind": "Pod", "namespace": namespace, "name": self.name, "uid": self.uid}


def pod_endpoints(service: JsonObject, pods: Sequence[JsonObject]) -> list[PodEndpoint]:
    selector = service.get("spec", {}).get("selector") or {}
    namespace = service["metadata"].get("namespace")
    found = []
    for pod in sorted(pods, key=lambda pod: str(pod["metadata"]["name"])):
        meta = pod["metadata"]
        port = (meta.get("annotations") or {}).get(SIM_PORT_ANNOTATION)
        if meta.get("namespace") != namespace or not port:
            continue
        if not selector.items() <= (meta.get("labels") or {}).items():
            continue
        found.append(
            PodEndpoint(
                str(meta["name"]), str(meta.get("uid")), int(port), pod_is_ready(pod), is_deleting(pod)
            )
        )
    return found


def _ports(service: JsonObject, pod_port: int) -> list[JsonObject]:
    """An endpoint port for each Service port, all on the pod's one server; named as the Service
    port is ("" when unnamed), since kubectl describe matches them by name."""
    ports = [p for p in service.get("spec", {}).get("ports") or [] if isinstance(p, dict)] or [{}]
    return [
        {"name": str(p.get("name") or ""), "port": pod_port, "protocol": str(p.get("protocol") or "TCP")}
        for p in ports
    ]


def endpoint_subsets(service: JsonObject, endpoints: Sequence[PodEndpoint]) -> list[JsonObject]:
    namespace = str(service["metadata"].get("namespace"))
    subsets = []
    for endpoint in endpoints:
        if endpoint.terminating:
            continue  # Endpoints name no terminating pod (unless publishNotReadyAddresses), as upstream
        # an Endpoints port leaves an empty name out
        ports = [{k: v for k, v in port.items() if v != ""} for port in _ports(service, endpoint.port)]
        address = {"ip": POD_IP, "targetRef": endpoint.target_ref(namespace)}
        subsets.append({"addresses" if endpoint.ready else "notReadyAddresses": [address], "ports": ports})
    return subsets


def slice_name(service_name: str, endpoint: PodEndpoint) -> str:
    return f"{service_name}-{endpoint.uid.replace('-', '')[:12]}"


def endpoint_slices(service: JsonObject, endpoints: Sequence[PodEndpoint]) -> dict[str, JsonObject]:
    """One EndpointSlice per pod, by name; upstream's slice fields that kubectl reads."""
    meta = service["metadata"]
    namespace, service_name = str(meta.get("namespace")), str(meta["name"])
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": service_name,
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    slices = {}
    for endpoint in endpoints:
        name = slice_name(service_name, endpoint)
        slices[name] = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {SERVICE_NAME_LABEL: service_name, MANAGED_BY_LABEL: MANAGED_BY},
                "ownerReferences": [owner],
            },
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": [POD_IP],
                    # a terminating pod stays in its slice, not ready, serving as long as it is ready
                    "conditions": {
                        "ready": endpoint.ready and not endpoint.terminating,
                        "serving": endpoint.ready,
                        "terminating": endpoint.terminating,
                    },
                    "targetRef": endpoint.target_ref(namespace),
                }
            ],
            "ports": _ports(service, endpoint.port),
        }
    return slices


class LabelIndex:
    """Pods' keys by (namespace, label, value), so that a Service finds its pods without reading every
    pod of its namespace (with 1,000 pods and 20,000 Services in one namespace, reading them all for
    each Service kept this controller busy for minutes, and the API server it shares a loop with slow:
    bench_scale)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str], set[Key]] = {}
        self._labels: dict[Key, dict[str, str]] = {}

    def put(self, key: Key, labels: Mapping[str, str]) -> None:
        self.drop(key)
        self._labels[key] = dict(labels)
        for label, value in labels.items():
            self._keys.setdefault((key[0], label, value), set()).add(key)

    def drop(self, key: Key) -> None:
        for label, value in self._labels.pop(key, {}).items():
            keys = self._keys[(key[0], label, value)]
            keys.discard(key)
            if not keys:
                del self._keys[(key[0], label, value)]

    def labels(self, key: Key) -> dict[str, str]:
        return self._labels.get(key, {})

    def holding(self, namespace: str, selector: Mapping[str, str]) -> set[Key]:
        """The keys whose labels hold every one of `selector`'s (none when it is empty)."""
        buckets = [self._keys.get((namespace, label, value), set()) for label, value in selector.items()]
        if not buckets:
            return set()
        return {key for key in min(buckets, key=len) if selector.items() <= self._labels[key].items()}


class SelectorIndex:
    """Services' keys by selector, found from a pod's labels: grouped by the labels a selector names
    (a namespace's Services select on few sets of labels), then by the values it wants, so that a
    pod's event finds the Services selecting it in a lookup per group, not by reading each Service."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[tuple[str, ...], dict[tuple[str, ...], set[Key]]]] = {}
        self._selectors: dict[Key, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def put(self, key: Key, selector: Mapping[str, str]) -> None:
        self.drop(key)
        if not selector:
            return  # selects nothing (the Service's Endpoints are its owner's)
        names = tuple(sorted(selector))
        values = tuple(selector[name] for name in names)
        self._selectors[key] = (names, values)
        self._groups.setdefault(key[0], {}).setdefault(names, {}).setdefault(values, set()).add(key)

    def drop(self, key: Key) -> None:
        found = self._selectors.pop(key, None)
        if found is None:
            return
        names, values = found
        groups = self._groups[key[0]]
        keys = groups[names][values]
        keys.discard(key)
        if not keys:
            del groups[names][values]
            if not groups[names]:
                del groups[names]
                if not groups:
                    del self._groups[key[0]]

    def selecting(self, namespace: str, labels: Mapping[str, str]) -> set[Key]:
        """The keys whose selector `labels` meet."""
        found: set[Key] = set()
        for names, by_values in self._groups.get(namespace, {}).items():
            if all(name in labels for name in names):
                found |= by_values.get(tuple(labels[name] for name in names), set())
        return found


class EndpointsController:
    def __init__(self, informers: Informers) -> None:
        self.client = informers.client
        self.services = informers.get(SERVICES)
        self.pods = informers.get(PODS)
        self.endpoints = informers.get(ENDPOINTS)
        self.slices = informers.get(ENDPOINT_SLICES)
        self.controller: Controller[Key] = Controller(
            "endpoints", self.reconcile, workers=2, gather_seconds=GATHER_SECONDS, leading_edge=True
        )
        self._pod_labels = LabelIndex()
        self._selectors = SelectorIndex()
        self.services.subscribe(self._on_service)
        self.pods.subscribe(self._on_pod)

    def _on_service(self, kind: str, service: JsonObject) -> None:
        key = key_of(service)
        if kind == "DELETED":
            self._selectors.drop(key)
        else:
            self._selectors.put(key, service.get("spec", {}).get("selector") or {})
        self.controller.enqueue(key)

    def _on_pod(self, kind: str, pod: JsonObject) -> None:
        # The Services that select the pod as it is now, and those that selected it as it was.
        key = key_of(pod)
        labels = pod["metadata"].get("labels") or {}
        selecting = self._selectors.selecting(key[0], labels)
        selecting |= self._selectors.selecting(key[0], self._pod_labels.labels(key))
        if kind == "DELETED":
            self._pod_labels.drop(key)
        else:
            self._pod_labels.put(key, labels)
        for service in selecting:
            self.controller.enqueue(service)

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        service = self.services.cache.get(key)
        existing = self.endpoints.cache.get(key)
        if service is None:
            if existing is not None:
                await self.client.delete(ENDPOINTS, namespace, name, existing["metadata"]["uid"])
                self.endpoints.record_delete(existing)
            # The server collects its slices by ownerReference; one this controller created while the
            # Service was going would escape that, so what is left is deleted here.
            await self._write_slices(namespace, name, {})
            return None
        selector = service.get("spec", {}).get("selector") or {}
        if not selector:
            return None
        selected = self._pod_labels.holding(namespace, selector)
        endpoints = pod_endpoints(
            service, [self.pods.cache[pod] for pod in selected if pod in self.pods.cache]
        )
        await self._write_endpoints(service, existing, endpoint_subsets(service, endpoints))
        await self._write_slices(
            namespace, name, endpoint_slices(service, endpoints), service["metadata"].get("uid")
        )
        return None

    async def _write_endpoints(
        self, service: JsonObject, existing: JsonObject | None, subsets: list[JsonObject]
    ) -> None:
        namespace, name = key_of(service)
        if existing is None:
            body = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(service["metadata"].get("labels") or {}),
                },
                "subsets": subsets,
            }
            self.endpoints.record_write(await self.client.create(ENDPOINTS, namespace, body))
        elif (existing.get("subsets") or []) != subsets:
            patched = await self.client.patch(ENDPOINTS, namespace, name, {"subsets": subsets or None})
            if patched is not None:
                self.endpoints.record_write(patched)

    async def _write_slices(
        self, namespace: str, service_name: str, wanted: dict[str, JsonObject], owner: str | None = None
    ) -> None:
        """Make the Service's slices `wanted`; they are found by their controlling owner, the Service
        (`owner`, its uid), or, the Service gone, among the namespace's."""
        candidates = self.slices.controlled_by(owner) if owner else self.slices.in_namespace(namespace)
        current = {
            obj["metadata"]["name"]: obj
            for obj in candidates
            if obj["metadata"].get("namespace") == namespace
            and (obj["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == service_name
            and (obj["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        }
        for name, obj in current.items():
            if name not in wanted:
                await self.client.delete(ENDPOINT_SLICES, namespace, name, obj["metadata"]["uid"])
                self.slices.record_delete(obj)
        await create_all(
            self.slices, namespace, [body for name, body in wanted.items() if name not in current]
        )
        for name, body in wanted.items():
            found = current.get(name)
            if found is not None and (found.get("endpoints"), found.get("ports")) != (
                body["endpoints"],
                body["ports"],
            ):
                patched = await self.client.patch(
                    ENDPOINT_SLICES, namespace, name, {"endpoints": body["endpoints"], "ports": body["ports"]}
                )
                if patched is not None:
                    self.slices.record_write(patched)
