"""Gateway API router: exact weights on an owned HTTPRoute between the two revision Services."""

from __future__ import annotations

from routing_support import planned

from slipway.manifests import LABEL_REVISION
from slipway.routers.base import TrafficSplit
from slipway.routers.gatewayapi import GatewayApiRouter, GatewayAPIRouting

ROUTING = GatewayAPIRouting.model_validate({"parentRefs": [{"name": "public", "sectionName": "https"}]})


def test_weights_are_exact_and_services_select_one_revision_each() -> None:
    objects = planned(GatewayApiRouter(ROUTING), TrafficSplit("aaa", "bbb", 10))
    route = objects["HTTPRoute/web"]
    assert route["spec"]["parentRefs"] == [{"name": "public", "sectionName": "https"}]
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [("web", 90), ("web-canary", 10)]
    assert objects["Service/web"]["spec"]["selector"][LABEL_REVISION] == "aaa"
    assert objects["Service/web-canary"]["spec"]["selector"][LABEL_REVISION] == "bbb"
    assert route["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_one_revision_takes_everything() -> None:
    objects = planned(GatewayApiRouter(ROUTING), TrafficSplit("aaa", None, 0))
    backends = objects["HTTPRoute/web"]["spec"]["rules"][0]["backendRefs"]
    assert [b["weight"] for b in backends] == [100, 0]
    assert objects["Service/web-canary"]["spec"]["selector"][LABEL_REVISION] == "aaa"
