"""Match routes and mirrors through the reconciler on the real dev cluster: what the HTTPRoute holds at
each step (read back from the API server), a route step moved past only once the pass after its write
has read it back, an edited HTTPRoute put back and told, promotion and rollback taking them away, and
a Release its router cannot carry out refused naming the router and the field."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import wait_for
from front_door import versions

from slipway.api.models import Metric
from slipway.controller.queue import ReleaseKey
from slipway.controller.reconciler import Reconciler
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert
from slipway.kube.client import KubeApi, events_path, load_credentials, object_path, releases_path
from slipway.manifests import Obj, ReleaseRef
from slipway.providers.base import MeasurementContext
from slipway.runtime.config import parse_config
from slipway.runtime.metrics import OperatorMetrics
from slipway_dev.cluster import DevCluster

NAMESPACE = "shop"
ROUTING_CRDS = (
    Path(__file__).resolve().parents[2] / "devcluster" / "slipway_dev" / "data" / "routing-crds.yaml"
)
TESTERS = {"name": "testers", "match": {"headers": {"x-canary": {"exact": "true"}}}}
STEPS = [{"setCanaryRoute": TESTERS}, {"setMirror": {"percent": 20}}, {"pause": {}}]
GATEWAY = {"gatewayAPI": {"parentRefs": [{"name": "public"}]}}


def release(version: str, routing: dict[str, Any], steps: list[dict[str, Any]] = STEPS) -> str:
    body = {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "version": version,
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "web", "image": f"example/web:{version}"}]}},
            "service": {"port": 80},
            "trafficRouting": routing,
            "strategy": {"canary": {"steps": steps}},
        },
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    return yaml.safe_dump_all([namespace, body])


async def _no_measurements(metric: Metric, context: MeasurementContext) -> RawMeasurement:
    raise AssertionError("these Releases have no analysis")


async def _no_alerts(release: ReleaseRef, labels: Any) -> tuple[FiringAlert, ...]:
    raise AssertionError("these Releases have no rollback.alerts")


class Operator(KubeApi):
    """The real client, and one reconciler that keeps what it holds between passes, as the operator's."""

    def __init__(self, kubeconfig: str) -> None:
        super().__init__(load_credentials(kubeconfig), field_manager="slipway")
        self.reconciler = Reconciler(self, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics())


@pytest.fixture
def api(dev_cluster: DevCluster) -> Iterator[Operator]:
    dev_cluster.kubectl("apply", "-f", str(ROUTING_CRDS))
    client = Operator(str(dev_cluster.kubeconfig))
    yield client
    client.close()


def reconcile(api: Operator) -> float | None:
    return asyncio.run(api.reconciler(ReleaseKey(NAMESPACE, "web")))


def status(api: KubeApi) -> dict[str, Any]:
    body = api.get(releases_path(NAMESPACE, "web"))
    assert body is not None
    return body.get("status") or {}


def reconcile_until(api: Operator, done: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done(status(api)):
        assert time.monotonic() < deadline, f"still {status(api).get('message')}"
        reconcile(api)
        time.sleep(0.1)


def at(phase: str, step: int | None = None) -> Any:
    """The phase (at that step, when one is named)."""
    return lambda s: s.get("phase") == phase and (step is None or s.get("currentStep") == step)


def http_route(api: KubeApi) -> Obj:
    route = api.get(object_path("HTTPRoute", NAMESPACE, "web"))
    assert route is not None
    return route


def warnings(api: KubeApi, reason: str) -> list[str]:
    events = api.list(events_path(NAMESPACE))
    return [e["message"] for e in events if e["reason"] == reason and e["type"] == "Warning"]


def test_the_httproute_holds_the_match_route_and_mirror_and_loses_them_at_promotion(
    api: Operator, dev_cluster: DevCluster
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", GATEWAY))
    reconcile_until(api, at("Healthy"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("2", GATEWAY))
    reconcile_until(api, lambda s: s.get("canaryRoutes") == ["testers"])
    # Written in that pass, moved past only by the next one, which read the HTTPRoute back.
    assert status(api)["currentStep"] == 0
    assert reconcile(api) == 0  # the mirror written: read back at once
    assert status(api)["currentStep"] == 1
    reconcile_until(api, at("Paused", 2))
    rules = http_route(api)["spec"]["rules"]
    assert rules[0]["matches"] == [{"headers": [{"type": "Exact", "name": "x-canary", "value": "true"}]}]
    assert [ref["name"] for ref in rules[0]["backendRefs"]] == ["web-canary"]
    assert [ref["weight"] for ref in rules[1]["backendRefs"]] == [100, 0]
    assert rules[1]["filters"][0]["requestMirror"]["percent"] == 20

    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/promote=1")
    reconcile_until(api, at("Healthy"))
    (rule,) = http_route(api)["spec"]["rules"]
    assert "filters" not in rule and "matches" not in rule
    # no route and no mirror (an empty value is left out of a status write; one written before may stay)
    assert not status(api).get("canaryRoutes") and not status(api).get("mirrorPercent")


def test_an_edited_httproute_is_put_back_and_told_and_an_abort_takes_the_routes_away(
    api: Operator, dev_cluster: DevCluster
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", GATEWAY))
    reconcile_until(api, at("Healthy"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("2", GATEWAY))
    reconcile_until(api, at("Paused", 2))
    written = http_route(api)["spec"]["rules"]
    dev_cluster.kubectl(
        "patch", "httproute", "web", "-n", NAMESPACE, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/rules/0"}]',
    )  # fmt: skip
    reconcile(api)
    assert http_route(api)["spec"]["rules"] == written
    assert warnings(api, "RoutingDrift") == ["HTTPRoute web changed from what Slipway wrote: put back"]

    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/abort=1")
    reconcile_until(api, at("Degraded"))
    (rule,) = http_route(api)["spec"]["rules"]
    assert "filters" not in rule and [ref["weight"] for ref in rule["backendRefs"]] == [100, 0]


def test_nginx_gets_the_header_annotations_and_loses_them_when_the_route_is_removed(
    api: Operator, dev_cluster: DevCluster
) -> None:
    nginx = {"nginx": {"host": "web.example.com"}}
    steps = [
        {"setCanaryRoute": TESTERS},
        {"pause": {}},
        {"removeCanaryRoute": {"name": "testers"}},
        {"pause": {}},
    ]
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", nginx, steps))
    reconcile_until(api, at("Healthy"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("2", nginx, steps))
    reconcile_until(api, at("Paused", 1))

    def annotations() -> dict[str, str]:
        ingress = api.get(object_path("Ingress", NAMESPACE, "web-canary"))
        assert ingress is not None
        found = ingress["metadata"]["annotations"].items()
        return {k.rsplit("/", 1)[1]: v for k, v in found if k.startswith("nginx.ingress.kubernetes.io/")}

    assert annotations() == {
        "canary": "true",
        "canary-weight": "0",
        "canary-by-header": "x-canary",
        "canary-by-header-value": "true",
    }
    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/promote=1")
    reconcile_until(api, at("Paused", 3))
    assert annotations() == {"canary": "true", "canary-weight": "0"}  # the applied ones it dropped go too


def test_a_mirror_nginx_cannot_express_is_refused_naming_the_router_and_the_field(
    api: Operator, dev_cluster: DevCluster
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", {"nginx": {"host": "web.example.com"}}))
    reconcile(api)
    found = status(api)
    assert (found["phase"], found["reason"]) == ("Degraded", "UnsupportedRouting")
    stalled = next(c for c in found["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True"
    assert "spec.strategy.canary.steps[1].setMirror" in stalled["message"]
    assert "the nginx router cannot mirror a percentage of requests" in stalled["message"]


HOST = "web.shop.example"
BY_ROUTER = {
    "gatewayAPI": {"gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": [HOST]}},
    "istio": {"istio": {"hosts": [HOST]}},
}


@pytest.mark.parametrize("router", sorted(BY_ROUTER))
def test_cookie_and_regex_routes_reach_the_canary_through_the_front_door(
    api: Operator, dev_cluster: DevCluster, router: str
) -> None:
    beta = {"name": "beta", "match": {"cookie": {"name": "beta", "value": {"exact": "always"}}}}
    qa = {"name": "qa", "match": {"headers": {"X-Team": {"regex": "qa-[0-9]+"}}}}
    steps = [{"setCanaryRoute": beta}, {"setCanaryRoute": qa}, {"pause": {}}]
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", BY_ROUTER[router], steps))
    reconcile_until(api, at("Healthy"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("2", BY_ROUTER[router], steps))
    reconcile_until(api, at("Paused", 2))

    def routed() -> bool:  # the gateway follows the cluster through its informers
        return versions(dev_cluster, HOST, 5, cookie="a=1; beta=always") == {"2": 5}

    wait_for(routed, 30, "the cookie route in use")
    assert versions(dev_cluster, HOST, 20, x_team="qa-17") == {"2": 20}
    assert versions(dev_cluster, HOST, 20, x_team="qa-x", cookie="beta=never; notbeta=always") == {"1": 20}


def _mirrors(router: str, api: KubeApi) -> list[Obj]:
    """The weighted rule's mirror filters (Gateway API) or mirror fields (Istio), as read back."""
    if router == "gatewayAPI":
        return list(http_route(api)["spec"]["rules"][-1].get("filters") or [])
    service = api.get(object_path("VirtualService", NAMESPACE, "web"))
    assert service is not None
    weighted = service["spec"]["http"][-1]
    return [{key: weighted[key]} for key in ("mirror", "mirrorPercentage") if key in weighted]


@pytest.mark.parametrize("router", sorted(BY_ROUTER))
def test_a_mirror_set_to_zero_is_taken_out_of_the_route(
    api: Operator, dev_cluster: DevCluster, router: str
) -> None:
    steps = [{"setMirror": {"percent": 20}}, {"pause": {}}, {"setMirror": {"percent": 0}}, {"pause": {}}]
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", BY_ROUTER[router], steps))
    reconcile_until(api, at("Healthy"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("2", BY_ROUTER[router], steps))
    reconcile_until(api, at("Paused", 1))
    assert _mirrors(router, api)  # the same number of rules either way: only the mirror goes
    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/promote=1")
    reconcile_until(api, at("Paused", 3))
    assert _mirrors(router, api) == []
