"""The promotion gate (spec.promotion): a version runs here only once the environment before this one
has verified it.

Verified upstream: the upstream Release has had this exact version as its stable revision, Healthy, for
at least `soak` (now, or in a stretch that ended), and has not rolled it back since. Every Release keeps
that record about itself in `status.healthyVersions` (`record_health`, `rolled_back`), so a downstream
Release re-derives the verification from the upstream's status alone: nothing is remembered in memory,
and a gate that was open is open again after a restart.

The gate is asked only before something new starts (a first release, a new version, a retry); a
version this Release already ran stable (going back to it) is never gated, and a rollout that has
started is never stopped by it. `kubectl slipway approve` (manual approval) and `approve --skip-gate`
arrive as annotations (`take_gate_actions`), recorded in `status.promotion`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Final

from slipway.api.annotations import APPROVE, GATE_ACTIONS, PREFIX, SKIP_GATE, UNAPPROVE
from slipway.api.durations import format_duration, parse_duration
from slipway.api.models import DAYS, Promotion, PromotionWindow, ReleaseSpec
from slipway.api.status import (
    MAX_VERSIONS,
    NO_EFFECT,
    Approval,
    Condition,
    GateSkip,
    ManualActionRecord,
    PromotionStatus,
    ReleaseStatus,
    VersionHealth,
)
from slipway.core.actions import AcknowledgeAction, EmitEvent
from slipway.core.observations import Upstream
from slipway.core.obstacles import Obstacle

INVALID_PROMOTION: Final = "InvalidPromotion"
WAITING_FOR_UPSTREAM: Final = "WaitingForUpstream"
SOAKING: Final = "Soaking"
WAITING_FOR_APPROVAL: Final = "WaitingForApproval"
OUTSIDE_WINDOW: Final = "OutsideWindow"
GATE_REASONS: Final = frozenset({WAITING_FOR_UPSTREAM, SOAKING, WAITING_FOR_APPROVAL, OUTSIDE_WINDOW})
"""The reasons of a closed gate: the Release is Paused with one of them."""

GATE_OPENED: Final = "PromotionGateOpened"


@dataclass(frozen=True)
class Gate:
    """The gate's answer for one version: open or not, why, and when it may change by itself."""

    open: bool
    reason: str
    message: str
    wake_at: datetime | None = None
    upstream_version: str | None = None
    upstream_healthy_since: datetime | None = None
    next_window: datetime | None = None


# -- the record every Release keeps about itself (what a downstream gate reads) ---------------------------


def record_health(status: ReleaseStatus, now: datetime) -> None:
    """Open the Healthy stretch of the stable version while the phase is Healthy; close any other."""
    healthy_on = status.stable.version if status.phase == "Healthy" and status.stable is not None else None
    entries: list[VersionHealth] = []
    for entry in status.healthy_versions:
        if entry.since is not None and entry.version != healthy_on:
            stretch = max(0.0, (now - entry.since).total_seconds())
            longest = max(entry.longest_seconds or 0.0, stretch)
            entry = entry.model_copy(update={"since": None, "longest_seconds": longest})
        entries.append(entry)
    if healthy_on is not None:
        current = next((entry for entry in entries if entry.version == healthy_on), None)
        if current is None or current.since is None:
            started = (
                current.model_copy(update={"since": now})
                if current is not None
                else VersionHealth(version=healthy_on, since=now)
            )
            entries = [entry for entry in entries if entry.version != healthy_on] + [started]
    status.healthy_versions = entries[-MAX_VERSIONS:]


def rolled_back(status: ReleaseStatus, version: str, now: datetime) -> None:
    """A rollout of `version` was rolled back: whatever Healthy time it had here no longer verifies it."""
    others = [entry for entry in status.healthy_versions if entry.version != version]
    status.healthy_versions = [*others, VersionHealth(version=version, rolled_back_at=now)][-MAX_VERSIONS:]


def ran_here(status: ReleaseStatus, version: str) -> bool:
    """Whether this Release has run `version` stable: going back to it is never gated."""
    return any(entry.outcome == "Promoted" and entry.version == version for entry in status.history) or any(
        entry.version == version and (entry.since is not None or entry.longest_seconds is not None)
        for entry in status.healthy_versions
    )


# -- refusing what can never open --------------------------------------------------------------------------


def obstacles(spec: ReleaseSpec, upstream: Upstream | None) -> tuple[Obstacle, ...]:
    """A promotion naming this Release itself, or a chain of them that comes back to it."""
    if spec.promotion is None or upstream is None:
        return ()
    if upstream.ref == upstream.own:
        return (
            Obstacle(
                INVALID_PROMOTION,
                "spec.promotion.from",
                f"names this Release itself ({upstream.own}): a Release cannot wait for itself",
            ),
        )
    if upstream.own in upstream.chain:
        loop = [upstream.own, upstream.ref, *upstream.chain[: upstream.chain.index(upstream.own) + 1]]
        return (
            Obstacle(
                INVALID_PROMOTION,
                "spec.promotion.from",
                "forms a cycle, where no version could ever start: " + " waits for ".join(loop),
            ),
        )
    return ()


# -- the gate ----------------------------------------------------------------------------------------------


def evaluate(
    promotion: Promotion, version: str, status: ReleaseStatus, upstream: Upstream | None, now: datetime
) -> Gate:
    """Whether `version` may start here now, judged from this Release's status and the upstream's."""
    recorded = status.promotion
    skip = next((entry for entry in (recorded.skipped if recorded else []) if entry.version == version), None)
    if skip is not None:
        return Gate(True, "GateSkipped", f"{version}: gate skipped by {skip.by} at {_at(skip.at)}")
    if ran_here(status, version):
        return Gate(True, "RanHereBefore", f"{version} ran stable here before: going back to it is not gated")
    verification = _verification(promotion, version, upstream, now)
    if not verification.open:
        return verification
    if promotion.approval == "manual" and not any(
        entry.version == version for entry in (recorded.approvals if recorded else [])
    ):
        return replace(
            verification,
            open=False,
            reason=WAITING_FOR_APPROVAL,
            message=f"{verification.message}; waiting for approval (kubectl slipway approve)",
        )
    if promotion.windows and not in_window(promotion.windows, now):
        opens = next_window(promotion.windows, now)
        return replace(
            verification,
            open=False,
            reason=OUTSIDE_WINDOW,
            message=f"{verification.message}; outside the promotion windows, next from {_at(opens)}",
            wake_at=opens,
            next_window=opens,
        )
    return verification


def _verification(promotion: Promotion, version: str, upstream: Upstream | None, now: datetime) -> Gate:
    """Open ("Verified") when the upstream verified `version`; else WaitingForUpstream or Soaking."""
    if upstream is None:
        return Gate(False, WAITING_FOR_UPSTREAM, f"{version} waits: the upstream Release was not observed")
    where = upstream.ref
    if upstream.unreadable is not None:
        return Gate(
            False, WAITING_FOR_UPSTREAM, f"{version} waits: {where} cannot be read: {upstream.unreadable}"
        )
    if upstream.status is None:
        return Gate(False, WAITING_FOR_UPSTREAM, f"{version} waits: {where} has no status yet")
    there = upstream.status
    stable = there.stable.version if there.stable is not None else None
    entry = next((entry for entry in there.healthy_versions if entry.version == version), None)
    soak = parse_duration(promotion.soak)
    known = Gate(False, WAITING_FOR_UPSTREAM, "", None, stable, entry.since if entry else None)
    if entry is None or (entry.since is None and entry.longest_seconds is None):
        if entry is not None and entry.rolled_back_at is not None:
            why = f"{version} was rolled back in {where} at {_at(entry.rolled_back_at)}"
        else:
            why = f"{version} has not been Healthy in {where} (it runs {stable or 'nothing'} there)"
        return replace(known, message=f"{why}; it must be Healthy there first")
    so_far = max(0.0, (now - entry.since).total_seconds()) if entry.since is not None else 0.0
    if max(so_far, entry.longest_seconds or 0.0) >= soak:
        # Healthy now: since when, which stays true while an approval or a window is awaited; else the
        # longest stretch, which no longer grows.
        if entry.since is not None:
            healthy = f"since {_at(entry.since)}"
        else:
            healthy = f"for {format_duration(round(entry.longest_seconds or 0.0))}"
        return replace(
            known,
            open=True,
            reason="Verified",
            message=f"{version} verified in {where}: Healthy there {healthy}",
        )
    needed = f"{version} must be Healthy in {where} for {format_duration(soak)}"
    if entry.since is None:
        was = format_duration(round(entry.longest_seconds or 0.0))
        return replace(known, message=f"{needed}; it was for {was} only, and is not now")
    # Times, not a duration so far: the status is written as the wait begins and stays true until the
    # gate opens (a count would be stale a minute later, or a status write at every pass).
    opens = entry.since + timedelta(seconds=soak)
    return replace(
        known,
        reason=SOAKING,
        message=f"{needed}: Healthy there since {_at(entry.since)}, so not before {_at(opens)}",
        wake_at=opens,
    )


def in_window(windows: list[PromotionWindow], now: datetime) -> bool:
    day, clock = DAYS[now.astimezone(UTC).weekday()], now.astimezone(UTC).strftime("%H:%M")
    return any(day in window.days and window.start <= clock < window.end for window in windows)


def next_window(windows: list[PromotionWindow], now: datetime) -> datetime:
    """The start of the next window after `now` (windows repeat every week)."""
    today = now.astimezone(UTC).date()
    starts = [
        datetime.combine(today + timedelta(days=offset), time.fromisoformat(window.start), UTC)
        for offset in range(8)
        for window in windows
        if DAYS[(today + timedelta(days=offset)).weekday()] in window.days
    ]
    return min(start for start in starts if start > now)


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- what the status says about it ---------------------------------------------------------------------


def settle(
    status: ReleaseStatus, gate: Gate, version: str, upstream: str, now: datetime
) -> tuple[EmitEvent, ...]:
    """Record the gate's answer in status.promotion; an Event when it opens, closes or changes reason."""
    before = status.promotion or PromotionStatus()
    state = "Open" if gate.open else "Closed"
    news = (before.gate, before.reason, before.version) != (state, gate.reason, version)
    status.promotion = before.model_copy(
        update={
            "gate": state,
            "reason": gate.reason,
            "message": gate.message,
            "version": version,
            "upstream": upstream,
            "upstream_version": gate.upstream_version,
            "upstream_healthy_since": gate.upstream_healthy_since,
            "next_window": gate.next_window,
            "since": now if news else before.since,
        }
    )
    if not news:
        return ()
    if gate.open:
        return (EmitEvent("Normal", GATE_OPENED, gate.message),)
    return (EmitEvent("Normal", gate.reason, gate.message),)


def condition(status: ReleaseStatus, generation: int, now: datetime) -> Condition | None:
    """The Promotion condition: True while the gate is open, False with its reason while closed."""
    recorded = status.promotion
    if recorded is None or recorded.gate is None:
        return None
    state = "True" if recorded.gate == "Open" else "False"
    old = next((c for c in status.conditions if c.type == "Promotion"), None)
    return Condition(
        type="Promotion",
        status=state,
        reason=recorded.reason,
        message=recorded.message,
        observed_generation=generation,
        last_transition_time=old.last_transition_time if old is not None and old.status == state else now,
    )


# -- what persons say: approve, unapprove, skip-gate -----------------------------------------------------

_VALUE: Final = re.compile(r"^\s*(?P<version>\S+)(?:\s+by\s+(?P<by>.+?))?(?:\s+at\s+\S+)?\s*$")


def take_gate_actions(
    status: ReleaseStatus, promotion: Promotion | None, annotations: dict[str, str], now: datetime
) -> tuple[list[EmitEvent], list[AcknowledgeAction]]:
    """Carry out each new value of the gate's annotations once (status.manualActions keeps the last
    value per key, as for every manual action); acknowledge every value, new or repeated."""
    done = {record.action: record for record in status.manual_actions}
    events: list[EmitEvent] = []
    acks: list[AcknowledgeAction] = []
    for key in GATE_ACTIONS:
        value = annotations.get(key)
        if value is None:
            continue
        action = key.removeprefix(PREFIX)
        acks.append(AcknowledgeAction(action, value))
        if action in done and done[action].value == value:
            continue
        result = _carry_out(status, promotion, key, value, now)
        done[action] = ManualActionRecord(action=action, value=value, at=now, result=result)
        events.append(EmitEvent("Normal", "ManualAction", f"{action}: {result}"))
    status.manual_actions = sorted(done.values(), key=lambda record: record.action)
    return events, acks


def no_effect(status: ReleaseStatus, promotion: Promotion | None, key: str, value: str) -> str | None:
    """Why the gate request `key`=`value` would change nothing now (None: it would act)."""
    return _no_effect(status, promotion, key, value, _VALUE.match(value))


def _no_effect(
    status: ReleaseStatus, promotion: Promotion | None, key: str, value: str, parsed: re.Match[str] | None
) -> str | None:
    """no_effect on the value as _VALUE parsed it (None: it names no version)."""
    if promotion is None:
        return "spec.promotion is not set"
    if parsed is None:
        return f"{value!r} does not name a version"
    version = parsed["version"]
    recorded = status.promotion or PromotionStatus()
    approved = next((entry for entry in recorded.approvals if entry.version == version), None)
    if key == APPROVE and approved is not None:
        return f"{version} already approved by {approved.by}"
    if key == UNAPPROVE and approved is None:
        return f"{version} is not approved"
    if key == SKIP_GATE and any(entry.version == version for entry in recorded.skipped):
        return f"the gate is already skipped for {version}"
    return None


def _carry_out(
    status: ReleaseStatus, promotion: Promotion | None, key: str, value: str, now: datetime
) -> str:
    parsed = _VALUE.match(value)
    why = _no_effect(status, promotion, key, value, parsed)
    if why is not None:
        return f"{NO_EFFECT}{why}"
    assert parsed is not None  # a value naming no version has no effect, said above
    version, by = parsed["version"], parsed["by"] or "a person (annotation)"
    recorded = status.promotion or PromotionStatus()
    if key == APPROVE:
        entry = Approval(version=version, by=by, at=now)
        recorded = recorded.model_copy(update={"approvals": [*recorded.approvals, entry][-MAX_VERSIONS:]})
        result = f"{version} approved by {by}"
    elif key == UNAPPROVE:
        kept = [entry for entry in recorded.approvals if entry.version != version]
        recorded = recorded.model_copy(update={"approvals": kept})
        result = f"approval of {version} withdrawn by {by}"
    else:
        assert key == SKIP_GATE
        closed = recorded.gate == "Closed" and recorded.version == version
        skip = GateSkip(version=version, by=by, at=now, gate=recorded.reason if closed else "Open")
        recorded = recorded.model_copy(update={"skipped": [*recorded.skipped, skip][-MAX_VERSIONS:]})
        result = f"gate skipped for {version} by {by} (it was {skip.gate})"
    status.promotion = recorded
    return result
