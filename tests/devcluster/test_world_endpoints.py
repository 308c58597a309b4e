"""The endpoints controller's decisions: which pods a Service lists and how Endpoints and slices name them."""

from __future__ import annotations

from typing import Any

from slipway_dev.controllers.endpoints import (
    LabelIndex,
    SelectorIndex,
    endpoint_slices,
    endpoint_subsets,
    pod_endpoints,
)

SERVICE = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "s-1"},
    "spec": {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090, "protocol": "TCP"}],
    },
}


def pod(
    name: str, port: int | None, ready: bool, namespace: str = "shop", app: str = "web"
) -> dict[str, Any]:
    annotations = {} if port is None else {"slipway.dev/sim-port": str(port)}
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{name}-0123456789abcdef",
            "labels": {"app": app},
            "annotations": annotations,
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


PODS = [
    pod("b", 4002, ready=False),
    pod("a", 4001, ready=True),
    pod("starting", None, ready=False),  # no server yet: not listed
    pod("other", 4003, ready=True, app="db"),
    pod("elsewhere", 4004, ready=True, namespace="default"),
]


def test_a_service_lists_the_pods_it_selects_that_serve_each_on_its_own_port() -> None:
    endpoints = pod_endpoints(SERVICE, PODS)
    assert [(e.name, e.port, e.ready) for e in endpoints] == [("a", 4001, True), ("b", 4002, False)]
    subsets = endpoint_subsets(SERVICE, endpoints)
    assert [sorted(s) for s in subsets] == [["addresses", "ports"], ["notReadyAddresses", "ports"]]
    assert subsets[0]["ports"] == [
        {"name": "http", "port": 4001, "protocol": "TCP"},
        {"name": "metrics", "port": 4001, "protocol": "TCP"},
    ]


def test_each_pod_gets_a_slice_owned_by_the_service_with_every_service_port_by_name() -> None:
    slices = endpoint_slices(SERVICE, pod_endpoints(SERVICE, PODS))
    assert sorted(slices) == ["web-a0123456789a", "web-b0123456789a"]
    first = slices["web-a0123456789a"]
    assert first["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert first["metadata"]["ownerReferences"][0]["uid"] == "s-1"
    assert [p["name"] for p in first["ports"]] == ["http", "metrics"]
    assert {p["port"] for p in first["ports"]} == {4001}
    assert first["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert slices["web-b0123456789a"]["endpoints"][0]["conditions"]["ready"] is False


def test_an_unnamed_service_port_is_an_empty_name_in_a_slice_and_absent_in_endpoints() -> None:
    service = {**SERVICE, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    endpoints = pod_endpoints(service, PODS)
    assert endpoint_subsets(service, endpoints)[0]["ports"] == [{"port": 4001, "protocol": "TCP"}]
    slice_ports = next(iter(endpoint_slices(service, endpoints).values()))["ports"]
    assert slice_ports == [{"name": "", "port": 4001, "protocol": "TCP"}]


def test_the_indexes_find_the_pods_a_selector_holds_and_the_services_a_pod_meets() -> None:
    pods, selectors = LabelIndex(), SelectorIndex()
    pods.put(("shop", "web-1"), {"app": "web", "track": "canary"})
    pods.put(("shop", "web-2"), {"app": "web"})
    pods.put(("other", "web-3"), {"app": "web"})
    selectors.put(("shop", "web"), {"app": "web"})
    selectors.put(("shop", "web-canary"), {"app": "web", "track": "canary"})
    selectors.put(("shop", "api"), {"app": "api"})
    selectors.put(("shop", "external"), {})  # selects nothing
    assert pods.holding("shop", {"app": "web"}) == {("shop", "web-1"), ("shop", "web-2")}
    assert pods.holding("shop", {"app": "web", "track": "canary"}) == {("shop", "web-1")}
    assert pods.holding("shop", {}) == set()
    assert selectors.selecting("shop", {"app": "web"}) == {("shop", "web")}
    assert selectors.selecting("shop", {"app": "web", "track": "canary", "x": "y"}) == {
        ("shop", "web"),
        ("shop", "web-canary"),
    }
    assert selectors.selecting("other", {"app": "web"}) == set()
    assert selectors.selecting("shop", {}) == set()
    pods.put(("shop", "web-1"), {"app": "other"})  # relabelled
    assert pods.holding("shop", {"app": "web"}) == {("shop", "web-2")}
    pods.drop(("shop", "web-2"))
    assert pods.holding("shop", {"app": "web"}) == set() and pods.labels(("shop", "web-2")) == {}
    selectors.put(("shop", "web"), {"app": "api"})  # its selector changed
    assert selectors.selecting("shop", {"app": "web"}) == set()
    assert selectors.selecting("shop", {"app": "api"}) == {("shop", "web"), ("shop", "api")}
    selectors.drop(("shop", "web"))
    selectors.drop(("shop", "api"))
    assert selectors.selecting("shop", {"app": "api"}) == set()
