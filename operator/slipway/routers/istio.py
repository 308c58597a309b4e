"""Istio routing: exact weights on a VirtualService the Release owns.

The VirtualService `<name>` (networking.istio.io/v1) for `hosts` (through `gateways`, or the mesh when
none) has one HTTP route with two destinations: the Service `<name>` (stable revision only) weighted
`100 - w` and `<name>-canary` (canary revision only) weighted `w`.

Each match route is one more HTTP route before the weighted one, named after it, sending to
`<name>-canary` the requests whose `match[].headers` (exact or regex) all match; a cookie is a regex on
the cookie header. A mirror is `mirror` + `mirrorPercentage` on the weighted route.
"""

from __future__ import annotations

from pydantic import Field

from slipway.api.models import MAX_NAMES, ApiModel, CanaryRoute, Hostname, NonEmptyName, ValueMatch
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.rbac import Rule
from slipway.routers.base import (
    Capabilities,
    RouterPlugin,
    ServicePorts,
    TrafficSplit,
    cookie_pattern,
    revision_services,
)

GROUP = "networking.istio.io"
API_VERSION = f"{GROUP}/v1"
MAX_MATCH_ROUTES = 50
"""Match routes one VirtualService holds before its weighted route: Istio sets no limit, this bounds
the object's size (and the routes a proxy checks per request)."""


class IstioRouting(ApiModel):
    """Split traffic with weights on an Istio VirtualService the operator owns."""

    hosts: list[Hostname] = Field(min_length=1, max_length=MAX_NAMES, description="VirtualService hosts.")
    gateways: list[NonEmptyName] = Field(
        default_factory=list, max_length=MAX_NAMES, description="Istio Gateways; empty: the mesh only."
    )


def _value(value: ValueMatch) -> Obj:
    return {"regex": value.regex} if value.regex is not None else {"exact": value.exact}


def _match_route(route: CanaryRoute, canary: Obj) -> Obj:
    # Istio reads header names in lowercase.
    headers = {name.lower(): _value(value) for name, value in route.match.headers.items()}
    cookie = route.match.cookie
    if cookie is not None:
        headers["cookie"] = {"regex": cookie_pattern(cookie.name, cookie.value)}
    return {"name": route.name, "match": [{"headers": headers}], "route": [{"destination": canary}]}


class IstioRouter:
    name = "istio"
    capabilities = Capabilities(match_routes=MAX_MATCH_ROUTES, regex=True, mirror=True)

    def __init__(self, routing: IstioRouting) -> None:
        self._routing = routing

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        canary_weight = split.canary_weight if split.canary is not None else 0
        destinations = [
            (release.stable_service, 100 - canary_weight),
            (release.canary_service, canary_weight),
        ]
        canary = {"host": release.canary_service, "port": {"number": ports.port}}
        weighted: Obj = {
            "route": [
                {"destination": {"host": host, "port": {"number": ports.port}}, "weight": weight}
                for host, weight in destinations
            ]
        }
        if split.mirror_percent:
            weighted["mirror"] = canary
            weighted["mirrorPercentage"] = {"value": float(split.mirror_percent)}
        spec: Obj = {
            "hosts": list(self._routing.hosts),
            "http": [*(_match_route(route, canary) for route in split.routes), weighted],
        }
        if self._routing.gateways:
            spec["gateways"] = list(self._routing.gateways)
        virtual_service = {
            "apiVersion": API_VERSION,
            "kind": "VirtualService",
            "metadata": owned_metadata(release, release.name),
            "spec": spec,
        }
        return (*revision_services(release, split, ports), virtual_service)


PLUGIN = RouterPlugin(
    key="istio",
    spec=IstioRouting,
    build=IstioRouter,
    collections={"VirtualService": f"/apis/{API_VERSION}/namespaces/{{namespace}}/virtualservices"},
    rules=(Rule(GROUP, "virtualservices", ("get", "create", "patch")),),
)
