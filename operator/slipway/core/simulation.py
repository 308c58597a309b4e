"""A simulated cluster and metric source for running the real `decide` with no cluster at all.

Used by `slipway plan` (to show what a Release will do), by the benchmark and by the tests. Pods come
up between two passes; metrics follow a scripted mode. Pure data and arithmetic: the caller owns the
clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from slipway.api.annotations import PREFIX
from slipway.api.models import AnalysisSpec, Metric, ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.core.actions import (
    AcknowledgeAction,
    Action,
    DeleteHookJobs,
    DeleteRevision,
    EnsureRevision,
    RunAnalysis,
    RunHook,
    ScaleRevision,
)
from slipway.core.judge import threshold_of
from slipway.core.machine import Decision, decide
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import (
    FiringAlert,
    Observations,
    ObservedHookJob,
    ObservedRevision,
    Upstream,
)
from slipway.core.obstacles import Obstacle

DecideInputs = tuple[ReleaseSpec, ReleaseStatus | None, Observations, datetime]
MetricsMode = Literal["good", "bad", "nodata", "flaky", "error"]
FLAKY_EVERY = 3
"""In `flaky` mode every third measurement of a metric fails."""


def good_value(metric: Metric) -> float:
    """A value well inside the metric's range."""
    threshold = threshold_of(metric)
    if threshold.min is not None and threshold.max is not None:
        return (threshold.min + threshold.max) / 2
    if threshold.max is not None:
        return threshold.max / 2 if threshold.max > 0 else threshold.max - 1
    assert threshold.min is not None
    return threshold.min * 2 if threshold.min > 0 else threshold.min + 1


def bad_value(metric: Metric) -> float:
    """A value outside the metric's range."""
    threshold = threshold_of(metric)
    if threshold.max is not None:
        return threshold.max * 10 if threshold.max > 0 else threshold.max + 1
    assert threshold.min is not None
    return threshold.min - 1


@dataclass
class SimulatedMetrics:
    """Answers RunAnalysis requests according to `mode`: good or bad values, empty results, every
    third value bad (flaky), or a provider that cannot be reached (error)."""

    mode: MetricsMode
    taken: dict[str, int] = field(default_factory=dict)

    def measure(self, spec: AnalysisSpec, request: RunAnalysis, at: datetime) -> list[RawMeasurement]:
        by_name = {metric.name: metric for metric in spec.metrics}
        return [self._one(by_name[name], request.revision, at) for name in request.metrics]

    def _one(self, metric: Metric, revision: str, at: datetime) -> RawMeasurement:
        count = self.taken.get(metric.name, 0) + 1
        self.taken[metric.name] = count
        if self.mode == "nodata":
            return RawMeasurement(metric.name, revision, at, values=())
        if self.mode == "error":
            return RawMeasurement(metric.name, revision, at, error="connection refused (simulated)")
        failing = self.mode == "bad" or (self.mode == "flaky" and count % FLAKY_EVERY == 0)
        value = bad_value(metric) if failing else good_value(metric)
        return RawMeasurement(metric.name, revision, at, values=(value,))


@dataclass
class SimulatedCluster:
    """Deployments that follow the actions, pods that become ready on `settle`, and annotations."""

    generation: int = 1
    revisions: dict[str, ObservedRevision] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    """Revisions whose pods never become ready."""
    obstacles: tuple[Obstacle, ...] = ()
    """What stands in the way of the current spec (the operator refuses it while there are any)."""
    upstream: Upstream | None = None
    """The Release spec.promotion.from names, as the shell would observe it."""
    hook_jobs: dict[tuple[str, str, str, int], ObservedHookJob] = field(default_factory=dict)
    """Hook Jobs by (stage, hook, revision, attempt); they finish on `settle`."""
    failing_hooks: set[str] = field(default_factory=set)
    """Names of hooks whose Jobs fail."""
    hanging_hooks: set[str] = field(default_factory=set)
    """Names of hooks whose Jobs never finish."""
    routing_drift: tuple[str, ...] = ()
    """Routing objects that do not hold what the status records (a webhook or a person changed them)."""
    capped: dict[str, int] = field(default_factory=dict)
    """Revisions whose pods stop becoming ready at this many (a quota, nodes short of room)."""

    def apply(self, actions: Iterable[Action]) -> None:
        """Carry out the writes (reads and Events are the caller's business)."""
        for action in actions:
            if isinstance(action, EnsureRevision | ScaleRevision):
                ready = (
                    self.revisions[action.revision].ready_replicas if action.revision in self.revisions else 0
                )
                self.revisions[action.revision] = ObservedRevision(
                    action.replicas, min(ready, action.replicas)
                )
            elif isinstance(action, DeleteRevision):
                self.revisions.pop(action.revision, None)
            elif isinstance(action, RunHook):
                key = (action.stage, action.hook, action.revision, action.attempt)
                job = f"{action.revision}-{action.hook}-{action.attempt}"
                self.hook_jobs.setdefault(
                    key,
                    ObservedHookJob(
                        action.stage, action.hook, action.revision, action.attempt, job, "Running"
                    ),
                )
            elif isinstance(action, DeleteHookJobs):
                self.hook_jobs = {
                    key: job for key, job in self.hook_jobs.items() if job.revision != action.revision
                }
            elif (
                isinstance(action, AcknowledgeAction)
                and self.annotations.get(action.annotation) == action.value
            ):
                del self.annotations[action.annotation]

    def moving(self) -> bool:
        """Whether `settle` would change something: pods asked for and not ready yet (of revisions that
        are not broken), a hook Job running that will finish."""
        return any(
            name not in self.broken
            and observed.ready_replicas != self._ready_at_most(name, observed.replicas)
            for name, observed in self.revisions.items()
        ) or any(
            job.outcome == "Running" and job.hook not in self.hanging_hooks for job in self.hook_jobs.values()
        )

    def _ready_at_most(self, name: str, replicas: int) -> int:
        return min(replicas, self.capped.get(name, replicas))

    def settle(self) -> None:
        """Every pod asked for is ready (except those of broken revisions)."""
        for name, observed in self.revisions.items():
            ready = 0 if name in self.broken else self._ready_at_most(name, observed.replicas)
            self.revisions[name] = ObservedRevision(observed.replicas, ready)
        for key, job in self.hook_jobs.items():
            if job.outcome == "Running" and job.hook not in self.hanging_hooks:
                failed = job.hook in self.failing_hooks
                outcome: Literal["Succeeded", "Failed"] = "Failed" if failed else "Succeeded"
                self.hook_jobs[key] = replace(job, outcome=outcome, message="exit code 1" if failed else "")

    def annotate(self, action: str, value: str) -> None:
        self.annotations[f"{PREFIX}{action}"] = value

    def observe(
        self, measurements: Iterable[RawMeasurement] = (), alerts: Iterable[FiringAlert] = ()
    ) -> Observations:
        return Observations(
            generation=self.generation,
            annotations=dict(self.annotations),
            revisions=dict(self.revisions),
            measurements=tuple(measurements),
            alerts=tuple(alerts),
            obstacles=self.obstacles,
            upstream=self.upstream,
            hook_jobs=tuple(self.hook_jobs.values()),
            routing_drift=self.routing_drift,
        )


@dataclass
class Simulation:
    """The real `decide` against a simulated cluster, metrics and clock, pass after pass.

    Each `tick` is what the operator does once: look at the cluster (pods asked for earlier are ready
    by now, except broken ones), decide, carry the writes out, and when the decision asks for
    measurements, take them and decide again at once.
    """

    spec: ReleaseSpec
    now: datetime
    metrics: SimulatedMetrics = field(default_factory=lambda: SimulatedMetrics("good"))
    cluster: SimulatedCluster = field(default_factory=SimulatedCluster)
    status: ReleaseStatus | None = None
    alerts: tuple[FiringAlert, ...] = ()
    idle_seconds: float = 60.0
    """How far the clock moves after a pass that asks for no requeue."""
    ready_seconds: float = 5.0
    """How long the pods a pass asked for take to be ready (and a hook Job to finish): their watch
    event wakes the next pass then, sooner than the core's safety net."""
    recorded: list[DecideInputs] | None = None
    """When a list, the inputs of every decide() call are appended to it (for benchmarks)."""

    def tick(self) -> list[Decision]:
        self.cluster.settle()
        decisions = [self._decide(())]
        reads = [action for action in decisions[0].actions if isinstance(action, RunAnalysis)]
        if reads and self.spec.analysis is not None:
            taken = [m for read in reads for m in self.metrics.measure(self.spec.analysis, read, self.now)]
            decisions.append(self._decide(taken))
        return decisions

    def _decide(self, measurements: Iterable[RawMeasurement]) -> Decision:
        observations = self.cluster.observe(measurements, self.alerts)
        if self.recorded is not None:
            self.recorded.append((self.spec, self.status, observations, self.now))
        decision = decide(self.spec, self.status, observations, self.now)
        self.cluster.apply(decision.actions)
        self.status = decision.status
        return decision

    def wait(self, decision: Decision) -> None:
        """Move the clock to when the decision asked to be called again, or to when the pods (or hook
        Jobs) it waits for are ready, whose watch event wakes the Release, if sooner."""
        seconds = decision.requeue_after_seconds
        if self.cluster.moving():
            seconds = self.ready_seconds if seconds is None else min(seconds, self.ready_seconds)
        self.now += timedelta(seconds=self.idle_seconds if seconds is None else max(seconds, 0.001))

    def change_spec(self, spec: ReleaseSpec) -> None:
        self.spec = spec
        self.cluster.generation += 1

    def fork(self) -> Simulation:
        """An independent copy to explore another future from here (statuses are never mutated)."""
        cluster = SimulatedCluster(
            self.cluster.generation,
            dict(self.cluster.revisions),
            dict(self.cluster.annotations),
            set(self.cluster.broken),
            self.cluster.obstacles,
            self.cluster.upstream,
            dict(self.cluster.hook_jobs),
            set(self.cluster.failing_hooks),
            set(self.cluster.hanging_hooks),
            self.cluster.routing_drift,
            dict(self.cluster.capped),
        )
        return replace(
            self, cluster=cluster, metrics=SimulatedMetrics(self.metrics.mode, dict(self.metrics.taken))
        )
