"""The gateway's entry points planned change by change equal those planned afresh, after any sequence of
Service, pod and routing object events."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from slipway_dev.traffic import ClusterView, EntryPoint, RoutingSource, plan_entry_points
from slipway_dev.traffic.httproute import HTTPRouteSource
from slipway_dev.traffic.ingress import CanaryIngressSource
from slipway_dev.traffic.planner import EntryPlanner
from slipway_dev.traffic.virtualservice import VirtualServiceSource

JsonObject = dict[str, Any]
Held = dict[str, dict[tuple[str, str], JsonObject]]  # by kind, then (namespace, name)
ROUTES = HTTPRouteSource()
SOURCES_BY_KIND: dict[str, RoutingSource] = {
    "httproute": ROUTES,
    "virtualservice": VirtualServiceSource(),
    "ingress": CanaryIngressSource(),
}
SOURCES = tuple(SOURCES_BY_KIND.values())
NAMESPACES = st.sampled_from(["shop", "bank"])
LABELS = st.dictionaries(st.sampled_from(["app", "track"]), st.sampled_from(["web", "canary"]), max_size=2)


def service(namespace: str, name: str, selector: dict[str, str], role: str | None = None) -> JsonObject:
    labels = {"slipway.dev/service-role": role} if role else {}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"selector": selector},
    }


def pod(namespace: str, name: str, labels: dict[str, str], port: int | None, ready: bool) -> JsonObject:
    annotations = {"slipway.dev/sim-port": str(port)} if port else {}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "status": {"conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def route(namespace: str, weights: list[int]) -> JsonObject:
    refs = [{"name": name, "port": 80, "weight": w} for name, w in zip(("web", "api"), weights, strict=False)]
    return {"metadata": {"name": "web", "namespace": namespace}, "spec": {"rules": [{"backendRefs": refs}]}}


NAMES = st.sampled_from(["web", "api"])


@st.composite
def backend_ref(draw: st.DrawFn) -> JsonObject:
    ref: JsonObject = {"name": draw(NAMES), "port": 80, "weight": draw(st.integers(0, 3))}
    if draw(st.booleans()):
        ref["namespace"] = draw(NAMESPACES)  # a Service of another namespace
    return ref


@st.composite
def httproute(draw: st.DrawFn) -> JsonObject:
    rules = []
    for _ in range(draw(st.integers(1, 2))):
        rule: JsonObject = {"backendRefs": draw(st.lists(backend_ref(), max_size=2))}
        if draw(st.booleans()):
            mirror = {k: v for k, v in draw(backend_ref()).items() if k != "weight"}
            rule["filters"] = [{"type": "RequestMirror", "requestMirror": {"backendRef": mirror}}]
        rules.append(rule)
    meta = {"name": draw(st.sampled_from(["r1", "r2"])), "namespace": draw(NAMESPACES)}
    return {"metadata": meta | {"creationTimestamp": str(draw(st.integers(0, 3)))}, "spec": {"rules": rules}}


@st.composite
def virtual_service(draw: st.DrawFn) -> JsonObject:
    def host() -> str:
        name = draw(NAMES)
        return draw(st.sampled_from([name, f"{name}.{draw(NAMESPACES)}", f"{name}.shop.svc.cluster.local"]))

    http = []
    for _ in range(draw(st.integers(1, 2))):
        weights = draw(st.lists(st.integers(0, 3), min_size=1, max_size=2))
        route: JsonObject = {"route": [{"destination": {"host": host()}, "weight": w} for w in weights]}
        if draw(st.booleans()):
            route["mirror"] = {"host": host()}
        http.append(route)
    meta = {"name": draw(st.sampled_from(["v1", "v2"])), "namespace": draw(NAMESPACES)}
    return {"metadata": meta, "spec": {"hosts": ["shop.example"], "http": http}}


@st.composite
def ingress(draw: st.DrawFn) -> JsonObject:
    annotations = {}
    if draw(st.booleans()):
        annotations = {
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": str(draw(st.integers(0, 100))),
        }
    path = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": draw(NAMES)}}}
    meta = {
        "name": draw(st.sampled_from(["i1", "i2"])),
        "namespace": draw(NAMESPACES),
        "annotations": annotations,
    }
    return {"metadata": meta, "spec": {"rules": [{"host": "shop.example", "http": {"paths": [path]}}]}}


SERVICE_EVENTS = st.tuples(
    st.just("service"),
    st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
    # A role as the operator labels its Services: a canary's is an entry point for testers, routed or not.
    st.builds(service, NAMESPACES, NAMES, LABELS, st.sampled_from([None, "stable", "canary"])),
)
POD_EVENTS = st.tuples(
    st.just("pod"),
    st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
    st.builds(
        pod,
        NAMESPACES,
        st.sampled_from(["p0", "p1", "p2"]),
        LABELS,
        st.sampled_from([None, 4001, 4002, 4003]),
        st.sampled_from([True, True, False]),
    ),
)
ROUTING_EVENTS = st.one_of(
    st.tuples(st.just("httproute"), st.sampled_from(["ADDED", "DELETED"]), httproute()),
    st.tuples(st.just("virtualservice"), st.sampled_from(["ADDED", "DELETED"]), virtual_service()),
    st.tuples(st.just("ingress"), st.sampled_from(["ADDED", "DELETED"]), ingress()),
)


def key(obj: JsonObject) -> tuple[str, str]:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(SERVICE_EVENTS, POD_EVENTS, ROUTING_EVENTS), max_size=30), st.data())
def test_planned_change_by_change_equals_planned_afresh(
    events: list[tuple[str, str, JsonObject]], data: Any
) -> None:
    planner = EntryPlanner(SOURCES)
    # What an informer's cache would hold: an update moves an object to the end.
    held: dict[str, dict[tuple[str, str], JsonObject]] = {
        kind: {} for kind in ("service", "pod", *SOURCES_BY_KIND)
    }
    for kind, event, obj in events:
        held[kind].pop(key(obj), None)
        if event != "DELETED":
            held[kind][key(obj)] = obj
        if kind == "service":
            planner.service_changed(event, obj)
        elif kind == "pod":
            planner.pod_changed(event, obj)
        else:
            planner.route_object_changed(SOURCES_BY_KIND[kind], event, obj)
        if data.draw(st.booleans(), label="plan now"):
            assert planner.entry_points() == planned_afresh(held)
    assert planner.entry_points() == planned_afresh(held)


def planned_afresh(held: dict[str, dict[tuple[str, str], JsonObject]]) -> list[EntryPoint]:
    view = ClusterView.of(held["service"], list(held["pod"].values()))
    return plan_entry_points(
        view, {source: list(held[kind].values()) for kind, source in SOURCES_BY_KIND.items()}
    )


def test_a_status_change_of_a_ready_pod_plans_nothing_again() -> None:
    planner = EntryPlanner(SOURCES)
    planner.service_changed("ADDED", service("shop", "web", {"app": "web"}))
    planner.pod_changed("ADDED", pod("shop", "p0", {"app": "web"}, 4001, True))
    planned = planner.entry_points()
    restarted = pod("shop", "p0", {"app": "web"}, 4001, True) | {"status": {"phase": "Running"}}
    restarted["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    planner.pod_changed("MODIFIED", restarted)
    assert planner.entry_points() is planned
    planner.pod_changed("MODIFIED", pod("shop", "p0", {"app": "web"}, 4001, False))
    assert planner.entry_points() == []


def test_a_routing_object_takes_its_services_entry_points_over_and_gives_them_back() -> None:
    planner = EntryPlanner(SOURCES)
    planner.service_changed("ADDED", service("shop", "web", {"app": "web"}))
    planner.pod_changed("ADDED", pod("shop", "p0", {"app": "web"}, 4001, True))
    assert [entry.name for entry in planner.entry_points()] == ["service/shop/web"]
    planner.route_object_changed(ROUTES, "ADDED", route("shop", [1]))
    assert [entry.name for entry in planner.entry_points()] == ["httproute/shop/web"]
    planner.route_object_changed(ROUTES, "DELETED", route("shop", [1]))
    assert [entry.name for entry in planner.entry_points()] == ["service/shop/web"]


def test_a_canary_service_keeps_its_own_entry_point_for_testers_when_a_route_names_it() -> None:
    planner = EntryPlanner(SOURCES)
    canary = service("shop", "web", {"app": "web"}, "canary")
    ready = pod("shop", "p0", {"app": "web"}, 4001, True)
    named = route("shop", [1])
    planner.service_changed("ADDED", canary)
    planner.pod_changed("ADDED", ready)
    planner.route_object_changed(ROUTES, "ADDED", named)
    held: Held = {
        "service": {key(canary): canary},
        "pod": {key(ready): ready},
        "httproute": {key(named): named},
    }
    held |= {"virtualservice": {}, "ingress": {}}
    assert [entry.name for entry in planner.entry_points()] == ["httproute/shop/web", "service/shop/web"]
    assert planner.entry_points() == planned_afresh(held)
    planner.service_changed("MODIFIED", service("shop", "web", {"app": "web"}, "stable"))
    assert [entry.name for entry in planner.entry_points()] == ["httproute/shop/web"]
