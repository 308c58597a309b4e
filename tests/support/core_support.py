"""Builders shared by the tests of the core (tests/core/): Releases and simulation runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from slipway.api.models import AnalysisSpec, ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.core.actions import WRITES, Action, RunAnalysis
from slipway.core.machine import Decision
from slipway.core.measurement import RawMeasurement
from slipway.core.simulation import MetricsMode, SimulatedMetrics, Simulation

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ActionT = TypeVar("ActionT")

CANARY_STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"pause": {"duration": "1m"}},
    {"analysis": {"successfulMeasurements": 3}},
    {"setWeight": 50},
    {"pause": {}},
]


def metric(name: str = "error-rate", **fields: Any) -> dict[str, Any]:
    return {"name": name, "builtin": "error-rate", **fields}


def release_spec(
    version: str = "1.0.0",
    *,
    replicas: int = 4,
    strategy: dict[str, Any] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    interval: str = "30s",
    rollback: dict[str, Any] | None = None,
    traffic_routing: dict[str, Any] | None = None,
    promotion: dict[str, Any] | None = None,
) -> ReleaseSpec:
    """A valid Release spec; by default a 5-step canary with one error-rate metric."""
    body: dict[str, Any] = {
        "version": version,
        "replicas": replicas,
        "template": {"spec": {"containers": [{"name": "web", "image": f"example/web:{version}"}]}},
        "service": {"port": 80},
        "strategy": strategy if strategy is not None else {"canary": {"steps": CANARY_STEPS}},
        "analysis": {"interval": interval, "metrics": metrics if metrics is not None else [metric()]},
    }
    if rollback is not None:
        body["rollback"] = rollback
    if traffic_routing is not None:
        body["trafficRouting"] = traffic_routing
    if promotion is not None:
        body["promotion"] = promotion
    return ReleaseSpec.model_validate(body)


def run_until(sim: Simulation, done: Callable[[ReleaseStatus], bool], max_ticks: int = 200) -> list[Decision]:
    """Tick (moving the clock as each pass asks) until `done(status)`; every decision made, in order."""
    decisions: list[Decision] = []
    for _ in range(max_ticks):
        decisions += sim.tick()
        assert sim.status is not None
        if done(sim.status):
            return decisions
        sim.wait(decisions[-1])
    raise AssertionError(f"not reached in {max_ticks} passes; last status: {sim.status}")


def phase_is(*phases: str) -> Callable[[ReleaseStatus], bool]:
    return lambda status: status.phase in phases


def healthy_on(version: str) -> Callable[[ReleaseStatus], bool]:
    return lambda status: (
        status.phase == "Healthy" and status.stable is not None and status.stable.version == version
    )


def stable_simulation(spec: ReleaseSpec | None = None, metrics: MetricsMode = "good") -> Simulation:
    """A simulation whose first release is Healthy, ready for a second version."""
    spec = spec or release_spec()
    sim = Simulation(spec=spec, now=T0, metrics=SimulatedMetrics(metrics))
    run_until(sim, healthy_on(spec.version))
    return sim


def actions(decisions: list[Decision]) -> list[Action]:
    return [action for decision in decisions for action in decision.actions]


def of_type(decisions: list[Decision], kind: type[ActionT]) -> list[ActionT]:
    return [action for action in actions(decisions) if isinstance(action, kind)]


def writes(decisions: list[Decision]) -> list[Action]:
    return [action for action in actions(decisions) if isinstance(action, WRITES)]


class Alternating(SimulatedMetrics):
    """Measurements that follow `pattern` over and over: S good, E a provider error, I no data."""

    def __init__(self, pattern: str, taken: dict[str, int] | None = None) -> None:
        super().__init__("good", {} if taken is None else taken)
        self.pattern = pattern

    def measure(self, spec: AnalysisSpec, request: RunAnalysis, at: datetime) -> list[RawMeasurement]:
        taken = []
        for name in request.metrics:
            count = self.taken.get(name, 0)
            self.taken[name] = count + 1
            kind = self.pattern[count % len(self.pattern)]
            taken.append(
                RawMeasurement(name, request.revision, at, error="timeout")
                if kind == "E"
                else RawMeasurement(name, request.revision, at, values=() if kind == "I" else (0.0,))
            )
        return taken
