"""Istio VirtualServices: the first HTTP route with destinations splits traffic by their weights.

A destination host names a Service by its short name (`web`, in the VirtualService's namespace) or
its cluster name (`web.shop` or `web.shop.svc.cluster.local`). A route with a single destination
and no weight sends it everything, as Istio does.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.devcluster.controllers.client import VIRTUALSERVICES, JsonObject, Resource
from slipway.devcluster.traffic import ClusterView, EntryPoint, ServiceKey, weighted_entry_point


def _service(host: str, namespace: str) -> ServiceKey:
    name, _, rest = host.partition(".")
    return (rest.split(".")[0] if rest else namespace), name


def _destinations(virtual_service: JsonObject) -> list[tuple[ServiceKey, int]]:
    namespace = virtual_service["metadata"].get("namespace", "")
    for http in virtual_service.get("spec", {}).get("http") or []:
        routes = [route for route in http.get("route") or [] if route.get("destination", {}).get("host")]
        if routes:
            default = 100 if len(routes) == 1 else 0
            return [
                (_service(route["destination"]["host"], namespace), int(route.get("weight", default)))
                for route in routes
            ]
    return []


class VirtualServiceSource:
    resource: Resource = VIRTUALSERVICES

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]:
        found = []
        for virtual_service in objects:
            meta = virtual_service["metadata"]
            name = f"virtualservice/{meta.get('namespace', '')}/{meta['name']}"
            entry = weighted_entry_point(name, _destinations(virtual_service), view)
            if entry is not None:
                found.append(entry)
        return found

    def services_of(self, obj: JsonObject) -> set[ServiceKey]:
        return {service for service, _ in _destinations(obj)}
