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
from typing import Literal

import structlog
from pydantic import ValidationError

from slipway.alerts.alertmanager import AlertmanagerConfig, AlertmanagerUnavailable
from slipway.alerts.rules import prometheus_rule, rule_groups
from slipway.api.annotations import GATE_ACTIONS, MANUAL_ACTIONS
from slipway.api.durations import parse_duration
from slipway.api.models import Metric, ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.api.validation import problems_from
from slipway.controller import notifications
from slipway.controller.echoes import OwnWrites
from slipway.controller.notifications import Landed, Notifier
from slipway.controller.queue import ReleaseKey
from slipway.controller.upstreams import UpstreamIndex, observe_upstream
from slipway.core.actions import (
    AcknowledgeAction,
    Action,
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
from slipway.core.machine import Decision, decide
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import (
    FiringAlert,
    Observations,
    ObservedHookJob,
    ObservedRevision,
    Upstream,
)
from slipway.core.obstacles import INVALID_SPEC, Obstacle
from slipway.core.promotion import GATE_REASONS
from slipway.kube.client import ApiError, KubeApi, releases_path
from slipway.kube.cluster import ClusterState, ClusterWriter, NotOwnedError, StaleViewError, observe
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

Measure = Callable[[Metric, MeasurementContext], Awaitable[RawMeasurement]]
FindAlerts = Callable[[ReleaseRef, Mapping[str, str]], Awaitable[tuple[FiringAlert, ...]]]
"""The firing alerts that match; raises AlertmanagerUnavailable when that cannot be known."""

_log = structlog.get_logger("slipway.reconcile")

# A stale view is retried at once; the watch event of whatever changed will wake us anyway.
_RETRY_STALE_SECONDS = 0.2
_RETRY_NOT_OWNED_SECONDS = 30.0
# A cluster without the PrometheusRule CRD is asked again this often (it may be installed later).
_RULES_RECHECK_SECONDS = 300.0


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
    ) -> None:
        self._api = api
        self._upstreams = upstreams or UpstreamIndex()
        self._measure = measure
        self._find_alerts = find_alerts
        self._config = config
        self._metrics = metrics
        self._own_writes = own_writes or OwnWrites()
        # Until when (monotonic) alert rules are skipped because the cluster serves no PrometheusRule.
        self._rules_unserved_until: float | None = None
        self._notifier = notifier

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
        spec, obstacles = self._read_spec(body)
        upstream = None
        if spec is not None:
            upstream, out_of_reach = await asyncio.to_thread(
                observe_upstream, self._api, key, spec, self._config, self._upstreams.view_of
            )
            obstacles += out_of_reach
        # Hook Jobs are looked for only where there are (or were) hooks.
        hooks = (spec is not None and spec.hooks is not None) or bool(old_status and old_status.hooks)
        state = await asyncio.to_thread(observe, self._api, release, hooks)
        alerts, alerts_unknown = await self._alerts(release, spec)
        observations = observations_of(body, state, alerts, alerts_unknown, obstacles, upstream)
        decided, now = time.monotonic(), datetime.now(UTC)
        decision = decide(spec, old_status, observations, now)
        analyses = [action for action in decision.actions if isinstance(action, RunAnalysis)]
        if analyses:
            # Measurements go to a second decide at once: they are observations, not state to keep.
            measured = await self._take(_valid(spec), release, analyses, old_status)
            observations = replace(observations, measurements=measured)
            decided, now = time.monotonic(), datetime.now(UTC)
            decision = decide(spec, old_status, observations, now)
        landed = None
        if spec is not None and spec.notify and self._notifier is not None:
            landed = self._notifier.landed(release, spec, old_status, decision, observations.generation, now)
        try:
            writes = await asyncio.to_thread(self._carry_out, release, spec, body, state, decision, landed)
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
            _log.info(status.message or status.phase, reason=status.reason, writes=writes)
        self._record(release, old_status, status, time.monotonic() - started)
        if decision.requeue_after_seconds is None:
            return None
        # The core counted from the moment it decided; the writes since then are already part of the wait
        # (100 soaks ending at once were otherwise looked at again ~0.5 s late).
        return max(0.0, decision.requeue_after_seconds - (time.monotonic() - decided))

    def _read_spec(self, body: Obj) -> tuple[ReleaseSpec | None, tuple[Obstacle, ...]]:
        """The spec as the models read it (None when they reject it), and what stands in its way: the
        models' complaints, or what this operator cannot carry out with its config."""
        try:
            spec = ReleaseSpec.model_validate(body.get("spec") or {})
        except ValidationError as invalid:
            return None, invalid_spec(invalid)
        return spec, readiness(spec, self._config) + notifications.obstacles(spec, self._config.notifications)

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
        release: ReleaseRef,
        spec: ReleaseSpec | None,
        body: Obj,
        state: ClusterState,
        decision: Decision,
        landed: Landed | None = None,
    ) -> int:
        writer = ClusterWriter(self._api, release, state, self._own_writes.wrote)
        deferred: list[Action] = []
        routed: Route | None = None
        for action in decision.actions:
            match action:
                case EnsureRevision(revision=revision, version=version, replicas=replicas):
                    writer.ensure_revision(revision, version, replicas, _valid(spec).template)
                case ScaleRevision(revision=revision, replicas=replicas):
                    writer.scale_revision(revision, replicas)
                case Route(stable=stable, canary=canary, canary_weight=weight):
                    # SetWeights included. The writer compares: routing that matches is not written.
                    valid = _valid(spec)
                    ports = ServicePorts(valid.service.port, valid.service.target_port or valid.service.port)
                    split = TrafficSplit(stable, canary, weight, legacy_revisions(state.deployments))
                    for routing_object in router_for(valid.traffic_routing).plan(release, split, ports):
                        writer.ensure_routing_object(routing_object)
                    routed = action
                case DeleteRevision(revision=revision):
                    writer.delete_revision(revision)
                case RunHook():
                    writer.run_hook(_hook_job(release, _valid(spec), action))
                case DeleteHookJobs(revision=revision):
                    writer.delete_hook_jobs(revision)
                case EmitEvent() | AcknowledgeAction():
                    deferred.append(action)
                case RunAnalysis():
                    pass  # already measured before this decision was made
        if routed is not None:
            # Last of the cluster writes: the alerts follow the routing, and never delay a rollout's writes.
            self._ensure_alert_rule(writer, release, _valid(spec), decision.status, routed)
        # Compare in the models' own form: the API server adds the schema's defaults to what it stores.
        observed = ReleaseStatus.from_api(body.get("status"))
        status_version = writer.write_status(
            body["metadata"]["resourceVersion"],
            observed.to_api() if observed else None,
            decision.status.to_api(),
        )
        if status_version is not None and landed is not None:
            landed(status_version)  # the transition is recorded: its notifications are owed
        for action in deferred:
            if isinstance(action, EmitEvent):
                writer.emit_event(action.type, action.reason, action.message)
            elif isinstance(action, AcknowledgeAction):
                writer.acknowledge(action.annotation, action.value)
        return writer.writes

    def _ensure_alert_rule(
        self,
        writer: ClusterWriter,
        release: ReleaseRef,
        spec: ReleaseSpec,
        status: ReleaseStatus,
        route: Route,
    ) -> None:
        """Keep the Release's PrometheusRule watching the revisions the route sends traffic to. Alert
        rules never hold a rollout up: a cluster that serves no PrometheusRule gets none (said once,
        asked again every _RULES_RECHECK_SECONDS), and a refused write is logged and tried next pass."""
        if self._rules_unserved_until is not None and time.monotonic() < self._rules_unserved_until:
            return
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


def _valid(spec: ReleaseSpec | None) -> ReleaseSpec:
    """The spec an action is carried out from. The core asks for none when the models rejected the
    spec (it refuses it), so None here is a broken contract, not a case to handle."""
    if spec is None:
        raise RuntimeError("the core asked for an action on a spec the models rejected")
    return spec
