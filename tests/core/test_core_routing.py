"""The routing decide() asks for: SetWeights where traffic moves, and every pass with a stable revision
ending its cluster writes with the Route its status records, so the shell never derives a split itself
(it compares, and writes only routing that differs: someone's edit, or a new canary to reach)."""

from __future__ import annotations

from core_support import T0, of_type, phase_is, release_spec, run_until, stable_simulation

from slipway.core.actions import WRITES, AcknowledgeAction, Route, SetWeights
from slipway.core.machine import Decision
from slipway.core.revision import revision_hash
from slipway.core.simulation import SimulatedMetrics, Simulation


def cluster_writes(decision: Decision) -> list[object]:
    return [
        a
        for a in decision.actions
        if isinstance(a, (*WRITES, Route)) and not isinstance(a, AcknowledgeAction)
    ]


def routes(decisions: list[Decision]) -> list[Route]:
    """The plain Routes (not SetWeights) asked for."""
    return [a for a in of_type(decisions, Route) if type(a) is Route]


def v2(sim: Simulation, **fields: object) -> tuple[str, str]:
    assert sim.status is not None and sim.status.stable is not None
    spec = release_spec("2.0.0", **fields)  # type: ignore[arg-type]
    sim.change_spec(spec)
    return sim.status.stable.revision, revision_hash(spec.template, spec.version)


def test_every_pass_with_a_stable_revision_ends_with_the_routing_its_status_records() -> None:
    sim = Simulation(spec=release_spec("1.0.0"), now=T0)
    decisions = run_until(sim, phase_is("Healthy"))
    revision = revision_hash(sim.spec.template, sim.spec.version)
    # Even before its pods are ready: the Services exist and select the only revision.
    for decision in decisions:
        assert cluster_writes(decision)[-1] == Route(revision, None, 0)
    idle = sim.tick()[-1]
    assert cluster_writes(idle) == [Route(revision, None, 0)]  # a pass that changes nothing restates it


def test_a_blue_green_preview_is_reachable_before_it_gets_traffic() -> None:
    sim = stable_simulation()
    stable, preview = v2(sim, strategy={"blueGreen": {"autoPromotion": False}})
    decisions = run_until(sim, phase_is("Paused"))
    assert not of_type(decisions, SetWeights)
    assert routes(decisions)[0] == Route(stable, preview, 0)  # <name>-canary selects the preview


def test_weights_name_the_stable_and_canary_revisions() -> None:
    sim = stable_simulation()
    stable, canary = v2(sim)
    decisions = run_until(sim, phase_is("Paused"))
    assert of_type(decisions, SetWeights) == [SetWeights(stable, canary, 10), SetWeights(stable, canary, 50)]
    assert of_type(decisions, SetWeights)[0].weights == {stable: 90, canary: 10}


def test_promotion_routes_everything_to_the_new_stable_alone() -> None:
    sim = stable_simulation()
    _, canary = v2(sim, strategy={"canary": {"steps": [{"setWeight": 50}]}})
    decisions = run_until(sim, phase_is("Healthy"))
    assert of_type(decisions, SetWeights)[-1] == SetWeights(canary, None, 0)


def test_a_rollback_keeps_the_canary_reachable_with_no_traffic() -> None:
    sim = stable_simulation(metrics="bad")
    stable, canary = v2(sim)
    decisions = run_until(sim, phase_is("RollingBack", "Degraded"))
    rollback = next(d for d in decisions if d.status.phase in ("RollingBack", "Degraded"))
    assert cluster_writes(rollback)[0] == SetWeights(stable, canary, 0)
    assert cluster_writes(rollback)[-1] == Route(stable, canary, 0)


def test_a_superseded_canary_leaves_the_traffic_first_then_the_new_one_is_reachable() -> None:
    sim = stable_simulation()
    stable, old_canary = v2(sim)
    run_until(sim, lambda status: status.canary is not None and status.canary.weight == 10)
    spec = release_spec("3.0.0")
    sim.change_spec(spec)
    sim.metrics = SimulatedMetrics("good")
    decision = sim.tick()[0]
    new_canary = revision_hash(spec.template, spec.version)
    writes = cluster_writes(decision)
    assert writes[0] == SetWeights(stable, old_canary, 0)
    assert writes[-1] == Route(stable, new_canary, 0)
