"""Issue 4's rollback triggers and robustness: a firing alert, Prometheus unreachable, a Release deleted
mid-canary, and the operator SIGKILLed mid-rollout."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from e2e_support import (
    E2E,
    STOP_SECONDS,
    Cluster,
    Operator,
    closed_port,
    first_release,
    post_alerts,
    release_manifest,
    wait_for,
)

from slipway_dev.alertmanager import AlertmanagerProcess
from slipway_dev.apiserver.faults import FaultConfig

pytestmark = E2E

HOLD = [{"setWeight": 50}, {"pause": {}}]


def canary_at(cluster: Cluster, weight: int) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = cluster.status()
        return status if (status.get("canary") or {}).get("weight") == weight else None

    return wait_for(reached, 30, f"canary at weight {weight}")


def test_firing_alert_rolls_the_canary_back(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    if not AlertmanagerProcess.available():
        pytest.skip("the prometheus-alertmanager binary is not installed")
    with AlertmanagerProcess() as alertmanager:
        operator_factory(alertmanager={"url": alertmanager.url})
        first_release(cluster)
        rollback = {"alerts": {"matchLabels": {"severity": "critical"}}, "progressDeadlineSeconds": 60}
        cluster.apply(release_manifest("2", steps=HOLD, rollback=rollback))
        canary_at(cluster, 50)

        alert = {
            "labels": {
                "alertname": "CheckoutDown",
                "severity": "critical",
                "namespace": "default",
                "release": "web",
            },
            "annotations": {"summary": "checkout fails"},
            "startsAt": datetime.now(UTC).isoformat(),
        }
        post_alerts(alertmanager.url, [alert])

        degraded = cluster.wait_phase("Degraded", "1", timeout=30)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == (
        "AlertFiring",
        "CheckoutDown",
    )
    assert cluster.condition("Stalled")["reason"] == "AlertFiring"


def test_unreachable_prometheus_pauses_and_never_promotes(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    operator_factory(prometheus={"url": f"http://127.0.0.1:{closed_port()}", "timeoutSeconds": 1})
    first_release(cluster)
    metrics = [{"name": "error-rate", "builtin": "error-rate", "consecutiveErrorLimit": 2}]
    steps = [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}]
    cluster.apply(release_manifest("2", steps=steps, metrics=metrics))

    def paused() -> dict[str, Any] | None:
        status = cluster.status()
        return status if (status.get("phase"), status.get("reason")) == ("Paused", "ProviderErrors") else None

    status = wait_for(paused, 30, "Paused because the provider fails")
    assert "error-rate" in status["message"]
    assert status["stable"]["version"] == "1"
    assert [entry["version"] for entry in status["history"] if entry["outcome"] == "Promoted"] == ["1"]
    assert status["analysis"]["errors"] >= 3


def test_sigterm_stops_the_operator_mid_rollout_without_waiting(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster)
    cluster.apply(release_manifest("2", steps=HOLD))
    canary_at(cluster, 50)
    assert operator.stop(), f"still running {STOP_SECONDS}s after SIGTERM"


def test_release_deleted_mid_canary_leaves_nothing_behind(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster)
    cluster.apply(release_manifest("2", steps=HOLD))
    canary_at(cluster, 50)
    assert len(cluster.deployments()) == 2

    before = operator.quiet_requests()
    cluster.write("delete", "release", "web", "--timeout=30s")

    def nothing_left() -> bool:
        services = cluster.dev.kubectl_json("get", "services", "-l", "slipway.dev/release=web")["items"]
        return (
            not cluster.deployments()
            and not services
            and not cluster.dev.kubectl_json("get", "pods")["items"]
        )

    wait_for(nothing_left, 30, "the Release's Deployments, Services and pods gone")

    def series_gone() -> bool:
        _, metrics = operator.get("/metrics")
        return 'release="web"' not in metrics

    # Its deletion makes one last pass, which finds it gone and drops its series from /metrics.
    wait_for(series_gone, 10, "the Release's series gone from the operator's /metrics")
    # That pass reads the Release once; its objects going after it (each a watch event naming it) wake
    # none once the watch has shown it deleted (an object's event handled before that may).
    after = operator.requests()
    assert after["GET"] - before["GET"] <= 2, (before, after)


def test_sigkill_at_several_instants_of_a_rollout_then_it_finishes_once(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    operator = operator_factory()
    first_release(cluster)
    steps = [
        {"setWeight": 25},
        {"analysis": {"successfulMeasurements": 3}},
        {"setWeight": 50},
        {"analysis": {"successfulMeasurements": 2}},
    ]

    def at_step(step: int, measured: bool) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            status = cluster.status()
            counted = (status.get("analysis") or {}).get("successful")
            return status if status.get("currentStep") == step and (counted or not measured) else None

        return probe

    cluster.apply(release_manifest("2", steps=steps))
    # Killed as the new version arrives, in the middle of the first gate, and at the second weight.
    operator.kill()
    for point, what in (
        (at_step(1, True), "the first gate under way"),
        (at_step(3, False), "the second gate"),
    ):
        operator = operator_factory()
        wait_for(point, 60, what)
        operator.kill()
    operator_factory()

    healthy = cluster.wait_phase("Healthy", "2", timeout=60)
    promoted = [entry for entry in healthy["history"] if entry["version"] == "2"]
    assert [entry["outcome"] for entry in promoted] == ["Promoted"]
    # Neither gate was skipped: the attempt counted at least 3 + 2 good measurements.
    assert healthy["analysis"]["successful"] >= 5
    promotions = [e for e in cluster.events() if e["reason"] == "Promoted"]
    assert len(promotions) == 1, promotions


@pytest.mark.dev_cluster(
    prometheus="on", rps=40, faults=FaultConfig(write_error_rate=0.15, write_conflict_rate=0.1, seed=4)
)
def test_api_errors_and_conflicts_are_retried(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster)
    cluster.apply(
        release_manifest("2", steps=[{"setWeight": 50}, {"analysis": {"successfulMeasurements": 2}}])
    )

    healthy = cluster.wait_phase("Healthy", "2", timeout=60)
    assert [entry["outcome"] for entry in healthy["history"] if entry["version"] == "2"] == ["Promoted"]
    _, metrics = operator.get("/metrics")
    faults = [
        line
        for line in metrics.splitlines()
        if line.startswith("slipway_api_requests_total") and ('code="500"' in line or 'code="409"' in line)
    ]
    assert faults, "no injected fault reached the operator: the test would prove nothing"


def test_only_the_leader_reconciles_and_a_standby_takes_over(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    cluster.write("create", "namespace", "slipway-system")
    election = {"enabled": True, "leaseName": "slipway", "namespace": "slipway-system"}
    leader = operator_factory(leaderElection=election)
    wait_for(lambda: leader.said("leading"), 30, "the first operator to lead")
    standby = operator_factory(leaderElection=election)
    first_release(cluster)
    assert not standby.said("leading")
    assert not [line for line in standby.log_lines() if line.get("logger") == "slipway.reconcile"]

    leader.kill()
    cluster.apply(
        release_manifest("2", steps=[{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}])
    )
    cluster.wait_phase("Healthy", "2", timeout=60)
    assert standby.said("leading")
    lease = cluster.dev.kubectl_json("get", "lease", "slipway", "-n", "slipway-system")
    assert lease["spec"]["leaseTransitions"] == 1


def test_a_leader_stopped_on_purpose_hands_the_lease_over_at_once(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    """A rolling upgrade SIGTERMs the leader: it stops within STOP_SECONDS, releases the Lease, and the
    standby leads at its next try (every third of the Lease's 15 s), not when the Lease expires."""
    cluster.write("create", "namespace", "slipway-system")
    election = {"enabled": True, "leaseName": "slipway", "namespace": "slipway-system"}
    leader = operator_factory(leaderElection=election)
    wait_for(lambda: leader.said("leading"), 30, "the first operator to lead")
    standby = operator_factory(leaderElection=election)
    wait_for(lambda: standby.said("standing by"), 30, "the second operator to stand by")
    assert leader.stop(), f"the leader still ran {STOP_SECONDS}s after SIGTERM"
    assert leader.said("released the lease")
    stopped = time.monotonic()
    wait_for(lambda: standby.said("leading"), 10, "the standby to lead")
    assert time.monotonic() - stopped < 15 * 2 / 3


@pytest.mark.dev_cluster(
    prometheus="on", rps=40, faults=FaultConfig(watch_drop_seconds=2.0, watch_history_size=5, latency_ms=5)
)
def test_dropped_watches_and_410_gone_do_not_stall_a_rollout(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster)
    cluster.apply(
        release_manifest("2", steps=[{"setWeight": 50}, {"analysis": {"successfulMeasurements": 2}}])
    )
    healthy = cluster.wait_phase("Healthy", "2", timeout=60)
    assert [entry["outcome"] for entry in healthy["history"] if entry["version"] == "2"] == ["Promoted"]
