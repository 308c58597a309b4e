"""Istio VirtualServices: the first HTTP route with destinations splits traffic by their weights.

A destination host names a Service by its short name (`web`, in the VirtualService's namespace) or
its cluster name (`web.shop` or `web.shop.svc.cluster.local`). A route with a single destination
and no weight sends it everything, as Istio does.
"""

from __future__ import annotations

from slipway_dev.controllers.client import VIRTUALSERVICES, JsonObject
from slipway_dev.traffic import ServiceKey, WeightedRouteSource


def _service(host: str, namespace: str) -> ServiceKey:
    name, _, rest = host.partition(".")
    return (rest.split(".")[0] if rest else namespace), name


class VirtualServiceSource(WeightedRouteSource):
    resource = VIRTUALSERVICES
    prefix = "virtualservice"

    def weighted_services(self, obj: JsonObject) -> list[tuple[ServiceKey, int]]:
        namespace = obj["metadata"].get("namespace", "")
        for http in obj.get("spec", {}).get("http") or []:
            routes = [route for route in http.get("route") or [] if route.get("destination", {}).get("host")]
            if routes:
                default = 100 if len(routes) == 1 else 0
                return [
                    (_service(route["destination"]["host"], namespace), int(route.get("weight", default)))
                    for route in routes
                ]
        return []
