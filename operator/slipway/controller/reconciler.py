"""One reconcile pass for one Release: observe, call the core, carry out what it decided.

The order of writes is what makes the operator safe to kill at any instant (invariant 5):
1. the cluster actions, in the core's order (after a rollback decision the first of them returns all
   traffic to stable, invariant 2); each is idempotent, so repeating them after a crash is harmless;
2. the status, guarded by the resourceVersion that was read, so a decision made on stale data fails
   and is made again instead of overwriting newer facts. Until it lands, a restarted operator decides
   again from the old status and the cluster as it now is, and reaches the same decision;
3. then Events and the acknowledgement of manual actions (removing their annotations), so that an
   action is never acknowledged before status records that it was carried out.
A pass over a Release whose cluster already matches writes nothing (invariant 4).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from slipway.alerts.alertmanager import AlertmanagerUnavailable
from slipway.api.annotations import MANUAL_ACTIONS, PREFIX
from slipway.api.durations import parse_duration
from slipway.api.models import Metric, ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.controller.queue import ReleaseKey
from slipway.controller.refusal import invalid_spec, newly_refused, refused_status
from slipway.core.actions import (
    AcknowledgeAction,
    Action,
    DeleteRevision,
    EmitEvent,
    EnsureRevision,
    RunAnalysis,
    ScaleRevision,
    SetWeights,
)
from slipway.core.machine import Decision, decide
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert, Observations, ObservedRevision
from slipway.core.obstacles import Obstacle
from slipway.kube.client import ApiError, KubeApi, releases_path
from slipway.kube.cluster import ClusterState, ClusterWriter, NotOwnedError, StaleViewError, observe
from slipway.manifests import Obj, ReleaseRef, ready_replicas, release_ref
from slipway.plugins import readiness
from slipway.providers.base import MeasurementContext
from slipway.routers.base import Router, ServicePorts, TrafficSplit
from slipway.routers.registry import router_for
from slipway.runtime.config import OperatorConfig
from slipway.runtime.logging import bind_release
from slipway.runtime.metrics import OperatorMetrics

Measure = Callable[[Metric, MeasurementContext], Awaitable[RawMeasurement]]
FindAlerts = Callable[[ReleaseRef, Mapping[str, str]], Awaitable[tuple[FiringAlert, ...]]]
"""The firing alerts that match; raises AlertmanagerUnavailable when that cannot be known."""

_log = structlog.get_logger("slipway.reconcile")

# A stale view is retried at once; the watch event of whatever changed will wake us anyway.
_RETRY_STALE_SECONDS = 0.2
_RETRY_NOT_OWNED_SECONDS = 30.0
ALERT_POLL_SECONDS = 10.0


def split_for(weights: Mapping[str, int], status: ReleaseStatus) -> TrafficSplit:
    """The core's weights as a split between the status's stable and canary revisions."""
    stable = status.stable.revision if status.stable else None
    canary = status.canary.revision if status.canary else None
    if canary is not None and canary == stable:
        canary = None
    if canary is not None and canary in weights:
        return TrafficSplit(stable=stable or canary, canary=canary, canary_weight=weights[canary])
    serving = max(weights, key=lambda revision: weights[revision])
    return TrafficSplit(stable=serving, canary=canary if canary != serving else None, canary_weight=0)


def standing_split(status: ReleaseStatus) -> TrafficSplit | None:
    """The split the status says is in place (None before there is a stable revision)."""
    if status.stable is None:
        return None
    canary = status.canary if status.canary and status.canary.revision != status.stable.revision else None
    return TrafficSplit(
        stable=status.stable.revision,
        canary=canary.revision if canary else None,
        canary_weight=canary.weight if canary else 0,
    )


def observations_of(
    body: Obj, state: ClusterState, alerts: tuple[FiringAlert, ...], alerts_unknown: str | None
) -> Observations:
    annotations: dict[str, str] = body["metadata"].get("annotations") or {}
    return Observations(
        generation=int(body["metadata"].get("generation") or 1),
        annotations={key: value for key, value in annotations.items() if key in MANUAL_ACTIONS},
        revisions={
            revision: ObservedRevision(
                replicas=int(deployment.get("spec", {}).get("replicas") or 0),
                ready_replicas=ready_replicas(deployment),
            )
            for revision, deployment in state.deployments.items()
        },
        alerts=alerts,
        alerts_unknown=alerts_unknown,
    )


def already_carried_out(body: Obj, status: ReleaseStatus | None) -> tuple[AcknowledgeAction, ...]:
    """Manual-action annotations set again to a value status records as carried out: the core rightly
    ignores them, and they are removed so that the Release does not keep showing a pending request."""
    done = {record.action: record.value for record in status.manual_actions} if status else {}
    annotations: dict[str, str] = body["metadata"].get("annotations") or {}
    return tuple(
        AcknowledgeAction(key.removeprefix(PREFIX), value)
        for key, value in annotations.items()
        if key in MANUAL_ACTIONS and done.get(key.removeprefix(PREFIX)) == value
    )


def _with_alert_polling(requeue: float | None, spec: ReleaseSpec, status: ReleaseStatus) -> float | None:
    """Alertmanager sends no watch events: while a rollout it guards is in flight, ask it again at
    least once per analysis interval (or every ALERT_POLL_SECONDS), even while the core waits."""
    in_flight = status.canary is not None and status.phase in ("Progressing", "Paused")
    if spec.rollback.alerts is None or not in_flight:
        return requeue
    poll = parse_duration(spec.analysis.interval) if spec.analysis else ALERT_POLL_SECONDS
    return poll if requeue is None else min(requeue, poll)


class Reconciler:
    def __init__(
        self,
        api: KubeApi,
        measure: Measure,
        find_alerts: FindAlerts,
        config: OperatorConfig,
        metrics: OperatorMetrics,
    ) -> None:
        self._api = api
        self._measure = measure
        self._find_alerts = find_alerts
        self._config = config
        self._metrics = metrics

    async def __call__(self, key: ReleaseKey) -> float | None:
        with bind_release(key.namespace, key.name):
            return await self._pass(key)

    async def _pass(self, key: ReleaseKey) -> float | None:
        started = time.monotonic()
        body = await asyncio.to_thread(self._api.get, releases_path(key.namespace, key.name))
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._metrics.forget_release(key.namespace, key.name)
            return None
        release = release_ref(body)
        old_status = ReleaseStatus.from_api(body.get("status"))
        try:
            spec = ReleaseSpec.model_validate(body.get("spec") or {})
        except ValidationError as invalid:
            return await self._refuse(release, body, old_status, invalid_spec(invalid), started)
        obstacles = readiness(spec, self._config)
        if obstacles:
            return await self._refuse(release, body, old_status, obstacles, started)
        router = router_for(spec.traffic_routing)
        state = await asyncio.to_thread(observe, self._api, release)
        alerts: tuple[FiringAlert, ...] = ()
        alerts_unknown = None
        if spec.rollback.alerts is not None:
            try:
                alerts = await self._find_alerts(release, spec.rollback.alerts.match_labels)
            except AlertmanagerUnavailable as unavailable:
                alerts_unknown = str(unavailable)
                _log.warning("alerts unknown", error=alerts_unknown)
        observations = observations_of(body, state, alerts, alerts_unknown)
        decision = decide(spec, old_status, observations, datetime.now(UTC))
        analyses = [action for action in decision.actions if isinstance(action, RunAnalysis)]
        if analyses:
            # Measurements go to a second decide at once: they are observations, not state to keep.
            measured = await self._take(spec, release, analyses, old_status)
            observations = replace(observations, measurements=measured)
            decision = decide(spec, old_status, observations, datetime.now(UTC))
        repeated = [ack for ack in already_carried_out(body, old_status) if ack not in decision.actions]
        decision = replace(decision, actions=(*decision.actions, *repeated))
        try:
            writes = await asyncio.to_thread(self._carry_out, router, release, spec, body, state, decision)
        except StaleViewError:
            return _RETRY_STALE_SECONDS
        except ApiError as error:
            if error.status != 409:
                raise
            # A write conflicted: what this pass decided may rest on old facts, so decide again.
            return _RETRY_STALE_SECONDS
        except NotOwnedError as conflict:
            _log.error("refusing to touch an object the Release does not own", error=str(conflict))
            return _RETRY_NOT_OWNED_SECONDS
        status = decision.status
        serving = status.canary or status.stable
        with bind_release(
            release.namespace,
            release.name,
            revision=serving.revision if serving else None,
            phase=status.phase,
            step=status.current_step,
        ):
            _log.info(status.message or status.phase, writes=writes)
        self._record(release, old_status, status, time.monotonic() - started)
        return _with_alert_polling(decision.requeue_after_seconds, spec, status)

    async def _refuse(
        self,
        release: ReleaseRef,
        body: Obj,
        old: ReleaseStatus | None,
        obstacles: tuple[Obstacle, ...],
        started: float,
    ) -> float | None:
        """Degraded with the obstacles as the message; nothing but the status and an Event is written."""
        generation = int(body["metadata"].get("generation") or 1)
        status = refused_status(old, generation, obstacles, datetime.now(UTC))
        _log.warning(status.message, reason=status.reason)

        def write() -> None:
            writer = ClusterWriter(self._api, release, ClusterState())
            observed = old.to_api() if old is not None else None
            written = writer.write_status(body["metadata"]["resourceVersion"], observed, status.to_api())
            if written and newly_refused(old, status):
                writer.emit_event("Warning", status.reason, status.message)

        try:
            await asyncio.to_thread(write)
        except StaleViewError:
            return _RETRY_STALE_SECONDS
        self._record(release, old, status, time.monotonic() - started)
        return None

    def _record(
        self, release: ReleaseRef, old: ReleaseStatus | None, new: ReleaseStatus, seconds: float
    ) -> None:
        metrics = self._metrics
        metrics.reconciled(seconds)
        metrics.set_release(
            release.namespace, release.name, new.phase, new.canary.weight if new.canary else 0
        )
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
            self._measure(metrics[name], self._measurement_context(release, spec, analysis, status))
            for analysis in analyses
            for name in analysis.metrics
            if name in metrics
        ]
        return tuple(await asyncio.gather(*pending))

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

    def _carry_out(
        self,
        router: Router,
        release: ReleaseRef,
        spec: ReleaseSpec,
        body: Obj,
        state: ClusterState,
        decision: Decision,
    ) -> int:
        writer = ClusterWriter(self._api, release, state)
        deferred: list[Action] = []
        ports = ServicePorts(spec.service.port, spec.service.target_port or spec.service.port)
        routed = False

        def route(split: TrafficSplit) -> None:
            for routing_object in router.plan(release, split, ports):
                writer.ensure_routing_object(routing_object)

        for action in decision.actions:
            match action:
                case EnsureRevision(revision=revision, version=version, replicas=replicas):
                    writer.ensure_revision(revision, version, replicas, spec.template)
                case ScaleRevision(revision=revision, replicas=replicas):
                    writer.scale_revision(revision, replicas)
                case SetWeights(weights=weights):
                    route(split_for(weights, decision.status))
                    routed = True
                case DeleteRevision(revision=revision):
                    writer.delete_revision(revision)
                case EmitEvent() | AcknowledgeAction():
                    deferred.append(action)
                case RunAnalysis():
                    pass  # already measured before this decision was made
        standing = None if routed else standing_split(decision.status)
        if standing is not None:
            # No new weights, but a new canary (a blue-green preview) must become reachable through
            # its Service, and routing objects someone changed are put back. Usually writes nothing.
            route(standing)
        # Compare in the models' own form: the API server adds the schema's defaults to what it stores.
        observed = ReleaseStatus.from_api(body.get("status"))
        writer.write_status(
            body["metadata"]["resourceVersion"],
            observed.to_api() if observed else None,
            decision.status.to_api(),
        )
        for action in deferred:
            if isinstance(action, EmitEvent):
                writer.emit_event(action.type, action.reason, action.message)
            elif isinstance(action, AcknowledgeAction):
                writer.acknowledge(action.annotation, action.value)
        return writer.writes
