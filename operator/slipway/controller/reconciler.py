"""One reconcile pass for one Release: observe, call the core, carry out what it decided.

Every choice about the rollout is the core's (`slipway.core.decide`), refusing a spec included: the
pass only translates what it found (the spec the models accept, the obstacles the models and the
operator's config put in its way, the Deployments, the alerts) into Observations, and the actions
into Kubernetes writes.

The order of writes is what makes the operator safe to kill at any instant (invariant 5):
1. the cluster actions, in the core's order (after a rollback decision the first of them returns all
   traffic to stable, invariant 2); each is idempotent, so repeating them after a crash is harmless;
2. the status, guarded by the resourceVersion that was read, so a decision made on stale data fails
   and is made again instead of overwriting newer facts. Until it lands, a restarted operator decides
   again from the old status and the cluster as it now is, and reaches the same decision. Once it
   lands, the notifications the transition owes are queued (never awaited: controller/notifications.py);
3. then Events, the Release's alert rules (a PrometheusRule that follows the routing: it never delays
   the status) and the acknowledgement of manual actions (removing their annotations), so that an
   action is never acknowledged before status records that it was carried out. The Events are owed
   in the status written in step 2, so each is posted exactly once (controller/events.py).
A pass over a Release whose cluster already matches writes nothing (invariant 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from pydantic import ValidationError

from slipway.alerts.alertmanager import AlertmanagerConfig, AlertmanagerUnavailable
from slipway.alerts.rules import prometheus_rule, rule_groups
from slipway.api.annotations import GATE_ACTIONS, MANUAL_ACTIONS
from slipway.api.durations import parse_duration
from slipway.api.models import Metric, ReleaseSpec, release_name_problem
from slipway.api.status import MAX_TRANSITION_EVENTS, ReleaseStatus
from slipway.api.validation import problems_from
from slipway.controller import events, notifications
from slipway.controller.echoes import OwnWrites
from slipway.controller.events import EventLedger
from slipway.controller.first_look import FirstLook, settled
from slipway.controller.notifications import Landed, Notifier
from slipway.controller.queue import ReleaseKey
from slipway.controller.specs import ValidatedSpecs
from slipway.controller.upstreams import UpstreamIndex, observe_upstream
from slipway.controller.watch_view import WatchView
from slipway.core.actions import (
    AcknowledgeAction,
    DeleteHookJobs,
    DeleteRevision,
    EmitEvent,
    EnsureRevision,
    Route,
    RunAnalysis,
    RunHook,
    ScaleRevision,
)
from slipway.core.hooks import hooks_of, timeout_of
from slipway.core.machine import Decision, decide, recorded_route
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import (
    FiringAlert,
    Observations,
    ObservedHookJob,
    ObservedRevision,
    Upstream,
)
from slipway.core.obstacles import INVALID_SPEC, NAME_CONFLICT, RECONCILE_ERROR, Obstacle
from slipway.core.promotion import GATE_REASONS
from slipway.kube.client import ApiError, KubeApi, releases_path
from slipway.kube.cluster import (
    ClusterState,
    ClusterWriter,
    NotOwnedError,
    StaleViewError,
    find_unlabelled,
    observe,
    observe_routing,
)
from slipway.kube.watched import WatchedObjects
from slipway.manifests import (
    LABEL_HOOK,
    LABEL_HOOK_ATTEMPT,
    LABEL_HOOK_STAGE,
    Obj,
    ReleaseRef,
    hook_job,
    job_finished,
    legacy_revisions,
    ready_replicas,
    release_ref,
    revision_deployment,
    revision_of,
)
from slipway.plugins import readiness
from slipway.providers.base import MeasurementContext
from slipway.providers.builtin import BuiltinMetricsConfig
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.registry import router_for
from slipway.runtime.config import OperatorConfig
from slipway.runtime.logging import bind_release
from slipway.runtime.metrics import OperatorMetrics
from slipway.runtime.shards import ShardMoved

Measure = Callable[[Metric, MeasurementContext], Awaitable[RawMeasurement]]
FindAlerts = Callable[[ReleaseRef, Mapping[str, str]], Awaitable[tuple[FiringAlert, ...]]]
"""The firing alerts that match; raises AlertmanagerUnavailable when that cannot be known."""
Fence = Callable[[ReleaseRef], AbstractContextManager[None]]
"""Held around a pass's writes; raises ShardMoved when the Release is no longer this replica's
(sharding: `Shards.fence`)."""

_log = structlog.get_logger("slipway.reconcile")

# A stale view is retried at once; the watch event of whatever changed will wake us anyway.
_RETRY_STALE_SECONDS = 0.2
_RETRY_SHARD_SECONDS = 1.0
# A status the core let wait for the pods its pass asked for is written this soon at the latest: a step
# whose pods come sooner costs one status write, one whose pods take longer shows late by this much.
_HOLD_SECONDS = 5.0
# A cluster without the PrometheusRule CRD is asked again this often (it may be installed later).
_RULES_RECHECK_SECONDS = 300.0


def _deployed(status: ReleaseStatus | None) -> set[str]:
    """The revisions whose Deployments the status says exist: stable once pods were asked for it (a
    Release of 0 replicas creates none, for good), the canary (none only until its preDeploy hooks
    succeed; one rolled back keeps its Deployment at 0), those retiring and those kept for undo."""
    if status is None:
        return set()
    named = {retiring.revision for retiring in status.retiring}
    named |= {old.revision for old in status.old_revisions}
    if status.canary is not None:
        named.add(status.canary.revision)
    if status.stable is not None and status.stable.replicas > 0:
        named.add(status.stable.revision)
    return named


def observations_of(
    body: Obj,
    state: ClusterState,
    alerts: tuple[FiringAlert, ...],
    alerts_unknown: str | None,
    obstacles: tuple[Obstacle, ...],
    upstream: Upstream | None = None,
) -> Observations:
    annotations: dict[str, str] = body["metadata"].get("annotations") or {}
    return Observations(
        generation=int(body["metadata"].get("generation") or 1),
        annotations={
            key: value for key, value in annotations.items() if key in MANUAL_ACTIONS or key in GATE_ACTIONS
        },
        revisions={
            revision: ObservedRevision(
                replicas=int(deployment.get("spec", {}).get("replicas") or 0),
                ready_replicas=ready_replicas(deployment),
            )
            for revision, deployment in state.deployments.items()
        },
        alerts=alerts,
        alerts_unknown=alerts_unknown,
        obstacles=obstacles,
        upstream=upstream,
        hook_jobs=tuple(
            observed for observed in map(observed_hook_job, state.hook_jobs.values()) if observed is not None
        ),
    )


def observed_hook_job(job: Obj) -> ObservedHookJob | None:
    """A hook Job as the core reads it; None for one whose labels someone broke (it is left alone)."""
    labels = job["metadata"].get("labels") or {}
    stage, attempt, revision = (
        labels.get(LABEL_HOOK_STAGE),
        labels.get(LABEL_HOOK_ATTEMPT, ""),
        revision_of(job),
    )
    if stage not in ("preDeploy", "postDeploy", "postRollback") or not attempt.isdigit() or revision is None:
        return None
    finished = job_finished(job)
    outcome: Literal["Running", "Succeeded", "Failed"] = (
        "Running" if finished is None else "Succeeded" if finished[0] else "Failed"
    )
    return ObservedHookJob(
        stage=stage,
        hook=labels.get(LABEL_HOOK, ""),
        revision=revision,
        attempt=int(attempt),
        job=job["metadata"]["name"],
        outcome=outcome,
        message=finished[1] if finished is not None else "",
    )


def invalid_spec(invalid: ValidationError) -> tuple[Obstacle, ...]:
    """The models' complaints about a Release's spec, each naming its field from `spec` down."""
    return tuple(
        Obstacle(INVALID_SPEC, f"spec.{problem.field}" if problem.field else "spec", problem.message)
        for problem in problems_from(invalid)
    )


def name_obstacles(body: Obj) -> tuple[Obstacle, ...]:
    """A name an older CRD let in that some object named after the Release could not take."""
    problem = release_name_problem(body["metadata"]["name"])
    return (Obstacle(INVALID_SPEC, "metadata.name", problem),) if problem else ()


_MAX_ERROR_MESSAGE = 500


def obstacle_of(error: Exception) -> Obstacle:
    """What a failed pass met, as the obstacle its status reports."""
    if isinstance(error, NotOwnedError):
        return Obstacle(NAME_CONFLICT, "metadata.name", str(error))
    message = f"{type(error).__name__}: {error}"
    if len(message) > _MAX_ERROR_MESSAGE:
        message = message[: _MAX_ERROR_MESSAGE - 3] + "..."
    return Obstacle(RECONCILE_ERROR, "", f"a pass failed: {message}")


@dataclass(frozen=True)
class _Held:
    """A status the core let wait for the next pass (Decision.status_may_wait), and its Events; good
    only while the Release is still at the resourceVersion it was decided on."""

    resource_version: str
    status: ReleaseStatus
    events: tuple[EmitEvent, ...]
    until: float  # monotonic: written by the pass at this time at the latest


class Reconciler:
    def __init__(
        self,
        api: KubeApi,
        measure: Measure,
        find_alerts: FindAlerts,
        config: OperatorConfig,
        metrics: OperatorMetrics,
        upstreams: UpstreamIndex | None = None,
        own_writes: OwnWrites | None = None,
        notifier: Notifier | None = None,
        fence: Fence | None = None,
        watched: WatchedObjects | None = None,
        first_look: FirstLook | None = None,
        events: EventLedger | None = None,
        watch_view: WatchView | None = None,
    ) -> None:
        self._api = api
        # Fed by the watch (controller/handlers.py); without one, every pass reads.
        self._view = watch_view
        self._first_look = first_look or FirstLook(covers=lambda key: False)
        self._watched = watched or WatchedObjects()
        self._fence = fence or (lambda release: contextlib.nullcontext())
        self._upstreams = upstreams or UpstreamIndex()
        self._measure = measure
        self._find_alerts = find_alerts
        self._config = config
        self._metrics = metrics
        self._own_writes = own_writes or OwnWrites()
        # Until when (monotonic) alert rules are skipped because the cluster serves no PrometheusRule.
        self._rules_unserved_until: float | None = None
        self._notifier = notifier
        self._events = events or EventLedger(api)
        self._held: dict[ReleaseKey, _Held] = {}
        self._specs = ValidatedSpecs(self._unmet)

    async def __call__(self, key: ReleaseKey) -> float | None:
        with bind_release(key.namespace, key.name):
            # The one error boundary of a pass: whatever it meets becomes the Release's status.
            try:
                return await self._pass(key)
            except Exception as error:
                self._read_next_time(key)
                await self._report(key, error)
                raise  # the queue tries again, later each time

    async def _report(self, key: ReleaseKey, error: Exception) -> None:
        """Tell a pass's failure in the Release's status and one Warning Event, as the core words it:
        the error is one more obstacle, so `decide` refuses the generation (Degraded, Stalled, the
        reason NameConflict or ReconcileError and the message). Refused with spec None, the decision
        rests on nothing that may have failed; it holds no cluster action."""
        try:
            body = await asyncio.to_thread(self._api.get, releases_path(key.namespace, key.name))
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            obstacles: tuple[Obstacle, ...] = (obstacle_of(error),)
            with contextlib.suppress(Exception):  # the error may be in reading the spec itself
                obstacles += self._read_spec(key, body)[1]
            observations = observations_of(body, ClusterState(), (), None, obstacles)
            now = datetime.now(UTC)
            observed = ReleaseStatus.from_api(body.get("status"))
            decision = decide(None, observed, observations, now)
            await asyncio.to_thread(
                self._fenced, release_ref(body), None, body, observed, ClusterState(), decision, now
            )
        except Exception as unreported:
            _log.warning("a failed pass could not be told in status", error=str(unreported))

    async def _pass(self, key: ReleaseKey) -> float | None:
        started = time.monotonic()
        # The first pass after a start (or, sharded, after a gain) decides on what the watch showed, if
        # it showed enough and the Release was settled there: one in flight would write (and measure)
        # anyway, and a pass deciding on what the watch showed writes nothing (AsShown).
        first = self._first_look.take(key)
        # Later passes over a Release in flight decide on what the watch and their own writes showed.
        view = self._view.take(key) if self._view is not None and first.body is None else None
        reading = first.body is None and view is None
        if reading and self._view is not None:
            self._view.reading(key)
        body = (
            first.body
            or (view.body if view is not None else None)
            or await asyncio.to_thread(self._api.get, releases_path(key.namespace, key.name))
        )
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._read_next_time(key)
            self._metrics.forget_release(key.namespace, key.name)
            self._events.forget(key.namespace, key.name)
            self._held.pop(key, None)
            self._specs.forget(key)
            return None
        release = release_ref(body)
        old_status = ReleaseStatus.from_api(body.get("status"))
        held = self._held.pop(key, None)
        if held is not None and held.resource_version != body["metadata"]["resourceVersion"]:
            held = None  # the Release changed meanwhile: decide from what it holds now
        base = held.status if held is not None else old_status
        spec, obstacles = self._read_spec(key, body)
        upstream = None
        # Each call that may send a request runs in a worker thread; one that cannot is made here: at a
        # restart over thousands of Releases, those hops to a thread and back were a share of the CPU.
        if spec is not None and spec.promotion is not None:
            upstream, out_of_reach = await asyncio.to_thread(
                observe_upstream, self._api, key, spec, self._config, self._upstreams.view_of
            )
            obstacles += out_of_reach
        # Hook Jobs are looked for only where there are (or were) hooks.
        hooks = (spec is not None and spec.hooks is not None) or bool(base and base.hooks)
        shown_deployments = view.deployments if view is not None else first.deployments
        if shown_deployments is None or hooks:
            state = await asyncio.to_thread(observe, self._api, release, hooks, shown_deployments)
        else:
            state = observe(self._api, release, hooks, shown_deployments)
        if reading and self._view is not None:
            self._view.read(key, body, state.deployments.values())
        named = _deployed(base)
        if not named <= state.deployments.keys():
            await asyncio.to_thread(find_unlabelled, self._api, release, state, named)
        alerts, alerts_unknown = await self._alerts(release, spec)
        observations = observations_of(body, state, alerts, alerts_unknown, obstacles, upstream)
        # The routing objects are read back before deciding while a canary is in the routing (a step
        # moves on only once they hold what the status records) and in a settled Release's passes over
        # the generation it settled on (someone's edit is told). A pass over a new generation, or one
        # that may open a promotion gate, reads them when restating, after the Deployments are written.
        recorded = None
        if spec is not None and not obstacles and base is not None:
            at_rest = settled(base.phase, base.observed_generation, observations.generation)
            if base.canary is not None or at_rest:
                recorded = recorded_route(spec, base)
        if recorded is not None:
            desired = _routing(release, _valid(spec), recorded, state)
            drift = await asyncio.to_thread(
                observe_routing, self._api, release, desired, state, self._watched
            )
            observations = replace(observations, routing_drift=drift)
        decided, now = time.monotonic(), datetime.now(UTC)
        decision = decide(spec, base, observations, now)
        analyses = [action for action in decision.actions if isinstance(action, RunAnalysis)]
        if analyses:
            # Measurements go to a second decide at once: they are observations, not state to keep.
            measured = await self._take(_valid(spec), release, analyses, base)
            observations = replace(observations, measurements=measured)
            decided, now = time.monotonic(), datetime.now(UTC)
            decision = decide(spec, base, observations, now)
        # A pass that only asked for pods leaves its status to the pass their readiness wakes, which
        # writes both in one; passes that find nothing new meanwhile (the Deployment's own status
        # moving) keep waiting, _HOLD_SECONDS at most (docs/operator.md, "A status that waits for pods").
        if held is None:
            hold = decision.status_may_wait
            until = time.monotonic() + _HOLD_SECONDS
        else:
            told = any(isinstance(action, EmitEvent) for action in decision.actions)
            unchanged = not told and decision.status.to_api() == held.status.to_api()
            hold, until = unchanged and time.monotonic() < held.until, held.until
            decision = replace(decision, actions=(*held.events, *decision.actions))
        landed = None
        if spec is not None and spec.notify and self._notifier is not None and not hold:
            landed = self._notifier.landed(release, spec, old_status, decision, observations.generation, now)
        try:
            writes, events_owed = await asyncio.to_thread(
                self._fenced,
                release,
                spec,
                body,
                old_status,
                state,
                decision,
                now,
                landed,
                hold,
                first.body is not None,
            )
        except AsShown:
            # Decided on what the watch showed, the pass would write: decided again on a read.
            return await self._pass(key)
        except ShardMoved as moved:
            # Looked at again shortly: if the Release moved, the queue drops that look; if the Lease was
            # only late in renewing, the pass is made once it is renewed.
            _log.info("left to another replica", reason=str(moved))
            self._read_next_time(key)
            self._specs.forget(key)
            return _RETRY_SHARD_SECONDS
        except StaleViewError:
            self._read_next_time(key)
            return _RETRY_STALE_SECONDS
        except ApiError as error:
            if error.status != 409:
                raise
            # A write conflicted: what this pass decided may rest on old facts, so decide again.
            self._read_next_time(key)
            return _RETRY_STALE_SECONDS
        status = decision.status
        serving = status.canary or status.stable
        with bind_release(
            release.namespace,
            release.name,
            revision=serving.revision if serving else None,
            phase=status.phase,
            step=status.current_step,
        ):
            _log.info(status.message or status.phase, reason=status.reason, writes=writes)
        if settled(status.phase, status.observed_generation, observations.generation):
            self._specs.forget(key)
        if hold:
            emitted = tuple(action for action in decision.actions if isinstance(action, EmitEvent))
            self._held[key] = _Held(body["metadata"]["resourceVersion"], status, emitted, until)
        self._record(release, base, status, time.monotonic() - started)
        requeue = decision.requeue_after_seconds
        if requeue is not None:
            # The core counted from the moment it decided; the writes since then are already part of the
            # wait (100 soaks ending at once were otherwise looked at again ~0.5 s late).
            requeue = max(0.0, requeue - (time.monotonic() - decided))
        soon = (
            self._events.retry_after(release) if events_owed else (until - time.monotonic() if hold else None)
        )
        if soon is not None:
            requeue = min(requeue, soon) if requeue is not None else soon
        return requeue

    def _read_next_time(self, key: ReleaseKey) -> None:
        """The Release's next pass reads it: what this pass met may make the view wrong, or it is gone."""
        if self._view is not None:
            self._view.drop(key)

    def _wrote(self, path: str, response: Obj) -> None:
        """A write's response: its watch event wakes nothing (OwnWrites), and the passes after it decide
        on it even while the watch still shows what came before (WatchView)."""
        self._own_writes.wrote(path, str(response["metadata"]["resourceVersion"]))
        if self._view is not None:
            self._view.wrote(response)

    def _read_spec(self, key: ReleaseKey, body: Obj) -> tuple[ReleaseSpec | None, tuple[Obstacle, ...]]:
        """The spec as the models read it (None when they reject it), and what stands in its way: the
        models' complaints (about the name too), or what this operator cannot carry out with its config."""
        named = name_obstacles(body)
        try:
            spec, unmet = self._specs.read(key, body.get("spec") or {})
        except ValidationError as invalid:
            return None, named + invalid_spec(invalid)
        return spec, named + unmet

    def _unmet(self, spec: ReleaseSpec) -> tuple[Obstacle, ...]:
        """What in a valid spec this operator cannot carry out with its config."""
        return readiness(spec, self._config) + notifications.obstacles(spec, self._config.notifications)

    async def _alerts(
        self, release: ReleaseRef, spec: ReleaseSpec | None
    ) -> tuple[tuple[FiringAlert, ...], str | None]:
        """The firing alerts the spec's rollback.alerts selects, or why they are unknown."""
        if spec is None or spec.rollback.alerts is None:
            return (), None
        try:
            return await self._find_alerts(release, spec.rollback.alerts.match_labels), None
        except AlertmanagerUnavailable as unavailable:
            _log.warning("alerts unknown", error=str(unavailable))
            return (), str(unavailable)

    def _record(
        self, release: ReleaseRef, old: ReleaseStatus | None, new: ReleaseStatus, seconds: float
    ) -> None:
        metrics = self._metrics
        metrics.reconciled(seconds)
        metrics.set_release(
            release.namespace, release.name, new.phase, new.canary.weight if new.canary else 0
        )
        waiting = new.phase == "Paused" and new.reason in GATE_REASONS
        metrics.set_waiting(release.namespace, release.name, new.reason if waiting else None)
        if old is None or old.phase != new.phase:
            metrics.transition(old.phase if old else None, new.phase)
        if new.last_rollback is not None and (old is None or old.last_rollback != new.last_rollback):
            metrics.rollback(new.last_rollback.reason)
        seen = {(m.metric, m.at) for m in old.analysis.measurements} if old and old.analysis else set()
        for measurement in new.analysis.measurements if new.analysis else []:
            if (measurement.metric, measurement.at) not in seen:
                metrics.measurement(measurement.metric, measurement.result)

    async def _take(
        self,
        spec: ReleaseSpec,
        release: ReleaseRef,
        analyses: list[RunAnalysis],
        status: ReleaseStatus | None,
    ) -> tuple[RawMeasurement, ...]:
        metrics = {metric.name: metric for metric in spec.analysis.metrics} if spec.analysis else {}
        pending = [
            self._timed_measure(metrics[name], self._measurement_context(release, spec, analysis, status))
            for analysis in analyses
            for name in analysis.metrics
            if name in metrics
        ]
        return tuple(await asyncio.gather(*pending))

    async def _timed_measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        started = time.monotonic()
        try:
            return await self._measure(metric, context)
        finally:
            self._metrics.measured(time.monotonic() - started)

    def _measurement_context(
        self, release: ReleaseRef, spec: ReleaseSpec, analysis: RunAnalysis, status: ReleaseStatus | None
    ) -> MeasurementContext:
        stable = status.stable if status else None
        canary = status.canary if status else None
        version = canary.version if canary and canary.revision == analysis.revision else spec.version
        interval = parse_duration(spec.analysis.interval) if spec.analysis else 0
        return MeasurementContext(
            namespace=release.namespace,
            release=release.name,
            revision=analysis.revision,
            version=version,
            stable_revision=stable.revision if stable else None,
            interval_seconds=max(1, round(interval)),
        )

    def _fenced(self, release: ReleaseRef, *decided: Any) -> tuple[int, bool]:
        """The pass's writes, all in one batch under the fence (sharding)."""
        with self._fence(release):
            return self._carry_out(release, *decided)

    def _carry_out(
        self,
        release: ReleaseRef,
        spec: ReleaseSpec | None,
        body: Obj,
        observed: ReleaseStatus | None,
        state: ClusterState,
        decision: Decision,
        now: datetime,
        landed: Landed | None = None,
        hold: bool = False,
        as_shown: bool = False,
    ) -> tuple[int, bool]:
        """Carry out `decision` (its status and Events not yet when `hold`): the writes sent, and
        whether Events are still owed (a post failed). `observed` is the status `body` holds, as the
        models read it: compared in their own form, since the API server adds the schema's defaults to
        what it stores. `as_shown`: decided on what the watch showed (controller/first_look.py), which
        may lag behind the last writes of another replica or of this operator before a restart, so it
        writes nothing: AsShown is raised before the first write."""
        writer = ClusterWriter(
            self._api,
            release,
            state,
            self._wrote,
            self._watched,
            before_writing=_refuse_as_shown if as_shown else None,
            deleted=self._view.deleted if self._view is not None else None,
        )
        # Events an earlier transition owes that this process has not seen posted: their status landed.
        carried = observed.transition_events if observed else []
        unposted, sent = self._events.post(release, carried, now, look_first=True)
        writer.check_owned(_planned(release, spec, decision, first_writes=not state.deployments))
        writer.relabel()
        deferred: list[AcknowledgeAction] = []
        emitted: list[EmitEvent] = []
        routed: Route | None = None
        for action in decision.actions:
            match action:
                case EnsureRevision(revision=revision, version=version, replicas=replicas):
                    writer.ensure_revision(revision, version, replicas, _valid(spec).template)
                case ScaleRevision(revision=revision, replicas=replicas):
                    writer.scale_revision(revision, replicas)
                case Route():
                    # SetWeights included. The writer compares: routing that matches is not written.
                    for routing_object in _routing(release, _valid(spec), action, state):
                        writer.ensure_routing_object(routing_object)
                    routed = action
                case DeleteRevision(revision=revision):
                    writer.delete_revision(revision)
                case RunHook():
                    writer.run_hook(_hook_job(release, _valid(spec), action))
                case DeleteHookJobs(revision=revision):
                    writer.delete_hook_jobs(revision)
                case AcknowledgeAction():
                    deferred.append(action)
                case EmitEvent():
                    emitted.append(action)
                case RunAnalysis():
                    pass  # already measured before this decision was made
        if hold:
            self._ensure_alert_rule(writer, release, spec, decision.status, routed)
            return writer.writes + sent, bool(unposted)
        resource_version = body["metadata"]["resourceVersion"]
        owed = events.named(release, resource_version, emitted, now)
        observed_api = observed.to_api() if observed else None
        status = decision.status.model_copy(update={"transition_events": carried})
        if owed or status.to_api() != observed_api:
            # Written anyway: it drops the Events seen posted, and owes this transition's.
            kept = [*unposted, *owed][-MAX_TRANSITION_EVENTS:]
            status = status.model_copy(update={"transition_events": kept})
        status_version = writer.write_status(resource_version, observed_api, status.to_api())
        if status_version is not None:
            self._events.keep(release, status.transition_events)
            if landed is not None:
                landed(status_version)  # the transition is recorded: its notifications are owed
            left, posts = self._events.post(release, owed, now, look_first=False)
            unposted, sent = [*unposted, *left], sent + posts
        self._ensure_alert_rule(writer, release, spec, decision.status, routed)
        for action in deferred:
            writer.acknowledge(action.annotation, action.value)
        return writer.writes + sent, bool(unposted)

    def _ensure_alert_rule(
        self,
        writer: ClusterWriter,
        release: ReleaseRef,
        spec: ReleaseSpec | None,
        status: ReleaseStatus,
        route: Route | None,
    ) -> None:
        """Keep the Release's PrometheusRule watching the revisions the pass's route (None: it routed
        nothing) sends traffic to. Written after the status and its Events: the rule never delays the
        rollout's writes nor the status that records them (it changes at a promotion), and every pass
        restates the routing, so a rule a crash left out is written by the next. Alert rules never hold
        a rollout up: a cluster that serves no PrometheusRule gets none (said once, asked again every
        _RULES_RECHECK_SECONDS), and a refused write is logged and tried next pass."""
        if route is None:
            return
        if self._rules_unserved_until is not None and time.monotonic() < self._rules_unserved_until:
            return
        spec = _valid(spec)
        desired = None
        if spec.alert_rules.enabled:
            versions = {
                revision.revision: revision.version for revision in (status.stable, status.canary) if revision
            }
            live = {revision: versions[revision] for revision, weight in route.weights.items() if weight > 0}
            config = self._config
            groups = rule_groups(
                release,
                spec.alert_rules,
                live,
                config.section(BuiltinMetricsConfig),
                config.section(AlertmanagerConfig),
            )
            desired = prometheus_rule(release, groups)
        try:
            writer.ensure_alert_rule(desired)
        except NotOwnedError as conflict:
            _log.error("leaving a PrometheusRule the Release does not own alone", error=str(conflict))
            return
        except ApiError as error:
            if not error.not_found:
                _log.warning("the Release's PrometheusRule is not written", error=str(error))
                return
            if self._rules_unserved_until is None:
                _log.warning(
                    "the cluster serves no PrometheusRule (monitoring.coreos.com/v1): alert rules are"
                    " skipped, every rollout carries on; asked again every"
                    f" {_RULES_RECHECK_SECONDS:.0f} s"
                )
            self._rules_unserved_until = time.monotonic() + _RULES_RECHECK_SECONDS
            return
        if self._rules_unserved_until is not None:
            _log.info("the cluster serves PrometheusRule again: alert rules are written")
            self._rules_unserved_until = None


def _routing(release: ReleaseRef, spec: ReleaseSpec, route: Route, state: ClusterState) -> tuple[Obj, ...]:
    """The Services and routes that realise a Route (the revisions made before `slipway.dev/pod-of`
    keep their old selection: `legacy_revisions`)."""
    ports = ServicePorts(spec.service.port, spec.service.target_port or spec.service.port)
    split = TrafficSplit(
        route.stable,
        route.canary,
        route.canary_weight,
        legacy_revisions(state.deployments),
        route.routes,
        route.mirror_percent,
    )
    return tuple(router_for(spec.traffic_routing).plan(release, split, ports))


def _planned(
    release: ReleaseRef, spec: ReleaseSpec | None, decision: Decision, first_writes: bool
) -> list[Obj]:
    """The objects a decision's actions create, by name, to check before the first write. The Services
    and routes only before the Release's first writes (it owns no Deployment yet), when they are
    created: later they are read after the Deployments are written, so a pass opening a promotion gate
    writes its Deployment early (a route added later and taken is refused all the same, by the writer)."""
    planned: list[Obj] = []
    for action in decision.actions:
        match action:
            case EnsureRevision(revision=revision, version=version, replicas=replicas):
                planned.append(
                    revision_deployment(release, revision, version, replicas, _valid(spec).template)
                )
            case Route() if first_writes:
                planned += _routing(release, _valid(spec), action, ClusterState())
            case RunHook():
                planned.append(_hook_job(release, _valid(spec), action))
    return planned


def _hook_job(release: ReleaseRef, spec: ReleaseSpec, run: RunHook) -> Obj:
    """The Job the core asked for, from the hook the spec names (the core asks only for those)."""
    hook = next(hook for hook in hooks_of(spec, run.stage) if hook.name == run.hook)
    return hook_job(
        release,
        run.stage,
        run.hook,
        run.revision,
        run.version,
        run.attempt,
        hook.template,
        hook.backoff_limit,
        timeout_of(hook).total_seconds(),
    )


class AsShown(Exception):
    """A pass decided on what the watch showed would write: it is decided again on a read."""


def _refuse_as_shown() -> None:
    raise AsShown()


def _valid(spec: ReleaseSpec | None) -> ReleaseSpec:
    """The spec an action is carried out from. The core asks for none when the models rejected the
    spec (it refuses it), so None here is a broken contract, not a case to handle."""
    if spec is None:
        raise RuntimeError("the core asked for an action on a spec the models rejected")
    return spec
