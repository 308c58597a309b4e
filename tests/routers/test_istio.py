"""Istio router: exact weights on an owned VirtualService, through Gateways or the mesh."""

from __future__ import annotations

from routing_support import planned

from slipway.routers.base import TrafficSplit
from slipway.routers.istio import IstioRouter, IstioRouting


def test_weights_go_to_the_two_revision_services_through_the_gateways() -> None:
    routing = IstioRouting.model_validate({"hosts": ["web.shop.svc"], "gateways": ["mesh-gw"]})
    spec = planned(IstioRouter(routing), TrafficSplit("aaa", "bbb", 30))["VirtualService/web"]["spec"]
    assert spec["hosts"] == ["web.shop.svc"]
    assert spec["gateways"] == ["mesh-gw"]
    route = spec["http"][0]["route"]
    assert [(r["destination"]["host"], r["destination"]["port"]["number"], r["weight"]) for r in route] == [
        ("web", 80, 70),
        ("web-canary", 80, 30),
    ]


def test_without_gateways_the_route_serves_the_mesh_and_a_lone_stable_takes_everything() -> None:
    routing = IstioRouting.model_validate({"hosts": ["web.shop.svc"]})
    spec = planned(IstioRouter(routing), TrafficSplit("aaa", None, 0))["VirtualService/web"]["spec"]
    assert "gateways" not in spec
    assert [r["weight"] for r in spec["http"][0]["route"]] == [100, 0]
