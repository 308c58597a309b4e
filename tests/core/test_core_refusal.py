"""A generation the operator cannot carry out: decide() refuses it, Degraded and Stalled, writing nothing
to the cluster, telling it once; a new generation it can carry out leaves Degraded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from core_support import (
    T0,
    healthy_on,
    of_type,
    phase_is,
    release_spec,
    run_until,
    stable_simulation,
    writes,
)

from slipway.api.status import ReleaseStatus, RevisionStatus
from slipway.core.actions import EmitEvent, EnsureRevision, SetWeights
from slipway.core.machine import decide
from slipway.core.observations import Observations
from slipway.core.obstacles import INVALID_SPEC, Obstacle

HOST = Obstacle("HostNotAllowed", "spec.analysis.metrics[0].web.url", "host 'x' is not allowed")
NO_PROMETHEUS = Obstacle("PrometheusNotConfigured", "spec.analysis.metrics[0].builtin", "no Prometheus")
TOO_HEAVY = Obstacle(INVALID_SPEC, "spec.strategy.canary.steps[0].setWeight", "must be <= 100")


def healthy() -> ReleaseStatus:
    serving = RevisionStatus(revision="abc", version="1", replicas=2, ready_replicas=2, weight=100)
    return ReleaseStatus(phase="Healthy", reason="Ready", stable=serving, observed_generation=1)


def test_a_refused_generation_is_degraded_and_stalled_keeping_what_serves() -> None:
    before = healthy()
    decision = decide(release_spec(), before, Observations(generation=2, obstacles=(HOST,)), T0)
    status = decision.status
    assert (status.phase, status.reason, status.observed_generation) == ("Degraded", "HostNotAllowed", 2)
    assert (
        status.message
        == "cannot carry out generation 2: spec.analysis.metrics[0].web.url: host 'x' is not allowed"
    )
    assert status.stable == before.stable
    conditions = {c.type: (c.status, c.reason, c.observed_generation) for c in status.conditions}
    assert conditions["Stalled"] == ("True", "HostNotAllowed", 2)
    assert conditions["Ready"][0] == "False"
    # Nothing is created, scaled or routed, and nothing asks to be called again: a Warning Event alone.
    assert decision.actions == (EmitEvent("Warning", "HostNotAllowed", status.message),)
    assert decision.requeue_after_seconds is None


def test_a_refusal_is_told_once() -> None:
    observations = Observations(generation=2, obstacles=(HOST,))
    first = decide(release_spec(), healthy(), observations, T0)
    again = decide(release_spec(), first.status, observations, T0 + timedelta(seconds=5))
    assert again.status.to_api() == first.status.to_api()  # the next pass writes nothing
    assert again.actions == ()


def test_every_obstacle_is_named_and_the_first_gives_the_reason() -> None:
    observations = Observations(generation=3, obstacles=(NO_PROMETHEUS, HOST))
    status = decide(release_spec(), None, observations, T0).status
    assert status.reason == "PrometheusNotConfigured"
    assert status.message == f"cannot carry out generation 3: {NO_PROMETHEUS}; {HOST}"


def test_a_spec_the_models_reject_is_refused_without_one() -> None:
    decision = decide(None, healthy(), Observations(generation=2, obstacles=(TOO_HEAVY,)), T0)
    assert (decision.status.phase, decision.status.reason) == ("Degraded", "InvalidSpec")
    assert "spec.strategy.canary.steps[0].setWeight: must be <= 100" in decision.status.message


def test_a_rejected_spec_needs_the_obstacles_that_say_why() -> None:
    with pytest.raises(ValueError, match="at least one obstacle"):
        decide(None, healthy(), Observations(generation=2), T0)


def test_manual_actions_wait_while_refused() -> None:
    observations = Observations(generation=2, annotations={"slipway.dev/retry": "1"}, obstacles=(HOST,))
    decision = decide(release_spec(), healthy(), observations, T0)
    assert decision.status.manual_actions == []
    assert all(isinstance(action, EmitEvent) for action in decision.actions)


def test_a_fixed_generation_leaves_a_refused_first_release() -> None:
    refused = decide(release_spec(), None, Observations(generation=1, obstacles=(NO_PROMETHEUS,)), T0)
    assert refused.status.stable is None
    decision = decide(release_spec(replicas=2), refused.status, Observations(generation=2), T0)
    assert (decision.status.phase, decision.status.observed_generation) == ("Progressing", 2)
    assert any(isinstance(action, EnsureRevision) for action in decision.actions)


def test_a_fixed_generation_leaves_degraded_even_while_stable_cannot_take_the_traffic_yet() -> None:
    """Refused while a canary held traffic, then fixed by going back to the stable version while its
    pods are not ready: it waits for them as any new spec does (Progressing, under the deadline)."""
    sim = stable_simulation()
    assert sim.status is not None and sim.status.stable is not None
    stable = sim.status.stable.revision
    sim.change_spec(release_spec("2.0.0"))
    run_until(sim, lambda status: status.canary is not None and status.canary.weight > 0)
    sim.change_spec(release_spec("3.0.0"))
    sim.cluster.obstacles = (NO_PROMETHEUS,)
    sim.tick()
    assert sim.status.reason == "PrometheusNotConfigured"

    sim.cluster.broken.add(stable)  # its pods go away meanwhile
    sim.change_spec(release_spec("1.0.0"))
    sim.cluster.obstacles = ()
    decision = sim.tick()[-1]
    assert (decision.status.phase, decision.status.reason) == ("Progressing", "ReturningToStable")
    assert not [a for a in decision.actions if isinstance(a, SetWeights)]
    sim.cluster.broken.clear()
    run_until(sim, healthy_on("1.0.0"))


def test_a_rollback_cut_short_by_a_refusal_returns_traffic_before_the_version_is_tried_again() -> None:
    """Rolling back while stable had no ready pod (traffic stays on the canary), refused, then fixed by
    asking for the rolled-back version again: the new attempt's first write is all traffic to stable."""
    sim = stable_simulation()
    assert sim.status is not None and sim.status.stable is not None
    stable = sim.status.stable.revision
    sim.change_spec(release_spec("2.0.0"))
    run_until(sim, lambda status: status.canary is not None and status.canary.weight > 0)
    sim.cluster.broken.add(stable)
    sim.metrics.mode = "bad"
    run_until(sim, phase_is("RollingBack"))
    assert sim.status.canary is not None and sim.status.canary.weight > 0
    canary = sim.status.canary.revision
    sim.change_spec(release_spec("3.0.0"))
    sim.cluster.obstacles = (NO_PROMETHEUS,)
    sim.tick()
    assert (sim.status.phase, sim.status.reason) == ("Degraded", "PrometheusNotConfigured")

    sim.cluster.broken.clear()
    sim.metrics.mode = "good"
    sim.change_spec(release_spec("2.0.0"))
    sim.cluster.obstacles = ()
    decisions = sim.tick()
    assert writes(decisions)[:1] == [SetWeights(stable, canary, 0)]
    assert sim.status.phase == "Progressing"
    assert [e.reason for e in of_type(decisions, EmitEvent)][:1] == ["RolloutStarted"]
    run_until(sim, phase_is("Paused"))  # through every step again, up to the last one's pause {}
    assert (sim.status.reason, sim.status.current_step) == ("WaitingForPromote", 4)


def test_a_fixed_generation_restarting_the_canary_in_flight_moves_its_traffic_before_its_pods() -> None:
    """Refused while a canary held traffic, then fixed with the same revision under a rolling update
    that removes old pods first (its first step runs no new pod): the canary's traffic goes back to
    stable before its pods go to 0, and the rollout starts again from step 1."""
    sim = stable_simulation()
    assert sim.status is not None and sim.status.stable is not None
    stable = sim.status.stable.revision
    sim.change_spec(release_spec("2.0.0"))
    run_until(sim, lambda status: status.canary is not None and status.canary.weight > 0)
    assert sim.status.canary is not None
    canary = sim.status.canary.revision
    sim.change_spec(release_spec("2.0.0"))
    sim.cluster.obstacles = (TOO_HEAVY,)
    sim.tick()
    assert (sim.status.phase, sim.status.reason) == ("Degraded", "InvalidSpec")

    sim.change_spec(release_spec("2.0.0", strategy={"rolling": {"maxSurge": 0, "maxUnavailable": 1}}))
    sim.cluster.obstacles = ()
    decisions = sim.tick()
    moved = writes(decisions)
    assert moved[:2] == [SetWeights(stable, canary, 0), EnsureRevision(canary, "2.0.0", 0)]
    assert sim.status.phase == "Progressing"
    assert [e.reason for e in of_type(decisions, EmitEvent)][:1] == ["RolloutStarted"]
    run_until(sim, healthy_on("2.0.0"))
