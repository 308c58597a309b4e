"""SPEC invariants 1-7, checked after every pass over random sequences of observations, manual
actions, spec changes (refused ones too), alerts and Alertmanager outages, clock jumps, lost status
writes, pods that come and go and deploy hooks whose Jobs succeed, fail or hang (hypothesis); and the
core's own promises: every pass restates the
routing its status records, a refusal writes nothing and ends with a fixed generation, a rollout guarded
by alerts is looked at once per analysis interval, and a manual action's repeated value is removed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from core_support import T0, metric, release_spec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from slipway.api.models import ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.core import hooks, manual
from slipway.core.actions import (
    WRITES,
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
    SetWeights,
)
from slipway.core.machine import Decision, decide
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert, Observations, ObservedHookJob, ObservedRevision
from slipway.core.obstacles import INVALID_SPEC, Obstacle
from slipway.core.simulation import SimulatedCluster
from slipway.core.strategies import Gate, plan_for

STRATEGIES: list[dict[str, Any]] = [
    {"canary": {"steps": [{"setWeight": 20}, {"analysis": {"successfulMeasurements": 2}}, {"pause": {}}]}},
    {"canary": {"steps": [{"pause": {"duration": "30s"}}, {"setWeight": 60}, {"analysis": {}}]}},
    {"blueGreen": {"prePromotionAnalysis": True, "postPromotionAnalysis": True, "scaleDownDelaySeconds": 20}},
    {"blueGreen": {"autoPromotion": False}},
    {"rolling": {"maxSurge": 1}},
    {"rolling": {"maxSurge": 0, "maxUnavailable": 1}},
    {
        "canary": {
            "steps": [
                {"setCanaryRoute": {"name": "testers", "match": {"headers": {"x-canary": {"exact": "1"}}}}},
                {"setMirror": {"percent": 30}},
                {"analysis": {}},
                {"setWeight": 40},
                {"removeCanaryRoute": {"name": "testers"}},
                {"pause": {}},
            ]
        }
    },
    # No gate: background analysis alone stands between the steps' end and the promotion.
    {"canary": {"steps": [{"setWeight": 30}, {"pause": {"duration": "1m"}}]}},
]
MANUAL = ["promote", "promote-full", "pause", "resume", "abort", "retry"]
REFUSALS = {
    "invalid": Obstacle(INVALID_SPEC, "spec.strategy.canary.steps[0].setWeight", "must be <= 100"),
    "unsupported": Obstacle("PrometheusNotConfigured", "spec.analysis.metrics[0].builtin", "no Prometheus"),
}
ANALYSIS_INTERVAL = 30  # seconds, release_spec's default
RESULTS = {
    "good": (0.0,),
    "bad": (0.5,),
    "nan": (float("nan"),),
    "inf": (float("inf"),),
    "empty": (),
}


HOOK_TEMPLATE = {"spec": {"containers": [{"name": "job", "image": "example/job"}]}}
HOOKS = {
    "preDeploy": [{"name": "migrate", "template": HOOK_TEMPLATE, "timeout": "1m"}],
    "postDeploy": [{"name": "smoke", "template": HOOK_TEMPLATE, "timeout": "1m"}],
    "postRollback": [{"name": "cleanup", "template": HOOK_TEMPLATE, "timeout": "1m"}],
}


def spec_for(
    version: str,
    strategy: int,
    replicas: int,
    guarded: bool = False,
    hooked: bool = False,
    history_limit: int = 10,
) -> ReleaseSpec:
    alerts = {"alerts": {"matchLabels": {"severity": "critical"}}} if guarded else {}
    spec = release_spec(
        version,
        replicas=replicas,
        strategy=STRATEGIES[strategy],
        metrics=[metric(failureLimit=1, inconclusiveLimit=2, consecutiveErrorLimit=1)],
        rollback={"progressDeadlineSeconds": 120, **alerts},
    )
    spec = spec.model_copy(update={"revision_history_limit": history_limit})
    if not hooked:
        return spec
    return ReleaseSpec.model_validate({**spec.model_dump(by_alias=True, exclude_none=True), "hooks": HOOKS})


def hook_runs(observations: Observations, revision: str, stage: str, outcome: str) -> set[str]:
    """Names of the hooks of `stage` with a Job for `revision` observed in `outcome`."""
    return {
        job.hook
        for job in observations.hook_jobs
        if (job.revision, job.stage, job.outcome) == (revision, stage, outcome)
    }


def routing_of(status: ReleaseStatus) -> tuple[str, str | None, int, list[str], int]:
    """The routing a status records: revisions, weight, match routes by name and mirror."""
    assert status.stable is not None
    canary = status.canary
    if canary is None:
        return status.stable.revision, None, 0, [], 0
    return status.stable.revision, canary.revision, canary.weight, status.canary_routes, status.mirror_percent


def restated(route: Route) -> tuple[str, str | None, int, list[str], int]:
    return (
        route.stable,
        route.canary,
        route.canary_weight,
        [r.name for r in route.routes],
        route.mirror_percent,
    )


def weights_of(status: ReleaseStatus | None) -> dict[str, int]:
    if status is None:
        return {}
    return {rev.revision: rev.weight for rev in (status.stable, status.canary) if rev is not None}


def names(status: ReleaseStatus) -> set[str]:
    """The revisions a status names (its stable, canary and retiring ones)."""
    named = {revision.revision for revision in (status.stable, status.canary) if revision is not None}
    return named | {retiring.revision for retiring in status.retiring}


def kept(status: ReleaseStatus | None) -> set[str]:
    """The replaced revisions a status keeps at zero replicas (status.oldRevisions)."""
    return {old.revision for old in status.old_revisions} if status is not None else set()


def after_writes(observations: Observations, actions: tuple[Action, ...]) -> Observations:
    """What the shell observes right after carrying out `actions`: Deployments as asked (no pod has
    come or gone yet), acknowledged annotations removed, measurements consumed, and the routing put
    back as the Route restates it."""
    revisions = dict(observations.revisions)
    annotations = dict(observations.annotations)
    jobs = list(observations.hook_jobs)
    for action in actions:
        if isinstance(action, RunHook):
            job = f"{action.revision}-{action.hook}-{action.attempt}"
            jobs.append(
                ObservedHookJob(action.stage, action.hook, action.revision, action.attempt, job, "Running")
            )
        elif isinstance(action, DeleteHookJobs):
            jobs = [job for job in jobs if job.revision != action.revision]
        if isinstance(action, EnsureRevision | ScaleRevision):
            before = revisions.get(action.revision)
            revisions[action.revision] = ObservedRevision(
                action.replicas, before.ready_replicas if before else 0
            )
        elif isinstance(action, DeleteRevision):
            revisions.pop(action.revision, None)
        elif isinstance(action, AcknowledgeAction) and annotations.get(action.annotation) == action.value:
            del annotations[action.annotation]
    return replace(
        observations,
        annotations=annotations,
        revisions=revisions,
        measurements=(),
        hook_jobs=tuple(jobs),
        routing_drift=(),
    )


class ReleaseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.spec: ReleaseSpec | None = spec_for("1", 0, 3)
        self.obstacles: tuple[Obstacle, ...] = ()
        self.alerts_unknown: str | None = None
        self.cluster = SimulatedCluster()
        self.status: ReleaseStatus | None = None
        self.previous: ReleaseStatus | None = None
        self.now = T0
        self.alerts: tuple[FiringAlert, ...] = ()
        self.awaiting_return_to_stable = False
        self.awaiting_before_last_pass = False
        self.last: Decision | None = None
        self.tokens = 0
        self.last_measurements: tuple[RawMeasurement, ...] = ()

    # -- the world moves ------------------------------------------------------------------------------

    @initialize()
    def first_release_is_healthy(self) -> None:
        self._pass(())
        self.cluster.settle()
        self._pass(())
        assert self.status is not None and self.status.phase == "Healthy"

    @rule()
    def pods_settle_then_reconcile(self) -> None:
        self.cluster.settle()
        self._pass(())

    @rule()
    def reconcile(self) -> None:
        self._pass(())

    @rule(result=st.sampled_from(["good", "good", "good", "bad", "empty"]))
    def time_passes_as_the_operator_asked(self, result: str) -> None:
        """The requeue comes due, the pods asked for are ready, the measurement asked for is taken: the
        rule that carries a rollout forward, so that deep states (late steps, rollbacks) are reached."""
        if self.last is not None and self.last.requeue_after_seconds is not None:
            self.now += timedelta(seconds=self.last.requeue_after_seconds)
        self.cluster.settle()
        self._pass(())
        assert self.last is not None
        for read in (action for action in self.last.actions if isinstance(action, RunAnalysis)):
            self._pass((RawMeasurement("error-rate", read.revision, self.now, values=RESULTS[result]),))

    @rule(result=st.sampled_from(["good", "good", "bad"]))
    def the_operator_runs_a_while(self, result: str) -> None:
        """Ten requeues come due in a row: what carries a rollout (and its hooks) to promotion."""
        for _ in range(10):
            self.time_passes_as_the_operator_asked(result)

    @rule(result=st.sampled_from([*RESULTS, "error"]), age=st.sampled_from([0, 0, 1, 30, 90]))
    def measure(self, result: str, age: int) -> None:
        """One measurement, maybe taken a while ago (a slow provider): `age` seconds before now."""
        analysed = self.status.analysis.revision if self.status and self.status.analysis else "unknown"
        at = self.now - timedelta(seconds=age)
        raw = (
            RawMeasurement("error-rate", analysed, at, error="refused")
            if result == "error"
            else RawMeasurement("error-rate", analysed, at, values=RESULTS[result])
        )
        self._pass((raw,))

    @rule(result=st.sampled_from([*RESULTS, "error"]))
    def measurements_in_a_row(self, result: str) -> None:
        """Several measurements of one kind at once, enough to break a limit or pass a gate."""
        analysed = self.status.analysis.revision if self.status and self.status.analysis else "unknown"
        self._pass(
            tuple(
                RawMeasurement(
                    "error-rate", analysed, self.now - timedelta(seconds=age), values=RESULTS[result]
                )
                if result != "error"
                else RawMeasurement(
                    "error-rate", analysed, self.now - timedelta(seconds=age), error="refused"
                )
                for age in (2, 1, 0)
            )
        )

    @rule()
    def shell_hands_the_same_measurements_again(self) -> None:
        """A shell may deliver a measurement twice (after a crash between measuring and writing)."""
        self._pass(self.last_measurements)

    @rule(data=st.data())
    def pods_change(self, data: st.DataObject) -> None:
        if not self.cluster.revisions:
            return
        name = data.draw(st.sampled_from(sorted(self.cluster.revisions)))
        observed = self.cluster.revisions[name]
        ready = data.draw(st.integers(0, observed.replicas))
        self.cluster.revisions[name] = ObservedRevision(observed.replicas, ready)

    @rule()
    def pods_settle(self) -> None:
        self.cluster.settle()

    @rule(drifts=st.sampled_from([False, False, True]))
    def routing_drifts(self, drifts: bool) -> None:
        """Someone (a webhook, a person) changes the routing objects, or stops."""
        self.cluster.routing_drift = ("HTTPRoute web",) if drifts else ()

    @rule(hook=st.sampled_from(["migrate", "smoke", "cleanup"]), fate=st.sampled_from(["ok", "fail", "hang"]))
    def hook_jobs_behave(self, hook: str, fate: str) -> None:
        """From now on this hook's Jobs succeed, fail or never finish (when the pods settle)."""
        for fates in (self.cluster.failing_hooks, self.cluster.hanging_hooks):
            fates.discard(hook)
        if fate != "ok":
            (self.cluster.failing_hooks if fate == "fail" else self.cluster.hanging_hooks).add(hook)

    @rule(seconds=st.sampled_from([1, 10, 31, 65, 121, 600]))
    def clock_jumps(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(firing=st.sampled_from([False, False, False, True]))
    def alert(self, firing: bool) -> None:
        self.alerts = (FiringAlert("HighErrorRate"),) if firing else ()

    @rule(reachable=st.sampled_from([True, True, False]))
    def alertmanager(self, reachable: bool) -> None:
        self.alerts_unknown = None if reachable else "Alertmanager at http://127.0.0.1:1: refused"

    @rule(action=st.sampled_from(MANUAL), repeat=st.booleans())
    def person_annotates(self, action: str, repeat: bool) -> None:
        if not repeat:
            self.tokens += 1
        self.cluster.annotate(action, f"t{self.tokens}")

    @rule(
        version=st.sampled_from(["1", "2", "3"]),
        strategy=st.integers(0, len(STRATEGIES) - 1),
        replicas=st.integers(1, 4),
        guarded=st.booleans(),
        hooked=st.booleans(),
        history_limit=st.sampled_from([10, 10, 1, 0]),
    )
    def spec_changes(
        self, version: str, strategy: int, replicas: int, guarded: bool, hooked: bool, history_limit: int = 10
    ) -> None:
        """A new generation the operator can carry out (which fixes a refused one)."""
        self.spec = spec_for(version, strategy, replicas, guarded, hooked, history_limit)
        self.obstacles = ()
        self.cluster.generation += 1

    @rule(kind=st.sampled_from(sorted(REFUSALS)), version=st.sampled_from(["1", "2", "3"]))
    def spec_is_refused(self, kind: str, version: str) -> None:
        """A new generation the models reject (no spec at all) or this operator cannot carry out."""
        self.spec = None if kind == "invalid" else spec_for(version, 0, 3)
        self.obstacles = (REFUSALS[kind],)
        self.cluster.generation += 1

    @rule()
    def operator_crashes_before_writing_status(self) -> None:
        """The writes of the last pass happened, its status did not (invariant 5)."""
        self.status, self.last = self.previous, None
        self.awaiting_return_to_stable = self.awaiting_before_last_pass

    # -- one pass and the invariants ------------------------------------------------------------------

    def _observe(self, measurements: tuple[RawMeasurement, ...] = ()) -> Observations:
        return replace(
            self.cluster.observe(measurements, self.alerts),
            alerts_unknown=self.alerts_unknown,
            obstacles=self.obstacles,
        )

    def _pass(self, measurements: tuple[RawMeasurement, ...]) -> None:
        self.last_measurements = measurements or self.last_measurements
        self.awaiting_before_last_pass = self.awaiting_return_to_stable
        observations = self._observe(measurements)
        spec_before = self.spec.model_dump() if self.spec is not None else None
        status_before = self.status.to_api() if self.status is not None else None
        decision = decide(self.spec, self.status, observations, self.now)
        # 7: nothing, manual actions included, edits spec
        assert (self.spec.model_dump() if self.spec is not None else None) == spec_before
        assert (self.status.to_api() if self.status is not None else None) == status_before  # pure
        if self.obstacles:
            self._check_refusal(decision, observations)
        else:
            self._check_traffic(decision, observations)
            self._check_rollback_order(decision)
            self._check_scaling(decision)
            self._check_old_revisions(decision, observations)
            self._check_gates(decision)
            self._check_promotion_proven(decision)
            self._check_routing_restated(decision)
            self._check_refusal_ends(decision)
            self._check_alert_polling(decision)
            self._check_repeats_acknowledged(decision, observations)
            self._check_hooks(decision, observations)
        if self.status is not None and decision.status.phase != self.status.phase:
            assert any(isinstance(a, EmitEvent) for a in decision.actions), "a transition without an Event"
        self.cluster.apply(decision.actions)
        self._check_idempotent(decision, observations)
        self.previous, self.status, self.last = self.status, decision.status, decision

    def _check_refusal(self, decision: Decision, observations: Observations) -> None:
        """A refused generation: Degraded and Stalled, nothing written to the cluster, no requeue, and a
        Warning Event only when the refusal is news."""
        status = decision.status
        assert (status.phase, status.reason) == ("Degraded", self.obstacles[0].reason)
        assert status.observed_generation == observations.generation
        assert ("Stalled", "True") in {(c.type, c.status) for c in status.conditions}
        assert decision.requeue_after_seconds is None
        assert all(isinstance(a, EmitEvent) and a.type == "Warning" for a in decision.actions)
        before = self.status
        told = before is not None and (
            before.phase,
            before.reason,
            before.message,
            before.observed_generation,
        ) == (status.phase, status.reason, status.message, status.observed_generation)
        assert len(decision.actions) == (0 if told else 1)

    def _check_routing_restated(self, decision: Decision) -> None:
        """Every pass with a stable revision ends its cluster writes with the routing its status records
        (the shell writes it only where the routing objects differ)."""
        status = decision.status
        cluster = [
            a
            for a in decision.actions
            if isinstance(a, (*WRITES, Route)) and not isinstance(a, AcknowledgeAction)
        ]
        if status.stable is not None:
            last = cluster[-1]
            assert isinstance(last, Route) and restated(last) == routing_of(status), (
                f"the pass ended with {last}"
            )
        if status.phase == "Healthy":
            assert not status.canary_routes and not status.mirror_percent, "match routes outlived the rollout"

    def _check_refusal_ends(self, decision: Decision) -> None:
        """A new generation the operator can carry out leaves a refusal (and its Degraded)."""
        before, status = self.status, decision.status
        if before is None or not before.message.startswith("cannot carry out"):
            return
        if before.observed_generation != self.cluster.generation:
            assert status.phase != "Degraded" or status.reason != before.reason, (
                f"a fixed generation stayed refused: {status.message}"
            )

    def _check_alert_polling(self, decision: Decision) -> None:
        """Alertmanager sends no events: a rollout it guards is looked at once per analysis interval."""
        status = decision.status
        in_flight = status.canary is not None and status.phase in ("Progressing", "Paused")
        if self.spec is not None and self.spec.rollback.alerts is not None and in_flight:
            assert decision.requeue_after_seconds is not None
            assert decision.requeue_after_seconds <= ANALYSIS_INTERVAL

    def _check_repeats_acknowledged(self, decision: Decision, observations: Observations) -> None:
        """An annotation set again to a value status records as carried out is removed again."""
        done = {(r.action, r.value) for r in self.status.manual_actions} if self.status else set()
        acks = {(a.action, a.value) for a in decision.actions if isinstance(a, AcknowledgeAction)}
        for key, value in observations.annotations.items():
            if (key.removeprefix("slipway.dev/"), value) in done:
                assert (key.removeprefix("slipway.dev/"), value) in acks, f"{key}={value} left behind"

    def _check_traffic(self, decision: Decision, observations: Observations) -> None:
        """1: weights sum to 100 and never reach a revision without a ready pod; nor do match routes
        and mirrors. And no step is moved past while the routing drifts, unless a person acts."""
        for action in decision.actions:
            if isinstance(action, SetWeights):
                assert sum(action.weights.values()) == 100
                for revision, weight in action.weights.items():
                    observed = observations.revisions.get(revision)
                    assert weight == 0 or (observed is not None and observed.ready_replicas > 0)
                if action.routes or action.mirror_percent:
                    assert action.canary is not None
                    observed = observations.revisions.get(action.canary)
                    assert observed is not None and observed.ready_replicas > 0, f"{action} to no ready pod"
        before, after = self.status, decision.status
        if (
            observations.routing_drift
            and not observations.annotations
            and before is not None
            and before.canary is not None
            and after.canary is not None
            and before.canary.revision == after.canary.revision
            and before.phase == after.phase == "Progressing"
            and before.observed_generation == after.observed_generation
        ):
            assert after.current_step == before.current_step, "moved on while the routing drifts"

    def _check_rollback_order(self, decision: Decision) -> None:
        """2: after a rollback decision, the next workload write sends all traffic to stable."""
        status = decision.status
        was_rolling_back = self.status is not None and self.status.phase == "RollingBack"
        if status.phase == "RollingBack" and not was_rolling_back and self.status and self.status.canary:
            self.awaiting_return_to_stable = self.status.canary.weight > 0
        workload = [
            a for a in decision.actions if isinstance(a, WRITES) and not isinstance(a, AcknowledgeAction)
        ]
        stable = status.stable.revision if status.stable else None
        for write in workload if self.awaiting_return_to_stable else []:
            if isinstance(write, SetWeights):
                assert stable is not None and write.weights[stable] == 100
                self.awaiting_return_to_stable = False
                break
            # Only bringing back stable pods that a rolling update removed may come before it.
            assert isinstance(write, EnsureRevision | ScaleRevision), (
                f"first write after rollback was {write}"
            )
            assert write.revision == stable and write.replicas > 0, f"first write after rollback was {write}"

    def _check_scaling(self, decision: Decision) -> None:
        """3: nothing with traffic is scaled to 0 or deleted; stable keeps its pods until promotion."""
        weights = weights_of(self.status)
        status = decision.status
        in_flight = status.canary is not None and status.phase in ("Progressing", "Paused")
        assert self.spec is not None
        rolling = self.spec.strategy.rolling is not None
        for action in decision.actions:
            if isinstance(action, SetWeights):
                weights = dict(action.weights)
            elif isinstance(action, DeleteRevision) or (
                isinstance(action, EnsureRevision | ScaleRevision) and action.replicas == 0
            ):
                assert weights.get(action.revision, 0) == 0, f"{action} while it has traffic"
            if (
                isinstance(action, EnsureRevision | ScaleRevision)
                and in_flight
                and not rolling
                and status.stable is not None
                and action.revision == status.stable.revision
            ):
                assert action.replicas >= self.spec.replicas

    def _check_old_revisions(self, decision: Decision, observations: Observations) -> None:
        """Replaced revisions: a Deployment is deleted only once a written status names it neither as
        serving nor as kept; at most spec.revisionHistoryLimit are kept, none serving, none routed to;
        after the writes, every revision neither status names as serving is kept at zero replicas or
        on its way out."""
        assert self.spec is not None
        before, after = self.status, decision.status
        named_before = (names(before) | kept(before)) if before is not None else set()
        for action in decision.actions:
            if isinstance(action, DeleteRevision):
                assert action.revision not in named_before, f"{action} named by the last status"
            if isinstance(action, Route):
                routed = {revision for revision, weight in action.weights.items() if weight > 0}
                assert not routed & kept(after), f"{action} routes to a kept revision"
        assert len(after.old_revisions) <= self.spec.revision_history_limit
        assert not kept(after) & names(after)
        serving = names(after) | (names(before) if before is not None else set())
        for revision, observed in after_writes(observations, decision.actions).revisions.items():
            if revision in serving:
                continue
            assert revision in kept(after) | kept(before), f"{revision} neither serving nor kept"
            if revision in kept(after):
                assert observed.replicas == 0, f"kept revision {revision} at {observed.replicas}"

    def _check_gates(self, decision: Decision) -> None:
        """5: a gate is never passed without its measurements, unless a person promoted past it.

        Every gate the pass moved beyond counts: the one in progress when the pass began needs its
        count of Successful results in a row, all taken since it began; one entered during the pass
        cannot have any yet, so moving beyond it in the same pass is always a skipped gate."""
        before, after = self.status, decision.status
        if before is None or before.canary is None or after.canary is None or after.analysis is None:
            return
        same_attempt = before.canary.revision == after.canary.revision
        if not same_attempt or before.observed_generation != self.cluster.generation:
            return  # a new spec: the steps may mean something else now
        acted = {(r.action, r.value) for r in after.manual_actions} - {
            (r.action, r.value) for r in before.manual_actions
        }
        people = {action for action, _ in acted}
        if "promote-full" in people:
            return
        assert self.spec is not None
        steps = plan_for(self.spec).steps
        begun = before.current_step or 0
        for index in range(begun, min(after.current_step or 0, len(steps))):
            gate = steps[index]
            if not isinstance(gate, Gate) or (index == begun and people & {"promote", "resume"}):
                continue
            assert index == begun, f"gate {index} entered and passed in one pass"
            recent = [m for m in after.analysis.measurements if m.metric == "error-rate"][-gate.successes :]
            assert [m.result for m in recent] == ["Successful"] * gate.successes, (
                f"gate {index} passed on {recent}"
            )
            assert len({m.at for m in recent}) == gate.successes, f"gate {index} counted one result twice"
            assert before.step_started_at is not None
            assert all(m.at >= before.step_started_at for m in recent), "the gate counted older measurements"

    def _check_promotion_proven(self, decision: Decision) -> None:
        """5: a canary is promoted only on a Successful last measurement of its attempt (steps may end
        on errors or no data within their limits), unless a person promoted it fully in that attempt,
        nothing could measure it (no traffic, match route or mirror), or its postDeploy hooks began
        (the promotion began then, and their failure must still roll back)."""
        before, after = self.status, decision.status
        if before is None or before.canary is None or after.canary is not None or not after.history:
            return
        promoted = after.history[-1]
        if (promoted.outcome, promoted.revision) != ("Promoted", before.canary.revision):
            return
        if before.analysis is None or self.spec is None or self.spec.analysis is None:
            return
        since = before.attempt_started_at
        assert since is not None
        unmeasured = before.canary.weight == 0 and not before.mirror_percent and not before.canary_routes
        hooked = hooks.stage_began(before, "postDeploy", before.canary.revision, since)
        overruled = any(
            record.action == "promote-full"
            and record.at >= since
            and not manual.changed_nothing(record.result)
            for record in after.manual_actions
        )
        if unmeasured or hooked or overruled:
            return
        assert after.analysis is not None
        taken = [m for m in after.analysis.measurements if m.revision == before.canary.revision]
        assert taken and taken[-1].result == "Successful", f"promoted on {taken[-1:]}"

    def _check_hooks(self, decision: Decision, observations: Observations) -> None:
        """Deploy hooks: a revision's Deployment is created only once its preDeploy hooks succeeded; a
        canary is promoted only once its postDeploy hooks succeeded; a Job seen is never asked for
        again, and a preDeploy or postDeploy hook that succeeded for a revision never runs again."""
        assert self.spec is not None
        wanted = {stage: {hook.name for hook in hooks} for stage, hooks in self._hooks().items()}
        # Succeeded earlier, as status recorded it: a revision's Jobs go with it when it is replaced, and a
        # revision the spec asks for again (going back to a version) does not run its hooks again.
        recorded = {
            (entry.stage, entry.revision, entry.name)
            for entry in (self.status.hooks if self.status else [])
            if entry.result == "Succeeded"
        }
        for action in decision.actions:
            if isinstance(action, EnsureRevision) and action.revision not in observations.revisions:
                done = hook_runs(observations, action.revision, "preDeploy", "Succeeded") | {
                    name
                    for stage, revision, name in recorded
                    if (stage, revision) == ("preDeploy", action.revision)
                }
                assert wanted["preDeploy"] <= done, f"{action} before its preDeploy hooks succeeded"
            if isinstance(action, RunHook):
                key = (action.stage, action.hook, action.revision, action.attempt)
                seen = {(job.stage, job.hook, job.revision, job.attempt) for job in observations.hook_jobs}
                assert key not in seen, f"{action} although its Job exists"
                if action.stage != "postRollback":
                    done = hook_runs(observations, action.revision, action.stage, "Succeeded")
                    assert action.hook not in done, f"{action} although it succeeded"
        before, after = self.status, decision.status
        canary = before.canary if before is not None else None
        if canary is not None and after.stable is not None and after.stable.revision == canary.revision:
            done = hook_runs(observations, canary.revision, "postDeploy", "Succeeded") | {
                name
                for stage, revision, name in recorded
                if (stage, revision) == ("postDeploy", canary.revision)
            }
            assert wanted["postDeploy"] <= done, "promoted before its postDeploy hooks succeeded"

    def _hooks(self) -> dict[str, list[Any]]:
        hooks = self.spec.hooks if self.spec is not None else None
        return {
            "preDeploy": hooks.pre_deploy if hooks else [],
            "postDeploy": hooks.post_deploy if hooks else [],
        }

    def _check_idempotent(self, decision: Decision, observations: Observations) -> None:
        """4: a second pass over the same observations (after the first pass's writes) writes nothing,
        but for deleting what the first pass stopped naming: that waits for a status without it (5),
        and then a third pass writes nothing. A pass that found the routing changed put it back: the
        pass that reads it back in place is the one that moves on, so it is not held to that; nor is
        the pass after a route step's write, read back at once."""
        if observations.routing_drift:
            return
        routing = ("canary_routes", "mirror_percent")
        rerouted = self.status is not None and any(
            getattr(self.status, name) != getattr(decision.status, name) for name in routing
        )
        if rerouted and decision.requeue_after_seconds == 0:
            return
        observed = after_writes(observations, decision.actions)
        again = decide(self.spec, decision.status, observed, self.now)
        before, after = self.status, decision.status
        unnamed = kept(before) - kept(after) - names(after)
        if before is not None:
            unnamed |= names(before) - names(after)

        def deferred(action: Action) -> bool:
            if isinstance(action, ScaleRevision):
                return action.replicas == 0 and action.revision in unnamed
            return isinstance(action, DeleteRevision | DeleteHookJobs) and action.revision in unnamed

        if any(deferred(a) for a in again.actions):
            assert decision.requeue_after_seconds == 0, "a deletion left waiting for a pass"
            observed = after_writes(observed, again.actions)
            again = decide(self.spec, again.status, observed, self.now)
        rewrites: list[Action] = [a for a in again.actions if isinstance(a, (*WRITES, EmitEvent))]
        assert rewrites == [], f"second pass wrote {rewrites}"
        first, second = ([a for a in d.actions if isinstance(a, Route)][-1:] for d in (decision, again))
        assert second == first, "the second pass restates other routing"
        # Only readiness may differ: scaling down removed ready pods the first pass had counted.
        assert (again.status.phase, again.status.current_step) == (
            decision.status.phase,
            decision.status.current_step,
        )
        assert weights_of(again.status) == weights_of(decision.status)

    @invariant()
    def status_is_valid_and_nothing_is_stuck(self) -> None:
        """6 and the status schema: every non-terminal phase has a deadline or a manual exit."""
        if self.last is None or self.status is None:
            return
        ReleaseStatus.model_validate(self.status.to_api())
        phase = self.status.phase
        if phase in ("Progressing", "RollingBack"):
            assert self.last.requeue_after_seconds is not None
            assert self.last.requeue_after_seconds <= 120 + 600  # deadline plus the longest planned wait
        if phase == "Paused" and self.status.observed_generation == self.cluster.generation:
            abort = replace(self._observe(), annotations={"slipway.dev/abort": "exit-check"})
            exited = decide(self.spec, self.status, abort, self.now)
            assert exited.status.phase in ("RollingBack", "Degraded")


def replayed(steps: Callable[[ReleaseMachine], None]) -> None:
    """Play `steps` on a machine whose first release is Healthy, checking every invariant as it goes."""
    machine = ReleaseMachine()
    machine.first_release_is_healthy()
    steps(machine)
    machine.status_is_valid_and_nothing_is_stuck()


def stable_pods_go(machine: ReleaseMachine) -> None:
    """pods_change drawing the stable revision and 0 ready pods."""
    assert machine.status is not None and machine.status.stable is not None
    revision = machine.status.stable.revision
    machine.cluster.revisions[revision] = ObservedRevision(machine.cluster.revisions[revision].replicas, 0)


def test_a_rollback_cut_short_by_a_refusal_is_finished_before_the_version_starts_again() -> None:
    """Found by the machine (invariant 2): a rollback that could not return traffic (stable had no ready
    pod) was refused, the next generation (reverted to stable) lost its status write, and the one after
    asked for the rolled-back version again: its first write scaled the canary instead of returning
    all traffic to stable."""

    def steps(machine: ReleaseMachine) -> None:
        machine.spec_changes(version="2", strategy=0, replicas=1, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()
        machine.time_passes_as_the_operator_asked(result="good")
        stable_pods_go(machine)
        machine.measurements_in_a_row(result="bad")
        machine.spec_is_refused(kind="invalid", version="1")
        machine.pods_settle_then_reconcile()
        machine.spec_changes(version="1", strategy=0, replicas=1, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()
        machine.operator_crashes_before_writing_status()
        machine.spec_changes(version="2", strategy=0, replicas=1, guarded=False, hooked=False)
        machine.measurements_in_a_row(result="good")

    replayed(steps)


def test_a_restart_of_the_canary_in_flight_never_scales_it_to_zero_with_traffic() -> None:
    """Found by the machine (invariant 3): a canary at 20% refused, then the same revision under a
    rolling update whose first step runs no new pod: the canary was scaled to 0 still holding 20%."""

    def steps(machine: ReleaseMachine) -> None:
        machine.spec_changes(version="2", strategy=0, replicas=1, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()
        machine.pods_settle_then_reconcile()
        machine.spec_is_refused(kind="invalid", version="1")
        machine.pods_settle_then_reconcile()
        machine.spec_changes(version="2", strategy=5, replicas=2, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()

    replayed(steps)


def test_a_new_strategy_for_the_canary_in_flight_takes_its_traffic_before_its_pods() -> None:
    """Found by the machine (invariant 3): a canary at 20%, then the same revision under a rolling
    update whose first step runs no new pod (a new spec, nothing refused): the canary was scaled to 0
    still holding 20%."""

    def steps(machine: ReleaseMachine) -> None:
        machine.routing_drifts(drifts=True)
        machine.spec_changes(version="2", strategy=0, replicas=1, guarded=False, hooked=False)
        machine.the_operator_runs_a_while(result="good")
        machine.spec_changes(version="2", strategy=5, replicas=2, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()

    replayed(steps)


def test_a_gate_a_promote_enters_never_counts_the_measurement_handed_in_that_pass() -> None:
    """Found by the machine (a gate entered and passed in one pass): a promote past a rolling batch
    entered its gate in the pass that also handed a good measurement taken that instant."""

    def steps(machine: ReleaseMachine) -> None:
        machine.spec_changes(version="2", strategy=4, replicas=2, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()
        machine.pods_settle()
        machine.person_annotates(action="promote", repeat=False)
        machine.measure(result="good", age=0)

    replayed(steps)


def test_steps_ending_on_no_data_never_promote() -> None:
    """The steps of a plan without a gate end on an inconclusive measurement: the promotion waits."""

    def steps(machine: ReleaseMachine) -> None:
        last = len(STRATEGIES) - 1  # no gate
        machine.spec_changes(version="2", strategy=last, replicas=1, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()
        for _ in range(4):
            machine.time_passes_as_the_operator_asked(result="empty")
        assert machine.status is not None and machine.status.stable is not None
        assert machine.status.stable.version == "1", machine.status.message

    replayed(steps)


def test_a_rollback_the_deadline_ends_while_the_spec_reverts_stays_degraded() -> None:
    """Found by the machine (invariant 4): reverted to stable while an abort's rollback could not
    return traffic, the deadline ended the rollback (Degraded) in that pass, and the next pass over the
    same cluster turned it into Progressing ReturningToStable, with a new Event."""

    def steps(machine: ReleaseMachine) -> None:
        machine.spec_changes(version="2", strategy=0, replicas=1, guarded=False, hooked=False)
        machine.pods_settle_then_reconcile()
        machine.spec_changes(version="2", strategy=4, replicas=1, guarded=False, hooked=False)
        machine.pods_settle()
        machine.measurements_in_a_row(result="good")
        machine.person_annotates(action="abort", repeat=False)
        machine.time_passes_as_the_operator_asked(result="good")
        machine.clock_jumps(seconds=121)
        machine.spec_changes(version="1", strategy=0, replicas=1, guarded=False, hooked=False)
        machine.reconcile()

    replayed(steps)


ReleaseMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestReleaseInvariants = ReleaseMachine.TestCase
