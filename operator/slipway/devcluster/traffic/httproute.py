"""Gateway API HTTPRoutes: the first rule with backendRefs splits traffic by their weights."""

from __future__ import annotations

from collections.abc import Sequence

from slipway.devcluster.controllers.client import HTTPROUTES, JsonObject, Resource
from slipway.devcluster.traffic import ClusterView, EntryPoint, ServiceKey, weighted_entry_point


def _service_refs(route: JsonObject) -> list[tuple[ServiceKey, int]]:
    namespace = route["metadata"].get("namespace", "")
    for rule in route.get("spec", {}).get("rules") or []:
        refs = [
            ref
            for ref in rule.get("backendRefs") or []
            if ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", "core")
        ]
        if refs:
            return [
                ((ref.get("namespace", namespace), ref["name"]), int(ref.get("weight", 1))) for ref in refs
            ]
    return []


class HTTPRouteSource:
    resource: Resource = HTTPROUTES

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]:
        found = []
        for route in objects:
            meta = route["metadata"]
            name = f"httproute/{meta.get('namespace', '')}/{meta['name']}"
            entry = weighted_entry_point(name, _service_refs(route), view)
            if entry is not None:
                found.append(entry)
        return found

    def services_of(self, obj: JsonObject) -> set[ServiceKey]:
        return {service for service, _ in _service_refs(obj)}
