"""Blue-green and rolling on the real decide(), and the plans every strategy compiles to."""

from __future__ import annotations

from typing import Any

import pytest
from core_support import (
    actions,
    healthy_on,
    of_type,
    phase_is,
    release_spec,
    run_until,
    stable_simulation,
    writes,
)

from slipway.api.models import RollingStrategy
from slipway.core.actions import EnsureRevision, RunAnalysis, ScaleRevision, SetWeights
from slipway.core.machine import Decision
from slipway.core.revision import revision_hash
from slipway.core.simulation import SimulatedMetrics, Simulation
from slipway.core.strategies import Gate, Hold, Shift, plan_for
from slipway.core.strategies.rolling import pod_bounds


def blue_green(**fields: Any) -> dict[str, Any]:
    return {"blueGreen": {"scaleDownDelaySeconds": 30, **fields}}


def second_version(sim: Simulation, strategy: dict[str, Any]) -> tuple[str, str]:
    """Start rolling out 2.0.0; (stable revision, new revision)."""
    assert sim.status is not None and sim.status.stable is not None
    spec = release_spec("2.0.0", strategy=strategy)
    sim.change_spec(spec)
    return sim.status.stable.revision, revision_hash(spec.template, spec.version)


def test_blue_green_previews_at_full_size_then_switches_at_once_and_scales_down_later() -> None:
    strategy = blue_green(autoPromotionSeconds=60)
    sim = stable_simulation(release_spec(strategy=strategy))
    old, new = second_version(sim, strategy)
    decisions = run_until(sim, lambda status: status.current_step == 1)
    assert sim.cluster.revisions[new].replicas == 4
    assert not of_type(decisions, SetWeights)  # the preview gets no traffic
    switched_at = sim.now
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert [a.weights for a in of_type(decisions, SetWeights)] == [{old: 0, new: 100}]
    assert (sim.now - switched_at).total_seconds() >= 60
    # The old revision keeps its pods for scaleDownDelaySeconds, to switch back to at once.
    assert sim.cluster.revisions[old].replicas == 4
    promoted_at = sim.now
    decisions = run_until(sim, lambda status: not status.retiring)
    decisions += sim.tick()  # scaled to zero once a status that no longer names it is written
    assert ScaleRevision(old, 0) in actions(decisions)
    assert (sim.now - promoted_at).total_seconds() >= 30


def test_blue_green_without_auto_promotion_waits_for_a_person() -> None:
    strategy = blue_green(autoPromotion=False)
    sim = stable_simulation(release_spec(strategy=strategy))
    second_version(sim, strategy)
    run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.reason == "WaitingForPromote"
    sim.cluster.annotate("promote", "go")
    run_until(sim, healthy_on("2.0.0"))


def test_blue_green_pre_promotion_analysis_failure_never_switches() -> None:
    strategy = blue_green(prePromotionAnalysis=True)
    sim = stable_simulation(release_spec(strategy=strategy))
    sim.metrics = SimulatedMetrics("bad")
    _, new = second_version(sim, strategy)
    decisions = run_until(sim, phase_is("Degraded"))
    assert of_type(decisions, RunAnalysis)[0].revision == new
    assert all(a.weights.get(new, 0) == 0 for a in of_type(decisions, SetWeights))


def test_blue_green_pre_promotion_analysis_without_data_pauses_saying_the_preview_has_no_traffic() -> None:
    strategy = blue_green(prePromotionAnalysis=True)
    sim = stable_simulation(release_spec(strategy=strategy))
    sim.metrics = SimulatedMetrics("nodata")
    second_version(sim, strategy)
    run_until(sim, phase_is("Paused"))
    assert sim.status is not None and sim.status.reason == "AnalysisInconclusive"
    assert sim.status.message.endswith(
        "; the new version takes no traffic here: only requests testers send to its Service"
        " labelled slipway.dev/service-role=canary reach it"
    ), sim.status.message


def test_blue_green_post_promotion_analysis_failure_switches_back() -> None:
    strategy = blue_green(postPromotionAnalysis=True)
    sim = stable_simulation(release_spec(strategy=strategy))
    old, new = second_version(sim, strategy)
    run_until(sim, lambda status: status.canary is not None and status.canary.weight == 100)
    sim.metrics = SimulatedMetrics("bad")
    decisions = run_until(sim, phase_is("Degraded"))
    assert of_type(decisions, SetWeights)[0].weights == {old: 100, new: 0}
    assert sim.cluster.revisions[old].replicas == 4


def pods_removed_under_traffic(decisions: list[Decision], weights: dict[str, int]) -> list[str]:
    """Revisions scaled to 0 while they still had traffic, following the writes in order from `weights`."""
    removed = []
    for action in writes(decisions):
        if isinstance(action, SetWeights):
            weights = dict(action.weights)
        elif isinstance(action, EnsureRevision | ScaleRevision) and action.replicas == 0:
            removed += [action.revision] if weights.get(action.revision, 0) else []
    return removed


def test_rolling_replaces_pods_batch_by_batch_never_below_capacity() -> None:
    strategy = {"rolling": {"maxSurge": 1, "maxUnavailable": 0}}
    sim = stable_simulation(release_spec(strategy=strategy))
    old, new = second_version(sim, strategy)
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert [a.weights[new] for a in of_type(decisions, SetWeights)] == [25, 50, 75, 100]
    assert pods_removed_under_traffic(decisions, {old: 100}) == []
    assert len(of_type(decisions, RunAnalysis)) >= 4  # each batch waits for a good measurement
    sim.tick()  # scaled to zero once a status that no longer names it is written
    assert sim.cluster.revisions[old].replicas == 0


def test_rolling_rolls_back_on_failed_analysis_and_restores_stable_size() -> None:
    strategy = {"rolling": {"maxSurge": "50%"}}
    sim = stable_simulation(release_spec(strategy=strategy))
    sim.metrics = SimulatedMetrics("bad")
    old, new = second_version(sim, strategy)
    decisions = run_until(sim, phase_is("Degraded"))
    assert of_type(decisions, SetWeights)[-1].weights == {old: 100, new: 0}
    assert sim.cluster.revisions[old].replicas == 4
    assert sim.cluster.revisions[new].replicas == 0


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "bounds"),
    [
        ("25%", 0, 4, (1, 0)),
        ("25%", 0, 10, (3, 0)),  # maxSurge rounds up
        (2, 0, 5, (2, 0)),
        (0, "50%", 5, (0, 2)),  # maxUnavailable rounds down
        (0, "10%", 5, (0, 1)),  # both 0 once rounded: one pod may be unavailable, as in Kubernetes
        ("100%", 0, 3, (3, 0)),
        (1, 1, 4, (1, 1)),
    ],
)
def test_rolling_pod_bounds(
    surge: int | str, unavailable: int | str, replicas: int, bounds: tuple[int, int]
) -> None:
    strategy = RollingStrategy(max_surge=surge, max_unavailable=unavailable)
    assert pod_bounds(strategy, replicas) == bounds


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7, 10])
@pytest.mark.parametrize(
    ("surge", "unavailable"), [(1, 0), ("25%", 0), (0, 1), (0, "30%"), (1, 1), (2, 3), ("50%", "50%")]
)
def test_rolling_plans_stay_within_max_surge_and_max_unavailable(
    surge: int | str, unavailable: int | str, replicas: int
) -> None:
    """Each Shift is carried out as the core does: new pods up, traffic, old pods down."""
    strategy = RollingStrategy(max_surge=surge, max_unavailable=unavailable)
    most, fewest = pod_bounds(strategy, replicas)
    shifts = [
        step
        for step in plan_for(
            release_spec(replicas=replicas, strategy={"rolling": strategy.model_dump(by_alias=True)})
        ).steps
        if isinstance(step, Shift)
    ]
    new, old = 0, replicas
    for shift in shifts:
        # The last old pod serves all traffic until a new one is ready: the one allowed extra pod.
        allowed = replicas + max(most, 1 if new == 0 and old == 1 else 0)
        assert shift.canary_replicas + old <= allowed, shifts
        new = shift.canary_replicas
        old = shift.stable_replicas
        assert new + old >= replicas - fewest, shifts  # ready once the old pods are gone
        assert shift.canary_weight == round(100 * new / (new + old))  # traffic follows the pods
    assert (new, old) == (replicas, 0)


def test_rolling_with_max_surge_0_removes_old_pods_before_adding_new_ones() -> None:
    strategy = {"rolling": {"maxSurge": 0, "maxUnavailable": 1}}
    sim = stable_simulation(release_spec(strategy=strategy))
    old, new = second_version(sim, strategy)
    most_pods = 0
    decisions = []
    for _ in range(200):
        decisions += sim.tick()
        most_pods = max(most_pods, sum(revision.replicas for revision in sim.cluster.revisions.values()))
        assert sim.status is not None
        if healthy_on("2.0.0")(sim.status):
            break
        sim.wait(decisions[-1])
    assert healthy_on("2.0.0")(sim.status)
    assert most_pods == 4  # never a pod above replicas
    scaling = [
        (a.revision, a.replicas) for a in writes(decisions) if isinstance(a, EnsureRevision | ScaleRevision)
    ]
    assert scaling[:2] == [(old, 3), (new, 1)]
    assert [a.weights[new] for a in of_type(decisions, SetWeights)] == [25, 33, 50, 67, 75, 100]
    assert pods_removed_under_traffic(decisions, {old: 100}) == []


def test_plans() -> None:
    canary = plan_for(release_spec(replicas=10))
    assert canary.steps == (
        Shift(10, 1, 10),  # one pod beside ten stable ones carries about 10 % by replica ratio
        Hold(60.0),
        Gate(3, None),
        Shift(50, 10, 10),
        Hold(None),
    )
    routed = plan_for(release_spec(replicas=10, traffic_routing={"istio": {"hosts": ["web"]}}))
    assert routed.steps[3] == Shift(50, 5, 10)  # an exact router needs only the share of pods
    bg = plan_for(release_spec(strategy=blue_green(prePromotionAnalysis=True, autoPromotion=False)))
    assert [type(step).__name__ for step in bg.steps] == ["Shift", "Gate", "Hold", "Shift"]
    assert bg.scale_down_delay_seconds == 30
    rolling = plan_for(release_spec(replicas=3, strategy={"rolling": {"maxSurge": 1}}))
    assert [step.stable_replicas for step in rolling.steps if isinstance(step, Shift)] == [2, 1, 0]
    assert plan_for(release_spec(replicas=0)).steps == ()


def test_reverting_a_rolling_update_brings_stable_pods_back_before_traffic() -> None:
    strategy = {"rolling": {"maxSurge": 1}}
    spec = release_spec(replicas=2, strategy=strategy, rollback={"progressDeadlineSeconds": 60})
    sim = stable_simulation(spec)
    old, new = second_version(sim, strategy)
    run_until(sim, lambda status: status.stable is not None and status.stable.replicas == 0)
    sim.cluster.broken.add(old)  # the old pods will not come back for now
    sim.change_spec(spec)
    decisions = run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.reason == "ProgressDeadlineExceeded"
    assert sim.cluster.revisions[old].replicas == 2
    assert not of_type(decisions, SetWeights)  # traffic stays where pods are ready
    sim.cluster.broken.discard(old)
    decisions = run_until(sim, phase_is("Healthy"))
    assert of_type(decisions, SetWeights)[0].weights == {old: 100, new: 0}
    sim.tick()  # scaled to zero once a status that no longer names it is written
    assert sim.status.reason == "Reverted" and sim.cluster.revisions[new].replicas == 0
