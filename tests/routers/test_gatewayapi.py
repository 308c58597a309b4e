"""Traffic routers: exact weights on owned HTTPRoutes, VirtualServices and canary Ingresses."""

from __future__ import annotations

from slipway.api.models import TrafficRouting
from slipway.manifests import LABEL_REVISION, ReleaseRef
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.gatewayapi import GatewayApiRouter, GatewayAPIRouting
from slipway.routers.registry import router_for
from slipway.routers.replicas import ReplicaRouter

RELEASE = ReleaseRef(namespace="shop", name="web", uid="u-1")
PORTS = ServicePorts(port=80, target_port=8080)
ROUTING = GatewayAPIRouting.model_validate({"parentRefs": [{"name": "public", "sectionName": "https"}]})


def plan(split: TrafficSplit) -> dict[str, dict[str, object]]:
    return {
        obj["kind"] + "/" + obj["metadata"]["name"]: obj
        for obj in GatewayApiRouter(ROUTING).plan(RELEASE, split, PORTS)
    }


def test_weights_are_exact_and_services_select_one_revision_each() -> None:
    objects = plan(TrafficSplit("aaa", "bbb", 10))
    route = objects["HTTPRoute/web"]
    assert route["spec"]["parentRefs"] == [{"name": "public", "sectionName": "https"}]  # type: ignore[index]
    backends = route["spec"]["rules"][0]["backendRefs"]  # type: ignore[index]
    assert [(b["name"], b["weight"]) for b in backends] == [("web", 90), ("web-canary", 10)]
    assert objects["Service/web"]["spec"]["selector"][LABEL_REVISION] == "aaa"  # type: ignore[index]
    assert objects["Service/web-canary"]["spec"]["selector"][LABEL_REVISION] == "bbb"  # type: ignore[index]


def test_one_revision_takes_everything() -> None:
    backends = plan(TrafficSplit("aaa", None, 0))["HTTPRoute/web"]["spec"]["rules"][0]["backendRefs"]  # type: ignore[index]
    assert [b["weight"] for b in backends] == [100, 0]


def test_router_selection() -> None:
    assert isinstance(router_for(None), ReplicaRouter)
    assert isinstance(router_for(TrafficRouting(gateway_api=ROUTING)), GatewayApiRouter)


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
    route = by_key[("VirtualService", "web")]["spec"]
    assert route["gateways"] == ["mesh-gw"]
    assert [(r["destination"]["host"], r["weight"]) for r in route["http"][0]["route"]] == [
        ("web", 70),
        ("web-canary", 30),
    ]
    canary_ingress = by_key[("Ingress", "web-canary")]
    assert canary_ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "30",
    }
    main_backend = by_key[("Ingress", "web")]["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert main_backend == {"service": {"name": "web", "port": {"number": 80}}}
    assert all(obj["metadata"]["ownerReferences"][0]["uid"] == "u-1" for obj in objects)
