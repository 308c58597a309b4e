"""Gateway routing: entry points from Services and routing objects, and deterministic weighted picks."""

from __future__ import annotations

from collections import Counter
from typing import Any

from slipway_dev.gateway import ActionPicker
from slipway_dev.traffic import ClusterView, EntryPoint, Split, plan_entry_points
from slipway_dev.traffic.httproute import HTTPRouteSource
from slipway_dev.traffic.ingress import CanaryIngressSource
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
