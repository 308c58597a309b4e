"""Match routes and mirrors in each router's objects, what each router can express, and the refusal of
a Release asking a router for more (the operator's obstacle and `slipway validate` say the same)."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

import pytest
from routing_support import PORTS, RELEASE, planned

from slipway.api.models import CanaryRoute, ReleaseSpec, ValueMatch
from slipway.manifests import routing_differs, stamped
from slipway.plugins import readiness
from slipway.routers.base import TrafficSplit, cookie_pattern
from slipway.routers.gatewayapi import GatewayApiRouter, GatewayAPIRouting
from slipway.routers.istio import IstioRouter, IstioRouting
from slipway.routers.nginx import (
    BY_COOKIE,
    BY_HEADER,
    BY_HEADER_PATTERN,
    BY_HEADER_VALUE,
    CANARY,
    CANARY_WEIGHT,
    NginxRouter,
    NginxRouting,
)
from slipway.routers.registry import inexpressible_in
from slipway.runtime.config import OperatorConfig

TESTERS = CanaryRoute.model_validate(
    {"name": "testers", "match": {"headers": {"X-Canary": {"exact": "true"}, "x-team": {"regex": "qa|dev"}}}}
)
BETA = CanaryRoute.model_validate(
    {"name": "beta", "match": {"cookie": {"name": "beta", "value": {"exact": "always"}}}}
)
SPLIT = TrafficSplit("aaa", "bbb", 10, routes=(TESTERS, BETA), mirror_percent=20)
GATEWAY = GatewayApiRouter(GatewayAPIRouting.model_validate({"parentRefs": [{"name": "gw"}]}))
ISTIO = IstioRouter(IstioRouting.model_validate({"hosts": ["web.example.com"]}))
NGINX = NginxRouter(NginxRouting.model_validate({"host": "web.example.com"}))


def test_gateway_api_puts_match_rules_before_the_weighted_rule_and_mirrors_with_a_percent() -> None:
    rules = planned(GATEWAY, SPLIT)["HTTPRoute/web"]["spec"]["rules"]
    canary = {"group": "", "kind": "Service", "name": "web-canary", "port": 80}
    testers, beta, weighted = rules
    assert testers == {
        "matches": [
            {
                "headers": [
                    {"type": "Exact", "name": "X-Canary", "value": "true"},
                    {"type": "RegularExpression", "name": "x-team", "value": "qa|dev"},
                ]
            }
        ],
        "backendRefs": [canary],
    }
    (cookie,) = beta["matches"][0]["headers"]
    assert (cookie["type"], cookie["name"]) == ("RegularExpression", "Cookie")
    assert [ref["weight"] for ref in weighted["backendRefs"]] == [90, 10]
    assert weighted["filters"] == [
        {"type": "RequestMirror", "requestMirror": {"backendRef": canary, "percent": 20}}
    ]


def test_without_routes_or_mirror_the_httproute_is_as_before() -> None:
    rules = planned(GATEWAY, TrafficSplit("aaa", "bbb", 10))["HTTPRoute/web"]["spec"]["rules"]
    assert len(rules) == 1 and "filters" not in rules[0]


@pytest.mark.parametrize("router", [GATEWAY, ISTIO], ids=["gatewayAPI", "istio"])
def test_a_mirror_stopped_differs_and_what_the_server_defaulted_does_not(router: Any) -> None:
    (route,) = [obj for obj in router.plan(RELEASE, SPLIT, PORTS) if obj["kind"] != "Service"]
    observed = copy.deepcopy(stamped(route))
    # What the API server may default within the rules (a path match): no difference.
    for rule in observed["spec"].get("rules") or observed["spec"]["http"]:
        rule.setdefault("matches" if "backendRefs" in rule else "match", [{"uri": {"prefix": "/"}}])
    assert not routing_differs(route, observed)
    stopped = dataclasses.replace(SPLIT, mirror_percent=0)
    (unmirrored,) = [obj for obj in router.plan(RELEASE, stopped, PORTS) if obj["kind"] != "Service"]
    assert routing_differs(unmirrored, observed)  # the mirror applied before is still there
    fewer = dataclasses.replace(
        SPLIT,
        routes=(
            CanaryRoute.model_validate(
                {"name": "testers", "match": {"headers": {"X-Canary": {"exact": "true"}}}}
            ),
            BETA,
        ),
    )
    (narrower,) = [obj for obj in router.plan(RELEASE, fewer, PORTS) if obj["kind"] != "Service"]
    assert routing_differs(narrower, observed)  # a match condition applied before is still there


def test_istio_puts_named_match_routes_first_and_mirrors_a_percentage() -> None:
    http = planned(ISTIO, SPLIT)["VirtualService/web"]["spec"]["http"]
    testers, beta, weighted = http
    canary = {"host": "web-canary", "port": {"number": 80}}
    assert testers == {
        "name": "testers",
        "match": [{"headers": {"x-canary": {"exact": "true"}, "x-team": {"regex": "qa|dev"}}}],
        "route": [{"destination": canary}],
    }
    assert list(beta["match"][0]["headers"]) == ["cookie"]
    assert [route["weight"] for route in weighted["route"]] == [90, 10]
    assert (weighted["mirror"], weighted["mirrorPercentage"]) == (canary, {"value": 20.0})


@pytest.mark.parametrize(
    ("match", "annotations"),
    [
        ({"headers": {"x-canary": {"exact": "true"}}}, {BY_HEADER: "x-canary", BY_HEADER_VALUE: "true"}),
        (
            {"headers": {"x-canary": {"regex": "t|qa"}}},
            {BY_HEADER: "x-canary", BY_HEADER_PATTERN: "^(?:t|qa)$"},
        ),
        ({"cookie": {"name": "beta", "value": {"exact": "always"}}}, {BY_COOKIE: "beta"}),
    ],
)
def test_nginx_writes_one_header_or_cookie_on_the_canary_ingress(
    match: dict[str, Any], annotations: dict[str, str]
) -> None:
    route = CanaryRoute.model_validate({"name": "testers", "match": match})
    ingress = planned(NGINX, TrafficSplit("aaa", "bbb", 0, routes=(route,)))["Ingress/web-canary"]
    assert ingress["metadata"]["annotations"] == {CANARY: "true", CANARY_WEIGHT: "0", **annotations}


@pytest.mark.parametrize(
    ("header", "value", "matches"),
    [
        ("beta=always", ValueMatch(exact="always"), True),
        ("a=1; beta=always; c=2", ValueMatch(exact="always"), True),
        ("notbeta=always", ValueMatch(exact="always"), False),
        ("beta=alwaysnot", ValueMatch(exact="always"), False),
        ("x=1;beta=yes", ValueMatch(regex="y.s"), True),
        ("beta=no", ValueMatch(regex="y.s"), False),
    ],
)
def test_a_cookie_is_a_regex_on_the_whole_cookie_header(
    header: str, value: ValueMatch, matches: bool
) -> None:
    assert bool(re.fullmatch(cookie_pattern("beta", value), header)) == matches


def spec(routing: dict[str, Any] | None, *steps: dict[str, Any]) -> ReleaseSpec:
    body: dict[str, Any] = {
        "version": "2",
        "template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}},
        "service": {"port": 80},
        "strategy": {"canary": {"steps": list(steps)}},
    }
    if routing is not None:
        body["trafficRouting"] = routing
    return ReleaseSpec.model_validate(body)


ROUTERS = {
    "gatewayAPI": {"gatewayAPI": {"parentRefs": [{"name": "gw"}]}},
    "istio": {"istio": {"hosts": ["web.example.com"]}},
    "nginx": {"nginx": {"host": "web.example.com"}},
    "replicas": None,
}
HEADER = {"setCanaryRoute": {"name": "a", "match": {"headers": {"x-a": {"exact": "1"}}}}}
REGEX = {"setCanaryRoute": {"name": "a", "match": {"headers": {"x-a": {"regex": "1+"}}}}}
TWO_HEADERS = {
    "setCanaryRoute": {"name": "a", "match": {"headers": {"x-a": {"exact": "1"}, "x-b": {"exact": "2"}}}}
}
SECOND = {"setCanaryRoute": {"name": "b", "match": {"headers": {"x-b": {"exact": "1"}}}}}
COOKIE_YES = {"setCanaryRoute": {"name": "a", "match": {"cookie": {"name": "c", "value": {"exact": "yes"}}}}}
MIRROR = {"setMirror": {"percent": 20}}


@pytest.mark.parametrize(
    ("router", "steps", "field", "why"),
    [
        ("nginx", [MIRROR], "steps[0].setMirror", "the nginx router cannot mirror a percentage of requests"),
        ("nginx", [HEADER, SECOND], "steps[1].setCanaryRoute", "the nginx router can hold at most 1 at once"),
        ("nginx", [TWO_HEADERS], "steps[0].setCanaryRoute.match", "the nginx router can match on 1 header"),
        ("nginx", [COOKIE_YES], "steps[0].setCanaryRoute.match.cookie.value", "exact value always"),
        ("replicas", [HEADER], "steps[0].setCanaryRoute", "the replicas router can hold no match route"),
        ("replicas", [MIRROR], "steps[0].setMirror", "the replicas router cannot mirror"),
    ],
)
def test_a_step_a_router_cannot_express_is_refused_naming_the_router_and_the_field(
    router: str, steps: list[dict[str, Any]], field: str, why: str
) -> None:
    found = inexpressible_in(spec(ROUTERS[router], *steps))
    assert [at for at, _ in found] == [f"spec.strategy.canary.steps{field.removeprefix('steps')}"]
    assert why in found[0][1]
    (obstacle,) = readiness(spec(ROUTERS[router], *steps), OperatorConfig())
    assert (obstacle.reason, obstacle.field) == ("UnsupportedRouting", found[0][0])


@pytest.mark.parametrize("router", ["gatewayAPI", "istio"])
def test_gateway_api_and_istio_express_every_kind(router: str) -> None:
    steps = [REGEX, SECOND, TWO_HEADERS, COOKIE_YES, MIRROR, {"removeCanaryRoute": {"name": "a"}}]
    assert inexpressible_in(spec(ROUTERS[router], *steps)) == []


def test_nginx_matches_a_regex_against_the_whole_header_value() -> None:
    route = CanaryRoute.model_validate(
        {"name": "qa", "match": {"headers": {"x-team": {"regex": "qa-[0-9]+"}}}}
    )
    ingress = planned(NGINX, TrafficSplit("aaa", "bbb", 0, routes=(route,)))["Ingress/web-canary"]
    pattern = ingress["metadata"]["annotations"][BY_HEADER_PATTERN]
    # ingress-nginx searches the value for the pattern: anchored, only the whole value matches.
    assert (
        re.search(pattern, "qa-17") and not re.search(pattern, "xqa-17") and not re.search(pattern, "qa-1x")
    )


def test_nginx_holds_one_route_after_another_and_a_regex_header() -> None:
    remove = {"removeCanaryRoute": {"name": "a"}}
    assert (
        inexpressible_in(spec(ROUTERS["nginx"], REGEX, remove, SECOND, {"setMirror": {"percent": 0}})) == []
    )


def test_each_of_several_routers_is_asked() -> None:
    both = {**ROUTERS["gatewayAPI"], **ROUTERS["nginx"]}  # type: ignore[dict-item]
    assert [why for _, why in inexpressible_in(spec(both, MIRROR))] == [
        "the nginx router cannot mirror a percentage of requests"
    ]
