"""Replaced revisions kept at zero replicas for undo (spec.revisionHistoryLimit), on the real decide()."""

from __future__ import annotations

from core_support import actions, healthy_on, release_spec, run_until, stable_simulation

from slipway.api.models import ReleaseSpec
from slipway.core.actions import DeleteRevision, EnsureRevision, ScaleRevision, SetWeights
from slipway.core.observations import ObservedRevision
from slipway.core.revision import revision_hash
from slipway.core.simulation import Simulation

STRATEGY = {"canary": {"steps": [{"setWeight": 50}]}}


def spec(version: str, limit: int = 10) -> ReleaseSpec:
    return release_spec(version, strategy=STRATEGY).model_copy(update={"revision_history_limit": limit})


def revision(spec: ReleaseSpec) -> str:
    return revision_hash(spec.template, spec.version)


def roll_out(sim: Simulation, spec: ReleaseSpec) -> None:
    """Apply `spec` and run until it serves, and one pass more: the one that scales down or deletes
    what the last status stopped naming."""
    sim.change_spec(spec)
    run_until(sim, healthy_on(spec.version))
    sim.tick()


def kept(sim: Simulation) -> list[str]:
    assert sim.status is not None
    return [old.revision for old in sim.status.old_revisions]


def test_replaced_revisions_are_kept_at_zero_up_to_the_limit_then_deleted() -> None:
    sim = stable_simulation(spec("1", limit=2))
    v1, v2, v3, v4 = (revision(spec(version)) for version in "1234")
    roll_out(sim, spec("2", limit=2))
    assert kept(sim) == [v1] and sim.cluster.revisions[v1] == ObservedRevision(0, 0)
    roll_out(sim, spec("3", limit=2))
    assert kept(sim) == [v1, v2]
    assert sim.status is not None and [old.version for old in sim.status.old_revisions] == ["1", "2"]
    sim.change_spec(spec("4", limit=2))
    decisions = run_until(sim, healthy_on("4"))
    # The status that no longer keeps v1 is written first; the next pass, at once, deletes it.
    assert kept(sim) == [v2, v3] and v1 in sim.cluster.revisions
    assert DeleteRevision(v1) not in actions(decisions) and decisions[-1].requeue_after_seconds == 0
    assert DeleteRevision(v1) in actions(sim.tick())
    assert set(sim.cluster.revisions) == {v2, v3, v4}
    assert all(sim.cluster.revisions[old].replicas == 0 for old in (v2, v3))


def test_undo_to_a_kept_revision_rolls_it_out_again_from_its_deployment() -> None:
    sim = stable_simulation(spec("1"))
    v1, v2 = revision(spec("1")), revision(spec("2"))
    roll_out(sim, spec("2"))
    sim.change_spec(spec("1"))  # what `kubectl slipway undo` writes: version 1's template and version
    first = sim.tick()
    assert sim.status is not None and sim.status.canary is not None and sim.status.canary.revision == v1
    assert v1 not in kept(sim)  # serving again: no longer an old revision
    assert any(isinstance(a, EnsureRevision) and a.revision == v1 and a.replicas > 0 for a in actions(first))
    decisions = run_until(sim, healthy_on("1"))
    assert [a.weights[v1] for a in actions(decisions) if isinstance(a, SetWeights)][-1] == 100
    sim.tick()
    assert kept(sim) == [v2] and sim.cluster.revisions[v2].replicas == 0


def test_a_kept_revision_someone_scales_up_goes_back_to_zero() -> None:
    sim = stable_simulation(spec("1"))
    v1 = revision(spec("1"))
    roll_out(sim, spec("2"))
    sim.cluster.revisions[v1] = ObservedRevision(3, 3)
    assert ScaleRevision(v1, 0) in actions(sim.tick())
    assert sim.cluster.revisions[v1].replicas == 0
    assert not [a for a in actions(sim.tick()) if isinstance(a, ScaleRevision)]  # nothing more to do


def test_lowering_the_limit_deletes_the_oldest_once_a_status_without_them_is_written() -> None:
    sim = stable_simulation(spec("1"))
    v1, v2 = revision(spec("1")), revision(spec("2"))
    roll_out(sim, spec("2"))
    roll_out(sim, spec("3"))
    assert kept(sim) == [v1, v2]
    sim.change_spec(spec("3", limit=1))
    first = sim.tick()
    assert kept(sim) == [v2] and not [a for a in actions(first) if isinstance(a, DeleteRevision)]
    assert first[-1].requeue_after_seconds == 0
    assert [a for a in actions(sim.tick()) if isinstance(a, DeleteRevision)] == [DeleteRevision(v1)]


def test_without_revision_history_a_replaced_revision_is_deleted() -> None:
    sim = stable_simulation(spec("1", limit=0))
    v1 = revision(spec("1"))
    roll_out(sim, spec("2", limit=0))
    assert kept(sim) == [] and v1 not in sim.cluster.revisions
