"""Alerts guarding a rollout. Alertmanager sends no events, so the core asks to be called once per
analysis interval (ALERT_POLL without analysis) while a rollout it guards is in flight. When it cannot
be asked, the shell reports the alert state as unknown (Observations.alerts_unknown) and the core holds
the rollout, Paused, until it is known again. Unknown is never taken for "nothing fires", whatever the
steps: a canary without analysis gates is guarded by its alerts alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core_support import healthy_on, phase_is, release_spec, run_until, stable_simulation

from slipway.api.models import ReleaseSpec
from slipway.core.actions import EmitEvent, RunAnalysis, SetWeights
from slipway.core.machine import ALERT_POLL, Decision, decide
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert
from slipway.core.simulation import MetricsMode, SimulatedMetrics, Simulation

ALERTS = {"alerts": {"matchLabels": {"severity": "critical"}}}
NO_GATES = {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "30s"}}]}}
UNREACHABLE = "Alertmanager at http://127.0.0.1:1: Connection refused"


def spec(version: str) -> ReleaseSpec:
    return release_spec(version, strategy=NO_GATES, rollback=ALERTS, interval="10s")


def tick(sim: Simulation, alerts_unknown: str | None) -> list[Decision]:
    """One operator pass, as Simulation.tick, with the alert state the shell reports."""
    sim.cluster.settle()
    decisions = []
    measurements: tuple[RawMeasurement, ...] = ()
    for _ in range(2):
        observations = replace(sim.cluster.observe(measurements), alerts_unknown=alerts_unknown)
        decision = decide(sim.spec, sim.status, observations, sim.now)
        sim.cluster.apply(decision.actions)
        sim.status = decision.status
        decisions.append(decision)
        reads = [a for a in decision.actions if isinstance(a, RunAnalysis)]
        if not reads or sim.spec.analysis is None:
            break
        measurements = tuple(
            m for read in reads for m in sim.metrics.measure(sim.spec.analysis, read, sim.now)
        )
    sim.wait(decisions[-1])
    return decisions


def canary_at_half(metrics: MetricsMode = "good") -> Simulation:
    sim = stable_simulation(spec("1"))
    sim.metrics = SimulatedMetrics(metrics)
    sim.change_spec(spec("2"))
    run_until(sim, lambda status: status.canary is not None and status.canary.weight == 50)
    return sim


def test_unknown_alerts_pause_a_canary_without_gates_until_they_are_known_again() -> None:
    sim = canary_at_half()
    decisions = [d for _ in range(30) for d in tick(sim, UNREACHABLE)]  # well past the 30 s pause
    assert sim.status is not None and sim.status.stable is not None
    assert (sim.status.phase, sim.status.reason, sim.status.stable.version) == (
        "Paused",
        "AlertsUnknown",
        "1",
    )
    assert sim.status.message == f"step 2/2: alert state unknown: {UNREACHABLE}"
    assert not any(isinstance(a, SetWeights) for d in decisions for a in d.actions)
    warnings = [a for d in decisions for a in d.actions if isinstance(a, EmitEvent) and a.type == "Warning"]
    assert [w.reason for w in warnings] == ["AlertsUnknown"]

    known = tick(sim, None)
    events = [a.reason for d in known for a in d.actions if isinstance(a, EmitEvent)]
    assert events[0] == "AlertsKnown"
    run_until(sim, healthy_on("2"))  # the pause has run its time meanwhile: promoted once alerts are known


def test_a_failed_measurement_still_rolls_back_while_alerts_are_unknown() -> None:
    sim = canary_at_half(metrics="bad")
    for _ in range(10):
        tick(sim, UNREACHABLE)
        assert sim.status is not None
        if sim.status.last_rollback is not None:
            break
    assert sim.status is not None and sim.status.last_rollback is not None
    assert sim.status.last_rollback.reason == "AnalysisFailed"
    assert sim.status.phase in ("RollingBack", "Degraded")


def test_an_alert_about_a_revision_that_serves_no_more_is_ignored() -> None:
    """Alertmanager holds an earlier canary's alert until it expires (minutes on a real cluster): it
    must not roll back the next attempt. The generated rules name their revision (docs/alert-rules.md)."""
    sim = canary_at_half()
    sim.alerts = (FiringAlert("HighErrorRate", revision="an-earlier-canary"),)
    run_until(sim, healthy_on("2"))
    assert sim.status is not None and sim.status.last_rollback is None


def test_an_alert_about_the_canary_rolls_it_back() -> None:
    sim = canary_at_half()
    assert sim.status is not None and sim.status.canary is not None
    sim.alerts = (FiringAlert("HighErrorRate", revision=sim.status.canary.revision),)
    run_until(sim, phase_is("Degraded"))
    assert sim.status.last_rollback is not None and sim.status.last_rollback.metric == "HighErrorRate"


def test_a_person_paused_release_keeps_its_reason_while_alerts_are_unknown() -> None:
    sim = canary_at_half()
    sim.cluster.annotate("pause", "1")
    tick(sim, UNREACHABLE)
    tick(sim, None)
    assert sim.status is not None and (sim.status.phase, sim.status.reason) == ("Paused", "ManualPause")


def test_a_rollout_guarded_by_alerts_is_looked_at_once_per_analysis_interval() -> None:
    """A blue-green preview waiting for a person measures nothing and has no deadline: only the alerts
    make the core ask to be called again."""
    preview = {"blueGreen": {"autoPromotion": False}}
    sim = stable_simulation(release_spec("1", strategy=preview, rollback=ALERTS, interval="20s"))
    sim.change_spec(release_spec("2", strategy=preview, rollback=ALERTS, interval="20s"))
    decisions = run_until(sim, phase_is("Paused"))
    assert decisions[-1].requeue_after_seconds == 20


def test_without_analysis_alerts_are_asked_every_alert_poll() -> None:
    strategy: dict[str, Any] = {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
    body = release_spec("1", strategy=strategy, rollback=ALERTS).model_dump(by_alias=True, exclude_none=True)
    del body["analysis"]
    sim = stable_simulation(ReleaseSpec.model_validate(body))
    sim.change_spec(ReleaseSpec.model_validate({**body, "version": "2"}))
    decisions = run_until(sim, phase_is("Paused"))  # until promoted: nothing else is due
    assert decisions[-1].requeue_after_seconds == ALERT_POLL.total_seconds()


def test_no_polling_once_the_rollout_is_over() -> None:
    sim = canary_at_half()
    run_until(sim, healthy_on("2"))
    decisions = sim.tick()  # the pass after the promotion deletes the old stable, and asks for none
    assert decisions[-1].requeue_after_seconds is None
