"""Match routes and mirrors (setCanaryRoute, removeCanaryRoute, setMirror): instant steps that change
the routing the status records, each moved past only once the cluster is seen to hold it; promotion
and rollback remove them; a routing object found changed is put back and told once."""

from __future__ import annotations

from typing import Any

from core_support import of_type, phase_is, release_spec, run_until, stable_simulation

from slipway.core.actions import EmitEvent, Route, RunAnalysis, SetWeights
from slipway.core.machine import decide, recorded_route
from slipway.core.simulation import Simulation

TESTERS: dict[str, Any] = {"name": "testers", "match": {"headers": {"x-canary": {"exact": "true"}}}}
STEPS: list[dict[str, Any]] = [
    {"setCanaryRoute": TESTERS},
    {"setMirror": {"percent": 20}},
    {"pause": {"duration": "1m"}},
    {"removeCanaryRoute": {"name": "testers"}},
    {"setWeight": 50},
    {"pause": {}},
]


def routed(steps: list[dict[str, Any]] = STEPS) -> Simulation:
    """v1 Healthy, v2 applied with `steps`."""
    sim = stable_simulation()
    sim.change_spec(release_spec("2.0.0", strategy={"canary": {"steps": steps}}))
    return sim


def at_step(index: int) -> Any:
    return lambda status: status.current_step == index and status.phase == "Progressing"


def test_a_match_route_is_written_then_seen_before_the_rollout_moves_on() -> None:
    sim = routed()
    decisions = run_until(sim, lambda status: status.canary_routes == ["testers"])
    written = decisions[-1]
    route = of_type([written], SetWeights)[-1]
    assert [r.name for r in route.routes] == ["testers"] and route.canary_weight == 0
    assert route.routes[0].match.headers["x-canary"].exact == "true"
    assert written.status.current_step == 0  # written, not seen yet
    assert written.requeue_after_seconds == 0  # read back at once
    sim.wait(written)
    seen = run_until(sim, at_step(2))
    assert sim.status is not None and sim.status.mirror_percent == 20
    mirrored = of_type(seen, SetWeights)[-1]
    assert (mirrored.mirror_percent, [r.name for r in mirrored.routes]) == (20, ["testers"])
    told = [a.message for a in of_type(decisions + seen, EmitEvent)]
    assert any("step 1/6: route testers to the canary (x-canary: true)" in text for text in told)
    assert any("step 2/6: mirror 20% of requests to the canary" in text for text in told)


def test_remove_and_promotion_take_the_routes_and_mirror_away() -> None:
    sim = routed()
    run_until(sim, at_step(4))
    assert sim.status is not None and sim.status.canary_routes == [] and sim.status.mirror_percent == 20
    decisions = run_until(sim, phase_is("Paused"))
    sim.cluster.annotate("promote", "p1")
    decisions = run_until(sim, phase_is("Healthy"))
    promoted = of_type(decisions, SetWeights)[-1]
    assert promoted.canary is None and promoted.routes == () and promoted.mirror_percent == 0
    assert sim.status is not None and (sim.status.canary_routes, sim.status.mirror_percent) == ([], 0)


def test_a_rollback_takes_the_routes_and_mirror_away_first() -> None:
    sim = routed()
    run_until(sim, at_step(2))
    sim.cluster.annotate("abort", "a1")
    decisions = run_until(sim, phase_is("Degraded"))
    first = of_type(decisions, SetWeights)[0]
    assert first.canary_weight == 0 and first.routes == () and first.mirror_percent == 0
    assert sim.status is not None and (sim.status.canary_routes, sim.status.mirror_percent) == ([], 0)


def test_a_canary_with_a_mirror_and_no_weight_is_measured() -> None:
    sim = routed([{"setMirror": {"percent": 50}}, {"pause": {"duration": "5m"}}])
    decisions = run_until(
        sim, lambda status: status.analysis is not None and bool(status.analysis.measurements)
    )
    assert of_type(decisions, RunAnalysis)
    assert sim.status is not None and sim.status.canary is not None and sim.status.canary.weight == 0


def test_drift_holds_the_step_tells_once_and_the_deadline_bounds_it() -> None:
    sim = routed()
    run_until(sim, lambda status: status.canary_routes == ["testers"])
    sim.cluster.routing_drift = ("HTTPRoute web",)
    decisions = run_until(sim, phase_is("RollingBack", "Degraded"))
    told = [a for a in of_type(decisions, EmitEvent) if a.reason == "RoutingDrift"]
    assert len(told) == 1 and told[0].type == "Warning"
    assert told[0].message == "HTTPRoute web changed from what Slipway wrote: put back"
    assert sim.status is not None and sim.status.reason == "ProgressDeadlineExceeded"
    assert sim.status.last_rollback is not None  # it never moved past the route step
    waiting = (
        "no progress for 600s (progressDeadlineSeconds); waiting for HTTPRoute web to hold what was written"
    )
    assert waiting in (sim.status.message or "")
    assert all(d.status.current_step in (0, None) for d in decisions)


def test_drift_that_goes_away_lets_the_step_finish() -> None:
    sim = routed()
    run_until(sim, lambda status: status.canary_routes == ["testers"])
    sim.cluster.routing_drift = ("HTTPRoute web",)
    held = sim.tick()
    assert sim.status is not None and sim.status.current_step == 0 and sim.status.routing_drift
    assert sim.status.message is not None
    assert sim.status.message.endswith("; waiting for HTTPRoute web to hold what was written")
    sim.wait(held[-1])
    sim.cluster.routing_drift = ()
    run_until(sim, at_step(2))
    assert sim.status is not None and sim.status.routing_drift == []


def test_a_restart_restates_the_routes_from_status() -> None:
    sim = routed()
    run_until(sim, at_step(2))
    assert sim.status is not None
    # A new operator reads the written status: its first pass restates the same routing.
    restarted = decide(sim.spec, sim.status, sim.cluster.observe(), sim.now)
    route = [a for a in restarted.actions if type(a) is Route][-1]
    assert route == recorded_route(sim.spec, sim.status)
    assert ([r.name for r in route.routes], route.mirror_percent) == (["testers"], 20)


def test_no_routing_is_recorded_before_a_stable_revision() -> None:
    assert recorded_route(release_spec(), None) is None


def test_a_route_step_a_person_promoted_past_still_takes_effect() -> None:
    sim = routed([{"setWeight": 10}, {"pause": {}}, {"pause": {}}])
    run_until(sim, phase_is("Paused"))
    # Same version and template: the same canary, with a route step inserted before where it stands.
    steps = [{"setWeight": 10}, {"setCanaryRoute": TESTERS}, {"pause": {}}, {"pause": {}}]
    sim.change_spec(release_spec("2.0.0", strategy={"canary": {"steps": steps}}))
    sim.cluster.annotate("promote", "p1")  # past the route step the new plan put where it stands
    decisions = run_until(sim, lambda status: status.phase == "Paused" and status.current_step == 2)
    assert sim.status is not None and sim.status.canary_routes == ["testers"]
    assert [r.name for r in of_type(decisions, SetWeights)[-1].routes] == ["testers"]


def test_drift_found_in_a_settled_release_is_read_back_soon_and_cleared_once_repaired() -> None:
    """A settled Release's pass that finds its routing changed puts it back and records the finding;
    it asks for a look soon (its own write's watch event wakes nothing), so the status does not keep
    saying so after the repair until some unrelated pass."""
    sim = stable_simulation()
    sim.cluster.routing_drift = ("Service web",)
    found = sim.tick()[-1]
    assert found.status.routing_drift == ["Service web"]
    assert found.requeue_after_seconds is not None and found.requeue_after_seconds <= 5
    sim.cluster.routing_drift = ()
    sim.wait(found)
    repaired = sim.tick()[-1]
    assert repaired.status.routing_drift == []
    assert repaired.requeue_after_seconds is None or repaired.requeue_after_seconds > 5
