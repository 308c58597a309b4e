"""A status that may wait (Decision.status_may_wait): the shell writes it with the next pass's, to save
a write per step; a crash before then must cost nothing but work redone (invariant 5)."""

from __future__ import annotations

from typing import Any

import pytest
from core_support import healthy_on, release_spec, run_until, stable_simulation

from slipway.core.actions import DeleteHookJobs, DeleteRevision, RunHook, SetWeights
from slipway.core.machine import Decision
from slipway.core.simulation import Simulation

STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"analysis": {"successfulMeasurements": 2}},
    {"setWeight": 50},
    {"pause": {"duration": "30s"}},
    {"setWeight": 75},
    {"analysis": {"successfulMeasurements": 1}},
]


def second_version(metrics: str = "good") -> Simulation:
    sim = stable_simulation(release_spec("1", replicas=2, strategy={"canary": {"steps": STEPS}}), metrics)
    sim.change_spec(release_spec("2", replicas=2, strategy={"canary": {"steps": STEPS}}))
    return sim


def test_a_pass_that_only_asks_for_pods_may_leave_its_status_to_the_next() -> None:
    decisions = run_until(second_version(), healthy_on("2"))
    waiting = [decision for decision in decisions if decision.status_may_wait]
    # The start (the canary's first pods) and the 50% step (more canary pods) wait for pods.
    assert [decision.status.current_step for decision in waiting] == [0, 2]
    for decision in waiting:
        assert decision.status.phase == "Progressing"
        moved = (SetWeights, DeleteRevision, RunHook, DeleteHookJobs)
        assert not [action for action in decision.actions if isinstance(action, moved)]


@pytest.mark.parametrize("metrics", ["good", "bad", "flaky"])
def test_no_status_that_moves_traffic_or_records_a_failure_may_wait(metrics: str) -> None:
    decisions = run_until(second_version(metrics), lambda status: status.phase in ("Healthy", "Degraded"))
    for decision in decisions:
        if any(isinstance(action, SetWeights) for action in decision.actions):
            assert not decision.status_may_wait
        if decision.status.phase != "Progressing":
            assert not decision.status_may_wait


def crash_losing_statuses_that_wait(sim: Simulation, max_ticks: int = 200) -> list[Decision]:
    """Run to the end, but the first status that may wait at each step is lost, as if the operator died
    before the next pass wrote it: the pass after decides again from the status before it and the
    cluster as it is (the canary's pods asked for meanwhile included)."""
    seen: list[Decision] = []
    lost: set[int | None] = set()
    for _ in range(max_ticks):
        before = sim.status
        decisions = sim.tick()
        seen += decisions
        step = decisions[-1].status.current_step
        if decisions[-1].status_may_wait and step not in lost:
            lost.add(step)
            sim.status = before
        if sim.status is not None and (healthy_on("2")(sim.status) or sim.status.phase == "Degraded"):
            return seen
        sim.wait(decisions[-1])
    raise AssertionError("did not finish")


def test_losing_every_status_that_waits_still_promotes_once_with_every_gate_passed() -> None:
    sim = second_version()
    lost = [decision for decision in crash_losing_statuses_that_wait(sim) if decision.status_may_wait]
    assert lost
    assert sim.status is not None and sim.status.phase == "Healthy" and sim.status.stable is not None
    assert sim.status.stable.version == "2"
    assert [entry.outcome for entry in sim.status.history if entry.version == "2"] == ["Promoted"]
    assert sim.status.analysis is None or sim.status.analysis.successful >= 3  # both gates: 2 + 1


def test_a_pass_that_stops_naming_a_revision_writes_its_status() -> None:
    """A new version after a rollback replaces the canary kept at 0 pods: with no revision history, the
    next pass deletes it, so the status that no longer names it must be written first, not left to that
    pass."""
    sim = second_version("bad")
    run_until(sim, lambda status: status.phase == "Degraded")
    assert sim.status is not None and sim.status.canary is not None
    rolled_back = sim.status.canary.revision
    spec = release_spec("3", replicas=2, strategy={"canary": {"steps": STEPS}})
    sim.change_spec(spec.model_copy(update={"revision_history_limit": 0}))
    starting = sim.tick()[-1]
    assert starting.status.canary is not None and starting.status.canary.version == "3"
    assert rolled_back in sim.cluster.revisions and not starting.status_may_wait
    assert DeleteRevision(rolled_back) in sim.tick()[0].actions
