"""What `kubectl slipway` shows: pure functions of Release (and Event) dicts, as the API server returns them.

Nothing here talks to a cluster or reads the clock; callers pass `now`. Status fields may be missing
(a Release the operator has not seen yet, or an older operator): every field is read defensively and
shown as "-" when absent.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from slipway.api.models import ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.core import analysis as core_analysis
from slipway.core.machine import recorded_route
from slipway.core.strategies import Gate, plan_for
from slipway.core.strategies.canary import describe_match
from slipway.manifests import LABEL_REVISION

Obj = Mapping[str, Any]

NONE = "-"
CURRENT_STEP_MARK = "▶"

_PHASE_STYLES = {
    "Healthy": "green",
    "Progressing": "cyan",
    "Paused": "yellow",
    "RollingBack": "magenta",
    "Degraded": "red",
}

_RESULT_STYLES = {"Successful": "green", "Failed": "red", "Inconclusive": "yellow", "Error": "red"}


def parse_time(value: object) -> datetime | None:
    """An RFC3339 timestamp from the API (`2026-11-27T15:04:05Z`), or None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The API writes UTC; a timestamp without an offset is read as UTC so that all compare.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else NONE


def stamp(value: object) -> str:
    """An API timestamp to the second, as kubectl prints one (`2026-11-27T15:04:05Z`): the status keeps
    microseconds, which only widen a table."""
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else text_of(value)


def human_duration(seconds: float) -> str:
    """A duration the way kubectl prints ages: precise when short, coarse when long."""
    s = max(0, int(seconds))
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if days < 2:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def age(timestamp: object, now: datetime) -> str:
    when = parse_time(timestamp)
    return human_duration((now - when).total_seconds()) if when else NONE


def text_of(value: object) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _status(release: Obj) -> Obj:
    status = release.get("status")
    return status if isinstance(status, Mapping) else {}


def _spec(release: Obj) -> Obj:
    spec = release.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _list(value: object) -> list[Obj]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def phase_text(phase: object) -> Text:
    label = text_of(phase)
    return Text(label, style=_PHASE_STYLES.get(label, ""))


# ---------------------------------------------------------------------------------------------- steps


def strategy_name(release: Obj) -> str:
    strategy = _spec(release).get("strategy")
    if isinstance(strategy, Mapping):
        for name in ("canary", "blueGreen", "rolling"):
            if name in strategy:
                return name
    return NONE


def valid_spec(release: Obj) -> ReleaseSpec | None:
    """The spec as the operator reads it; None when it is not a valid Release (the API server refuses
    those anyway)."""
    try:
        return ReleaseSpec.model_validate(_spec(release))
    except ValidationError:
        return None


def valid_status(release: Obj) -> ReleaseStatus | None:
    """The status as the operator wrote it; None before its first write (or when unreadable)."""
    try:
        return ReleaseStatus.from_api(dict(_status(release)))
    except ValidationError:
        return None


def plan_steps(release: Obj) -> list[str]:
    """What each step of the rollout does, from the very plan the operator runs (status.currentStep
    indexes it). Empty when the spec is not a valid Release."""
    spec = valid_spec(release)
    return [step.describe() for step in plan_for(spec).steps] if spec else []


def gate_progress(release: Obj) -> str | None:
    """The analysis gate in progress, counted by the core's own function (the one the state machine
    promotes by): "gate 1/3 good in a row". None when no gate is in progress."""
    spec, status = valid_spec(release), valid_status(release)
    if spec is None or spec.analysis is None or status is None or status.analysis is None:
        return None
    steps, current = plan_for(spec).steps, status.current_step
    if status.phase not in ROLLING_OUT or current is None or current >= len(steps):
        return None
    step = steps[current]
    if not isinstance(step, Gate):
        return None
    good = core_analysis.gate_progress(status.analysis, step, spec.analysis)
    return f"gate {good}/{step.successes} good in a row"


# Phases in which a rollout is under way, so that a step is in progress.
ROLLING_OUT = ("Progressing", "Paused")


def current_step_number(release: Obj) -> int | None:
    """The 1-based number of the step in progress, or None when no rollout is under way.

    status.currentStep counts steps done (the 0-based index of the step in progress).
    """
    status = _status(release)
    current = status.get("currentStep")
    if status.get("phase") not in ROLLING_OUT or not isinstance(current, int) or isinstance(current, bool):
        return None
    return current + 1


def _table(title: str | None, columns: Iterable[str]) -> Table:
    """A borderless table with bold column headers (and a title on the left), as every view prints."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


StepState = Literal["done", "current", ""]


def step_states(release: Obj) -> list[tuple[str, StepState]]:
    """Each step of the plan and, during a rollout, whether it is done or the one in progress."""
    current = current_step_number(release)
    states: list[tuple[str, StepState]] = []
    for number, step in enumerate(plan_steps(release), start=1):
        done = current is not None and number < current
        states.append((step, "done" if done else "current" if number == current else ""))
    return states


def step_in_progress(release: Obj) -> tuple[int, int, str] | None:
    """The step in progress: its number (the last one once all are done), the number of steps and what
    it does; None when no rollout is under way."""
    current, steps = current_step_number(release), plan_steps(release)
    if current is None or not steps:
        return None
    number = min(current, len(steps))
    return number, len(steps), steps[number - 1]


def steps_table(release: Obj) -> Table:
    """The rollout plan; during a rollout, the steps done and the one in progress are marked."""
    table = Table(title="Steps", title_justify="left", box=None, pad_edge=False)
    for column in ("", "#", "STEP", "STATE"):
        table.add_column(column)
    for number, (step, state) in enumerate(step_states(release), start=1):
        style = {"done": "green", "current": "bold cyan"}.get(state, "")
        table.add_row(CURRENT_STEP_MARK if state == "current" else "", str(number), step, Text(state, style))
    return table


# ---------------------------------------------------------------------------------------------- list


def canary_weight(release: Obj) -> int | None:
    """The canary's share of traffic, as `kubectl get rel` shows it (status.canaryWeight); a status
    written before canaryWeight existed gives its canary's weight (0 without a canary); None before the
    operator has written a status."""
    status = _status(release)
    if not status:
        return None
    weight = status.get("canaryWeight")
    if not isinstance(weight, int):
        canary = status.get("canary")
        weight = canary.get("weight") if isinstance(canary, Mapping) else 0
    return weight if isinstance(weight, int) else 0


def release_weight(release: Obj) -> str:
    weight = canary_weight(release)
    return NONE if weight is None else f"{weight}%"


def release_step(release: Obj) -> str:
    step = step_in_progress(release)
    return NONE if step is None else f"{step[0]}/{step[1]}"


def release_version(release: Obj) -> str:
    return text_of(_spec(release).get("version"))


def _revision_label(release: Obj, role: str) -> str:
    revision = _status(release).get(role)
    if not isinstance(revision, Mapping) or not revision.get("revision"):
        return NONE
    return f"{text_of(revision.get('version'))} ({text_of(revision.get('revision'))})"


def list_table(releases: Iterable[Obj], now: datetime, *, with_namespace: bool, wide: bool = False) -> Table:
    """The `kubectl slipway list` table: one row per Release, sorted by namespace and name; wide adds
    the strategy, the stable and canary revisions and the operator's message."""
    namespace = ["NAMESPACE"] if with_namespace else []
    more = ["STRATEGY", "STABLE", "CANARY", "MESSAGE"] if wide else []
    table = _table(None, [*namespace, "NAME", "VERSION", "PHASE", "WEIGHT", "STEP", "AGE", *more])
    ordered = sorted(
        releases, key=lambda r: (text_of(_meta(r).get("namespace")), text_of(_meta(r).get("name")))
    )
    for release in ordered:
        meta = _meta(release)
        cells: list[str | Text] = [text_of(meta.get("namespace"))] if with_namespace else []
        cells += [
            text_of(meta.get("name")),
            release_version(release),
            phase_text(_status(release).get("phase")),
            release_weight(release),
            release_step(release),
            age(meta.get("creationTimestamp"), now),
        ]
        if wide:
            cells += [
                strategy_name(release),
                _revision_label(release, "stable"),
                _revision_label(release, "canary"),
                text_of(_status(release).get("message")),
            ]
        table.add_row(*cells)
    return table


# ---------------------------------------------------------------------------------------------- status

RolloutState = Literal["done", "failed", "waiting"]


def rollout_state(release: Obj) -> tuple[RolloutState, str]:
    """Where the rollout of the desired version stands, as `kubectl slipway status` says it in one
    line: done (Healthy on spec.version, for the current generation), failed (rolling back or rolled
    back: Degraded), or still waiting."""
    meta, status = _meta(release), _status(release)
    name = f"release {text_of(meta.get('namespace'))}/{text_of(meta.get('name'))}"
    phase, version = status.get("phase"), _spec(release).get("version")
    stable = status.get("stable")
    serving = stable.get("version") if isinstance(stable, Mapping) else None
    message = text_of(status.get("message"))
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if not status:
        return "waiting", f"{name}: no status yet (is the operator running?)"
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return "waiting", f"{name}: waiting for the operator to see generation {generation}"
    if phase == "Healthy" and serving == version:
        return "done", f"{name}: Healthy on version {text_of(version)}"
    if phase in ("Degraded", "RollingBack"):
        return "failed", f"{name}: {phase}: {message}"
    return "waiting", f"{name}: {text_of(phase)}: {message}"


# ---------------------------------------------------------------------------------------------- get


def routing_line(release: Obj) -> Text | None:
    """The match routes (with their matches, as the steps up to the current one define them: what the
    core has in force) and the mirror the routing holds while a rollout runs; None when it holds
    neither (or the spec is not a valid Release)."""
    spec = valid_spec(release)
    route = recorded_route(spec, valid_status(release)) if spec is not None else None
    if route is None:
        return None
    parts = [f"route {match.name} ({describe_match(match)})" for match in route.routes]
    if route.mirror_percent:
        parts.append(f"mirror {route.mirror_percent}%")
    return Text("  to the canary besides its weight: " + "; ".join(parts)) if parts else None


def _pod_ready(pod: Obj) -> bool:
    conditions = _list(_status(pod).get("conditions"))
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_line(pod: Obj, now: datetime, *, wide: bool) -> str:
    """One pod under its revision: name, phase, ready or not, age (and IP and node, wide)."""
    status = _status(pod)
    cells = [
        text_of(_meta(pod).get("name")),
        text_of(status.get("phase")),
        "ready" if _pod_ready(pod) else "not ready",
        age(_meta(pod).get("creationTimestamp"), now),
    ]
    if wide:
        cells += [text_of(status.get("podIP")), text_of(_spec(pod).get("nodeName"))]
    return "  ".join(cells)


def revisions_tree(release: Obj, pods: Iterable[Obj], now: datetime, *, wide: bool = False) -> Tree:
    """The stable and canary revisions (version, ready pods, weight), each with its pods."""
    tree = Tree(Text("Revisions", style="italic"), guide_style="dim")
    by_revision: dict[str, list[Obj]] = {}
    for pod in pods:
        by_revision.setdefault(text_of((_meta(pod).get("labels") or {}).get(LABEL_REVISION)), []).append(pod)
    status = _status(release)
    for role in ("stable", "canary"):
        revision = status.get(role)
        if not isinstance(revision, Mapping) or not revision.get("revision"):
            continue
        weight = revision.get("weight")
        name = text_of(revision.get("revision"))
        branch = tree.add(
            "  ".join(
                (
                    role,
                    name,
                    text_of(revision.get("version")),
                    f"{text_of(revision.get('readyReplicas', 0))}/{text_of(revision.get('replicas', 0))}",
                    f"{weight}%" if isinstance(weight, int | float) else NONE,
                )
            )
        )
        for pod in sorted(by_revision.get(name, []), key=lambda p: text_of(_meta(p).get("name"))):
            branch.add(pod_line(pod, now, wide=wide))
    return tree


def measurements(release: Obj) -> list[Obj]:
    analysis = _status(release).get("analysis")
    return _list(analysis.get("measurements")) if isinstance(analysis, Mapping) else []


def analysis_table(release: Obj, now: datetime) -> RenderableType:
    """The gate in progress as the state machine counts it (results taken before the gate began, e.g.
    during a pause, do not count toward it), the attempt's totals, and the recent measurements."""
    analysis = _status(release).get("analysis")
    analysis = analysis if isinstance(analysis, Mapping) else {}
    counts = ", ".join(
        f"{key} {analysis[key]}"
        for key in ("successful", "failures", "inconclusive", "errors")
        if isinstance(analysis.get(key), int)
    )
    table = _table(None, ("METRIC", "VALUE", "RESULT", "AGE", "MESSAGE"))
    for measurement in measurements(release):
        result = text_of(measurement.get("result"))
        table.add_row(
            text_of(measurement.get("metric")),
            text_of(measurement.get("value")),
            Text(result, style=_RESULT_STYLES.get(result, "")),
            age(measurement.get("at"), now),
            text_of(measurement.get("message")),
        )
    gate = gate_progress(release)
    # Outside a rollout the counters are the last attempt's (perhaps a rolled-back version's): say whose.
    attempt = "this attempt"
    if current_step_number(release) is None:
        attempt = f"last attempt, revision {text_of(analysis.get('revision'))}"
    parts = [part for part in (gate, f"{attempt}: {counts}" if counts else None) if part]
    title = Text("Analysis", style="italic") + Text(f" ({'; '.join(parts)})" if parts else "")
    return Group(title, table if table.row_count else Text("no measurements yet"))


def conditions_table(release: Obj, now: datetime) -> Table:
    table = _table("Conditions", ("TYPE", "STATUS", "REASON", "AGE", "MESSAGE"))
    for condition in _list(_status(release).get("conditions")):
        table.add_row(
            text_of(condition.get("type")),
            text_of(condition.get("status")),
            text_of(condition.get("reason")),
            age(condition.get("lastTransitionTime"), now),
            text_of(condition.get("message")),
        )
    return table


def acknowledgement(release: Obj, action: str, value: str) -> str | None:
    """What the operator did for the request `action`=`value`, once status.manualActions records it."""
    for record in _list(_status(release).get("manualActions")):
        if record.get("action") == action and record.get("value") == value:
            return text_of(record.get("result"))
    return None


def manual_actions_table(release: Obj, now: datetime) -> Table:
    table = _table("Manual actions carried out", ("ACTION", "AGE", "RESULT"))
    for record in _list(_status(release).get("manualActions")):
        table.add_row(
            text_of(record.get("action")), age(record.get("at"), now), text_of(record.get("result"))
        )
    return table


def hooks_table(release: Obj, now: datetime) -> Table:
    """The last run of each deploy hook (status.hooks)."""
    table = _table("Hooks", ("STAGE", "HOOK", "REVISION", "RESULT", "JOB", "AGE", "MESSAGE"))
    for entry in _list(_status(release).get("hooks")):
        table.add_row(
            text_of(entry.get("stage")),
            text_of(entry.get("name")),
            text_of(entry.get("revision")),
            text_of(entry.get("result")),
            text_of(entry.get("job")),
            age(entry.get("startedAt"), now),
            text_of(entry.get("message")),
        )
    return table


def release_view(
    release: Obj, now: datetime, pods: Iterable[Obj] = (), *, wide: bool = False
) -> RenderableType:
    """The `kubectl slipway get` view: header, the tree of revisions and their pods, steps, analysis,
    hooks, conditions."""
    meta, status = _meta(release), _status(release)
    header = Text.assemble(
        ("Release ", "bold"),
        (f"{text_of(meta.get('namespace'))}/{text_of(meta.get('name'))}", "bold"),
        f"  version {release_version(release)}  strategy {strategy_name(release)}  phase ",
        phase_text(status.get("phase")),
    )
    parts: list[RenderableType] = [header]
    if not status:
        parts.append(Text("  no status yet: the operator has not seen this Release (is it running?)"))
    elif status.get("message"):
        parts.append(Text(f"  {status['message']}"))
    if status.get("stable") or status.get("canary"):
        parts += ["", revisions_tree(release, pods, now, wide=wide)]
        routing = routing_line(release)
        parts += [routing] if routing is not None else []
    if plan_steps(release):
        parts += ["", steps_table(release)]
    if status.get("analysis"):
        parts += ["", analysis_table(release, now)]
    if status.get("hooks"):
        parts += ["", hooks_table(release, now)]
    if status.get("conditions"):
        parts += ["", conditions_table(release, now)]
    if status.get("manualActions"):
        parts += ["", manual_actions_table(release, now)]
    return Group(*parts)


# ---------------------------------------------------------------------------------------------- history


def history(release: Obj) -> list[Obj]:
    """status.history, oldest first, as the operator records it."""
    return _list(_status(release).get("history"))


def _restorable(entry: Obj, restorable: Collection[str] | None) -> bool | None:
    return None if restorable is None else entry.get("revision") in restorable


def history_table(release: Obj, restorable: Collection[str] | None, *, wide: bool = False) -> Table:
    """`kubectl slipway history`: the NO column is what `undo --to-revision` accepts; RESTORABLE says
    whether the revision's Deployment is still there for it (`restorable`: those revisions; None: not
    known, shown "?"); wide adds how long each attempt took."""
    more = ["DURATION"] if wide else []
    columns = ("NO", "REVISION", "VERSION", "OUTCOME", "REASON", "STARTED", "FINISHED", "RESTORABLE", *more)
    table = _table(None, columns)
    for number, entry in enumerate(history(release), start=1):
        cells = [
            str(number),
            text_of(entry.get("revision")),
            text_of(entry.get("version")),
            text_of(entry.get("outcome")),
            text_of(entry.get("reason")),
            stamp(entry.get("startedAt")),
            stamp(entry.get("finishedAt")),
            {True: "yes", False: "no", None: "?"}[_restorable(entry, restorable)],
        ]
        if wide:
            started, finished = parse_time(entry.get("startedAt")), parse_time(entry.get("finishedAt"))
            took = (finished - started).total_seconds() if started and finished else None
            cells.append(human_duration(took) if took is not None else NONE)
        table.add_row(*cells)
    return table


def numbered_history(release: Obj, restorable: Collection[str] | None) -> list[dict[str, Any]]:
    """status.history for -o json|yaml, each entry with its `no` (what `undo --to-revision` takes) and
    whether `undo` can still return to it (null: not known)."""
    return [
        {"no": number, **entry, "restorable": _restorable(entry, restorable)}
        for number, entry in enumerate(history(release), start=1)
    ]


# ---------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime | None
    source: str
    text: str


def _event_time(event: Obj) -> object:
    """When it happened: last occurrence, else eventTime, else first occurrence, else creation."""
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or _meta(event).get("creationTimestamp")
    )


def events_for(release: Obj, events: Iterable[Obj]) -> list[Obj]:
    """The core/v1 Events whose involvedObject is this Release (this incarnation, when the uid is set)."""
    meta = _meta(release)
    chosen = []
    for event in events:
        target = event.get("involvedObject") or {}
        if (
            isinstance(target, Mapping)
            and target.get("kind") == "Release"
            and target.get("name") == meta.get("name")
            and (target.get("uid") in (None, meta.get("uid")))
        ):
            chosen.append(event)
    # In the order they were written: Events within one second keep their sequence.
    return sorted(chosen, key=lambda event: _sequence(_meta(event).get("resourceVersion")))


def _sequence(resource_version: object) -> int:
    return int(resource_version) if isinstance(resource_version, str) and resource_version.isdigit() else 0


def rollback_timeline(release: Obj, events: Iterable[Obj]) -> list[TimelineEntry]:
    """Every dated fact about the Release, oldest first: history entries, the rollback, Events."""
    entries: list[TimelineEntry] = []
    for entry in history(release):
        label = f"{text_of(entry.get('version'))} ({text_of(entry.get('revision'))})"
        entries.append(TimelineEntry(parse_time(entry.get("startedAt")), "history", f"{label} started"))
        if entry.get("finishedAt"):
            outcome = f"{text_of(entry.get('outcome'))}: {text_of(entry.get('reason'))}"
            entries.append(
                TimelineEntry(parse_time(entry.get("finishedAt")), "history", f"{label} {outcome}")
            )
    last = _status(release).get("lastRollback")
    if isinstance(last, Mapping) and last:
        entries.append(TimelineEntry(parse_time(last.get("at")), "rollback", rollback_summary(last)))
    for event in events_for(release, events):
        kind = text_of(event.get("type"))
        entries.append(
            TimelineEntry(
                parse_time(_event_time(event)),
                f"event {kind}",
                f"{text_of(event.get('reason'))}: {text_of(event.get('message'))}",
            )
        )
    # Undated facts sort first; the sort is stable, so same-time facts keep history, rollback, event order.
    return sorted(entries, key=lambda e: (e.at is not None, e.at or datetime.min.replace(tzinfo=UTC)))


def last_attempt_started(release: Obj) -> datetime | None:
    """When the attempt that was last rolled back began: the newest history start before the rollback."""
    last = _status(release).get("lastRollback")
    rolled_back_at = parse_time(last.get("at")) if isinstance(last, Mapping) else None
    if rolled_back_at is None:
        return None
    starts = [parse_time(entry.get("startedAt")) for entry in history(release)]
    return max((start for start in starts if start and start <= rolled_back_at), default=rolled_back_at)


def rollback_summary(last: Obj) -> str:
    what = f"rolled back {text_of(last.get('fromVersion'))} -> {text_of(last.get('toVersion'))}"
    why = text_of(last.get("reason"))
    if last.get("metric"):
        value, threshold = text_of(last.get("value")), text_of(last.get("threshold"))
        why += f" (metric {last['metric']} = {value}, threshold {threshold})"
    return f"{what}: {why}"


def rollback_report(release: Obj, events: Sequence[Obj], now: datetime) -> RenderableType:
    """`kubectl slipway report`: what failed, when, and what was done, as one timeline.

    With a rollback on record the timeline starts when the rolled-back attempt began; without one it
    covers everything the history and the Events still hold.
    """
    meta = _meta(release)
    name = f"{text_of(meta.get('namespace'))}/{text_of(meta.get('name'))}"
    last = _status(release).get("lastRollback")
    since = last_attempt_started(release)
    if not isinstance(last, Mapping) or not last:
        headline = Text(f"Release {name} has not been rolled back.", style="bold")
    else:
        when = parse_time(last.get("at"))
        ago = f" {human_duration((now - when).total_seconds())} ago" if when else ""
        headline = Text(f"Release {name} {rollback_summary(last)}{ago}.", style="bold red")
    title = f"Timeline since {format_time(since)}" if since else "Timeline"
    table = _table(title, ("TIME (UTC)", "SOURCE", "WHAT"))
    for entry in rollback_timeline(release, events):
        if since is None or (entry.at is not None and entry.at >= since):
            table.add_row(format_time(entry.at), entry.source, entry.text)
    status = _status(release)
    now_line = Text.assemble(
        "Now: phase ", phase_text(status.get("phase")), f"  {text_of(status.get('message'))}"
    )
    return Group(headline, "", table, "", now_line)
