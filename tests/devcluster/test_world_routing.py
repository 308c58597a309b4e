"""Gateway routing: entry points from Services and routing objects, and deterministic weighted picks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from slipway_dev.gateway import ActionPicker
from slipway_dev.load import LoadMixError, LoadVariant, check_mix
from slipway_dev.traffic import ClusterView, EntryPoint, Split, plan_entry_points, resolve, service_key
from slipway_dev.traffic.httproute import HTTPRouteSource
from slipway_dev.traffic.ingress import CanaryIngressSource
from slipway_dev.traffic.matching import Request, host_of
from slipway_dev.traffic.virtualservice import VirtualServiceSource

JsonObject = dict[str, Any]


def splits(entry: EntryPoint) -> tuple[Split, ...]:
    """The splits of the entry point's first action (what a request without headers gets here)."""
    return entry.actions[entry.routes[0].action].splits


def service(name: str, selector: dict[str, str]) -> JsonObject:
    return {"metadata": {"name": name, "namespace": "shop"}, "spec": {"selector": selector}}


def pod(name: str, labels: dict[str, str], port: int | None, ready: bool = True) -> JsonObject:
    annotations = {"slipway.dev/sim-port": str(port)} if port else {}
    return {
        "metadata": {"name": name, "namespace": "shop", "labels": labels, "annotations": annotations},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


PODS = [
    pod("stable-a", {"app": "web", "track": "stable"}, 1001),
    pod("stable-b", {"app": "web", "track": "stable"}, 1002),
    pod("canary-a", {"app": "web", "track": "canary"}, 2001),
    pod("canary-starting", {"app": "web", "track": "canary"}, 2002, ready=False),
    pod("idle-no-port", {"app": "idle"}, None),
]
VIEW = ClusterView.of(
    {
        ("shop", "web"): service("web", {"app": "web", "track": "stable"}),
        ("shop", "web-canary"): service("web-canary", {"app": "web", "track": "canary"}),
        ("shop", "idle"): service("idle", {"app": "idle"}),
    },
    PODS,
)


def route(stable: int, canary: int) -> JsonObject:
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web", "port": 80, "weight": stable},
                        {"name": "web-canary", "port": 80, "weight": canary},
                    ]
                }
            ]
        },
    }


def test_without_routing_objects_each_service_spreads_over_its_ready_pods() -> None:
    entries = {entry.name: entry for entry in plan_entry_points(VIEW, {})}
    assert set(entries) == {
        "service/shop/web",
        "service/shop/web-canary",
    }  # idle has no ready pod with a port
    assert [b.pod for b in splits(entries["service/shop/web"])[0].backends] == ["stable-a", "stable-b"]
    assert [b.pod for b in splits(entries["service/shop/web-canary"])[0].backends] == ["canary-a"]


def test_a_service_labelled_as_a_releases_canary_is_an_entry_point_for_testers_only() -> None:
    canary = service("web-canary", {"app": "web", "track": "canary"})
    canary["metadata"]["labels"] = {"slipway.dev/service-role": "canary"}
    stable = service("web", {"app": "web", "track": "stable"})
    stable["metadata"]["labels"] = {"slipway.dev/service-role": "stable"}
    view = ClusterView.of({("shop", "web"): stable, ("shop", "web-canary"): canary}, PODS)
    entries = {entry.name: entry for entry in plan_entry_points(view, {})}
    assert entries["service/shop/web-canary"].testers_only
    assert not entries["service/shop/web"].testers_only
    found = resolve(list(entries.values()), request("web-canary.shop"))
    assert found is not None and found[0].name == "service/shop/web-canary"  # testers reach it by name
    # Behind a route too: a route is what clients go through, testers still call the canary by name.
    entries = {entry.name: entry for entry in plan_entry_points(view, {HTTPRouteSource(): [route(90, 10)]})}
    assert set(entries) == {"httproute/shop/web", "service/shop/web-canary"}
    assert entries["service/shop/web-canary"].testers_only
    found = resolve(list(entries.values()), request("web-canary.shop.svc.cluster.local"))
    assert found is not None and found[0].name == "service/shop/web-canary"


def test_a_test_load_names_a_service_as_namespace_and_name() -> None:
    assert service_key("shop/web-canary") == ("shop", "web-canary")
    assert service_key("web-canary") == ("default", "web-canary")
    for bad, says in [
        ("shop/", "no Service name"),
        ("/web", "no namespace"),
        ("a/b/c", "one '/' at most"),
        ("Shop/web", "namespace's name"),
        ("shop/1web", "DNS-1035"),
    ]:
        with pytest.raises(ValueError, match=says):
            service_key(bad)


def test_an_httproute_claims_its_services_and_splits_by_weight() -> None:
    (entry,) = plan_entry_points(VIEW, {HTTPRouteSource(): [route(90, 10)]})
    assert entry.name == "httproute/shop/web"
    picker = ActionPicker(entry.actions[0])
    picks = Counter(pick.pod for _ in range(100) if (pick := picker.pick()[0]))
    assert picks == {"stable-a": 45, "stable-b": 45, "canary-a": 10}


def test_a_zero_weight_or_an_unready_service_gets_no_traffic() -> None:
    (entry,) = plan_entry_points(VIEW, {HTTPRouteSource(): [route(100, 0)]})
    assert [split.service for split in splits(entry)] == [("shop", "web")]
    no_ready = ClusterView.of(VIEW.services, [p for p in PODS if p["metadata"]["name"] != "canary-a"])
    (entry,) = plan_entry_points(no_ready, {HTTPRouteSource(): [route(50, 50)]})
    assert [split.service for split in splits(entry)] == [("shop", "web")]


def test_picks_follow_the_share_at_every_prefix() -> None:
    picker = ActionPicker(plan_entry_points(VIEW, {HTTPRouteSource(): [route(3, 1)]})[0].actions[0])
    canary = 0
    for sent in range(1, 41):
        canary += (pick := picker.pick()[0]) is not None and pick.pod == "canary-a"
        assert abs(canary - sent / 4) <= 1


def test_a_virtualservice_splits_by_route_weights_and_resolves_host_names() -> None:
    virtual_service = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "http": [
                {
                    "route": [
                        {"destination": {"host": "web"}, "weight": 80},
                        {"destination": {"host": "web-canary.shop.svc.cluster.local"}, "weight": 20},
                    ]
                }
            ]
        },
    }
    (entry,) = plan_entry_points(VIEW, {VirtualServiceSource(): [virtual_service]})
    assert entry.name == "virtualservice/shop/web"
    assert [(split.service, split.weight) for split in splits(entry)] == [
        (("shop", "web"), 80),
        (("shop", "web-canary"), 20),
    ]
    single = {
        "metadata": {"name": "one", "namespace": "shop"},
        "spec": {"http": [{"route": [{"destination": {"host": "web"}}]}]},
    }
    entries = {entry.name: entry for entry in plan_entry_points(VIEW, {VirtualServiceSource(): [single]})}
    assert set(entries) == {"virtualservice/shop/one", "service/shop/web-canary"}  # web-canary is unrouted
    assert [(s.service, s.weight) for s in splits(entries["virtualservice/shop/one"])] == [
        (("shop", "web"), 100)
    ]


def ingress(name: str, service_name: str, canary_weight: int | None = None) -> JsonObject:
    annotations = (
        {}
        if canary_weight is None
        else {
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": str(canary_weight),
        }
    )
    return {
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
        "spec": {
            "rules": [
                {
                    "host": "web.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service_name, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }


def test_a_canary_ingress_takes_its_weight_of_the_main_ingress_host() -> None:
    ingresses = [ingress("web", "web"), ingress("web-canary", "web-canary", canary_weight=30)]
    (entry,) = plan_entry_points(VIEW, {CanaryIngressSource(): ingresses})
    assert entry.name == "ingress/shop/web.example.com"
    assert [(split.service, split.weight) for split in splits(entry)] == [
        (("shop", "web"), 70),
        (("shop", "web-canary"), 30),
    ]
    # Without its main Ingress a canary is ignored, as ingress-nginx does; its Services stay claimed.
    assert plan_entry_points(VIEW, {CanaryIngressSource(): ingresses[1:]}) == [
        entry for entry in plan_entry_points(VIEW, {}) if entry.name == "service/shop/web"
    ]


# Matches, mirrors and the front door's choice of entry point.

PODS_BY_PORT = {1001: "stable", 1002: "stable", 2001: "canary"}


def request(host: str = "web.example.com", path: str = "/", **headers: str) -> Request:
    return Request(host, path, "GET", {name.replace("_", "-"): value for name, value in headers.items()})


def served(entry: EntryPoint, sent: Request, times: int = 1) -> Counter[str]:
    """Which track answered `times` such requests (pickers kept across them)."""
    pickers = [ActionPicker(action) for action in entry.actions]
    answered: Counter[str] = Counter()
    for _ in range(times):
        route = entry.route(sent)
        backend = pickers[route.action].pick()[0] if route else None
        answered[PODS_BY_PORT[backend.port] if backend else "nothing"] += 1
    return answered


def httproute(rules: list[JsonObject], hostnames: list[str] | None = None) -> JsonObject:
    spec: JsonObject = {"rules": rules, **({"hostnames": hostnames} if hostnames else {})}
    return {"metadata": {"name": "web", "namespace": "shop"}, "spec": spec}


def refs(stable: int, canary: int) -> list[JsonObject]:
    return [{"name": "web", "weight": stable}, {"name": "web-canary", "weight": canary}]


def test_httproute_header_matches_send_to_their_rule_and_the_rest_follow_the_weights() -> None:
    cookie = {"name": "Cookie", "type": "RegularExpression", "value": "(.*; )?canary=always(;.*)?"}
    route_object = httproute(
        [
            {"backendRefs": refs(80, 20)},
            {
                "matches": [{"headers": [{"name": "X-Canary", "value": "true"}]}, {"headers": [cookie]}],
                "backendRefs": refs(0, 1),
            },
        ]
    )
    (entry,) = plan_entry_points(VIEW, {HTTPRouteSource(): [route_object]})
    assert served(entry, request(x_canary="true"), 50) == {"canary": 50}
    assert served(entry, request(cookie="a=b; canary=always"), 50) == {"canary": 50}
    assert served(entry, request(x_canary="TRUE", cookie="canary=never"), 100) == {"stable": 80, "canary": 20}


def test_httproute_precedence_exact_path_then_longest_prefix_then_most_headers() -> None:
    route_object = httproute(
        [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}], "backendRefs": refs(1, 0)},
            {"matches": [{"path": {"value": "/api/v2"}}], "backendRefs": refs(0, 1)},
            {"matches": [{"path": {"type": "Exact", "value": "/api/v2/x"}}], "backendRefs": refs(1, 0)},
            {
                "matches": [{"path": {"value": "/api"}, "headers": [{"name": "x-canary", "value": "1"}]}],
                "backendRefs": refs(0, 1),
            },
        ]
    )
    (entry,) = plan_entry_points(VIEW, {HTTPRouteSource(): [route_object]})
    assert served(entry, request(path="/api/v2/y")) == {"canary": 1}  # longest prefix
    assert served(entry, request(path="/api/v2/x")) == {"stable": 1}  # exact path
    assert served(entry, request(path="/api/x", x_canary="1")) == {"canary": 1}  # more headers
    assert served(entry, request(path="/apix")) == {"nothing": 1}  # prefixes match whole elements


def test_mirrors_copy_exactly_their_share_and_name_their_service() -> None:
    mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web-canary"}}}
    rules = [
        {
            "backendRefs": refs(1, 0),
            "filters": [
                {
                    **mirror,
                    "requestMirror": {
                        **mirror["requestMirror"],
                        "fraction": {"numerator": 1, "denominator": 4},
                    },
                }
            ],
        }
    ]
    (entry,) = plan_entry_points(VIEW, {HTTPRouteSource(): [httproute(rules)]})
    assert entry.actions[0].mirrors[0].percent == 25.0
    picker = ActionPicker(entry.actions[0])
    picks = [picker.pick() for _ in range(100)]
    assert {backend.pod for backend, _ in picks if backend} == {"stable-a", "stable-b"}
    assert sum(len(copies) for _, copies in picks) == 25
    assert {copy.pod for _, copies in picks for copy in copies} == {"canary-a"}
    virtual_service = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "hosts": ["web"],
            "http": [{"route": [{"destination": {"host": "web"}}], "mirror": {"host": "web-canary"}}],
        },
    }
    (entry,) = plan_entry_points(VIEW, {VirtualServiceSource(): [virtual_service]})
    assert entry.hosts == ("web.shop.svc.cluster.local",)
    assert [(m.service, m.percent) for m in entry.actions[0].mirrors] == [(("shop", "web-canary"), 100.0)]


def test_virtualservice_routes_are_tried_in_order_with_prefix_regex_and_without_headers() -> None:
    def http(match: JsonObject, host: str) -> JsonObject:
        return {"match": [match], "route": [{"destination": {"host": host}}]}

    virtual_service = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "hosts": ["web.example.com"],
            "http": [
                http({"headers": {"x-user": {"prefix": "test-"}}}, "web-canary"),
                http({"uri": {"regex": "/v[0-9]+/.*"}, "withoutHeaders": {"x-stay": {}}}, "web-canary"),
                {"route": [{"destination": {"host": "web"}}]},
            ],
        },
    }
    (entry,) = plan_entry_points(VIEW, {VirtualServiceSource(): [virtual_service]})
    assert served(entry, request(x_user="test-ann")) == {"canary": 1}
    assert served(entry, request(x_user="ann")) == {"stable": 1}
    assert served(entry, request(path="/v2/a")) == {"canary": 1}
    assert served(entry, request(path="/v2/a", x_stay="")) == {"stable": 1}
    assert served(entry, request(path="/x/v2/a")) == {"stable": 1}  # a regex matches the whole path


def test_nginx_canary_rules_follow_ingress_nginx_order_and_values() -> None:
    def with_canary(**annotations: str) -> EntryPoint:
        keys = {
            f"nginx.ingress.kubernetes.io/{key.replace('_', '-')}": value
            for key, value in annotations.items()
        }
        canary = ingress("web-canary", "web-canary", canary_weight=0)
        canary["metadata"]["annotations"].update(keys)
        (entry,) = plan_entry_points(VIEW, {CanaryIngressSource(): [ingress("web", "web"), canary]})
        return entry

    by_header = with_canary(canary_by_header="x-canary", canary_by_cookie="canary")
    assert served(by_header, request(x_canary="always")) == {"canary": 1}
    assert served(by_header, request(x_canary="never", cookie="canary=always")) == {"stable": 1}
    assert served(by_header, request(x_canary="yes", cookie="canary=always")) == {"canary": 1}
    assert served(by_header, request(cookie="canary=never")) == {"stable": 1}
    assert served(by_header, request(x_canary="yes"), 10) == {"stable": 10}  # weight 0
    by_value = with_canary(
        canary_by_header="X-Canary", canary_by_header_value="on", canary_by_header_pattern="x"
    )
    assert served(by_value, request(x_canary="on")) == {"canary": 1}
    assert served(by_value, request(x_canary="always")) == {"stable": 1}  # the value replaces always/never
    assert served(by_value, request(x_canary="xx")) == {"stable": 1}  # and the pattern is ignored
    by_pattern = with_canary(canary_by_header="x-canary", canary_by_header_pattern="^(beta|qa)")
    assert served(by_pattern, request(x_canary="qa-7")) == {"canary": 1}
    assert served(by_pattern, request(x_canary="prod")) == {"stable": 1}
    weighted = with_canary(canary_weight="30", canary_by_header="x-canary")
    assert served(weighted, request(), 100) == {"stable": 70, "canary": 30}


def test_the_front_door_takes_the_most_specific_host_and_service_names() -> None:
    exact = httproute([{"backendRefs": refs(0, 1)}], hostnames=["web.example.com"])
    wildcard = {
        **httproute([{"backendRefs": refs(1, 0)}], hostnames=["*.example.com"]),
        "metadata": {"name": "wild", "namespace": "shop"},
    }
    entries = plan_entry_points(VIEW, {HTTPRouteSource(): [wildcard, exact]})
    found = resolve(entries, request(host_of("Web.Example.com:8080")))
    assert found is not None and found[0].name == "httproute/shop/web"
    found = resolve(entries, request("a.b.example.com"))
    assert found is not None and found[0].name == "httproute/shop/wild"
    assert resolve(entries, request("example.com")) is None
    entries = plan_entry_points(VIEW, {})
    for host in ("web.shop.svc.cluster.local", "web.shop.svc", "web.shop"):
        found = resolve(entries, request(host))
        assert found is not None and found[0].name == "service/shop/web"


def test_load_variants_parse_and_a_mix_over_100_percent_is_refused() -> None:
    variant = LoadVariant.parse("testers,10,header:X-Canary=true,cookie:canary=always")
    assert variant == LoadVariant("testers", 10.0, (("X-Canary", "true"),), (("canary", "always"),))
    assert variant.request_headers() == {"x-canary": "true", "cookie": "canary=always"}
    for bad, says in [
        ("testers,ten", "PERCENT must be a number"),
        ("testers,10,x-canary=true", "must be header:NAME=VALUE"),
    ]:
        with pytest.raises(LoadMixError, match=says):
            LoadVariant.parse(bad)
    with pytest.raises(LoadMixError, match="more than 100"):
        check_mix([LoadVariant("a", 60), LoadVariant("b", 50)])
    with pytest.raises(LoadMixError, match="unique"):
        check_mix([LoadVariant("default", 5)])


def test_ingress_paths_route_exact_first_then_longest_prefix_and_the_canary_only_its_own_paths() -> None:
    def paths(name: str, *entries: tuple[str, str, str]) -> JsonObject:
        main = ingress(name, "unused")
        main["spec"]["rules"][0]["http"]["paths"] = [
            {"path": path, "pathType": kind, "backend": {"service": {"name": service}}}
            for path, kind, service in entries
        ]
        return main

    main = paths("web", ("/", "Prefix", "web"), ("/api", "Prefix", "web-canary"), ("/api/x", "Exact", "web"))
    canary = paths("web-canary", ("/", "Prefix", "web-canary"))
    canary["metadata"]["annotations"] = {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
    }
    (entry,) = plan_entry_points(VIEW, {CanaryIngressSource(): [main, canary]})
    assert served(entry, request(path="/api/y")) == {"canary": 1}
    assert served(entry, request(path="/api/x")) == {"stable": 1}
    assert served(entry, request(path="/apix")) == {"stable": 1}  # `/`: Prefix matches whole elements
    assert served(entry, request(path="/shop", x_canary="always")) == {"canary": 1}
    assert served(entry, request(path="/api/x", x_canary="always")) == {"stable": 1}  # not the canary's path
