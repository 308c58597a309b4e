"""The Gateway API router: exact weights on an owned HTTPRoute between per-revision Services."""

from __future__ import annotations

import pytest

from slipway.api.models import GatewayAPIRouting, TrafficRouting
from slipway.kube.objects import LABEL_REVISION, ReleaseRef
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.gatewayapi import GatewayApiRouter
from slipway.routers.replicas import ReplicaRouter
from slipway.routers.selection import UnsupportedRoutingError, router_for

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
    istio = TrafficRouting.model_validate({"istio": {"hosts": ["web"]}})
    with pytest.raises(UnsupportedRoutingError, match="istio"):
        router_for(istio)
