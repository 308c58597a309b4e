"""The gateway's front door: real requests routed by Host header, path, headers and cookies through the
HTTPRoutes, VirtualServices, Ingresses and Services applied with kubectl, mirrors included.

The generated load is off (rps=0) where pods' counts are compared, so they count only these requests.
"""

from __future__ import annotations

from collections import Counter

import pytest
from e2e_support import wait_for
from front_door import ask, binomial_bound, served_by_label, versions

from slipway_dev.cluster import DevCluster
from slipway_dev.load import LoadVariant

HOST = "web.shop.example"


def track(name: str, service: str) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{name}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web, track: {name}}}}}
  template:
    metadata: {{labels: {{app: web, track: {name}}}}}
    spec:
      containers:
      - {{name: app, image: "demo:{name}", env: [{{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}},
                                                {{name: SLIPWAY_DEMO_LATENCY_MS, value: "0"}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: {service}}}
spec: {{selector: {{app: web, track: {name}}}, ports: [{{port: 80}}]}}
---
"""


TRACKS = track("stable", "web") + track("canary", "web-canary")
COOKIE_REGEX = "(.*; )?canary=always(;.*)?"

HTTPROUTE = f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: web}}
spec:
  parentRefs: [{{name: public}}]
  hostnames: [{HOST}]
  rules:
  - matches:
    - headers: [{{name: x-canary, value: "true"}}]
    - headers: [{{name: cookie, type: RegularExpression, value: "{COOKIE_REGEX}"}}]
    backendRefs: [{{name: web-canary, port: 80}}]
  - backendRefs:
    - {{name: web, port: 80, weight: 80}}
    - {{name: web-canary, port: 80, weight: 20}}
"""

VIRTUALSERVICE = f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web}}
spec:
  hosts: [{HOST}]
  http:
  - match:
    - headers: {{x-canary: {{exact: "true"}}}}
    - headers: {{cookie: {{regex: "{COOKIE_REGEX}"}}}}
    route: [{{destination: {{host: web-canary}}}}]
  - route:
    - {{destination: {{host: web}}, weight: 80}}
    - {{destination: {{host: web-canary.default.svc.cluster.local}}, weight: 20}}
"""


def ingress(name: str, service: str, annotations: str) -> str:
    return f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, annotations: {annotations}}}
spec:
  ingressClassName: nginx
  rules:
  - host: {HOST}
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}
---
"""


CANARY_INGRESS = ingress("web", "web", "{}") + ingress(
    "web-canary",
    "web-canary",
    '{nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "20",'
    " nginx.ingress.kubernetes.io/canary-by-header: x-canary,"
    ' nginx.ingress.kubernetes.io/canary-by-header-value: "true",'
    " nginx.ingress.kubernetes.io/canary-by-cookie: canary}",
)
ROUTES = {"httproute": HTTPROUTE, "virtualservice": VIRTUALSERVICE, "ingress": CANARY_INGRESS}


def deploy(cluster: DevCluster, routing: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=TRACKS + routing)
    for name in ("stable", "canary"):
        cluster.kubectl("rollout", "status", f"deployment/web-{name}", "--timeout=30s")
    # The gateway follows the cluster through its informers: wait until both tracks answer.
    wait_for(
        lambda: set(versions(cluster, HOST, 10)) == {"stable", "canary"} or None, 30, "both tracks routed"
    )


@pytest.mark.dev_cluster(rps=0)
def test_a_service_answers_by_its_cluster_name_saying_which_pod_and_version(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=track("stable", "web"))
    dev_cluster.kubectl("rollout", "status", "deployment/web-stable", "--timeout=30s")
    pods = set(dev_cluster.kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split())

    def answered() -> tuple[int, dict[str, str]] | None:
        status, headers = ask(dev_cluster, "web.default.svc.cluster.local:80", "/anything?x=1")
        return (status, headers) if status == 200 else None

    _, headers = wait_for(answered, 30, "the Service behind the front door")
    assert f"pod/{headers['X-Slipway-Pod']}" in pods and headers["X-Slipway-Version"] == "stable"
    assert {ask(dev_cluster, "web.default")[1]["X-Slipway-Pod"] for _ in range(4)} == {
        name.removeprefix("pod/") for name in pods
    }  # the pods take turns
    assert ask(dev_cluster, "nobody.example")[0] == 404
    # Front-door requests count in the pods' metrics, as the generated load does.
    assert sum(served_by_label(dev_cluster, "app=web", "track").values()) == 5  # the 404 reached none


@pytest.mark.dev_cluster(rps=0, routing_crds=True)
@pytest.mark.parametrize("router", sorted(ROUTES))
def test_matching_requests_all_reach_the_canary_and_the_rest_follow_the_weights(
    dev_cluster: DevCluster, router: str
) -> None:
    deploy(dev_cluster, ROUTES[router])
    assert versions(dev_cluster, HOST, 50, x_canary="true") == {"canary": 50}
    assert versions(dev_cluster, HOST, 50, cookie="user=ann; canary=always") == {"canary": 50}
    plain = versions(dev_cluster, HOST, 200, x_canary="false", cookie="canary=sometimes")
    assert set(plain) == {"stable", "canary"}
    assert abs(plain["canary"] - 0.2 * 200) <= binomial_bound(200, 0.2), plain


MIRROR_HTTPROUTE = f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: web}}
spec:
  parentRefs: [{{name: public}}]
  hostnames: [{HOST}]
  rules:
  - backendRefs: [{{name: web, port: 80}}]
    filters:
    - type: RequestMirror
      requestMirror: {{backendRef: {{name: web-canary, port: 80}}, percent: PERCENT}}
"""

MIRROR_VIRTUALSERVICE = f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web}}
spec:
  hosts: [{HOST}]
  http:
  - route: [{{destination: {{host: web}}}}]
    mirror: {{host: web-canary}}
    mirrorPercentage: {{value: PERCENT}}
"""


@pytest.mark.dev_cluster(rps=0, routing_crds=True)
@pytest.mark.parametrize(("router", "percent"), [("httproute", 20), ("virtualservice", 50)])
def test_a_mirror_gets_its_share_of_copies_and_the_client_sees_only_stable(
    dev_cluster: DevCluster, router: str, percent: int
) -> None:
    routing = {"httproute": MIRROR_HTTPROUTE, "virtualservice": MIRROR_VIRTUALSERVICE}[router]
    dev_cluster.kubectl("apply", "-f", "-", input=TRACKS + routing.replace("PERCENT", str(percent)))
    for name in ("stable", "canary"):
        dev_cluster.kubectl("rollout", "status", f"deployment/web-{name}", "--timeout=30s")
    sent = 300

    def mirrored() -> bool:
        versions(dev_cluster, HOST, 10)
        return served_by_label(dev_cluster, "app=web", "track")["canary"] > 0

    # The route is in use once the canary sees copies (the gateway follows the cluster's changes).
    wait_for(mirrored, 30, "mirrored copies")
    before = served_by_label(dev_cluster, "app=web", "track")
    assert versions(dev_cluster, HOST, sent) == {"stable": sent}
    share = percent / 100

    def copies_arrived() -> Counter[str] | None:
        after = served_by_label(dev_cluster, "app=web", "track") - before
        return after if after["canary"] >= share * sent - binomial_bound(sent, share) else None

    after = wait_for(copies_arrived, 10, "the mirrored copies")
    assert after["stable"] == sent
    assert abs(after["canary"] - share * sent) <= binomial_bound(sent, share), after


@pytest.mark.dev_cluster(
    rps=100,
    routing_crds=True,
    load=[LoadVariant("testers", 10, headers=(("x-canary", "true"),))],
)
def test_the_generated_load_sends_testers_traffic_that_the_route_sends_to_the_canary(
    dev_cluster: DevCluster,
) -> None:
    deploy(dev_cluster, HTTPROUTE)
    entry = "httproute/default/web"

    def counts() -> dict[str, Counter[str]]:
        stats = dev_cluster.gateway_stats().get(entry)
        return {variant: Counter(found) for variant, found in (stats.by_variant if stats else {}).items()}

    def grown(before: dict[str, Counter[str]], at_least: int) -> dict[str, Counter[str]] | None:
        now = counts()
        delta = {variant: now[variant] - before.get(variant, Counter()) for variant in now}
        return delta if delta["default"].total() >= at_least else None

    before = counts()  # both tracks are ready from here on
    delta = wait_for(lambda: grown(before, 400), 60, "400 more generated requests through the route")
    assert set(delta["testers"]) == {"canary"}
    testers, plain = delta["testers"].total(), delta["default"]
    assert abs(testers - 0.1 * (testers + plain.total())) <= 3  # exact, up to the requests in flight
    assert abs(plain["canary"] - 0.2 * plain.total()) <= binomial_bound(plain.total(), 0.2), plain

    dev_cluster.set_load([])  # no testers from now on
    before = counts()
    delta = wait_for(lambda: grown(before, 100), 30, "100 more generated requests")
    assert delta.get("testers", Counter()).total() <= 3  # only those already in flight


TESTERS_ONLY = track("stable", "web") + track("canary", "web-canary").replace(
    "metadata: {name: web-canary}", "metadata: {name: web-canary, labels: {slipway.dev/service-role: canary}}"
)


@pytest.mark.dev_cluster(rps=50)
def test_the_generated_load_calls_no_canary_service_unless_told_to(dev_cluster: DevCluster) -> None:
    """The generated load stands for the clients, who call `web`; `web-canary`, labelled as the operator
    labels a Release's canary (and preview) Service, is reached only by testers: the front door, or the
    test load asked for it."""
    dev_cluster.kubectl("apply", "-f", "-", input=TESTERS_ONLY)
    for name in ("stable", "canary"):
        dev_cluster.kubectl("rollout", "status", f"deployment/web-{name}", "--timeout=30s")
    # Reachable by its name (once the gateway has seen its ready pods).
    wait_for(lambda: versions(dev_cluster, "web-canary.default", 5) == {"canary": 5}, 30, "web-canary")

    def sent(entry: str) -> int:
        stats = dev_cluster.gateway_stats().get(entry)
        return stats.sent if stats is not None else 0

    stable_before = sent("service/default/web")
    wait_for(lambda: sent("service/default/web") >= stable_before + 100, 30, "100 generated requests to web")
    assert sent("service/default/web-canary") == 0

    dev_cluster.set_test_load([("default", "web-canary")])
    canary_before = sent("service/default/web-canary")
    wait_for(lambda: sent("service/default/web-canary") >= canary_before + 50, 30, "test load to web-canary")


@pytest.mark.dev_cluster(rps=50, routing_crds=True)
def test_a_routed_canary_service_gets_test_load_beside_its_routes_share_until_told_to_stop(
    dev_cluster: DevCluster,
) -> None:
    """Behind an HTTPRoute the clients go through the route; testers still call `web-canary` by name,
    and the test load does so until it is taken back."""
    dev_cluster.kubectl("apply", "-f", "-", input=TESTERS_ONLY + HTTPROUTE)
    for name in ("stable", "canary"):
        dev_cluster.kubectl("rollout", "status", f"deployment/web-{name}", "--timeout=30s")
    wait_for(lambda: set(versions(dev_cluster, HOST, 10)) == {"stable", "canary"} or None, 30, "the route")
    assert versions(dev_cluster, "web-canary.default.svc.cluster.local", 5) == {"canary": 5}

    def sent(entry: str) -> int:
        stats = dev_cluster.gateway_stats().get(entry)
        return stats.sent if stats is not None else 0

    routed = sent("httproute/default/web")
    wait_for(
        lambda: sent("httproute/default/web") >= routed + 100, 30, "100 generated requests via the route"
    )
    assert sent("service/default/web-canary") == 0 and sent("service/default/web") == 0

    dev_cluster.set_test_load([("default", "web-canary")])
    wait_for(lambda: sent("service/default/web-canary") >= 50, 30, "test load to the routed web-canary")
    dev_cluster.set_test_load([])
    stopped = sent("service/default/web-canary")
    routed = sent("httproute/default/web")
    wait_for(lambda: sent("httproute/default/web") >= routed + 100, 30, "100 more generated requests")
    assert sent("service/default/web-canary") - stopped <= 5  # at most those then in flight
