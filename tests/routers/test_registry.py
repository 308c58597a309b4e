"""Which router a Release gets: the replica ratio without trafficRouting, else each router it names,
kept in step when it names several."""

from __future__ import annotations

from routing_support import PORTS, RELEASE

from slipway.api.models import TrafficRouting
from slipway.routers.base import TrafficSplit
from slipway.routers.gatewayapi import GatewayApiRouter
from slipway.routers.nginx import NginxRouter
from slipway.routers.registry import router_for
from slipway.routers.replicas import ReplicaRouter


def test_no_traffic_routing_is_the_replica_ratio_and_one_router_is_itself() -> None:
    assert isinstance(router_for(None), ReplicaRouter)
    routing = TrafficRouting.model_validate({"gatewayAPI": {"parentRefs": [{"name": "public"}]}})
    assert isinstance(router_for(routing), GatewayApiRouter)


def test_several_routers_at_once_share_the_services_and_agree_on_the_weight() -> None:
    routing = TrafficRouting.model_validate(
        {
            "gatewayAPI": {"parentRefs": [{"name": "public"}]},
            "istio": {"hosts": ["web.shop.svc"], "gateways": ["mesh-gw"]},
            "nginx": {"host": "web.example.com"},
        }
    )
    objects = router_for(routing).plan(RELEASE, TrafficSplit("aaa", "bbb", 30), PORTS)
    by_key = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}
    assert sorted(by_key) == [
        ("HTTPRoute", "web"),
        ("Ingress", "web"),
        ("Ingress", "web-canary"),
        ("Service", "web"),
        ("Service", "web-canary"),
        ("VirtualService", "web"),
    ]
    assert len(objects) == len(by_key)  # the shared Services appear once
    http_route = by_key[("HTTPRoute", "web")]["spec"]["rules"][0]["backendRefs"]
    virtual_service = by_key[("VirtualService", "web")]["spec"]["http"][0]["route"]
    assert [b["weight"] for b in http_route] == [r["weight"] for r in virtual_service] == [70, 30]
    canary_weight = by_key[("Ingress", "web-canary")]["metadata"]["annotations"]
    assert canary_weight["nginx.ingress.kubernetes.io/canary-weight"] == "30"
    assert all(obj["metadata"]["ownerReferences"][0]["uid"] == "u-1" for obj in objects)


def test_several_routers_can_express_what_each_of_them_can() -> None:
    both = {"gatewayAPI": {"parentRefs": [{"name": "public"}]}, "istio": {"hosts": ["web.shop.svc"]}}
    can = router_for(TrafficRouting.model_validate(both)).capabilities
    assert (can.match_routes, can.conditions, can.regex, can.mirror) == (15, 16, True, True)
    with_nginx = router_for(TrafficRouting.model_validate({**both, "nginx": {"host": "web.example.com"}}))
    assert with_nginx.capabilities == NginxRouter.capabilities  # the least of all three: nginx's
