"""The Release state machine: `decide(spec, status, observations, now) -> Decision`.

One call is one reconcile pass. It reads the spec, the last status, what the shell observed and the
time, and returns the next status and the actions that move the cluster toward it. It does no I/O,
reads no clock and draws no random numbers, so the same inputs always give the same answer.

The shell's contract:
- put what stands in the way of the spec into `observations.obstacles`, and pass spec None when the
  models reject it: the core refuses that generation (`slipway.core.refusal`);
- carry out `actions` in order (workload and traffic writes come first, ending with the routing the
  status records, then metric requests, then Events, then the acknowledgement of manual actions), then
  write `status`;
- every action states an end, not a change, so repeating a list after a crash is safe;
- call again after `requeue_after_seconds` (None: only when something changes), whenever the Release,
  one of its Deployments (its status included: pods becoming ready) or one of its hook Jobs changes,
  and right after a RunAnalysis with the measurements it took. While it waits for those, the core
  asks for no poll: `requeue_after_seconds` is then only a safety net (WATCH_SAFETY_SECONDS).

Phases: Healthy, Progressing, Paused, RollingBack, Degraded (see docs/state-machine.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from slipway.api.annotations import ABORT, PAUSE, PREFIX, PROMOTE, PROMOTE_FULL, RESUME, RETRY
from slipway.api.models import CanaryRoute, Hook, ReleaseSpec
from slipway.api.status import (
    MAX_HISTORY,
    NO_EFFECT,
    HistoryEntry,
    HookStage,
    ManualActionRecord,
    OldRevision,
    Outcome,
    Phase,
    ReleaseStatus,
    RetiringRevision,
    RevisionStatus,
    RollbackRecord,
)
from slipway.core import analysis, hooks, manual, promotion, refusal
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
    SetWeights,
)
from slipway.core.conditions import conditions
from slipway.core.hooks import HOOK_FAILED, StageProgress
from slipway.core.observations import Observations
from slipway.core.revision import revision_hash
from slipway.core.strategies import Gate, Hold, Plan, PlanStep, Reroute, Shift, plan_for

WATCH_SAFETY_SECONDS: Final = 30.0
"""How soon to look again while waiting for what the shell's watches report (pods ready or gone: the
Deployment's status; a Deployment deleted; a hook Job finished), which wake the Release anyway: only a
safety net for a lost watch event. A poll every few seconds instead cost ~235 requests/s with 300
canaries waiting for pods (docs/operator.md, "Figures: many Releases moving at once")."""

ROUTING_READ_BACK: Final = timedelta(seconds=5)
"""How soon to read routing objects back when they did not hold what the status records: routes
(HTTPRoute, VirtualService, Ingress) are not watched, so no event says when they do."""

ALERT_POLL: Final = timedelta(seconds=10)
"""How often a rollout guarded by alerts asks Alertmanager again when the Release has no analysis
interval: Alertmanager sends no events, so only a pass can notice an alert."""

MANUAL_ACTION_ORDER: Final = (ABORT, RETRY, PAUSE, RESUME, PROMOTE_FULL, PROMOTE)
"""When several annotations arrive at once, the safest is carried out first."""

ANALYSIS_PAUSES: Final = frozenset({"AnalysisFailed", "ProviderErrors", "AnalysisInconclusive"})
WAITING_FOR_PROMOTE: Final = "WaitingForPromote"
ALERTS_UNKNOWN: Final = "AlertsUnknown"
RETURNING: Final = "ReturningToStable"
PLAN_REASONS: Final = frozenset({"RolloutStarted", "Step", "Promoting"})
"""The reasons of the Event that tells how far the plan moved in a transition (`_Pass._plan_event`)."""

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Decision:
    """The result of one pass: the status to write, the actions to carry out first, when to call again."""

    status: ReleaseStatus
    actions: tuple[Action, ...]
    requeue_after_seconds: float | None
    status_may_wait: bool = False
    """The status (with its Events) may be written by the next pass instead, together with what that
    one decides: losing it to a crash loses only what a pass redoes from the last written status and
    the cluster (see `_Pass._status_may_wait`)."""


def decide(
    spec: ReleaseSpec | None, status: ReleaseStatus | None, observations: Observations, now: datetime
) -> Decision:
    """One reconcile pass of the Release whose spec is `spec` and last written status is `status`.

    `spec` is None when the models rejected it; `observations.obstacles` then says why. A generation
    with any obstacle is refused: Degraded, no cluster action, a Warning Event when that is news.
    `status` is None before the operator has written one. `now` must be timezone-aware (UTC).
    """
    obstacles = observations.obstacles
    if spec is not None:
        obstacles += promotion.obstacles(spec, observations.upstream)
    if spec is None or obstacles:
        refused, events = refusal.refuse(status, observations.generation, obstacles, now)
        promotion.record_health(refused, now)  # Degraded: its stable version no longer counts as Healthy
        return Decision(status=refused, actions=events, requeue_after_seconds=None)
    return _Pass(spec, status, observations, now).run()


class _Pass:
    """The working state of one `decide` call (a private copy of status; nothing outside is touched)."""

    def __init__(
        self, spec: ReleaseSpec, status: ReleaseStatus | None, obs: Observations, now: datetime
    ) -> None:
        self.spec = spec
        self.obs = obs
        self.now = now
        # A private copy to change freely; a dump and re-validation is several times faster than deepcopy.
        self.status = (
            ReleaseStatus.model_validate(status.model_dump()) if status is not None else ReleaseStatus()
        )
        self.before = status
        self.phase_before: Phase | None = status.phase if status is not None else None
        self.plan: Plan = plan_for(spec)
        self.desired = revision_hash(spec.template, spec.version)
        self.writes: list[Action] = []
        self.reads: list[Action] = []
        self.events: list[Action] = []
        self.acks: list[Action] = []
        self.wakeups: list[datetime] = []
        self.settled = True  # False while a canary's traffic must go back to stable, which cannot take it yet
        # Replicas asked for in this pass, by revision: the observations predate them.
        self.asked: dict[str, int] = {}
        self.hook_wait = ""  # the hook this pass waits for, told in the message
        self.promotion_wait = ""  # the measurement the promotion waits for (_unproven), told in the message
        # How far the plan moved in this pass, told by one Event at its end (_plan_event).
        self.started = ""  # an attempt began: what it rolls out
        self.entered: list[tuple[str, str]] = []  # (reason, message) of each step, or the promotion, entered
        self.promoted = False

    # -- the pass --------------------------------------------------------------------------------------------

    def run(self) -> Decision:
        s = self.status
        new_generation = self.obs.generation != s.observed_generation
        self._gate_actions()
        self._observe_readiness()
        if s.stable is None:
            if self._may_start():
                self._start_first_release()
        else:
            self._follow_spec(new_generation)
        s.observed_generation = self.obs.generation
        self._observe_readiness()  # again, for the revisions the spec just brought in
        self._acknowledge_repeats()
        if self.settled:
            self._manual_actions()
        if self.settled and self._in_flight():  # a retry may have to wait for stable first
            self._check_triggers()
        self._check_deadline()
        if self.settled:
            self._advance()
        self._retire()
        self._collect_garbage()
        self._report_drift()
        return self._finish()

    # -- small helpers ---------------------------------------------------------------------------------------

    def _event(self, kind: EventType, reason: str, message: str) -> None:
        self.events.append(EmitEvent(kind, reason, message))

    def _wake(self, at: datetime) -> None:
        self.wakeups.append(at)

    def _await_watched(self) -> None:
        """Wait for what a watch reports (see WATCH_SAFETY_SECONDS); due times are `_wake`s instead."""
        self._wake(self.now + timedelta(seconds=WATCH_SAFETY_SECONDS))

    def _set_phase(self, phase: Phase, reason: str, message: str) -> None:
        s = self.status
        s.phase, s.reason, s.message = phase, reason, message
        s.paused_at = self.now if phase == "Paused" else None

    def _in_flight(self) -> bool:
        return manual.in_flight(self.status)

    def _steps(self) -> tuple[PlanStep, ...]:
        return self.plan.steps

    def _current(self) -> PlanStep | None:
        index = self.status.current_step
        steps = self._steps()
        return steps[index] if index is not None and index < len(steps) else None

    def _step_label(self) -> str:
        index = self.status.current_step or 0
        steps = len(self._steps())
        return f"step {index + 1}/{steps}" if index < steps else "promotion"

    # -- observing -------------------------------------------------------------------------------------------

    def _observe_readiness(self) -> None:
        for revision in (self.status.stable, self.status.canary):
            if revision is None:
                continue
            observed = self.obs.revisions.get(revision.revision)
            ready = observed.ready_replicas if observed is not None else 0
            if ready > revision.ready_replicas:
                self.status.progress_at = self.now
            revision.ready_replicas = ready

    # -- following the spec ----------------------------------------------------------------------------------

    def _start_first_release(self) -> None:
        s = self.status
        s.stable = RevisionStatus(revision=self.desired, version=self.spec.version)
        s.attempt_started_at = s.progress_at = self.now
        self._set_phase("Progressing", "FirstRelease", f"first release of version {self.spec.version}")
        self._event(
            "Normal", "FirstRelease", f"deploying version {self.spec.version} (revision {self.desired})"
        )

    def _follow_spec(self, new_generation: bool) -> None:
        """Start, restart or abandon a rollout when the spec asks for another revision.

        A canary's traffic goes back to stable first, whether the spec no longer wants it or a new
        attempt restarts it; while stable cannot take it yet, `settled` is False and nothing else
        happens until it can (the progress deadline still runs)."""
        s = self.status
        assert s.stable is not None
        if s.canary is None and s.stable.weight == 0 and s.stable.revision != self.desired:
            # The first release never served: nothing to protect, replace it outright.
            self._remember(s.stable, "Superseded", "a newer spec replaced it before it served")
            self.status.stable = None
            if self._may_start():
                self._start_first_release()
            return
        target = s.canary.revision if s.canary is not None else s.stable.revision
        if target == self.desired:
            if new_generation and s.phase == "Degraded":
                self._start_or_wait("a new spec generation")
            elif s.reason == RETURNING:
                # A restart (or the spec back at the canary it abandoned) waited for stable's pods.
                self._start_or_wait(f"version {self.spec.version}")
            elif s.canary is None and s.phase == "Paused":
                # Waiting at the promotion gate for another version, and the spec went back to stable.
                self._set_phase("Healthy", "Reverted", f"version {s.stable.version} serves all traffic")
            elif new_generation and self._in_flight() and isinstance(self._current(), Gate):
                # The new plan may put a gate (or another gate) at this step: its count starts now, so
                # results taken under the old plan never pass it.
                self._entered_step()
            return
        if s.canary is not None:
            if not self._return_to_stable():
                self._wait_for_stable(leave_degraded=new_generation)
                return
            if self._in_flight():
                self._remember(s.canary, "Superseded", f"superseded by version {self.spec.version}")
            s.canary = None
        if s.stable.revision == self.desired:
            s.current_step = None
            self._set_phase("Healthy", "Reverted", f"version {s.stable.version} serves all traffic")
        else:
            self._start_or_wait(f"version {self.spec.version}")

    def _wait_for_stable(self, leave_degraded: bool) -> None:
        """A canary's traffic must go back to stable, which has no ready pod yet (a rolling update took
        them, or they failed): stable's pods are asked for again, and nothing else moves meanwhile."""
        s = self.status
        assert s.stable is not None
        self.settled = False
        waits = s.phase in ("Progressing", "Paused") or (s.phase == "Degraded" and leave_degraded)
        if waits and s.reason != RETURNING:
            # A wait like any other, bounded by the progress deadline (which then rolls back; a rollback
            # in progress keeps its phase). Only a new generation or a retry leaves Degraded (one refused
            # while a canary held traffic too): a Degraded the deadline ended stays so, and keeps trying.
            s.progress_at = self.now
            waiting = f"returning all traffic to version {s.stable.version} before {self.spec.version}"
            self._set_phase("Progressing", RETURNING, waiting)

    # -- the promotion gate ----------------------------------------------------------------------------------

    def _gate_actions(self) -> None:
        events, acks = promotion.take_gate_actions(
            self.status, self.spec.promotion, dict(self.obs.annotations), self.now
        )
        self.events += events
        self.acks += acks

    def _may_start(self) -> bool:
        """Whether the desired version may start now (always, without spec.promotion). A closed gate
        leaves stable serving, creates nothing for the desired version and pauses with the reason."""
        if self.spec.promotion is None:
            return True
        upstream = self.obs.upstream
        gate = promotion.evaluate(self.spec.promotion, self.spec.version, self.status, upstream, self.now)
        ref = upstream.ref if upstream is not None else self.spec.promotion.from_.namespace
        self.events += promotion.settle(self.status, gate, self.spec.version, ref, self.now)
        if gate.open:
            return True
        s = self.status
        if s.canary is not None and s.canary.weight == 0:
            s.canary, s.analysis = None, None  # a rolled-back attempt: its pods go until the gate opens
        if s.stable is not None and s.stable.revision == self.desired:
            s.stable = None  # a first release that never served waits like any first release
        s.current_step = None
        if (s.phase, s.reason) != ("Paused", gate.reason):
            self._set_phase("Paused", gate.reason, gate.message)
        s.message = gate.message
        if gate.wake_at is not None:
            self._wake(gate.wake_at)
        return False

    def _start_or_wait(self, why: str) -> bool:
        """Start an attempt at the desired version unless a rollout of it holds traffic already (the
        gate is asked before a version starts, never after); False when the gate keeps it waiting, or
        while stable cannot take back the traffic a canary still holds.

        Every attempt starts with all traffic on stable. A canary of the desired revision may still
        hold some when a refusal or the deadline cut its rollout or rollback short: it goes back
        before any pod moves, so a rolled-back canary is never served again unchecked, and a first
        step with fewer canary pods never removes pods that serve."""
        canary = self.status.canary
        started = canary is not None and canary.revision == self.desired and canary.weight > 0
        if not started and not self._may_start():
            return False
        if canary is not None and not self._return_to_stable():
            self._wait_for_stable(leave_degraded=True)  # asked by a new generation or a retry
            return False
        self._start_attempt(why)
        return True

    def _start_attempt(self, why: str) -> None:
        """Begin (again) rolling out the desired revision, from the first step."""
        s = self.status
        s.attempt_started_at = s.progress_at = s.step_started_at = self.now
        hooks.new_attempt(s, self.desired, self.obs.hook_jobs, self.now)
        if s.stable is not None and s.stable.revision == self.desired:
            # A first release that never served is tried again as a first release.
            s.current_step = None
            self._set_phase("Progressing", "FirstRelease", f"first release of version {self.spec.version}")
            return
        if s.canary is None or s.canary.revision != self.desired:
            s.canary = RevisionStatus(revision=self.desired, version=self.spec.version)
        s.current_step = 0
        s.analysis = (
            analysis.start(self.desired, self.spec.analysis, self.now)
            if self.spec.analysis is not None
            else None
        )
        self._set_phase("Progressing", "Progressing", "")
        self.started = f"rolling out {why} (revision {self.desired}) in {len(self._steps())} steps"
        self.entered.clear()
        self._entered_step()

    def _remember(self, revision: RevisionStatus, outcome: Outcome, reason: str) -> None:
        s = self.status
        entry = HistoryEntry(
            revision=revision.revision,
            version=revision.version,
            outcome=outcome,
            reason=reason,
            started_at=s.attempt_started_at or self.now,
            finished_at=self.now,
        )
        s.history = [*s.history, entry][-MAX_HISTORY:]

    # -- manual actions --------------------------------------------------------------------------------------

    def _manual_actions(self) -> None:
        s = self.status
        done = {record.action: record for record in s.manual_actions}
        handlers = {
            ABORT: self._abort,
            RETRY: self._retry,
            PAUSE: self._pause_by_person,
            RESUME: self._resume,
            PROMOTE_FULL: self._promote_full,
            PROMOTE: self._promote,
        }
        for key in MANUAL_ACTION_ORDER:
            value = self.obs.annotations.get(key)
            action = key.removeprefix(PREFIX)
            if value is None or (action in done and done[action].value == value):
                continue
            why = manual.no_effect(key, value, self.spec, s)
            result = f"{NO_EFFECT}{why}" if why is not None else handlers[key]()
            done[action] = ManualActionRecord(action=action, value=value, at=self.now, result=result)
            self._event("Normal", "ManualAction", f"{action}: {result}")
            self.acks.append(AcknowledgeAction(action, value))
        s.manual_actions = sorted(done.values(), key=lambda record: record.action)

    def _acknowledge_repeats(self) -> None:
        """An annotation set again to a value status records as carried out is not carried out again
        (each distinct value acts once), but it is removed, so the Release shows no request that will
        not happen. Status is unchanged so far in this pass: these are the values of earlier passes."""
        done = {record.action: record.value for record in self.status.manual_actions}
        for key in MANUAL_ACTION_ORDER:
            action, value = key.removeprefix(PREFIX), self.obs.annotations.get(key)
            if value is not None and done.get(action) == value:
                self.acks.append(AcknowledgeAction(action, value))

    # Each handler runs only when manual.no_effect found that it acts.

    def _abort(self) -> str:
        self._rollback("Aborted", "aborted by a person")
        return "rolling back"

    def _retry(self) -> str:
        if not self._start_or_wait(f"version {self.spec.version} again (retry)"):
            return f"waiting: {self.status.message}"
        return "retrying"

    def _pause_by_person(self) -> str:
        self._set_phase("Paused", "ManualPause", f"{self._step_label()}: paused by a person")
        return "paused"

    def _leave_pause(self, by_person: bool = True) -> None:
        """Back to Progressing. A person overrules the analysis limits that paused the release: they
        count from zero again, and so does the progress deadline. The provider (or Alertmanager) coming
        back by itself overrules nothing: the deadline's clock goes on where the pause stopped it, so
        that a provider failing and recovering over and over cannot hold a rollout forever."""
        s = self.status
        if by_person and s.analysis is not None and s.phase == "Paused" and s.reason in ANALYSIS_PAUSES:
            analysis.forgive(s.analysis)
        if by_person or s.progress_at is None or s.paused_at is None:
            s.progress_at = self.now
        else:
            s.progress_at += self.now - s.paused_at
        self._set_phase("Progressing", "Progressing", "")

    def _resume(self) -> str:
        waiting_for_promote = self.status.reason == WAITING_FOR_PROMOTE
        self._leave_pause()
        if waiting_for_promote:
            self._next_step()
        return "resumed"

    def _promote(self) -> str:
        label = self._step_label()
        self._leave_pause()
        if self._current() is None:  # paused at the promotion: no_effect refuses it under way
            return "resumed the promotion"
        self._next_step()
        return f"promoted past {label}"

    def _promote_full(self) -> str:
        self._leave_pause()
        promoting = self._current() is None
        self.status.current_step = len(self._steps())
        if promoting:
            return "promoting now, without waiting for measurements"
        self._entered_step()
        return "promoting fully, skipping the remaining steps"

    # -- triggers: alerts, analysis, deadlines ---------------------------------------------------------------

    def _check_triggers(self) -> None:
        s = self.status
        spec_analysis = self.spec.analysis
        if s.analysis is not None and spec_analysis is not None:
            gate_began = s.step_started_at if isinstance(self._current(), Gate) else None
            # Asked only of a pass bringing measurements: without any, nothing is counted below.
            waiting = (
                bool(self.obs.measurements)
                and s.phase == "Progressing"
                and self._current() is None
                and bool(self._unproven())
            )
            counted = analysis.record(s.analysis, spec_analysis, self.obs.measurements, gate_began)
            canary = s.canary
            if waiting and counted and canary is not None and canary.ready_replicas >= canary.replicas:
                # A measurement is what the promotion waits for, when nothing else is (every pod asked
                # for is ready): progress. Its limits end the wait, not a deadline that a long interval
                # would bring before them: any result but a good one adds to a count that breaks one,
                # and a good one lets the promotion go on. Pods that do not come keep the deadline.
                s.progress_at = self.now
        # An alert about a revision that serves no more (an earlier canary's, which Alertmanager holds
        # until it expires: minutes on a real cluster) says nothing about this attempt.
        serving = {revision.revision for revision in (s.stable, s.canary) if revision is not None}
        alerts = [alert for alert in self.obs.alerts if alert.revision is None or alert.revision in serving]
        if alerts:
            alert = alerts[0]
            detail = f": {alert.summary}" if alert.summary else ""
            self._rollback("AlertFiring", f"alert {alert.name} is firing{detail}", metric=alert.name)
            return
        self._judge_analysis()
        self._hold_while_alerts_unknown()

    def _judge_analysis(self) -> None:
        s = self.status
        spec_analysis = self.spec.analysis
        if s.analysis is None or spec_analysis is None:
            return
        verdict = analysis.verdict(s.analysis, spec_analysis)
        if verdict is None and s.phase == "Paused" and s.reason == "ProviderErrors":
            # The provider answers again: carry on by itself, as nothing was judged meanwhile.
            self._leave_pause(by_person=False)
            self._event(
                "Normal", "ProviderRecovered", f"metrics answer again; {self._step_label()} carries on"
            )
            return
        if verdict is None or (s.phase == "Paused" and s.reason == verdict.reason):
            return
        if verdict.reason == "AnalysisFailed" and self.spec.rollback.on_analysis_failure:
            self._rollback(
                verdict.reason,
                verdict.message,
                metric=verdict.metric,
                value=verdict.value,
                threshold=verdict.threshold,
            )
        else:
            message = f"{self._step_label()}: {verdict.message}"
            if (
                verdict.reason == "AnalysisInconclusive"
                and s.canary is not None
                and not self._takes_traffic()
            ):
                # A preview: no client's request reaches it, so its metrics are testers' alone.
                message += (
                    "; the new version takes no traffic here: only requests testers send to its Service"
                    " labelled slipway.dev/service-role=canary reach it"
                )
            self._set_phase("Paused", verdict.reason, message)

    def _takes_traffic(self) -> bool:
        """Whether any client's request can reach the canary now: a weight, a match route or a mirror."""
        canary = self.status.canary
        return canary is not None and (canary.weight > 0 or self._mirrored_or_matched())

    def _hold_while_alerts_unknown(self) -> None:
        """Unknown is not "nothing fires": a rollout its alerts guard holds its shape, Paused, until
        Alertmanager answers again, then carries on by itself. A failed analysis still rolls back."""
        s = self.status
        unknown = self.obs.alerts_unknown
        if unknown is not None and s.phase == "Progressing":
            self._set_phase("Paused", ALERTS_UNKNOWN, f"{self._step_label()}: alert state unknown: {unknown}")
        elif unknown is None and s.phase == "Paused" and s.reason == ALERTS_UNKNOWN:
            self._leave_pause(by_person=False)
            self._event("Normal", "AlertsKnown", f"alerts answer again; {self._step_label()} carries on")

    def _rollback(
        self,
        reason: str,
        message: str,
        metric: str | None = None,
        value: str | None = None,
        threshold: str | None = None,
    ) -> None:
        s = self.status
        assert s.canary is not None and s.stable is not None
        s.last_rollback = RollbackRecord(
            reason=reason,
            message=message,
            metric=metric,
            value=value,
            threshold=threshold,
            at=self.now,
            from_version=s.canary.version,
            to_version=s.stable.version,
        )
        self._remember(s.canary, "Aborted" if reason == "Aborted" else "RolledBack", message)
        promotion.rolled_back(s, s.canary.version, self.now)
        s.progress_at = self.now
        self._set_phase("RollingBack", reason, f"rolling back to version {s.stable.version}: {message}")

    def _expected_seconds(self) -> float:
        """Planned waiting in the current step, which the progress deadline does not count: a running
        hook's timeout, a timed pause's duration, a gate's measurements."""
        if self.status.phase != "Progressing":
            return 0.0
        running = self._running_hook()
        if running is not None:
            return hooks.timeout_of(running).total_seconds()
        step = self._current()
        if self.status.canary is None:
            return 0.0
        if isinstance(step, Hold) and step.seconds is not None:
            return step.seconds
        if self.spec.analysis is None:
            return 0.0
        if isinstance(step, Gate):
            return step.successes * analysis.interval(self.spec.analysis).total_seconds()
        if step is None:
            return analysis.interval(self.spec.analysis).total_seconds()  # the promotion's measurement
        return 0.0

    def _running_hook(self) -> Hook | None:
        """The hook of spec.hooks running now for the revision being rolled out, if any."""
        s = self.status
        rolling_out = s.canary or s.stable
        for entry in s.hooks:
            if (
                entry.result == "Running"
                and rolling_out is not None
                and entry.revision == rolling_out.revision
            ):
                return next(
                    (hook for hook in hooks.hooks_of(self.spec, entry.stage) if hook.name == entry.name), None
                )
        return None

    def _deadline(self) -> datetime | None:
        """When the current phase runs out of time; None in phases that wait for a person or are done."""
        s = self.status
        if s.phase not in ("Progressing", "RollingBack") or s.progress_at is None:
            return None
        limit = self.spec.rollback.progress_deadline_seconds
        return s.progress_at + timedelta(seconds=limit + self._expected_seconds())

    def _check_deadline(self) -> None:
        s = self.status
        deadline = self._deadline()
        if deadline is None or self.now < deadline:
            return
        limit = self.spec.rollback.progress_deadline_seconds
        message = f"no progress for {limit}s (progressDeadlineSeconds){self._routing_wait()}"
        if s.phase == "RollingBack" or s.canary is None:
            self._set_phase("Degraded", "ProgressDeadlineExceeded", message)
        elif self.spec.rollback.on_progress_deadline == "pause":
            self._set_phase("Paused", "ProgressDeadlineExceeded", f"{self._step_label()}: {message}")
        else:
            self._rollback("ProgressDeadlineExceeded", message)

    # -- moving ----------------------------------------------------------------------------------------------

    def _advance(self) -> None:
        s = self.status
        if s.stable is None:
            return  # a first release waiting at the promotion gate: nothing exists yet
        if s.phase == "Progressing":
            if s.canary is None:
                self._first_release()
            else:
                self._run_steps()
        elif s.phase == "Paused":
            self._hold_shape()
        elif s.phase == "RollingBack":
            self._roll_back()
        else:
            self._keep_stable()
        if s.phase == "Degraded":
            self._post_rollback()  # in the pass that ends a rollback too
        if self._in_flight():
            self._schedule_analysis()

    def _ensure(self, revision: RevisionStatus, replicas: int) -> None:
        """Ask for `replicas` pods of `revision` unless the Deployment already says so."""
        revision.replicas = replicas
        observed = self.obs.revisions.get(revision.revision)
        asked = self.asked.get(revision.revision, observed.replicas if observed is not None else None)
        if asked == replicas or (asked is None and replicas == 0):
            return
        if asked is None and not hooks.stage_succeeded(
            self.status, self.spec, "preDeploy", revision.revision
        ):
            # Whatever the phase (a first release Degraded at its deadline keeps stable at full size),
            # a revision is never created before its preDeploy hooks succeeded.
            revision.replicas = 0
            return
        self.asked[revision.revision] = replicas
        if revision.revision == self.desired:
            self.writes.append(EnsureRevision(revision.revision, revision.version, replicas))
        elif observed is not None:
            self.writes.append(ScaleRevision(revision.revision, replicas))

    def _route(self, stable_weight: int, canary_weight: int, steps: bool = False) -> bool:
        """Send traffic; False (nothing written) while a revision that would get traffic has no ready pod.
        Outside the steps (`steps` False: promoting, rolling back, returning to stable) the match
        routes and the mirror go too."""
        s = self.status
        assert s.stable is not None
        canary = s.canary
        clear = not steps and self._mirrored_or_matched()
        if (
            not clear
            and s.stable.weight == stable_weight
            and (canary is None or canary.weight == canary_weight)
        ):
            return True
        if (stable_weight > 0 and s.stable.ready_replicas == 0) or (
            canary is not None and canary_weight > 0 and canary.ready_replicas == 0
        ):
            return False
        s.stable.weight = stable_weight
        if canary is not None:
            canary.weight = canary_weight
        if clear:
            s.canary_routes, s.mirror_percent = [], 0
        self.writes.append(SetWeights(*self._routing()))
        return True

    def _mirrored_or_matched(self) -> bool:
        return bool(self.status.canary_routes or self.status.mirror_percent)

    def _routing(self) -> RouteFields:
        s = self.status
        assert s.stable is not None
        return _route_fields(s, self.plan)

    def _first_release(self) -> None:
        s = self.status
        assert s.stable is not None
        if not self._pre_deploy(s.stable):
            if self.hook_wait:
                s.message = f"first release of version {s.stable.version}: {self.hook_wait}"
            return
        replicas = self.spec.replicas
        self._ensure(s.stable, replicas)
        # With no pods asked for there is nothing to route; routing waits until pods are ready.
        if replicas > 0 and (s.stable.ready_replicas < replicas or not self._route(100, 0)):
            self._await_watched()
            ready = f"{s.stable.ready_replicas}/{replicas} pods ready"
            s.message = f"first release of version {s.stable.version}: {ready}"
            return
        post = self._run_hooks("postDeploy", s.stable)
        if post.failed is not None:
            # Nothing to go back to: the first release stays, and a person decides.
            self._set_phase("Degraded", HOOK_FAILED, self._hook_failure(post))
            self._keep_stable()  # as every Degraded pass does, from this one on
            return
        if not post.done:
            s.message = f"first release of version {s.stable.version}: {self.hook_wait}"
            return
        self._remember(s.stable, "Promoted", "first release")
        self._set_phase("Healthy", "Ready", f"version {s.stable.version} serves all traffic")

    def _apply_shape(self, shape: Shift) -> bool:
        """Move toward `shape`: canary pods first, then traffic, then (rolling only) fewer stable pods.
        Traffic taken from the canary goes first, before its pods: a new plan for the revision in flight
        (another strategy) may want fewer canary pods at this step than its traffic needs."""
        s = self.status
        assert s.stable is not None and s.canary is not None
        if shape.canary_weight < s.canary.weight and not self._route(
            100 - shape.canary_weight, shape.canary_weight, steps=True
        ):
            self._await_watched()
            return False
        self._ensure(s.canary, shape.canary_replicas)
        if s.canary.ready_replicas < shape.canary_replicas:
            self._await_watched()
            return False
        if not self._route(100 - shape.canary_weight, shape.canary_weight, steps=True):
            self._await_watched()
            return False
        self._ensure(s.stable, shape.stable_replicas)
        return True

    def _run_steps(self) -> None:
        s = self.status
        assert s.canary is not None
        if not self._pre_deploy(s.canary):
            return
        steps = self._steps()
        for _ in range(len(steps) + 1):
            index = s.current_step or 0
            if index >= len(steps):
                self.promotion_wait = self._unproven()
                if not self.promotion_wait:
                    self._promote_canary()
                return
            step = steps[index]
            shape = step if isinstance(step, Shift) else self.plan.shape_before(index, self.spec.replicas)
            if not self._apply_shape(shape):
                return
            if not self._rerouted(self.plan.routing_at(index)):
                return
            if isinstance(step, Hold) and not self._hold_over(step):
                return
            if isinstance(step, Gate) and not self._gate_passed(step):
                return
            if self.obs.routing_drift:
                # the routing must hold what the status records before the rollout moves on
                self._wake(self.now + ROUTING_READ_BACK)
                return
            self._next_step()

    def _hold_over(self, hold: Hold) -> bool:
        s = self.status
        if hold.seconds is None:
            self._set_phase(
                "Paused",
                WAITING_FOR_PROMOTE,
                f"{self._step_label()}: paused until promoted (slipway.dev/promote)",
            )
            return False
        until = (s.step_started_at or self.now) + timedelta(seconds=hold.seconds)
        if self.now >= until:
            return True
        self._wake(until)
        return False

    def _rerouted(self, step: Reroute) -> bool:
        """Whether the routing holds the match routes and mirror in force at the current step: written
        in one pass, seen in the cluster (`observations.routing_drift` empty) in a later one."""
        s = self.status
        names = [route.name for route in step.routes]
        if s.canary_routes != names or s.mirror_percent != step.mirror_percent:
            s.canary_routes, s.mirror_percent = names, step.mirror_percent
            self.writes.append(SetWeights(*self._routing()))
            self._wake(self.now)  # read it back at once
            return False
        if self.obs.routing_drift:
            self._wake(self.now + ROUTING_READ_BACK)
            return False
        return True

    def _gate_passed(self, gate: Gate) -> bool:
        s = self.status
        if s.analysis is None or self.spec.analysis is None:
            return True  # the model refuses analysis steps without spec.analysis; nothing to wait for
        return analysis.gate_passed(s.analysis, gate, self.spec.analysis)

    def _next_step(self) -> None:
        s = self.status
        s.current_step = (s.current_step or 0) + 1
        self._entered_step()

    def _entered_step(self) -> None:
        s = self.status
        steady_since = self._traffic_steady_since()
        s.step_started_at = s.progress_at = self.now
        step = self._current()
        if step is None:
            self.entered.append(("Promoting", f"all steps done: promoting version {self.spec.version}"))
            return
        if isinstance(step, Gate) and s.analysis is not None and self.spec.analysis is not None:
            # Only measurements of the state this gate guards count. When traffic moved less than an
            # interval ago the first one is an interval away; otherwise the measurements keep their
            # rhythm (restarting it skipped one, a gap of two intervals between measurements). One due
            # this very instant would be taken as the gate begins, which never counts: it restarts too.
            analysis.restart_runs(s.analysis)
            every = analysis.interval(self.spec.analysis)
            due = s.analysis.next_measurement_at
            steady = steady_since is not None and self.now - steady_since >= every
            if not steady or due is None or due <= self.now:
                s.analysis.next_measurement_at = self.now + every
        self.entered.append(("Step", f"{self._step_label()}: {step.describe()}"))

    def _traffic_steady_since(self) -> datetime | None:
        """When the step before the one being entered began, if it moved no traffic: weights, match
        routes and mirror have not changed since then. None when it did (a shift or a reroute), or when
        there is no step before."""
        s = self.status
        index = (s.current_step or 0) - 1
        steps = self._steps()
        if index < 0 or index >= len(steps) or isinstance(steps[index], Shift | Reroute):
            return None
        return s.step_started_at

    def _unproven(self) -> str:
        """What the promotion waits for ("" when nothing): a good last measurement of every metric in the
        attempt (`analysis.unproven`). Not asked of a canary never measured that nothing can measure now
        (no traffic, match route or mirror: a pause-only plan, replicas: 0), once its postDeploy hooks
        began (the promotion began on a good word, and their failure must still roll back), nor after a
        person's promote-full in this attempt: they promote on what they know."""
        s, spec = self.status, self.spec.analysis
        canary, since = s.canary, s.attempt_started_at
        if s.analysis is None or spec is None or canary is None or since is None:
            return ""
        if not self._takes_traffic() and not s.analysis.measurements:
            return ""  # never measured, and no traffic to measure now (a pause-only plan)
        if hooks.stage_began(s, "postDeploy", canary.revision, since) or self._promoted_fully():
            return ""
        waiting = analysis.unproven(s.analysis, spec)
        last = ", ".join(
            f"{name} ({f'last {result}' if result else 'none yet'})" for name, result in waiting.items()
        )
        return f"a good measurement of {last}" if waiting else ""

    def _promoted_fully(self) -> bool:
        """A person's promote-full in this attempt."""
        s = self.status
        since = s.attempt_started_at
        return since is not None and any(
            record.action == PROMOTE_FULL.removeprefix(PREFIX)
            and record.at >= since
            and not manual.changed_nothing(record.result)
            for record in s.manual_actions
        )

    def _promote_canary(self) -> None:
        s = self.status
        assert s.stable is not None and s.canary is not None
        replicas = self.spec.replicas
        self._ensure(s.canary, replicas)
        if s.canary.ready_replicas < replicas:
            self._await_watched()
            return
        if hooks.hooks_of(self.spec, "postDeploy"):
            # postDeploy hooks test the new revision serving all traffic; stable keeps its pods until
            # they pass, so that a failure can still roll back.
            if not self._route(0, 100):
                self._await_watched()
                return
            post = self._run_hooks("postDeploy", s.canary)
            if post.failed is not None:
                self._roll_back_for(post)
                return
            if not post.done:
                return
        old, new = s.stable, s.canary
        overruled = " (promote-full)" if self._promoted_fully() else ""
        self._remember(new, "Promoted", f"replaced version {old.version}{overruled}")
        delay = timedelta(seconds=self.plan.scale_down_delay_seconds)
        s.retiring = [
            *s.retiring,
            RetiringRevision(revision=old.revision, version=old.version, scale_down_at=self.now + delay),
        ]
        s.stable, s.canary = new, None
        self.promoted = True
        # All traffic to the new stable, its pods all ready (with replicas: 0 there is none to route).
        self._route(100, 0)
        self._set_phase("Healthy", "Promoted", f"version {new.version} serves all traffic")

    def _run_hooks(self, stage: HookStage, revision: RevisionStatus) -> StageProgress:
        """Move a stage of hooks for `revision` on; while one runs, look again soon and say so."""
        progress = hooks.run_stage(
            self.status, self.spec, stage, revision.revision, revision.version, self.obs.hook_jobs, self.now
        )
        self.writes += progress.asks
        if progress.moved:
            self.status.progress_at = self.now
        if progress.running is not None:
            self.hook_wait = f"waiting for {hooks.describe(progress.running)}"
            self._await_watched()
        if progress.wake_at is not None:
            self._wake(progress.wake_at)
        return progress

    def _hook_failure(self, progress: StageProgress) -> str:
        failed = progress.failed
        assert failed is not None
        return f"{hooks.describe(failed)} failed: {failed.message or 'its Job failed'}"

    def _pre_deploy(self, revision: RevisionStatus) -> bool:
        """Whether every preDeploy hook succeeded for `revision`: until then it gets no pod and no
        traffic. A failure leaves stable serving: the attempt ends Degraded `HookFailed`."""
        progress = self._run_hooks("preDeploy", revision)
        if progress.failed is None:
            return progress.done
        if self.status.canary is None:
            why = self._hook_failure(progress)
            self._set_phase("Degraded", HOOK_FAILED, f"version {revision.version} not deployed: {why}")
            self._keep_stable()  # as every Degraded pass does, from this one on (it creates nothing)
        else:
            self._roll_back_for(progress)
        return False

    def _roll_back_for(self, progress: StageProgress) -> None:
        """A failed hook rolls back like a failed analysis; decided while moving, so the rollback's
        first writes (traffic to stable) follow in this very pass."""
        assert progress.failed is not None
        self._rollback(HOOK_FAILED, self._hook_failure(progress), metric=progress.failed.name)
        self._roll_back()

    def _post_rollback(self) -> None:
        """Best effort after a rollback: run the postRollback hooks once; a failure only warns."""
        s = self.status
        if s.canary is None or s.canary.weight > 0 or not hooks.hooks_of(self.spec, "postRollback"):
            return
        progress = self._run_hooks("postRollback", s.canary)
        if progress.failed is not None and progress.news:
            self._event("Warning", "PostRollbackHookFailed", self._hook_failure(progress))

    def _hold_shape(self) -> None:
        """Paused: move nothing; keep the pods (re-creating a Deployment deleted by hand), and stable at
        spec.replicas unless a rolling update has already taken some of its pods."""
        s = self.status
        assert s.stable is not None
        rolling = self.spec.strategy.rolling is not None
        self._ensure(s.stable, s.stable.replicas if rolling else self.spec.replicas)
        if s.canary is not None:
            self._ensure(s.canary, s.canary.replicas)

    def _return_to_stable(self) -> bool:
        """All traffic to stable. A rolling update may have scaled stable away: then bring its pods back
        first (the only write allowed before traffic returns) and report False until they are ready."""
        s = self.status
        assert s.stable is not None
        if self._route(100, 0):
            return True
        self._ensure(s.stable, self.spec.replicas)
        self._await_watched()
        return False

    def _roll_back(self) -> None:
        s = self.status
        assert s.stable is not None
        if s.canary is None or not self._return_to_stable():
            return
        self._ensure(s.stable, self.spec.replicas)
        self._ensure(s.canary, 0)
        if s.canary.ready_replicas > 0:
            self._await_watched()
            return
        rollback = s.last_rollback
        reason = rollback.reason if rollback is not None else "RolledBack"
        why = rollback.message if rollback is not None else "rolled back"
        self._set_phase("Degraded", reason, f"rolled back to version {s.stable.version}: {why}")

    def _keep_stable(self) -> None:
        """Healthy or Degraded: the stable revision at full size with all traffic; a failed canary at zero."""
        s = self.status
        assert s.stable is not None
        self._ensure(s.stable, self.spec.replicas)
        if not self._route(100, 0):
            if self.spec.replicas > 0:
                self._await_watched()
            return
        if s.canary is not None:
            self._ensure(s.canary, 0)

    def _schedule_analysis(self) -> None:
        s = self.status
        canary = s.canary
        if s.analysis is None or self.spec.analysis is None or canary is None or canary.ready_replicas == 0:
            return
        proving = isinstance(self._current(), Gate) or self.promotion_wait  # a gate, or the promotion's wait
        if not self._takes_traffic() and not proving:
            return  # no traffic and nothing to prove: nothing worth measuring yet
        every = analysis.interval(self.spec.analysis)
        due = s.analysis.next_measurement_at
        if due is None:
            # The first measurement waits one interval, so that it reflects traffic under the new split.
            due = s.analysis.next_measurement_at = self.now + every
        if self.now >= due:
            names = tuple(metric.name for metric in self.spec.analysis.metrics)
            self.reads.append(RunAnalysis(canary.revision, names))
            due = s.analysis.next_measurement_at = self.now + every
        self._wake(due)

    def _retire(self) -> None:
        s = self.status
        remaining = []
        for retiring in s.retiring:
            if self.now < retiring.scale_down_at:
                remaining.append(retiring)
                self._wake(retiring.scale_down_at)
        s.retiring = remaining

    def _collect_garbage(self) -> None:
        """Keep the revisions that stopped serving at zero replicas, the last spec.revisionHistoryLimit
        of them (status.oldRevisions), so that `undo` can return to them; delete every other revision.
        The status is written after the writes, and may be lost (a crash, or a conflict with a spec
        change): the next pass then decides from the last one, and may have to give traffic back to the
        stable it names, whose template the spec no longer holds. So a revision this pass stops naming
        is scaled down or deleted in the next pass, which comes at once."""
        s = self.status
        serving = _named(s)
        served = _named(self.before) if self.before is not None else set()
        self._keep_old_revisions(served - serving)
        kept = {old.revision for old in s.old_revisions}
        last_kept = {old.revision for old in self.before.old_revisions} if self.before is not None else set()
        owned = set(self.obs.revisions) | {job.revision for job in self.obs.hook_jobs}
        if owned & ((served - serving) | (last_kept - kept - serving)):
            self._wake(self.now)
        for revision, observed in sorted(self.obs.revisions.items()):
            if revision in serving | served:
                continue
            if revision in kept:
                if observed.replicas != 0:  # scaled up by someone: an old revision never serves
                    self.writes.append(ScaleRevision(revision, 0))
            elif revision not in last_kept:
                self.writes.append(DeleteRevision(revision))
        for revision in sorted({job.revision for job in self.obs.hook_jobs} - serving - served):
            self.writes.append(DeleteHookJobs(revision))

    def _keep_old_revisions(self, left: set[str]) -> None:
        """Add the revisions that stopped serving in this pass to status.oldRevisions (newest last),
        drop those serving again (an undo) or whose Deployment is gone, and keep the last
        spec.revisionHistoryLimit."""
        s, before = self.status, self.before
        serving = _named(s)
        old = [o for o in s.old_revisions if o.revision in self.obs.revisions and o.revision not in serving]
        if before is not None:
            versions = {r.revision: r.version for r in (before.stable, before.canary) if r is not None}
            versions |= {r.revision: r.version for r in before.retiring}
            old += [
                OldRevision(revision=revision, version=versions[revision], replaced_at=self.now)
                for revision in sorted(left & set(self.obs.revisions))
            ]
        limit = self.spec.revision_history_limit
        s.old_revisions = old[len(old) - limit :] if limit else []

    # -- reporting -------------------------------------------------------------------------------------------

    def _report_drift(self) -> None:
        """A Warning Event when routing objects are found not holding what Slipway wrote (this pass's
        Route puts them back); status remembers the finding, so each is told once. Told only when this
        pass restates the routing the last status records: a pass that changes it writes the objects
        anyway, and what it found may be the write of a pass whose status was lost (a crash after a
        status that waited for pods), not anyone's edit."""
        s, before = self.status, self.before
        if before is None or s.stable is None or before.stable is None:
            return
        if _route_fields(s, self.plan) != _route_fields(before, self.plan):
            return  # the finding stays as it was
        drift = list(self.obs.routing_drift)
        if drift and drift != s.routing_drift:
            self._event(
                "Warning", "RoutingDrift", f"{', '.join(drift)} changed from what Slipway wrote: put back"
            )
        if drift:
            # Read back soon: the repair's own watch event wakes nothing, and the finding must not stay
            # in status after it until some unrelated pass.
            self._wake(self.now + ROUTING_READ_BACK)
        s.routing_drift = drift

    def _describe_progress(self) -> str:
        s = self.status
        assert s.canary is not None
        if self.hook_wait:
            return f"{self._step_label()}: {self.hook_wait}; canary weight {s.canary.weight}%"
        step = self._current()
        if step is None and self.promotion_wait:
            return f"promotion: waiting for {self.promotion_wait}; canary weight {s.canary.weight}%"
        if step is None:
            return (
                f"promoting version {s.canary.version}: "
                f"{s.canary.ready_replicas}/{self.spec.replicas} pods ready, weight {s.canary.weight}%"
            )
        text = f"{self._step_label()}: {step.describe()}; canary weight {s.canary.weight}%"
        if isinstance(step, Gate) and s.analysis is not None and self.spec.analysis is not None:
            good = analysis.gate_progress(s.analysis, step, self.spec.analysis)
            text += f", analysis {good}/{step.successes} good"
        if isinstance(step, Hold) and step.seconds is not None and s.step_started_at is not None:
            until = s.step_started_at + timedelta(seconds=step.seconds)
            text += f", until {until.isoformat(timespec='seconds')}"
        return text + self._routing_wait()

    def _routing_wait(self) -> str:
        """Why the rollout holds while routing objects do not hold what was written (none: empty)."""
        drift = self.obs.routing_drift
        return f"; waiting for {', '.join(drift)} to hold what was written" if drift else ""

    def _plan_event(self) -> None:
        """One Event for how far the plan moved in this pass (an attempt started, each step entered, the
        promotion begun), named after the first: together they are one transition, and each Event is
        a write. A promotion begun and done in the same pass is told by its Promoted Event alone."""
        parts = [
            (reason, text) for reason, text in self.entered if not (self.promoted and reason == "Promoting")
        ]
        if self.promotion_wait and self.status.canary is not None:
            # entered this pass, and waits for analysis: say so rather than "promoting"
            version = self.status.canary.version
            wait = f"all steps done: promoting version {version} after {self.promotion_wait}"
            parts = [(reason, wait if reason == "Promoting" else text) for reason, text in parts]
        if self.started:
            parts.insert(0, ("RolloutStarted", self.started))
        if parts:
            self._event("Normal", parts[0][0], "; ".join(text for _, text in parts))

    def _finish(self) -> Decision:
        s = self.status
        self._plan_event()
        if s.phase == "Progressing" and s.canary is not None and self.settled:
            s.message = self._describe_progress()
        # Entering Progressing is usually told by a RolloutStarted, Step or ManualAction event already,
        # and a wait at the promotion gate by the gate's own Event.
        if (
            s.phase != self.phase_before
            and (s.phase != "Progressing" or not self.events)
            and s.reason not in promotion.GATE_REASONS
        ):
            warning = s.phase in ("RollingBack", "Degraded") or (
                s.phase == "Paused" and s.reason not in (WAITING_FOR_PROMOTE, "ManualPause")
            )
            self._event("Warning" if warning else "Normal", s.reason or s.phase, s.message or s.phase)
        promotion.record_health(s, self.now)
        s.canary_weight = s.canary.weight if s.canary is not None else 0
        if s.stable is not None:
            # What the routing holds, as the pass's Route writes it: a match route whose definition left
            # the spec (a new spec mid-rollout) is routed no more, and without a canary nothing is.
            _, _, _, routes, s.mirror_percent = _route_fields(s, self.plan)
            s.canary_routes = [route.name for route in routes]
        if self.spec.promotion is None:
            s.promotion = None
        gate_condition = promotion.condition(s, self.obs.generation, self.now)
        s.conditions = conditions(
            s.phase, s.reason or s.phase, s.message, self.obs.generation, s.conditions, self.now
        )
        if gate_condition is not None:
            s.conditions.append(gate_condition)
        deadline = self._deadline()
        if deadline is not None:
            self._wake(deadline)
        if self.spec.rollback.alerts is not None and self._in_flight():
            # Alertmanager sends no events: while alerts guard a rollout, look at least once per
            # analysis interval, even when nothing else is due.
            every = analysis.interval(self.spec.analysis) if self.spec.analysis else ALERT_POLL
            self._wake(self.now + every)
        if s.stable is not None:
            self.writes.append(Route(*self._routing()))
        requeue = None
        if self.wakeups:
            requeue = max(0.0, (min(self.wakeups) - self.now).total_seconds())
        actions = (*self.writes, *self.reads, *self.events, *self.acks)
        return Decision(
            status=s, actions=actions, requeue_after_seconds=requeue, status_may_wait=self._status_may_wait()
        )

    def _status_may_wait(self) -> bool:
        """Whether this pass only asked for pods and waits for them, so that its status may be written by
        the next pass (the one their readiness wakes) together with what that one decides. A crash
        before then costs only work a pass redoes from the last written status and the cluster: the
        rollout is Progressing (kept on the same canary, or an attempt started from Healthy or Degraded,
        which a restarted operator starts again the same way), no traffic moved, nothing was deleted or
        stopped being named (the next pass would delete it, behind a status still naming it), no hook
        started, no manual action or attempt ended, and every new measurement is Successful (a
        lost success only makes a gate ask again; a lost failure, error or inconclusive result would
        loosen a limit, or join two runs of successes)."""
        s, before = self.status, self.before
        if before is None or (s.phase, s.reason) != ("Progressing", "Progressing"):
            return False
        started = bool(self.started) and before.phase in ("Healthy", "Degraded")
        same_canary = before.phase == "Progressing" and _revision(s.canary) == _revision(before.canary)
        if not (started or same_canary):
            return False
        asked = any(isinstance(action, EnsureRevision | ScaleRevision) for action in self.writes)
        moved = (SetWeights, DeleteRevision, RunHook, DeleteHookJobs)
        if self.acks or not asked or any(isinstance(action, moved) for action in self.writes):
            return False
        if _named(before) - _named(s):
            return False
        kept = (
            "history",
            "last_rollback",
            "manual_actions",
            "hooks",
            "retiring",
            "old_revisions",
            "promotion",
            "canary_routes",
            "mirror_percent",
            "routing_drift",
        )
        if any(getattr(s, name) != getattr(before, name) for name in kept):
            return False
        seen = {(m.metric, m.at) for m in before.analysis.measurements} if before.analysis else set()
        new = [m for m in s.analysis.measurements if (m.metric, m.at) not in seen] if s.analysis else []
        return all(m.result == "Successful" for m in new)


RouteFields = tuple[str, str | None, int, tuple[CanaryRoute, ...], int]


def _route_fields(status: ReleaseStatus, plan: Plan) -> RouteFields:
    """The routing `status` records: stable, canary (None without one), the canary's weight, and (with
    a canary) its match routes, as the plan's routing steps up to the current one define them (one
    whose definition left the spec is dropped), and its mirrored percentage."""
    assert status.stable is not None
    canary = status.canary
    if canary is None:
        return status.stable.revision, None, 0, (), 0
    defined: dict[str, CanaryRoute] = {}
    for step in plan.steps[: (status.current_step or 0) + 1]:
        if isinstance(step, Reroute):
            defined.update((route.name, route) for route in step.routes)
    routes = tuple(defined[name] for name in status.canary_routes if name in defined)
    return status.stable.revision, canary.revision, canary.weight, routes, status.mirror_percent


def recorded_route(spec: ReleaseSpec, status: ReleaseStatus | None) -> Route | None:
    """The routing a written status records, which the Route of the pass that wrote it put in place (the
    shell compares the cluster with it: `observations.routing_drift`); None before a stable revision."""
    if status is None or status.stable is None:
        return None
    return Route(*_route_fields(status, plan_for(spec)))


def _revision(revision: RevisionStatus | None) -> str | None:
    return revision.revision if revision is not None else None


def _named(status: ReleaseStatus) -> set[str]:
    """The revisions a status names: stable, canary and those retiring."""
    named = {revision.revision for revision in (status.stable, status.canary) if revision is not None}
    return named | {retiring.revision for retiring in status.retiring}
