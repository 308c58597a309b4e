"""The canary state machine, feature by feature, on the real decide() with a simulated cluster."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from core_support import (
    T0,
    Alternating,
    actions,
    healthy_on,
    metric,
    of_type,
    phase_is,
    release_spec,
    run_until,
    stable_simulation,
    writes,
)

from slipway.api.status import ReleaseStatus
from slipway.core.actions import (
    AcknowledgeAction,
    DeleteRevision,
    EmitEvent,
    EnsureRevision,
    RunAnalysis,
    ScaleRevision,
    SetWeights,
)
from slipway.core.machine import WATCH_SAFETY_SECONDS, decide
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert
from slipway.core.revision import revision_hash
from slipway.core.simulation import SimulatedMetrics, Simulation


def conditions_of(sim: Simulation) -> dict[str, tuple[str, str]]:
    assert sim.status is not None
    return {c.type: (c.status, c.reason) for c in sim.status.conditions}


def start_v2(sim: Simulation, **spec_fields: object) -> str:
    spec = release_spec("2.0.0", **spec_fields)  # type: ignore[arg-type]
    sim.change_spec(spec)
    return revision_hash(spec.template, spec.version)


def test_first_release_goes_straight_to_healthy() -> None:
    sim = Simulation(spec=release_spec("1.0.0"), now=T0)
    decisions = run_until(sim, phase_is("Healthy"))
    assert sim.status is not None and sim.status.stable is not None
    revision = sim.status.stable.revision
    assert of_type(decisions, SetWeights) == [SetWeights(revision, None, 0)]
    assert sim.status.canary is None and sim.status.current_step is None
    assert sim.status.history[-1].outcome == "Promoted"
    assert conditions_of(sim)["Ready"] == ("True", "Ready")
    assert conditions_of(sim)["Reconciling"][0] == "False"
    assert sim.status.observed_generation == 1


def test_good_canary_walks_the_steps_then_waits_for_promote() -> None:
    sim = stable_simulation()
    assert sim.status is not None and sim.status.stable is not None
    stable = sim.status.stable.revision
    canary = start_v2(sim)
    decisions = run_until(sim, phase_is("Paused"))
    assert sim.status.reason == "WaitingForPromote"
    assert sim.status.current_step == 4
    assert [a.weights for a in of_type(decisions, SetWeights)] == [
        {stable: 90, canary: 10},
        {stable: 50, canary: 50},
    ]
    # The gate needed three good measurements in a row before weight 50.
    assert sim.status.analysis is not None and sim.status.analysis.successful >= 3
    assert all(m.result == "Successful" for m in sim.status.analysis.measurements)
    assert conditions_of(sim)["Paused"] == ("True", "WaitingForPromote")
    assert conditions_of(sim)["Ready"][0] == "False"
    # Stable keeps all its pods until promotion (invariant 3).
    assert sim.cluster.revisions[stable].replicas == 4

    sim.cluster.annotate("promote", "2026-01-01T12:30:00Z")
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert of_type(decisions, SetWeights)[0] == SetWeights(canary, None, 0)  # all on the new stable
    # The old stable is scaled to zero in the next pass, at once, once a status that no longer names
    # it as serving is written; its Deployment is kept for undo (spec.revisionHistoryLimit).
    assert sim.cluster.revisions[stable].replicas == 4 and decisions[-1].requeue_after_seconds == 0
    decisions += sim.tick()
    assert ScaleRevision(stable, 0) in actions(decisions)
    assert sim.cluster.revisions[stable].replicas == 0
    assert [(old.revision, old.version) for old in sim.status.old_revisions] == [(stable, "1.0.0")]
    assert sim.status.history[-1].outcome == "Promoted"
    assert sim.status.history[-1].version == "2.0.0"
    assert of_type(decisions, AcknowledgeAction) == [AcknowledgeAction("promote", "2026-01-01T12:30:00Z")]
    assert [r.action for r in sim.status.manual_actions] == ["promote"]


def test_failed_analysis_returns_traffic_to_stable_before_any_scaling() -> None:
    sim = stable_simulation()
    sim.metrics = SimulatedMetrics("bad")
    canary = start_v2(sim)
    decisions = run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.stable is not None
    stable = sim.status.stable.revision
    rollback_pass = next(d for d in decisions if d.status.phase == "RollingBack")
    first_write = next(a for a in rollback_pass.actions if not isinstance(a, RunAnalysis | EmitEvent))
    assert first_write == SetWeights(stable, canary, 0)
    assert sim.cluster.revisions[canary].replicas == 0
    assert sim.cluster.revisions[stable].replicas == 4
    last = sim.status.last_rollback
    assert last is not None
    assert (last.reason, last.metric, last.value, last.threshold) == (
        "AnalysisFailed",
        "error-rate",
        "0.01",
        "<= 0.001",
    )
    assert (last.from_version, last.to_version) == ("2.0.0", "1.0.0")
    assert conditions_of(sim)["Stalled"] == ("True", "AnalysisFailed")
    assert sim.status.history[-1].outcome == "RolledBack"
    warnings = [e for e in of_type(decisions, EmitEvent) if e.type == "Warning"]
    assert warnings and "error-rate" in warnings[0].message


def test_failure_limit_tolerates_failures_then_rolls_back() -> None:
    sim = stable_simulation()
    sim.metrics = SimulatedMetrics("flaky")  # every third measurement fails
    start_v2(sim, metrics=[{"name": "error-rate", "builtin": "error-rate", "failureLimit": 1}])
    run_until(sim, phase_is("Degraded"), max_ticks=400)
    assert sim.status is not None and sim.status.analysis is not None
    assert sim.status.analysis.failures == 2


def test_analysis_failure_pauses_when_rollback_on_failure_is_off() -> None:
    sim = stable_simulation()
    sim.metrics = SimulatedMetrics("bad")
    start_v2(sim, rollback={"onAnalysisFailure": False})
    run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.reason == "AnalysisFailed"
    assert sim.status.canary is not None and sim.status.canary.weight == 10


def test_no_data_never_promotes_and_pauses_past_the_inconclusive_limit() -> None:
    sim = stable_simulation()
    sim.metrics = SimulatedMetrics("nodata")
    canary = start_v2(sim)
    decisions = run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.reason == "AnalysisInconclusive"
    assert sim.status.analysis is not None and sim.status.analysis.inconclusive == 4  # limit 3, one more
    assert max(a.weights.get(canary, 0) for a in of_type(decisions, SetWeights)) == 10


def test_provider_errors_pause_and_the_release_carries_on_when_the_provider_answers() -> None:
    sim = stable_simulation()
    sim.metrics = SimulatedMetrics("error")
    start_v2(sim)
    run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.reason == "ProviderErrors"
    assert "5 provider errors in a row" in sim.status.message
    sim.metrics = SimulatedMetrics("good")
    run_until(sim, phase_is("Progressing"))
    run_until(sim, lambda status: status.reason == "WaitingForPromote")


def test_a_firing_alert_rolls_back() -> None:
    sim = stable_simulation()
    start_v2(sim)
    run_until(sim, lambda status: status.canary is not None and status.canary.weight == 10)
    sim.alerts = (FiringAlert("HighErrorRate", "5xx above 5%"),)
    run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.last_rollback is not None
    assert sim.status.last_rollback.reason == "AlertFiring"
    assert sim.status.last_rollback.metric == "HighErrorRate"


def test_progress_deadline_rolls_back_a_canary_that_never_gets_ready() -> None:
    sim = stable_simulation()
    canary = start_v2(sim, rollback={"progressDeadlineSeconds": 120})
    sim.cluster.broken.add(canary)
    started = sim.now
    run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.reason == "ProgressDeadlineExceeded"
    assert sim.status.last_rollback is not None
    assert (sim.status.last_rollback.at - started).total_seconds() >= 120
    assert (sim.status.last_rollback.at - started).total_seconds() < 130


def test_progress_deadline_can_pause_instead() -> None:
    sim = stable_simulation()
    canary = start_v2(sim, rollback={"progressDeadlineSeconds": 60, "onProgressDeadline": "pause"})
    sim.cluster.broken.add(canary)
    run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.reason == "ProgressDeadlineExceeded"


def test_a_first_release_that_never_gets_ready_is_degraded_at_the_deadline() -> None:
    spec = release_spec(rollback={"progressDeadlineSeconds": 60})
    sim = Simulation(spec=spec, now=T0)
    sim.cluster.broken.add(revision_hash(spec.template, spec.version))
    run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.reason == "ProgressDeadlineExceeded"


def test_promote_full_skips_the_remaining_steps() -> None:
    sim = stable_simulation()
    start_v2(sim)
    run_until(sim, lambda status: status.current_step == 1)
    sim.cluster.annotate("promote-full", "now")
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert not of_type(decisions, RunAnalysis)


def test_pause_and_resume() -> None:
    sim = stable_simulation()
    start_v2(sim)
    run_until(sim, lambda status: status.current_step == 1)
    sim.cluster.annotate("pause", "a")
    run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.reason == "ManualPause"
    # A paused release stays paused for any time, and moves nothing.
    sim.now = sim.now.replace(hour=23)
    decisions = sim.tick()
    assert sim.status.phase == "Paused" and writes(decisions) == []
    sim.cluster.annotate("resume", "b")
    run_until(sim, lambda status: status.reason == "WaitingForPromote")


def test_abort_rolls_back_and_retry_tries_again_without_a_spec_change() -> None:
    sim = stable_simulation()
    canary = start_v2(sim)
    run_until(sim, lambda status: status.current_step == 1)
    sim.cluster.annotate("abort", "1")
    decisions = run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.reason == "Aborted"
    assert sim.status.history[-1].outcome == "Aborted"
    assert of_type(decisions, SetWeights)[0].weights[canary] == 0
    generation = sim.cluster.generation
    sim.cluster.annotate("retry", "1")
    run_until(sim, lambda status: status.reason == "WaitingForPromote")
    assert sim.cluster.generation == generation  # no spec change
    assert sim.status.canary is not None and sim.status.canary.revision == canary


def test_retry_after_a_rollback_that_could_not_return_traffic_returns_it_first() -> None:
    """The deadline ended a rollback while stable had no ready pod, so the rolled-back canary still
    holds its traffic: retry waits for stable (moving nothing else), gives it all traffic back, and
    only then tries the version again."""
    sim = stable_simulation()
    assert sim.status is not None and sim.status.stable is not None
    stable = sim.status.stable.revision
    canary = start_v2(sim)
    run_until(sim, lambda status: status.canary is not None and status.canary.weight > 0)
    sim.cluster.broken.add(stable)
    sim.metrics = SimulatedMetrics("bad")
    run_until(sim, phase_is("Degraded"))
    assert sim.status.reason == "ProgressDeadlineExceeded"
    assert sim.status.canary is not None and sim.status.canary.weight > 0

    sim.cluster.annotate("retry", "1")
    waiting = sim.tick()
    assert (sim.status.phase, sim.status.reason) == ("Progressing", "ReturningToStable")
    scaled = [a for a in writes(waiting) if isinstance(a, EnsureRevision | ScaleRevision | DeleteRevision)]
    assert [a.revision for a in scaled] in ([], [stable])  # only stable's pods may be asked for again
    assert not of_type(waiting, SetWeights)
    sim.cluster.broken.clear()
    sim.metrics = SimulatedMetrics("good")
    decisions = sim.tick()
    assert writes(decisions)[:1] == [SetWeights(stable, canary, 0)]
    assert [e.reason for e in of_type(decisions, EmitEvent)][:1] == ["RolloutStarted"]
    run_until(sim, lambda status: status.reason == "WaitingForPromote")


def test_each_manual_action_value_is_carried_out_once() -> None:
    sim = stable_simulation()
    start_v2(sim)
    run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.stable is not None
    sim.cluster.annotate("promote", "x")
    # The shell has not removed the annotation yet (it crashed): the same value must not promote twice.
    observations = sim.cluster.observe()
    first = decide(sim.spec, sim.status, observations, sim.now)
    again = decide(sim.spec, first.status, observations, sim.now)
    assert first.status.current_step == 5
    assert again.status.current_step == 5
    assert [(r.action, r.value) for r in again.status.manual_actions] == [("promote", "x")]
    # Not carried out again, but removed again, so the Release shows no request that will not happen.
    assert of_type([again], AcknowledgeAction) == [AcknowledgeAction("promote", "x")]
    assert not [a for a in of_type([again], EmitEvent) if a.reason == "ManualAction"]


def test_an_annotation_set_again_to_a_value_carried_out_is_removed_without_acting() -> None:
    sim = stable_simulation()
    sim.cluster.annotate("pause", "1")
    sim.tick()
    assert sim.status is not None and not sim.cluster.annotations
    sim.cluster.annotate("pause", "1")  # the same value again: status records it as carried out
    sim.cluster.annotate("promote", "2")
    decisions = sim.tick()
    assert set(of_type(decisions, AcknowledgeAction)) == {
        AcknowledgeAction("pause", "1"),
        AcknowledgeAction("promote", "2"),
    }
    assert [a.message for a in of_type(decisions, EmitEvent) if a.reason == "ManualAction"] == [
        "promote: no effect: no rollout in progress"
    ]
    assert not sim.cluster.annotations


def test_manual_actions_with_nothing_to_act_on_are_acknowledged_without_effect() -> None:
    sim = stable_simulation()
    sim.cluster.annotate("promote", "1")
    sim.cluster.annotate("abort", "1")
    decisions = sim.tick()
    assert sim.status is not None and sim.status.phase == "Healthy"
    assert {a.action for a in of_type(decisions, AcknowledgeAction)} == {"promote", "abort"}
    assert all(r.result.startswith("no effect") for r in sim.status.manual_actions)


def test_a_new_version_supersedes_the_canary_in_flight() -> None:
    sim = stable_simulation()
    old_canary = start_v2(sim)
    run_until(sim, lambda status: status.current_step == 1)
    spec = release_spec("3.0.0")
    sim.change_spec(spec)
    decisions = run_until(sim, lambda status: status.current_step == 1)
    assert sim.status is not None and sim.status.canary is not None
    assert sim.status.canary.version == "3.0.0"
    assert ScaleRevision(old_canary, 0) in actions(decisions)  # kept for undo
    assert of_type(decisions, SetWeights)[0].weights[old_canary] == 0
    assert sim.status.history[-1].outcome == "Superseded"


def test_reverting_the_spec_mid_rollout_returns_to_stable() -> None:
    sim = stable_simulation()
    canary = start_v2(sim)
    run_until(sim, lambda status: status.current_step == 1)
    sim.change_spec(release_spec("1.0.0"))
    run_until(sim, phase_is("Healthy"))
    assert sim.status is not None and sim.status.reason == "Reverted"
    sim.tick()  # the pass after the one that stopped naming the canary scales it to zero
    assert sim.cluster.revisions[canary].replicas == 0


def test_a_new_generation_leaves_degraded() -> None:
    sim = stable_simulation()
    sim.metrics = SimulatedMetrics("bad")
    start_v2(sim)
    run_until(sim, phase_is("Degraded"))
    sim.metrics = SimulatedMetrics("good")
    sim.change_spec(release_spec("2.0.0", interval="20s"))
    run_until(sim, lambda status: status.reason == "WaitingForPromote")


def test_stable_replicas_follow_the_spec_when_healthy() -> None:
    sim = stable_simulation()
    sim.change_spec(release_spec("1.0.0", replicas=6))
    decisions = sim.tick()
    assert sim.status is not None and sim.status.stable is not None
    assert of_type(decisions, EnsureRevision) == [EnsureRevision(sim.status.stable.revision, "1.0.0", 6)]
    assert not of_type(decisions, ScaleRevision)


def test_conditions_keep_their_transition_time_while_their_status_holds() -> None:
    sim = stable_simulation()
    assert sim.status is not None
    ready_since = {c.type: c.last_transition_time for c in sim.status.conditions}
    sim.now += timedelta(minutes=1)
    start_v2(sim)
    run_until(sim, lambda status: status.current_step == 2)
    changed = {c.type: c.last_transition_time for c in sim.status.conditions}
    assert changed["Ready"] > ready_since["Ready"]  # True -> False when the rollout began
    assert changed["Stalled"] == ready_since["Stalled"]  # False all along
    assert all(c.observed_generation == 2 for c in sim.status.conditions)


def test_a_provider_coming_back_forgives_nothing_a_person_resuming_does() -> None:
    sim = stable_simulation()
    canary = start_v2(sim, metrics=[metric(failureLimit=1, consecutiveErrorLimit=0)])
    run_until(sim, lambda status: status.canary is not None and status.canary.weight == 10)

    def measured(seconds: int, values: tuple[float, ...] = (), error: str | None = None) -> ReleaseStatus:
        raw = RawMeasurement("error-rate", canary, sim.now + timedelta(seconds=seconds), values, error)
        decision = decide(
            sim.spec, sim.status, sim.cluster.observe([raw]), sim.now + timedelta(seconds=seconds)
        )
        sim.status = decision.status
        return decision.status

    assert measured(1, (0.5,)).phase == "Progressing"  # one failure, within failureLimit 1
    assert measured(2, error="timeout").reason == "ProviderErrors"
    recovered = measured(3, (0.0,))
    assert recovered.phase == "Progressing"
    assert recovered.analysis is not None and recovered.analysis.metrics[0].failures == 1
    assert measured(4, error="timeout").reason == "ProviderErrors"
    sim.cluster.annotate("resume", "r")
    resumed = measured(5, (0.0,))
    assert resumed.phase == "Progressing"
    assert resumed.analysis is not None and resumed.analysis.metrics[0].failures == 0


def test_a_gate_counts_only_distinct_good_results_taken_since_it_began() -> None:
    strategy = {"canary": {"steps": [{"setWeight": 20}, {"analysis": {"successfulMeasurements": 2}}]}}
    sim = stable_simulation(release_spec(strategy=strategy))
    spec = release_spec("2.0.0", strategy=strategy)
    sim.change_spec(spec)
    run_until(sim, lambda status: status.current_step == 1)
    assert sim.status is not None and sim.status.canary is not None and sim.status.step_started_at is not None
    began, revision = sim.status.step_started_at, sim.status.canary.revision

    def good(after_seconds: float) -> RawMeasurement:
        return RawMeasurement("error-rate", revision, began + timedelta(seconds=after_seconds), values=(0.0,))

    early = decide(spec, sim.status, sim.cluster.observe([good(-1), good(30)]), began + timedelta(seconds=30))
    assert early.status.analysis is not None
    assert [m.at for m in early.status.analysis.measurements][-2:] == [good(-1).at, good(30).at]
    assert early.status.current_step == 1  # the good result from before the gate does not count
    again = decide(spec, early.status, sim.cluster.observe([good(30)]), began + timedelta(seconds=31))
    assert again.status.current_step == 1  # the same measurement handed twice counts once
    then = decide(spec, again.status, sim.cluster.observe([good(60)]), began + timedelta(seconds=60))
    assert then.status.current_step == 2


def test_good_results_before_a_gate_do_not_count_toward_it() -> None:
    strategy = {
        "canary": {
            "steps": [
                {"setWeight": 20},
                {"pause": {"duration": "2m"}},
                {"analysis": {"successfulMeasurements": 2}},
            ]
        }
    }
    sim = stable_simulation(release_spec(strategy=strategy))
    sim.change_spec(release_spec("2.0.0", strategy=strategy))
    before_gate = run_until(sim, lambda status: (status.current_step or 0) >= 2 or status.phase == "Healthy")
    assert len(of_type(before_gate, RunAnalysis)) >= 2  # good results were taken during the pause
    assert sim.status is not None and sim.status.step_started_at is not None
    assert sim.status.current_step == 2, "the gate passed the moment it began"
    began = sim.status.step_started_at
    in_gate = run_until(sim, lambda status: (status.current_step or 0) > 2)
    assert len(of_type(in_gate, RunAnalysis)) == 2
    assert (sim.now - began).total_seconds() >= 2 * 30  # two intervals of the gate's own measurements


def test_a_new_generation_that_puts_a_gate_at_the_current_step_starts_its_count() -> None:
    """Good results taken during a timed pause, then a new generation of the same revision whose plan
    has a gate at that step: the gate counts from the new generation, not from the old results."""
    pause = {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "5m"}}, {"pause": {}}]}}
    one_good = {"analysis": {"successfulMeasurements": 1}}
    gate = {"canary": {"steps": [{"setWeight": 20}, one_good, {"pause": {}}]}}
    sim = stable_simulation(release_spec(strategy=pause))
    sim.change_spec(release_spec("2.0.0", strategy=pause))
    run_until(
        sim,
        lambda status: (
            status.analysis is not None
            and status.current_step == 1
            and status.analysis.metrics[0].consecutive_successful >= 1
        ),
    )
    sim.change_spec(release_spec("2.0.0", strategy=gate))
    sim.tick()
    assert sim.status is not None
    assert (sim.status.current_step, sim.status.step_started_at) == (1, sim.now)
    decisions = run_until(sim, lambda status: status.current_step == 2)
    assert len(of_type(decisions, RunAnalysis)) == 1  # the gate's own measurement, an interval later


def test_a_promotion_whose_status_write_is_lost_to_a_new_version_keeps_stable_to_return_to() -> None:
    """The pass that ends the last pause promotes; a new version applied at that moment makes its status
    write conflict, after its cluster writes. The next pass decides from the status before it (stable
    at 25 %, the canary at 75 %): it must find stable's Deployment to give its traffic back, and start
    the new version, not wait for it until the progress deadline."""
    steps = [{"setWeight": 75}, {"pause": {"duration": "1m"}}]
    sim = stable_simulation(release_spec("1.0.0", strategy={"canary": {"steps": steps}}))
    assert sim.status is not None and sim.status.stable is not None
    stable = sim.status.stable.revision
    start_v2(sim, strategy={"canary": {"steps": steps}})
    run_until(sim, lambda status: status.analysis is not None and status.analysis.successful == 1)
    assert sim.status.current_step == 1 and sim.status.step_started_at is not None
    sim.now = sim.status.step_started_at + timedelta(minutes=1)
    sim.cluster.settle()
    promoting = decide(sim.spec, sim.status, sim.cluster.observe(), sim.now)
    assert promoting.status.phase == "Healthy"
    sim.cluster.apply(promoting.actions)  # carried out; its status is not written
    assert stable in sim.cluster.revisions, "the stable a lost status still names was deleted"
    sim.change_spec(release_spec("3.0.0", strategy={"canary": {"steps": steps}}))
    run_until(sim, lambda status: status.canary is not None and status.canary.version == "3.0.0", 10)
    assert sim.status.stable is not None and sim.status.stable.revision == stable
    assert sim.status.reason != "ReturningToStable"


def test_entering_a_gate_after_a_pause_keeps_the_measurements_rhythm() -> None:
    """A gate entered between two measurements, with traffic unchanged since the pause began, takes its
    first one when it was due: restarting the schedule there left a gap of nearly two intervals."""
    strategy = {
        "canary": {
            "steps": [
                {"setWeight": 20},
                {"pause": {"duration": "45s"}},
                {"analysis": {"successfulMeasurements": 2}},
            ]
        }
    }
    sim = stable_simulation(release_spec(strategy=strategy))
    sim.change_spec(release_spec("2.0.0", strategy=strategy))
    sim.recorded = []
    run_until(sim, healthy_on("2.0.0"))
    taken = sorted({m.at for _, _, observations, _ in sim.recorded for m in observations.measurements})
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(taken)]
    assert len(taken) >= 3 and max(gaps) <= 30.5, gaps


def test_while_canary_pods_start_the_pass_asks_for_no_poll_only_a_safety_net() -> None:
    """Pods becoming ready come as a watch event on their Deployment, which wakes the Release: while they
    start, a pass asks to be called again only in case that event is lost (a poll every 5 s cost ~235
    requests/s with 300 canaries waiting)."""
    sim = stable_simulation()
    canary = start_v2(sim)
    sim.cluster.broken.add(canary)  # its pods never become ready
    for _ in range(3):
        decisions = sim.tick()
        assert sim.status is not None and sim.status.phase == "Progressing"
        assert sim.cluster.revisions[canary].replicas > 0  # asked for, and waited for
        assert decisions[-1].requeue_after_seconds == WATCH_SAFETY_SECONDS >= 30
        sim.wait(decisions[-1])


# -- the promotion waits for a good last word of every metric ---------------------------------------

BACKGROUND_ONLY = {"canary": {"steps": [{"setWeight": 30}, {"pause": {"duration": "1m"}}]}}
"""No gate: background analysis alone stands between the end of the steps and the promotion."""


def test_steps_ending_on_no_data_do_not_promote() -> None:
    """Two inconclusive measurements (inconclusiveLimit 3) by the end of the pause used to promote the
    canary; the promotion waits for a good one, says so, and the limit pauses the release."""
    sim = stable_simulation(release_spec(strategy=BACKGROUND_ONLY), metrics="nodata")
    start_v2(sim, strategy=BACKGROUND_ONLY)
    decisions = run_until(sim, lambda status: status.current_step == 2 and status.phase == "Progressing")
    assert sim.status is not None and sim.status.canary is not None
    assert [e.message for e in of_type(decisions, EmitEvent) if e.reason == "Promoting"] == [
        "all steps done: promoting version 2.0.0 after a good measurement of error-rate (last Inconclusive)"
    ]
    assert sim.status.message == (
        "promotion: waiting for a good measurement of error-rate (last Inconclusive); canary weight 30%"
    )
    run_until(sim, phase_is("Paused", "Healthy"))
    assert (sim.status.phase, sim.status.reason) == ("Paused", "AnalysisInconclusive")
    assert sim.status.stable is not None and sim.status.stable.version == "1.0.0"
    assert sim.status.message.startswith("promotion: metric error-rate: 4 inconclusive")


def test_a_person_promoting_fully_overrules_the_wait() -> None:
    sim = stable_simulation(release_spec(strategy=BACKGROUND_ONLY), metrics="nodata")
    start_v2(sim, strategy=BACKGROUND_ONLY)
    run_until(sim, phase_is("Paused"))
    sim.cluster.annotate("promote", "1")  # resumes: the wait goes on, its counters cleared
    run_until(sim, lambda status: status.phase == "Progressing")
    assert sim.status is not None and sim.status.message.startswith("promotion: waiting for a good")
    assert [(a.action, a.result) for a in sim.status.manual_actions] == [("promote", "resumed the promotion")]
    sim.cluster.annotate("promote", "2")  # nothing to move past while the promotion is under way
    run_until(sim, lambda status: "promote" not in str(sim.cluster.annotations))
    assert [(a.action, a.result) for a in sim.status.manual_actions] == [
        ("promote", "no effect: the promotion is under way (promote-full does not wait for measurements)")
    ]
    sim.cluster.annotate("promote-full", "1")
    run_until(sim, healthy_on("2.0.0"))
    assert sim.status.analysis is not None and sim.status.analysis.successful == 0
    done = {a.action: a.result for a in sim.status.manual_actions}
    assert done["promote-full"] == "promoting now, without waiting for measurements"
    assert sim.status.history[-1].reason == "replaced version 1.0.0 (promote-full)"
    # It overruled that attempt only: the next version waits again.
    sim.change_spec(release_spec("3.0.0", strategy=BACKGROUND_ONLY))
    run_until(sim, phase_is("Paused", "Healthy"))
    assert (sim.status.phase, sim.status.reason) == ("Paused", "AnalysisInconclusive")


def test_steps_ending_before_any_measurement_promote_on_the_first_good_one() -> None:
    strategy = {"canary": {"steps": [{"setWeight": 100}]}}
    sim = stable_simulation(release_spec(strategy=strategy))
    start_v2(sim, strategy=strategy)
    run_until(sim, lambda status: status.current_step == 1)
    assert sim.status is not None and sim.status.analysis is not None
    assert sim.status.analysis.measurements == []
    assert sim.status.message == (
        "promotion: waiting for a good measurement of error-rate (none yet); canary weight 100%"
    )
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert len(of_type(decisions, RunAnalysis)) == 1
    assert [m.result for m in sim.status.analysis.measurements] == ["Successful"]


def test_a_tolerated_failure_or_provider_error_last_holds_the_promotion_until_a_good_one() -> None:
    """A last word of Failed (failureLimit 1) or Error holds the promotion; the next good one lets it go,
    without a person."""
    steps = {"canary": {"steps": [{"setWeight": 30}, {"pause": {"duration": "20s"}}]}}
    for bad in ({"values": (0.5,)}, {"error": "timeout"}):
        sim = stable_simulation(release_spec(strategy=steps, metrics=[metric(failureLimit=1)]))
        revision = start_v2(sim, strategy=steps, metrics=[metric(failureLimit=1)])
        run_until(sim, lambda status: status.current_step == 1)
        assert sim.status is not None and sim.status.step_started_at is not None
        sim.now = sim.status.step_started_at + timedelta(seconds=25)
        handed = RawMeasurement("error-rate", revision, sim.now, **bad)  # type: ignore[arg-type]
        held = decide(sim.spec, sim.status, sim.cluster.observe([handed]), sim.now)
        assert (held.status.phase, held.status.current_step) == ("Progressing", 2), held.status.message
        assert held.status.message.startswith("promotion: waiting for a good measurement of error-rate")
        sim.status = held.status
        run_until(sim, healthy_on("2.0.0"))
        assert sim.status.analysis is not None
        assert sim.status.analysis.measurements[-1].result == "Successful"


def test_scaled_to_zero_a_new_version_is_promoted_with_nothing_to_measure() -> None:
    for strategy in (None, {"blueGreen": {}}, {"rolling": {}}):
        sim = stable_simulation(release_spec(replicas=2, strategy=strategy))
        sim.change_spec(release_spec("2.0.0", replicas=0, strategy=strategy))
        run_until(sim, healthy_on("2.0.0"))
        assert sim.status is not None and sim.status.history[-1].outcome == "Promoted", strategy


def test_a_plan_whose_canary_gets_no_traffic_is_promoted_without_a_measurement() -> None:
    """Nothing measures a canary without traffic (a pause-only plan): it cannot be proven, and is
    promoted as before rather than paused for the lack of data it could never have."""
    strategy = {"canary": {"steps": [{"pause": {"duration": "1m"}}]}}
    sim = stable_simulation(release_spec(strategy=strategy), metrics="nodata")
    start_v2(sim, strategy=strategy)
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert not of_type(decisions, RunAnalysis)


def test_with_a_long_interval_the_promotion_waits_for_its_limits_not_the_deadline() -> None:
    """Each measurement the promotion waits for is progress: with a 5 minute interval, a provider down
    at the end of the steps pauses the release (ProviderErrors, which resumes by itself) rather than the
    deadline (10 minutes) rolling back a canary nothing judged bad."""
    steps = {"canary": {"steps": [{"setWeight": 30}]}}
    sim = stable_simulation(release_spec(strategy=steps, interval="5m"))
    start_v2(sim, strategy=steps, interval="5m")
    sim.metrics = SimulatedMetrics("error")
    run_until(sim, phase_is("Paused", "Degraded", "Healthy"))
    assert sim.status is not None and (sim.status.phase, sim.status.reason) == ("Paused", "ProviderErrors")
    sim.metrics = SimulatedMetrics("good")
    run_until(sim, healthy_on("2.0.0"))


def test_a_promotion_short_of_pods_ends_at_the_deadline_whatever_the_measurements_say() -> None:
    """Found by a review: with 2 of 4 canary pods ever ready, measurements alternating error and good
    kept resetting the deadline (each good one came while the promotion waited): a rollout held
    forever. Only pods all ready make a measurement progress; an automatic resume (the provider back)
    goes on with the clock where the pause stopped it."""
    for pattern in ("ES", "EEEES", "EEEEES", "SSSSSSSSSE"):
        sim = stable_simulation(release_spec(strategy=BACKGROUND_ONLY))
        revision = start_v2(sim, strategy=BACKGROUND_ONLY)
        sim.cluster.capped[revision] = 2
        sim.metrics = Alternating(pattern)
        run_until(sim, phase_is("RollingBack", "Degraded", "Healthy"), 2000)
        assert sim.status is not None and sim.status.last_rollback is not None, pattern
        assert sim.status.last_rollback.reason == "ProgressDeadlineExceeded", pattern
        assert sim.now - T0 < timedelta(hours=1), (pattern, sim.now)


def test_steps_that_end_without_traffic_after_measurements_do_not_promote_on_no_data() -> None:
    """Found by a review: a canary measured on no data, whose last step takes its traffic away, was
    promoted (nothing measured it at the end). The promotion waits and measures it as a gate would."""
    strategy = {"canary": {"steps": [{"setWeight": 30}, {"pause": {"duration": "1m"}}, {"setWeight": 0}]}}
    sim = stable_simulation(release_spec(strategy=strategy), metrics="nodata")
    start_v2(sim, strategy=strategy)
    run_until(sim, phase_is("Paused", "Healthy"))
    assert sim.status is not None
    assert (sim.status.phase, sim.status.reason) == ("Paused", "AnalysisInconclusive")
