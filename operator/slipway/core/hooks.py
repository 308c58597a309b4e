"""Deploy hooks (spec.hooks): Jobs that must succeed at one moment of a rollout.

A stage (preDeploy, postDeploy, postRollback) runs its hooks one after the other, in list order, for
one revision. What each hook did last is in `status.hooks` (one entry per stage and name); the Jobs
themselves are the truth: an entry becomes Succeeded or Failed only when its Job is seen so, and a Job
is asked for (`RunHook`) only while none is seen for that revision and attempt. The shell names the
Job from revision, hook and attempt, so a crash anywhere neither runs a finished hook again nor skips
one. A hook still not finished `timeout` after it was asked for has failed. A failed hook runs again
only in a new attempt at the revision (`retry`, a new generation), as the next attempt number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from slipway.api.durations import parse_duration
from slipway.api.models import Hook, ReleaseSpec
from slipway.api.status import MAX_HOOK_RESULTS, HookStage, HookStatus, ReleaseStatus
from slipway.core.actions import RunHook
from slipway.core.observations import ObservedHookJob

HOOK_FAILED: Final = "HookFailed"


@dataclass
class StageProgress:
    """Where a stage stands after one look: `failed` names the failed hook's entry; `running` the
    hook it waits for; neither: every hook succeeded. `asks` holds the Job to create, if any."""

    running: HookStatus | None = None
    failed: HookStatus | None = None
    asks: list[RunHook] = field(default_factory=list)
    wake_at: datetime | None = None
    moved: bool = False
    """A hook was asked for the first time, or succeeded, in this pass (progress, for the deadline)."""
    news: bool = False
    """The failure was found in this pass (not already recorded): worth telling."""

    @property
    def done(self) -> bool:
        return self.running is None and self.failed is None


def hooks_of(spec: ReleaseSpec, stage: HookStage) -> list[Hook]:
    if spec.hooks is None:
        return []
    if stage == "preDeploy":
        return spec.hooks.pre_deploy
    return spec.hooks.post_deploy if stage == "postDeploy" else spec.hooks.post_rollback


def timeout_of(hook: Hook) -> timedelta:
    return timedelta(seconds=parse_duration(hook.timeout))


def describe(entry: HookStatus) -> str:
    job = f" (Job {entry.job})" if entry.job else ""
    return f"{entry.stage} hook {entry.name}{job}"


def run_stage(
    status: ReleaseStatus,
    spec: ReleaseSpec,
    stage: HookStage,
    revision: str,
    version: str,
    jobs: tuple[ObservedHookJob, ...],
    now: datetime,
) -> StageProgress:
    """Move the stage's hooks for `revision` on: record what their Jobs show, ask for the next one."""
    progress = StageProgress()
    for hook in hooks_of(spec, stage):
        entry = _entry(status, stage, hook.name, revision)
        took = _observe(entry, jobs, now)
        progress.moved |= took == "Succeeded"
        progress.news = took == "Failed"
        if entry.result == "Succeeded":
            continue
        if entry.result == "Failed":
            progress.failed = entry
            return progress
        if entry.started_at is None:
            entry.started_at, entry.result = now, "Running"
            progress.moved = True
        ends = entry.started_at + timeout_of(hook)
        if now >= ends:
            entry.result, entry.finished_at = "Failed", now
            entry.message = f"did not finish within {hook.timeout}"
            progress.failed, progress.news = entry, True
            return progress
        if not any(_is_run_of(job, entry) for job in jobs):
            progress.asks.append(RunHook(stage, hook.name, revision, version, entry.attempt))
        progress.running, progress.wake_at = entry, ends
        return progress
    return progress


def stage_succeeded(status: ReleaseStatus, spec: ReleaseSpec, stage: HookStage, revision: str) -> bool:
    """Whether every hook of the stage has succeeded for `revision` (as status records it)."""
    succeeded = {
        entry.name
        for entry in status.hooks
        if (entry.stage, entry.revision, entry.result) == (stage, revision, "Succeeded")
    }
    return all(hook.name in succeeded for hook in hooks_of(spec, stage))


def stage_began(status: ReleaseStatus, stage: HookStage, revision: str, since: datetime) -> bool:
    """Whether a hook of the stage was started for `revision` at `since` or later (in this attempt)."""
    return any(
        (entry.stage, entry.revision) == (stage, revision)
        and entry.started_at is not None
        and entry.started_at >= since
        for entry in status.hooks
    )


def new_attempt(
    status: ReleaseStatus, revision: str, jobs: tuple[ObservedHookJob, ...], now: datetime
) -> None:
    """A new attempt at `revision`: its failed hooks run again (as the next attempt), and so do its
    postRollback hooks, which belong to one rollback; hooks that succeeded never run again, even one
    whose Job succeeded only after it was judged too slow. Jobs that finished while nobody looked
    (the spec refused meanwhile) count as they ended."""
    for entry in status.hooks:
        if entry.revision != revision:
            continue
        _observe(entry, jobs, now)
        if entry.stage == "postRollback":  # belongs to one rollback: the next one runs it again
            _run_again(entry)
            continue
        if entry.result == "Succeeded":
            continue
        late = next(
            (
                job
                for job in jobs
                if (job.stage, job.hook, job.revision, job.outcome)
                == (entry.stage, entry.name, revision, "Succeeded")
            ),
            None,
        )
        if late is not None:
            entry.result, entry.job, entry.message = "Succeeded", late.job, ""
        elif entry.result == "Failed":
            _run_again(entry)


def _run_again(entry: HookStatus) -> None:
    """The hook runs anew, as the next attempt (a Job of a new name)."""
    entry.attempt += 1
    entry.result, entry.job, entry.message = "Pending", "", ""
    entry.started_at = entry.finished_at = None


def _entry(status: ReleaseStatus, stage: HookStage, name: str, revision: str) -> HookStatus:
    """The status entry of this hook for `revision`; a hook last run for another revision starts afresh."""
    for index, entry in enumerate(status.hooks):
        if entry.stage == stage and entry.name == name:
            if entry.revision == revision:
                return entry
            fresh = HookStatus(stage=stage, name=name, revision=revision)
            status.hooks[index] = fresh
            return fresh
    fresh = HookStatus(stage=stage, name=name, revision=revision)
    status.hooks = [*status.hooks, fresh][-MAX_HOOK_RESULTS:]
    return fresh


def _is_run_of(job: ObservedHookJob, entry: HookStatus) -> bool:
    return (job.stage, job.hook, job.revision, job.attempt) == (
        entry.stage,
        entry.name,
        entry.revision,
        entry.attempt,
    )


def _observe(entry: HookStatus, jobs: tuple[ObservedHookJob, ...], now: datetime) -> str | None:
    """Record what the entry's Job shows; the result it took in this pass, if any."""
    if entry.result in ("Succeeded", "Failed"):
        return None
    job = next((job for job in jobs if _is_run_of(job, entry)), None)
    if job is None:
        return None
    entry.job = job.job
    if entry.started_at is None:
        # Asked for by a pass whose status never landed: its clock starts now.
        entry.started_at, entry.result = now, "Running"
    if job.outcome == "Running":
        return None
    entry.result, entry.finished_at, entry.message = job.outcome, now, job.message
    return entry.result
