"""A walk of the reachable state graph of each strategy (bounded), proving there are no dead ends:

- from every state in Progressing or RollingBack, the machine alone, whatever the pods and metrics do,
  reaches Healthy, Degraded or an explicit pause;
- that holds too where the canary's pods stop short of its size while its provider answers every
  other time: measurements never keep a rollout from its deadline;
- from every Paused state, a person's promote leaves the pause and a person's abort rolls back; from a
  wait at the promotion gate (nothing started yet), a person's skip-gate starts the version, and so
  does the upstream verifying it and a person approving it;
- from every refused state (a generation the operator cannot carry out), a new generation it can carry
  out leaves Degraded at once;
- with deploy hooks whose Jobs succeed, fail or hang, the same holds, and the walk reaches each hook's
  success and failure;
- with match routes and a mirror, the same holds when the routing objects drift from what was written
  (a webhook or a person changing them every pass): the deadline ends the wait;
- where every pod comes up, a wait to give a canary's traffic back to stable never ends at the deadline:
  stable's pods are there to come up, even after a pass whose status write was lost (a crash, or a
  conflict with a spec change) once its cluster writes were made.

States are explored breadth-first from "v1 Healthy, v2 just applied", over every input the world, a
person, a spec change (refused ones included) or a lost status write can give, and for a Release
behind a promotion gate what its upstream does (verifies every version, or rolls them back); two
states are the same when everything but timestamps is the same.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Hashable
from datetime import timedelta
from functools import cache, partial
from typing import Any, Literal

import pytest
from core_support import Alternating, release_spec, stable_simulation

from slipway.api.models import ReleaseSpec
from slipway.api.status import ReleaseStatus, VersionHealth
from slipway.core.machine import RETURNING, decide
from slipway.core.observations import Upstream
from slipway.core.obstacles import Obstacle
from slipway.core.promotion import GATE_REASONS
from slipway.core.simulation import MetricsMode, SimulatedMetrics, Simulation
from slipway.core.strategies import plan_for

World = Literal["good", "bad", "nodata", "error", "stuck", "short", "hooks-fail", "hooks-hang", "drift"]
WORLDS: tuple[World, ...] = ("good", "bad", "nodata", "error", "stuck", "short")
"""short: the canary's pods stop at one ready, its provider answers every other time (Alternating)."""
HOOK_WORLDS: tuple[World, ...] = ("hooks-fail", "hooks-hang")
"""What hook Jobs do besides succeeding, explored for the strategies with hooks."""
ROUTE_WORLDS: tuple[World, ...] = ("drift",)
"""The routing objects not holding what was written, explored for the strategies with match routes."""
HOOK_TEMPLATE = {"spec": {"containers": [{"name": "job", "image": "example/job"}]}}
HOOKS = {
    stage: [{"name": name, "template": HOOK_TEMPLATE, "timeout": "1m"}]
    for stage, name in (("preDeploy", "migrate"), ("postDeploy", "smoke"), ("postRollback", "cleanup"))
}
PEOPLE = ("promote", "promote-full", "pause", "resume", "abort", "retry")
GATE_PEOPLE = ("approve", "unapprove", "skip-gate")
PROMOTION: dict[str, Any] = {"from": {"namespace": "staging"}, "soak": "1m", "approval": "manual"}
UPSTREAM_MOVES = ("verifies", "rolls-back")
SOAK = timedelta(minutes=1)
VERSIONS = ("1.0.0", "3.0.0")
"""Spec changes explored: back to the first version, or on to a third one."""
MAX_DEPTH = 14
STRATEGIES: dict[str, tuple[dict[str, Any], int]] = {
    # name: (spec.strategy, and spec.promotion when gated; how many states to explore)
    "canary": (
        {
            "strategy": {
                "canary": {
                    "steps": [
                        {"setWeight": 25},
                        {"pause": {"duration": "1m"}},
                        {"analysis": {"successfulMeasurements": 2}},
                        {"setWeight": 50},
                        {"pause": {}},
                    ]
                }
            }
        },
        700,
    ),
    # No gate: the promotion waits for a good last measurement, which background analysis gives or not.
    "canary-background": (
        {"strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "1m"}}]}}},
        400,
    ),
    "blueGreen": (
        {
            "strategy": {
                "blueGreen": {
                    "autoPromotion": False,
                    "prePromotionAnalysis": True,
                    "postPromotionAnalysis": True,
                    "scaleDownDelaySeconds": 20,
                }
            }
        },
        600,
    ),
    "rolling": ({"strategy": {"rolling": {"maxSurge": 1}}}, 250),
    "rolling-remove-first": ({"strategy": {"rolling": {"maxSurge": 0, "maxUnavailable": 1}}}, 250),
    "canary-hooked": (
        {
            "strategy": {
                "canary": {"steps": [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}]}
            },
            "hooks": HOOKS,
        },
        700,
    ),
    "canary-routed": (
        {
            "strategy": {
                "canary": {
                    "steps": [
                        {
                            "setCanaryRoute": {
                                "name": "testers",
                                "match": {"headers": {"x-canary": {"exact": "1"}}},
                            }
                        },
                        {"setMirror": {"percent": 20}},
                        {"analysis": {"successfulMeasurements": 1}},
                        {"removeCanaryRoute": {"name": "testers"}},
                        {"setWeight": 75},  # a second canary pod to wait for: a state of its own
                        {"pause": {}},
                    ]
                }
            },
            "trafficRouting": {"gatewayAPI": {"parentRefs": [{"name": "gateway"}]}},
        },
        1000,
    ),
    "canary-gated": (
        {
            "strategy": {
                "canary": {"steps": [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}]}
            },
            "promotion": PROMOTION,
        },
        700,
    ),
}
NO_PROMETHEUS = Obstacle("PrometheusNotConfigured", "spec.analysis.metrics[0].builtin", "no prometheus.url")
PASSES_TO_SETTLE = 60
TOKENS = itertools.count()
"""Annotation values: each person's action is a new one."""


def spec(version: str, strategy: dict[str, Any]) -> ReleaseSpec:
    plain = release_spec(
        version,
        replicas=2,
        strategy=strategy["strategy"],
        promotion=strategy.get("promotion"),
        traffic_routing=strategy.get("trafficRouting"),
        metrics=[
            {
                "name": "error-rate",
                "builtin": "error-rate",
                "failureLimit": 1,
                "inconclusiveLimit": 1,
                "consecutiveErrorLimit": 1,
            }
        ],
        rollback={"progressDeadlineSeconds": 60},
    )
    if "hooks" not in strategy:
        return plain
    return ReleaseSpec.model_validate(
        {**plain.model_dump(by_alias=True, exclude_none=True), "hooks": strategy["hooks"]}
    )


def worlds(strategy: dict[str, Any]) -> tuple[World, ...]:
    return (
        WORLDS
        + (HOOK_WORLDS if "hooks" in strategy else ())
        + (ROUTE_WORLDS if "trafficRouting" in strategy else ())
    )


def key(sim: Simulation) -> Hashable:
    status = sim.status
    assert status is not None
    revisions = tuple(
        (r.revision, r.weight, r.replicas) for r in (status.stable, status.canary) if r is not None
    )
    counters = (
        tuple(
            (m.failures, m.inconclusive, m.consecutive_errors, m.consecutive_successful)
            for m in status.analysis.metrics
        )
        # the last result too: the promotion waits on it
        + tuple(m.result for m in status.analysis.measurements[-1:])
        if status.analysis is not None
        else ()
    )
    return (
        sim.spec.version,
        status.observed_generation == sim.cluster.generation,
        status.phase,
        status.reason,
        status.current_step,
        revisions,
        tuple(r.revision for r in status.retiring),
        counters,
        tuple(sorted(sim.cluster.revisions.items())),
        tuple(sorted(sim.cluster.annotations.items())),
        tuple(sorted(sim.cluster.broken)),
        sim.cluster.obstacles,
        upstream_key(sim),
        tuple((a.version) for a in status.promotion.approvals) if status.promotion else (),
        tuple((h.stage, h.revision, h.attempt, h.result) for h in status.hooks),
        tuple(sorted((k, job.outcome) for k, job in sim.cluster.hook_jobs.items())),
        tuple(sorted(sim.cluster.failing_hooks | sim.cluster.hanging_hooks)),
        (tuple(status.canary_routes), status.mirror_percent, tuple(status.routing_drift)),
        sim.cluster.routing_drift,
    )


def upstream_key(sim: Simulation) -> Hashable:
    """What the gate reads of the upstream; with whether the soak is over (time matters there)."""
    upstream = sim.cluster.upstream
    if upstream is None or upstream.status is None:
        return None
    return tuple(
        (v.version, v.since is not None and sim.now - v.since >= SOAK, v.rolled_back_at is not None)
        for v in upstream.status.healthy_versions
    )


def upstream_step(sim: Simulation, move: str) -> None:
    """The upstream verifies every version (Healthy from now on: the soak starts), or rolls them back."""
    healthy = [
        VersionHealth(version=version, since=sim.now)
        if move == "verifies"
        else VersionHealth(version=version, rolled_back_at=sim.now)
        for version in ("1.0.0", "2.0.0", "3.0.0", "4.0.0")
    ]
    sim.cluster.upstream = Upstream(
        "prod/web", "staging/web", ReleaseStatus(phase="Healthy", healthy_versions=healthy)
    )
    sim.tick()


def world_step(sim: Simulation, world: World) -> None:
    """The world acts for one pass: pods (maybe) come up, metrics answer, the clock moves on."""
    if world == "stuck" and sim.status is not None and sim.status.canary is not None:
        sim.cluster.broken.add(sim.status.canary.revision)
    if world == "short" and sim.status is not None and sim.status.canary is not None:
        sim.cluster.capped[sim.status.canary.revision] = 1
    every_hook = {"migrate", "smoke", "cleanup"}
    sim.cluster.failing_hooks = every_hook if world == "hooks-fail" else set()
    sim.cluster.hanging_hooks = every_hook if world == "hooks-hang" else set()
    sim.cluster.routing_drift = ("HTTPRoute web",) if world == "drift" else ()
    if world == "short":
        sim.metrics = Alternating("ES", sim.metrics.taken)  # the count goes on, so that it alternates
    else:
        mode: MetricsMode = "good" if world in ("stuck", *HOOK_WORLDS, *ROUTE_WORLDS) else world
        sim.metrics = SimulatedMetrics(mode)
    decisions = sim.tick()
    sim.wait(decisions[-1])


def person_step(sim: Simulation, action: str) -> None:
    token = next(TOKENS)
    value = f"{sim.spec.version} by walker at {token}" if action in GATE_PEOPLE else f"{action}-{token}"
    sim.cluster.annotate(action, value)
    sim.tick()


def spec_change(sim: Simulation, version: str, strategy: dict[str, Any]) -> None:
    """Someone pushes the spec: a newer version, or back to the one that serves (a fix, if refused)."""
    sim.change_spec(spec(version, strategy))
    sim.cluster.obstacles = ()
    sim.tick()


def refused_change(sim: Simulation, strategy: dict[str, Any]) -> None:
    """Someone pushes a spec the operator cannot carry out (its metric needs a Prometheus it lacks)."""
    sim.change_spec(spec("4.0.0", strategy))
    sim.cluster.obstacles = (NO_PROMETHEUS,)
    sim.tick()


def status_lost(sim: Simulation) -> None:
    """A pass whose writes are made but whose status is never written (the operator dies, or the write
    conflicts with a spec change): the next pass decides from the status before it."""
    sim.cluster.settle()
    decision = decide(sim.spec, sim.status, sim.cluster.observe(), sim.now)
    sim.cluster.apply(decision.actions)
    sim.wait(decision)


def refused(sim: Simulation) -> bool:
    return sim.cluster.obstacles != () and sim.status is not None and sim.status.phase == "Degraded"


def successors(sim: Simulation, strategy: dict[str, Any]) -> list[Simulation]:
    moves: list[Callable[[Simulation], None]] = [
        partial(world_step, world=world) for world in worlds(strategy)
    ]
    moves += [partial(person_step, action=action) for action in PEOPLE]
    if "promotion" in strategy:
        moves += [partial(person_step, action=action) for action in GATE_PEOPLE]
        moves += [partial(upstream_step, move=move) for move in UPSTREAM_MOVES]
    moves += [partial(spec_change, version=version, strategy=strategy) for version in VERSIONS]
    moves.append(partial(refused_change, strategy=strategy))
    moves.append(status_lost)
    result = []
    for move in moves:
        child = sim.fork()
        move(child)
        result.append(child)
    return result


@cache
def reachable(name: str) -> list[Simulation]:
    """The states reachable under strategy `name` (explored once; callers fork before changing one)."""
    strategy, max_states = STRATEGIES[name]
    start = stable_simulation(spec("1.0.0", {"strategy": strategy["strategy"]}))
    if "promotion" in strategy:
        upstream_step(start, "rolls-back")
    start.change_spec(spec("2.0.0", strategy))
    start.tick()
    seen = {key(start)}
    frontier: deque[tuple[Simulation, int]] = deque([(start, 0)])
    states = [start]
    while frontier and len(states) < max_states:
        sim, depth = frontier.popleft()
        if depth == MAX_DEPTH:
            continue
        for child in successors(sim, strategy):
            child_key = key(child)
            if child_key not in seen:
                seen.add(child_key)
                states.append(child)
                frontier.append((child, depth + 1))
    return states


def runs_alone(sim: Simulation, world: World) -> str:
    """Let the machine run with no person in `world`; the reason it ends with (or fail when stuck)."""
    alone = sim.fork()
    for _ in range(PASSES_TO_SETTLE):
        world_step(alone, world)
        assert alone.status is not None
        if alone.status.phase in ("Healthy", "Degraded", "Paused"):
            return alone.status.reason
    raise AssertionError(f"stuck with the world {world}: {alone.status}")


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_no_dead_ends(strategy: str) -> None:
    endings: set[str] = set()
    for sim in reachable(strategy):
        status = sim.status
        assert status is not None
        if status.phase in ("Progressing", "RollingBack"):
            endings |= {runs_alone(sim, world) for world in worlds(STRATEGIES[strategy][0])}
            if status.reason == RETURNING:
                # The pods come up, stable's too: nothing stands in the way of giving traffic back.
                assert runs_alone(sim, "good") != "ProgressDeadlineExceeded", f"stuck returning: {status}"
        elif refused(sim):
            for version in VERSIONS:
                fixed = sim.fork()
                spec_change(fixed, version, STRATEGIES[strategy][0])
                assert fixed.status is not None and fixed.status.reason != NO_PROMETHEUS.reason
                # A person's request left pending while refused (abort) may act on the new attempt.
                assert fixed.status.phase != "Degraded" or sim.cluster.annotations, fixed.status
        elif status.phase == "Paused" and status.reason in GATE_REASONS:
            assert status.canary is None, status
            skipped = sim.fork()
            person_step(skipped, "skip-gate")
            assert skipped.status is not None and skipped.status.reason not in GATE_REASONS, skipped.status
            opened = sim.fork()
            upstream_step(opened, "verifies")
            person_step(opened, "approve")
            for _ in range(PASSES_TO_SETTLE):
                world_step(opened, "good")
                assert opened.status is not None
                if opened.status.reason not in GATE_REASONS:
                    break
            assert opened.status.reason not in GATE_REASONS, f"the gate never opened: {opened.status}"
        elif status.phase == "Paused":
            promoted = sim.fork()
            person_step(promoted, "promote")
            assert promoted.status is not None
            moved = promoted.status.phase != "Paused" or promoted.status.current_step != status.current_step
            assert moved, f"promote did not leave {status}"
            aborted = sim.fork()
            person_step(aborted, "abort")
            assert aborted.status is not None and aborted.status.phase in ("RollingBack", "Degraded")
    assert {"ProgressDeadlineExceeded", "AnalysisFailed", "Promoted"} <= endings


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_walk_reaches_every_phase_and_step(strategy: str) -> None:
    """The bound is wide enough to matter: every phase, every step of the plan and the promotion."""
    states = reachable(strategy)
    phases = {sim.status.phase for sim in states if sim.status is not None}
    assert phases == {"Healthy", "Progressing", "Paused", "RollingBack", "Degraded"}
    assert {sim.spec.version for sim in states} == {"1.0.0", "2.0.0", "3.0.0", "4.0.0"}
    steps = {sim.status.current_step for sim in states if sim.status is not None and sim.status.canary}
    assert steps >= set(range(len(plan_for(spec("2.0.0", STRATEGIES[strategy][0])).steps) + 1))


def test_the_walk_reaches_every_outcome() -> None:
    reasons = {sim.status.reason for sim in reachable("canary") if sim.status is not None}
    expected = {"Promoted", "AnalysisFailed", "Aborted", "WaitingForPromote", "ManualPause", "Reverted"}
    expected.add(NO_PROMETHEUS.reason)
    assert expected | {"ProviderErrors", "AnalysisInconclusive"} <= reasons


def test_the_hooked_walk_reaches_every_hook_outcome() -> None:
    states = [sim.status for sim in reachable("canary-hooked") if sim.status is not None]
    assert {"HookFailed", "Promoted", "AnalysisFailed"} <= {status.reason for status in states}
    results = {(h.stage, h.result) for status in states for h in status.hooks}
    for stage in ("preDeploy", "postDeploy", "postRollback"):
        assert {(stage, "Running"), (stage, "Succeeded"), (stage, "Failed")} <= results, stage


def test_the_gated_walk_reaches_the_waits_of_the_gate() -> None:
    reasons = {sim.status.reason for sim in reachable("canary-gated") if sim.status is not None}
    assert {"WaitingForUpstream", "Soaking", "WaitingForApproval", "Promoted", "Reverted"} <= reasons


def test_the_routed_walk_holds_match_routes_and_mirrors_only_while_a_rollout_runs() -> None:
    states = [sim.status for sim in reachable("canary-routed") if sim.status is not None]
    assert any(status.canary_routes and status.mirror_percent for status in states)
    assert any(status.routing_drift for status in states)
    for status in states:
        settled = status.phase == "Healthy" or (
            status.phase == "Degraded"
            and status.reason != NO_PROMETHEUS.reason
            and status.stable is not None
            and status.stable.weight == 100
        )
        if settled:
            assert not status.canary_routes and not status.mirror_percent, status
