"""Issue 4's safety promises: a Release the operator cannot carry out is refused before anything is
created; an unknown alert state never lets a canary pass; after a rollback decision the first write
returns all traffic to stable, before any scaling (replica ratio and HTTPRoute); a smoke-test Job gates
a canary; a manual action repeated with the same value is acknowledged without running twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from e2e_support import (
    CRDS,
    E2E,
    ROOT,
    Change,
    ChangeLog,
    Cluster,
    Operator,
    closed_port,
    first_release,
    job_metric,
    release_manifest,
    wait_for,
)

pytestmark = E2E

GATED = [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}]
GATEWAY_API = {"gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": ["web.example.com"]}}
ROUTING_CRDS = ROOT / "devcluster" / "slipway_dev" / "data" / "routing-crds.yaml"
COLLECTIONS = {
    "Deployment": "/apis/apps/v1/namespaces/default/deployments",
    "Service": "/api/v1/namespaces/default/services",
    "Release": "/apis/slipway.dev/v1alpha1/namespaces/default/releases",
}
HTTP_ROUTES = {"HTTPRoute": "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"}


def test_a_release_calling_a_host_outside_the_allow_list_is_refused_until_fixed(
    cluster: Cluster, operator: Operator
) -> None:
    checkout = {"name": "checkout", "web": {"url": "http://127.0.0.1:1/rate", "jsonPath": "$.rate"}}
    cluster.apply(release_manifest("1", metrics=[{**checkout, "thresholdRange": {"max": 1}}]))

    cluster.kubectl("wait", "--for=condition=Stalled", "release/web", "--timeout=30s")
    status = cluster.status()
    assert (status["phase"], status["reason"], status["observedGeneration"]) == (
        "Degraded",
        "HostNotAllowed",
        1,
    )
    assert "spec.analysis.metrics[0].web.url" in status["message"]
    assert "'127.0.0.1' is not in the operator config's web.allowedHosts" in status["message"]
    assert cluster.condition("Ready")["status"] == "False"
    warning = wait_for(
        lambda: [e for e in cluster.events() if (e["type"], e["reason"]) == ("Warning", "HostNotAllowed")],
        10,
        "a Warning Event",
    )
    assert warning[0]["message"] == status["message"]
    assert cluster.deployments() == []
    assert cluster.kubectl("get", "service", "web", check=False).returncode != 0

    cluster.apply(release_manifest("1"))
    cluster.kubectl("wait", "--for=condition=Ready", "release/web", "--timeout=30s")
    healthy = cluster.wait_phase("Healthy", "1", timeout=10)
    assert healthy["observedGeneration"] == 2
    assert cluster.condition("Stalled")["status"] == "False"
    assert len(cluster.deployments()) == 1
    refusals = [e for e in cluster.events() if e["reason"] == "HostNotAllowed"]
    assert len(refusals) == 1, "the refusal was told once, not on every pass"


def test_unknown_alert_state_pauses_the_canary_and_never_promotes(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    operator = operator_factory(
        alertmanager={"url": f"http://127.0.0.1:{closed_port()}", "timeoutSeconds": 1}
    )
    first_release(cluster)
    rollback = {"alerts": {"matchLabels": {"severity": "critical"}}, "progressDeadlineSeconds": 60}
    # Alerts are the only guard: no analysis step, a pause that would be over in a second.
    steps = [{"setWeight": 50}, {"pause": {"duration": "1s"}}]
    cluster.apply(release_manifest("2", steps=steps, rollback=rollback))

    def paused() -> dict[str, Any] | None:
        status = cluster.status()
        return status if (status.get("phase"), status.get("reason")) == ("Paused", "AlertsUnknown") else None

    status = wait_for(paused, 30, "Paused while the alert state is unknown")
    assert "alert state unknown: Alertmanager at http://127.0.0.1:" in status["message"]
    assert cluster.condition("Paused")["status"] == "True"
    assert any((e["type"], e["reason"]) == ("Warning", "AlertsUnknown") for e in cluster.events())

    def asked() -> int:
        return sum(line.get("event") == "alerts unknown" for line in operator.log_lines())

    # Still held after several more passes, each asking Alertmanager again, past the 1 s pause.
    seen = asked()
    wait_for(lambda: asked() >= seen + 3, 30, "three more passes asking Alertmanager")
    held = cluster.status()
    assert (held["phase"], held["reason"], held["stable"]["version"]) == ("Paused", "AlertsUnknown", "1")
    assert held["canary"]["weight"] < 100
    assert [entry["version"] for entry in held["history"] if entry["outcome"] == "Promoted"] == ["1"]


def test_a_smoke_test_job_that_succeeds_lets_the_canary_pass(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster)
    cluster.apply(release_manifest("2", steps=GATED, metrics=[job_metric()]))
    healthy = cluster.wait_phase("Healthy", "2", timeout=60)
    smoke = [m for m in healthy["analysis"]["measurements"] if m["metric"] == "smoke"]
    assert smoke and smoke[-1]["result"] == "Successful"


def spec_changed(change: Change) -> bool:
    return change.kind != "Release" and (
        change.before is None or change.before["spec"] != change.after["spec"]
    )


def status_changed(change: Change) -> bool:
    return change.kind == "Release" and (
        change.before is None or change.before.get("status") != change.after.get("status")
    )


def route_weights(change: Change) -> dict[str, int]:
    return {ref["name"]: ref["weight"] for ref in change.after["spec"]["rules"][0]["backendRefs"]}


@pytest.mark.parametrize("routing", [None, GATEWAY_API], ids=["replicas", "httproute"])
def test_after_a_rollback_decision_the_first_write_returns_all_traffic_to_stable(
    cluster: Cluster, operator: Operator, routing: dict[str, Any] | None
) -> None:
    def manifest(version: str, **options: Any) -> dict[str, Any]:
        release = release_manifest(version, **options)
        if routing is not None:
            release["spec"]["trafficRouting"] = routing
        return release

    if routing is not None:
        cluster.write("apply", "-f", str(ROUTING_CRDS))
    cluster.apply(manifest("1"))
    v1 = cluster.wait_phase("Healthy", "1", timeout=30)["stable"]["revision"]
    watched = COLLECTIONS if routing is None else {**COLLECTIONS, **HTTP_ROUTES}
    with ChangeLog(cluster.dev.credentials, watched) as log:
        # The smoke test fails: the first measurement beyond failureLimit 0 decides the rollback.
        cluster.apply(manifest("2", steps=GATED, metrics=[job_metric(exit_code=1)]))
        degraded = cluster.wait_phase("Degraded", "1", timeout=60)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == (
        "AnalysisFailed",
        "smoke",
    )
    v2 = degraded["history"][-1]["revision"]
    changes = log.changes()

    decided = next(
        i for i, c in enumerate(changes) if status_changed(c) and c.after["status"].get("lastRollback")
    )
    before = max(i for i, c in enumerate(changes[:decided]) if status_changed(c))
    rollback_pass = [c for c in changes[before + 1 : decided] if spec_changed(c)]
    assert rollback_pass, "the rollback pass wrote nothing before its status"
    traffic = rollback_pass[0]
    if routing is None:
        assert (traffic.kind, traffic.name) == ("Service", "web")
        assert traffic.after["spec"]["selector"]["slipway.dev/revision"] == v1
    else:
        assert (traffic.kind, traffic.name) == ("HTTPRoute", "web")
        assert route_weights(traffic) == {"web": 100, "web-canary": 0}
    scale_downs = [
        c
        for c in changes
        if c.kind == "Deployment"
        and c.after["metadata"]["labels"].get("slipway.dev/revision") == v2
        and c.before is not None
        and c.after["spec"]["replicas"] < c.before["spec"]["replicas"]
    ]
    assert scale_downs, "the canary was never scaled down"
    assert traffic.rv < scale_downs[0].rv


def test_a_manual_action_repeated_with_the_same_value_is_acknowledged_not_repeated(
    cluster: Cluster, operator: Operator
) -> None:
    first_release(cluster)
    cluster.apply(release_manifest("2", steps=[{"setWeight": 50}, {"pause": {"duration": "1h"}}]))
    wait_for(lambda: (cluster.status().get("canary") or {}).get("weight") == 50, 30, "canary at weight 50")

    def annotations() -> dict[str, str]:
        found: dict[str, str] = cluster.release()["metadata"].get("annotations") or {}
        return found

    def reached(phase: str) -> Callable[[], bool]:
        return lambda: cluster.status()["phase"] == phase and "slipway.dev/pause" not in annotations()

    cluster.write("annotate", "release", "web", "slipway.dev/pause=first")
    wait_for(reached("Paused"), 30, "paused, the annotation removed")
    paused_at = next(r["at"] for r in cluster.status()["manualActions"] if r["action"] == "pause")
    cluster.write("annotate", "release", "web", "slipway.dev/resume=first")
    wait_for(lambda: cluster.status()["phase"] == "Progressing", 30, "resumed")

    cluster.write("annotate", "release", "web", "slipway.dev/pause=first")
    wait_for(lambda: "slipway.dev/pause" not in annotations(), 30, "the repeated annotation removed")
    status = cluster.status()
    assert status["phase"] == "Progressing"
    assert next(r["at"] for r in status["manualActions"] if r["action"] == "pause") == paused_at
    pauses = [
        e for e in cluster.events() if e["reason"] == "ManualAction" and e["message"].startswith("pause:")
    ]
    assert len(pauses) == 1


def test_a_spec_only_the_models_reject_is_refused_naming_the_field(
    cluster: Cluster, operator: Operator
) -> None:
    # A cluster whose CRD lags behind the operator (here: no schema for spec at all) stores what the
    # models refuse; the operator must still refuse it rather than act on part of it.
    crd = yaml.safe_load((CRDS / "releases.slipway.dev.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    schema["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    cluster.write("replace", "-f", "-", input=yaml.safe_dump(crd))
    cluster.apply(release_manifest("1", steps=[{"setWeight": 150}]))

    cluster.kubectl("wait", "--for=condition=Stalled", "release/web", "--timeout=30s")
    stalled = cluster.condition("Stalled")
    assert (stalled["reason"], stalled["observedGeneration"]) == ("InvalidSpec", 1)
    assert "spec.strategy.canary.steps[0].setWeight: " in stalled["message"], stalled["message"]
    assert cluster.deployments() == []
