"""The plan every strategy compiles to: a list of four kinds of step, run by the core.

A strategy only says *what shape* the rollout takes (how many pods of each revision, how much traffic
to the new one, where to wait, where to check metrics); the core's state machine says *when* to move
on. After the last step the core promotes: the new revision gets every pod and all traffic, and the
old one is removed after `scale_down_delay_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slipway.api.durations import format_duration
from slipway.api.models import CanaryRoute


@dataclass(frozen=True)
class Shift:
    """Bring the new revision to `canary_replicas` ready pods, then send it `canary_weight` percent of
    traffic, then set the old revision to `stable_replicas` pods (lower only for a rolling update)."""

    canary_weight: int
    canary_replicas: int
    stable_replicas: int
    label: str = ""

    def describe(self) -> str:
        return self.label or f"set weight {self.canary_weight}%"


@dataclass(frozen=True)
class Hold:
    """Wait `seconds`, or (None) until a person promotes; `label` says what the wait is for."""

    seconds: float | None
    label: str = ""

    def describe(self) -> str:
        wait = "pause until promoted" if self.seconds is None else f"pause {format_duration(self.seconds)}"
        return f"{wait} {self.label}" if self.label else wait


@dataclass(frozen=True)
class Gate:
    """Wait until each of `metrics` (None: all of spec.analysis) has `successes` good results in a row."""

    successes: int
    metrics: tuple[str, ...] | None

    def describe(self) -> str:
        return f"analysis gate ({self.successes} good in a row)"


@dataclass(frozen=True)
class Reroute:
    """Make the routing hold these match routes (the requests each matches go to the canary whatever
    the weight) and mirror `mirror_percent` percent of requests to the canary: the state after this
    step, stated whole. Instant, but the core moves on only once the cluster is seen to hold it."""

    routes: tuple[CanaryRoute, ...] = field(default=(), hash=False)
    mirror_percent: int = 0
    label: str = ""

    def describe(self) -> str:
        return self.label


PlanStep = Shift | Hold | Gate | Reroute


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlanStep, ...]
    scale_down_delay_seconds: float = 0.0

    def shape_before(self, index: int, replicas: int) -> Shift:
        """The pods and traffic in force while step `index` runs: set by the last Shift before it."""
        for step in reversed(self.steps[:index]):
            if isinstance(step, Shift):
                return step
        # Before any Shift the new revision runs one pod without traffic, so it can be analysed.
        return Shift(canary_weight=0, canary_replicas=1, stable_replicas=replicas)

    def routing_at(self, index: int) -> Reroute:
        """The match routes and mirror in force while step `index` runs: set by the last Reroute up to
        it (none before the first), so a step a person promoted past still takes effect."""
        for step in reversed(self.steps[: index + 1]):
            if isinstance(step, Reroute):
                return step
        return Reroute()
