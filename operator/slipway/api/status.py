"""The status of a Release (SPEC section 3), written only by the operator.

Everything the state machine needs to resume after a restart lives here (invariant 5): the phase, the
step and when it started, the analysis counters, the manual actions already carried out and the timers.
Python attributes are snake_case; the API object uses camelCase (`ready_replicas` <-> `readyReplicas`).
Every field has a description because the CRD is generated from these models and `kubectl explain`
shows them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Phase = Literal["Healthy", "Progressing", "Paused", "RollingBack", "Degraded"]
ConditionType = Literal["Ready", "Reconciling", "Stalled", "Paused", "Promotion"]
GateState = Literal["Open", "Closed"]
ConditionStatus = Literal["True", "False", "Unknown"]
MeasurementResult = Literal["Successful", "Failed", "Inconclusive", "Error"]
Outcome = Literal["Promoted", "RolledBack", "Superseded", "Aborted"]
HookStage = Literal["preDeploy", "postDeploy", "postRollback"]
HookResult = Literal["Pending", "Running", "Succeeded", "Failed"]

MAX_MEASUREMENTS: Final = 20
MAX_HISTORY: Final = 10
MAX_VERSIONS: Final = 10
MAX_HOOK_RESULTS: Final = 30
MAX_TRANSITION_EVENTS: Final = 10
MAX_ROUTES: Final = 100
MAX_REVISION_HISTORY: Final = 100
DEFAULT_REVISION_HISTORY: Final = 10
"""The most, and by default how many, replaced revisions a Release keeps (spec.revisionHistoryLimit)."""

# How a manual action's recorded result begins when the action changed nothing (scripts rely on it).
NO_EFFECT: Final = "no effect: "


class StatusModel(BaseModel):
    """Base of every status model: camelCase in the API, unknown fields from newer operators ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class RevisionStatus(StatusModel):
    """One revision (a Deployment `<release>-<revision>`) and the share of traffic it gets."""

    revision: str = Field(description="Hash of the pod template and version that names the revision.")
    version: str = Field(description="spec.version this revision runs.")
    replicas: int = Field(default=0, ge=0, description="Pods the operator asked for.")
    ready_replicas: int = Field(default=0, ge=0, description="Pods observed ready.")
    weight: int = Field(default=0, ge=0, le=100, description="Percentage of traffic sent to this revision.")


class MeasurementRecord(StatusModel):
    """One judged measurement of one metric."""

    metric: str = Field(description="Name of the metric in spec.analysis.")
    revision: str = Field(description="Revision the measurement was taken for.")
    at: datetime = Field(description="When the provider took the measurement.")
    result: MeasurementResult = Field(
        description="Successful, Failed, Inconclusive (no data) or Error (the provider could not answer)."
    )
    value: str | None = Field(
        default=None,
        description="The deciding value as text (e.g. 0.0123, NaN, +Inf); absent when there was no value.",
    )
    message: str = Field(default="", description="Why the measurement got its result.")


class MetricStatus(StatusModel):
    """Counters of one metric during the current attempt."""

    name: str = Field(description="Name of the metric in spec.analysis.")
    successful: int = Field(default=0, ge=0, description="Successful measurements in this attempt.")
    failures: int = Field(default=0, ge=0, description="Failed measurements in this attempt.")
    inconclusive: int = Field(default=0, ge=0, description="Inconclusive measurements in this attempt.")
    errors: int = Field(default=0, ge=0, description="Provider errors in this attempt.")
    consecutive_errors: int = Field(default=0, ge=0, description="Provider errors in a row, up to now.")
    consecutive_successful: int = Field(
        default=0, ge=0, description="Successful measurements in a row since the current gate began."
    )
    last_measured_at: datetime | None = Field(
        default=None, description="Time of the last measurement counted (older ones are ignored)."
    )


class AnalysisStatus(StatusModel):
    """Analysis of the revision under test during the current attempt."""

    revision: str = Field(description="Revision being analysed.")
    started_at: datetime = Field(description="When the analysis of this attempt began.")
    next_measurement_at: datetime | None = Field(
        default=None, description="When the next measurement is due."
    )
    successful: int = Field(default=0, ge=0, description="Successful measurements, all metrics.")
    failures: int = Field(default=0, ge=0, description="Failed measurements, all metrics.")
    inconclusive: int = Field(default=0, ge=0, description="Inconclusive measurements, all metrics.")
    errors: int = Field(default=0, ge=0, description="Provider errors, all metrics.")
    metrics: list[MetricStatus] = Field(default_factory=list, description="Counters per metric.")
    measurements: list[MeasurementRecord] = Field(
        default_factory=list,
        max_length=MAX_MEASUREMENTS,
        description=f"The most recent measurements, newest last (at most {MAX_MEASUREMENTS}).",
    )


class Condition(StatusModel):
    """A kstatus condition (Ready, Reconciling, Stalled, Paused), or Promotion: the gate of spec.promotion."""

    type: ConditionType = Field(description="Ready, Reconciling, Stalled, Paused or Promotion.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word saying why.")
    message: str = Field(default="", description="What a person should know, in a sentence.")
    observed_generation: int | None = Field(
        default=None, description="metadata.generation the condition was computed for."
    )
    last_transition_time: datetime = Field(description="When status last changed.")


class HistoryEntry(StatusModel):
    """One finished attempt to roll out a revision."""

    revision: str = Field(description="Revision that was rolled out.")
    version: str = Field(description="Its spec.version.")
    outcome: Outcome = Field(description="Promoted, RolledBack, Superseded (by a newer spec) or Aborted.")
    reason: str = Field(default="", description="Why it ended so.")
    started_at: datetime = Field(description="When the attempt began.")
    finished_at: datetime = Field(description="When it ended.")


class RollbackRecord(StatusModel):
    """The last rollback: what triggered it and between which versions."""

    reason: str = Field(description="AnalysisFailed, AlertFiring, ProgressDeadlineExceeded or Aborted.")
    message: str = Field(default="", description="The trigger in a sentence.")
    metric: str | None = Field(default=None, description="Metric (or alert name) that triggered it.")
    value: str | None = Field(default=None, description="The measured value that failed, as text.")
    threshold: str | None = Field(default=None, description="The range the value had to be in, as text.")
    at: datetime = Field(description="When the rollback was decided.")
    from_version: str = Field(description="Version rolled back from.")
    to_version: str = Field(description="Version rolled back to.")


class ManualActionRecord(StatusModel):
    """The last carried-out value of one manual-action annotation (each distinct value runs once)."""

    action: str = Field(description="promote, promote-full, pause, resume, abort or retry.")
    value: str = Field(description="The annotation value that was carried out.")
    at: datetime = Field(description="When it was carried out.")
    result: str = Field(default="", description=f"What it did, or `{NO_EFFECT}` and why it changed nothing.")


class RetiringRevision(StatusModel):
    """A replaced revision that keeps running until `scale_down_at` (blue-green scaleDownDelaySeconds)."""

    revision: str = Field(description="The revision to remove.")
    version: str = Field(description="Its spec.version.")
    scale_down_at: datetime = Field(description="When it is removed.")


class OldRevision(StatusModel):
    """A replaced revision whose Deployment is kept at zero replicas, so that `undo` can return to it."""

    revision: str = Field(description="The revision kept.")
    version: str = Field(description="Its spec.version.")
    replaced_at: datetime = Field(description="When it stopped serving.")


class VersionHealth(StatusModel):
    """How long one version has been stable and Healthy here: what the promotion gate of a Release
    downstream reads, so that it re-derives "verified" from this status alone after any restart."""

    version: str = Field(description="The spec.version.")
    since: datetime | None = Field(
        default=None, description="Start of the Healthy stretch in progress on it; absent when none."
    )
    longest_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Longest finished Healthy stretch on it since its last rollback; absent when none.",
    )
    rolled_back_at: datetime | None = Field(
        default=None, description="When a rollout of it was last rolled back (or aborted) here."
    )


class Approval(StatusModel):
    """A person's `kubectl slipway approve` of one version."""

    version: str = Field(description="The version approved.")
    by: str = Field(description="Who approved it.")
    at: datetime = Field(description="When it was recorded.")


class GateSkip(StatusModel):
    """A person's `kubectl slipway approve --skip-gate`: the version starts whatever the gate says."""

    version: str = Field(description="The version let through.")
    by: str = Field(description="Who skipped the gate.")
    at: datetime = Field(description="When it was recorded.")
    gate: str = Field(description="The gate's reason when it was skipped (e.g. Soaking), or Open.")


class PromotionStatus(StatusModel):
    """The gate of spec.promotion for the desired version, and what persons said about it."""

    gate: GateState | None = Field(
        default=None, description="Open (the version may start) or Closed; absent until first judged."
    )
    reason: str = Field(
        default="",
        description="Verified, RanHereBefore, GateSkipped, WaitingForUpstream, Soaking, WaitingForApproval "
        "or OutsideWindow.",
    )
    message: str = Field(default="", description="Why, in a sentence.")
    version: str = Field(default="", description="The version the gate is about.")
    upstream: str = Field(default="", description="The upstream Release, namespace/name.")
    upstream_version: str | None = Field(default=None, description="The upstream's stable version.")
    upstream_healthy_since: datetime | None = Field(
        default=None, description="Since when the upstream has been Healthy on `version`."
    )
    next_window: datetime | None = Field(default=None, description="Start of the next window, when outside.")
    since: datetime | None = Field(default=None, description="When the gate took its state and reason.")
    approvals: list[Approval] = Field(
        default_factory=list, max_length=MAX_VERSIONS, description="Approved versions, newest last."
    )
    skipped: list[GateSkip] = Field(
        default_factory=list, max_length=MAX_VERSIONS, description="Gates skipped, newest last."
    )


class HookStatus(StatusModel):
    """The last run of one hook (spec.hooks): its Job, for which revision, and how it ended."""

    stage: HookStage = Field(description="preDeploy, postDeploy or postRollback.")
    name: str = Field(description="The hook's name in its list.")
    revision: str = Field(description="The revision it ran for.")
    attempt: int = Field(
        default=1,
        ge=1,
        description="Run of this hook for this revision (a retry after a failure is the next).",
    )
    job: str = Field(default="", description="Name of its Job, once seen.")
    result: HookResult = Field(default="Pending", description="Pending, Running, Succeeded or Failed.")
    started_at: datetime | None = Field(default=None, description="When its Job was asked for.")
    finished_at: datetime | None = Field(default=None, description="When it succeeded or failed.")
    message: str = Field(default="", description="Why it failed, when it did.")


class TransitionEvent(StatusModel):
    """An Event a transition this status records owes, written with it so that it is posted exactly once:
    the pass posts it once the status has landed, and a later pass posts one it did not see posted (a
    failed post, a restart between the two writes). Its name makes a second post harmless."""

    name: str = Field(
        description="Name of the Event object: the Release's name and a hash of its uid and "
        "the resourceVersion the transition was decided on."
    )
    type: Literal["Normal", "Warning"] = Field(description="Normal or Warning.")
    reason: str = Field(description="One CamelCase word, as the Event's reason.")
    message: str = Field(default="", description="The Event's message.")
    at: datetime = Field(description="When the transition was decided.")


class ReleaseStatus(StatusModel):
    """Observed state of a Release, written by the operator."""

    observed_generation: int | None = Field(
        default=None, description="metadata.generation of the spec this status reflects."
    )
    phase: Phase = Field(
        default="Progressing", description="Healthy, Progressing, Paused, RollingBack or Degraded."
    )
    reason: str = Field(default="", description="One CamelCase word saying why the release is in its phase.")
    message: str = Field(default="", description="What is happening, e.g. `step 2/5: weight 10%`.")
    stable: RevisionStatus | None = Field(default=None, description="The revision serving as the baseline.")
    canary: RevisionStatus | None = Field(
        default=None, description="The revision being rolled out (canary, preview or new pods)."
    )
    canary_weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percentage of traffic on the canary, 0 when there is none (kubectl get's WEIGHT).",
    )
    current_step: int | None = Field(
        default=None,
        ge=0,
        description="Steps done (0-based index of the step in progress) of the strategy's plan.",
    )
    step_started_at: datetime | None = Field(default=None, description="When the current step began.")
    attempt_started_at: datetime | None = Field(
        default=None, description="When the rollout of the canary revision began."
    )
    progress_at: datetime | None = Field(
        default=None, description="Last progress; progressDeadlineSeconds counts from here."
    )
    paused_at: datetime | None = Field(default=None, description="When the release entered Paused.")
    analysis: AnalysisStatus | None = Field(default=None, description="Analysis of the current attempt.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciling, Stalled and Paused (kstatus)."
    )
    history: list[HistoryEntry] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description=f"Finished attempts, newest last (at most {MAX_HISTORY}).",
    )
    last_rollback: RollbackRecord | None = Field(default=None, description="The last rollback.")
    manual_actions: list[ManualActionRecord] = Field(
        default_factory=list, description="Manual actions carried out, one entry per annotation key."
    )
    retiring: list[RetiringRevision] = Field(
        default_factory=list, description="Replaced revisions waiting to be scaled down."
    )
    old_revisions: list[OldRevision] = Field(
        default_factory=list,
        max_length=MAX_REVISION_HISTORY,
        description="Earlier revisions whose Deployments are kept at zero replicas"
        " (spec.revisionHistoryLimit), most recently replaced last.",
    )
    healthy_versions: list[VersionHealth] = Field(
        default_factory=list,
        max_length=MAX_VERSIONS,
        description=f"Healthy time per version, last touched last (at most {MAX_VERSIONS}).",
    )
    promotion: PromotionStatus | None = Field(default=None, description="The gate of spec.promotion.")
    hooks: list[HookStatus] = Field(
        default_factory=list,
        max_length=MAX_HOOK_RESULTS,
        description="The last run of each hook of spec.hooks.",
    )
    canary_routes: list[str] = Field(
        default_factory=list,
        max_length=MAX_ROUTES,
        description="Match routes the routing holds (setCanaryRoute steps carried out), by name.",
    )
    mirror_percent: int = Field(
        default=0, ge=0, le=100, description="Percentage of requests the routing mirrors to the canary."
    )
    routing_drift: list[str] = Field(
        default_factory=list,
        max_length=MAX_ROUTES,
        description="Routing objects last found changed from what Slipway wrote (and put back), as "
        "`Kind name`; a Warning Event RoutingDrift tells each new finding.",
    )
    transition_events: list[TransitionEvent] = Field(
        default_factory=list,
        max_length=MAX_TRANSITION_EVENTS,
        description="The Events of the last transition that had any, and any earlier one not yet seen "
        "posted; kept until a later status write (the operator's, never the state machine's).",
    )

    def to_api(self) -> dict[str, Any]:
        """The status as the API object holds it: camelCase keys, RFC 3339 times, absent fields left out
        (no Events owed: no `transitionEvents`; no revision kept: no `oldRevisions`; no match route,
        mirror or drift: no `canaryRoutes`, `mirrorPercent`, `routingDrift`; `canaryWeight` only once the
        core has set it; so a status written before they existed reads back the same)."""
        api = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for newer in ("transitionEvents", "oldRevisions", "canaryRoutes", "mirrorPercent", "routingDrift"):
            if not api.get(newer):
                api.pop(newer, None)
        return api

    @classmethod
    def from_api(cls, status: dict[str, Any] | None) -> ReleaseStatus | None:
        """A status read from the API; None when the operator has not written one yet."""
        return cls.model_validate(status) if status else None
