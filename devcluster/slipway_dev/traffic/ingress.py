"""ingress-nginx canaries: a canary Ingress takes `canary-weight` of its host's traffic.

Ingresses are grouped by namespace and host. The one without the annotation
`nginx.ingress.kubernetes.io/canary: "true"` is the main Ingress; a canary Ingress for the same host
takes `nginx.ingress.kubernetes.io/canary-weight` out of `canary-weight-total` (default 100), the
main one the rest. Each Ingress's backend is the Service of its first path (or its default backend).
Header and cookie canaries are not simulated: the gateway's requests carry neither.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway_dev.controllers.client import INGRESSES, JsonObject, Resource
from slipway_dev.traffic import ClusterView, EntryPoint, ServiceKey, weighted_entry_point

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
CANARY_WEIGHT_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"


def _is_canary(ingress: JsonObject) -> bool:
    return str((ingress["metadata"].get("annotations") or {}).get(CANARY, "")).lower() == "true"


def _annotation_number(ingress: JsonObject, key: str, default: int) -> int:
    text = (ingress["metadata"].get("annotations") or {}).get(key, "")
    return int(text) if text.strip().isdigit() else default


def _host_and_service(ingress: JsonObject) -> tuple[str, ServiceKey] | None:
    namespace = ingress["metadata"].get("namespace", "")
    spec = ingress.get("spec") or {}
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            service = (path.get("backend") or {}).get("service") or {}
            if service.get("name"):
                return str(rule.get("host", "")), (namespace, str(service["name"]))
    default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    return ("", (namespace, str(default))) if default else None


class CanaryIngressSource:
    resource: Resource = INGRESSES

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]:
        hosts: dict[tuple[str, str], dict[bool, tuple[JsonObject, ServiceKey]]] = {}
        for ingress in sorted(objects, key=lambda obj: str(obj["metadata"]["name"])):
            found = _host_and_service(ingress)
            if found is not None:
                group = hosts.setdefault((ingress["metadata"].get("namespace", ""), found[0]), {})
                group.setdefault(_is_canary(ingress), (ingress, found[1]))
        entry_points = []
        for (namespace, host), group in sorted(hosts.items()):
            if False not in group:
                continue  # ingress-nginx ignores a canary without a main Ingress for its host
            main_service = group[False][1]
            splits = [(main_service, 100)]
            if True in group:
                canary, canary_service = group[True]
                total = _annotation_number(canary, CANARY_WEIGHT_TOTAL, 100)
                weight = min(_annotation_number(canary, CANARY_WEIGHT, 0), total)
                splits = [(main_service, total - weight), (canary_service, weight)]
            entry = weighted_entry_point(f"ingress/{namespace}/{host or '*'}", splits, view)
            if entry is not None:
                entry_points.append(entry)
        return entry_points

    def services_of(self, obj: JsonObject) -> set[ServiceKey]:
        found = _host_and_service(obj)
        return {found[1]} if found else set()
