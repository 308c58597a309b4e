"""ingress-nginx router: a main Ingress to stable, a canary Ingress carrying the canary weight."""

from __future__ import annotations

from routing_support import planned

from slipway.routers.base import TrafficSplit
from slipway.routers.nginx import CANARY, CANARY_WEIGHT, NginxRouter, NginxRouting


def test_the_canary_ingress_carries_the_weight_and_the_main_one_sends_to_stable() -> None:
    routing = NginxRouting.model_validate({"host": "web.example.com", "ingressClassName": "public"})
    objects = planned(NginxRouter(routing), TrafficSplit("aaa", "bbb", 30))
    canary = objects["Ingress/web-canary"]
    assert canary["metadata"]["annotations"] == {CANARY: "true", CANARY_WEIGHT: "30"}
    main = objects["Ingress/web"]
    assert "annotations" not in main["metadata"]
    for ingress, service in ((main, "web"), (canary, "web-canary")):
        assert ingress["spec"]["ingressClassName"] == "public"
        (rule,) = ingress["spec"]["rules"]
        assert rule["host"] == "web.example.com"
        assert rule["http"]["paths"][0]["backend"] == {"service": {"name": service, "port": {"number": 80}}}


def test_without_a_canary_the_canary_ingress_gets_nothing() -> None:
    routing = NginxRouting.model_validate({"host": "web.example.com"})
    canary = planned(NginxRouter(routing), TrafficSplit("aaa", None, 0))["Ingress/web-canary"]
    assert canary["metadata"]["annotations"][CANARY_WEIGHT] == "0"
    assert canary["spec"]["ingressClassName"] == "nginx"
