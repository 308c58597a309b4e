"""Properties of the promotion gate over random histories (hypothesis).

An upstream Release runs its own `decide` through random version changes, failing analysis, aborts and
time; a downstream Release with a random gate (soak, manual approval, windows) follows random versions
and approvals, reading the upstream's status as the API returns it and its own status likewise, so that
nothing survives between passes but what the API server holds (an operator restart at every pass).

An oracle, written from the upstream's statuses pass by pass (not from `healthyVersions`), says when a
version was verified. Checked: no version starts downstream unless it ran there stable before or was
verified upstream for the soak (no rollback of it since), approved when the gate is manual, inside a
window when there are windows; and a gate found open stays open later for the same upstream status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core_support import T0, healthy_on, release_spec, run_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipway.api.durations import parse_duration
from slipway.api.models import DAYS
from slipway.api.status import ReleaseStatus
from slipway.core.actions import EnsureRevision
from slipway.core.observations import Upstream
from slipway.core.promotion import evaluate
from slipway.core.simulation import SimulatedMetrics, Simulation

VERSIONS = ("1.0.0", "2.0.0", "3.0.0")
STEPS: dict[str, Any] = {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "1m"}}]}}

events = st.one_of(
    st.tuples(st.just("wait"), st.sampled_from([1, 20, 45, 60, 300, 600, 3600, 6 * 3600, 86400])),
    st.tuples(st.just("up_version"), st.sampled_from(VERSIONS)),
    st.tuples(st.just("up_tick"), st.just("")),
    st.tuples(st.just("up_metrics"), st.sampled_from(["good", "bad"])),
    st.tuples(st.just("up_abort"), st.just("")),
    st.tuples(st.just("down_version"), st.sampled_from(VERSIONS)),
    st.tuples(st.just("down_tick"), st.just("")),
    st.tuples(st.just("approve"), st.sampled_from(VERSIONS)),
    st.tuples(st.just("unapprove"), st.sampled_from(VERSIONS)),
)
windows = st.one_of(
    st.none(),
    st.builds(
        lambda days, start, length: [
            {"days": days, "start": f"{start:02d}:00", "end": f"{start + length:02d}:00"}
        ],
        st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True),
        st.integers(0, 20),
        st.integers(1, 3),
    ),
)


@dataclass
class Oracle:
    """What the upstream did, pass by pass: when each version was stable and Healthy there, and when a
    rollout of each was rolled back."""

    timeline: list[tuple[datetime, str | None]] = field(default_factory=list)
    rollbacks: dict[str, datetime] = field(default_factory=dict)

    def saw(self, status: ReleaseStatus, now: datetime) -> None:
        healthy = status.stable.version if status.phase == "Healthy" and status.stable else None
        self.timeline.append((now, healthy))
        rollback = status.last_rollback
        if rollback is not None and rollback.at == now:
            self.rollbacks[rollback.from_version] = now

    def verified(self, version: str, soak: float, now: datetime) -> bool:
        after = self.rollbacks.get(version)
        start: datetime | None = None
        for at, healthy in [*self.timeline, (now, None)]:
            if healthy == version and start is None:
                start = at
            elif healthy != version and start is not None:
                if (after is None or start >= after) and (at - start).total_seconds() >= soak:
                    return True
                start = None
        return False


def in_window(spans: list[dict[str, Any]] | None, now: datetime) -> bool:
    if spans is None:
        return True
    minute = now.hour * 60 + now.minute
    return any(
        DAYS[now.weekday()] in span["days"]
        and int(span["start"][:2]) * 60 <= minute < int(span["end"][:2]) * 60
        for span in spans
    )


def read(status: ReleaseStatus | None) -> ReleaseStatus | None:
    return ReleaseStatus.from_api(status.to_api()) if status is not None else None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(events, min_size=5, max_size=45),
    soak=st.sampled_from(["0s", "45s", "10m", "2h"]),
    approval=st.sampled_from(["auto", "manual"]),
    spans=windows,
)
def test_no_version_starts_before_it_was_verified_upstream(
    steps: list[tuple[str, Any]], soak: str, approval: str, spans: list[dict[str, Any]] | None
) -> None:
    up = Simulation(spec=release_spec("1.0.0", strategy=STEPS), now=T0)
    run_until(up, healthy_on("1.0.0"))
    oracle = Oracle()
    assert up.status is not None
    oracle.saw(up.status, up.now)
    now = up.now
    promotion: dict[str, Any] = {"from": {"namespace": "staging"}, "soak": soak, "approval": approval}
    if spans is not None:
        promotion["windows"] = spans

    def down_spec(version: str) -> Any:
        return release_spec(version, strategy=STEPS, promotion=promotion)

    down = Simulation(spec=down_spec("1.0.0"), now=now)
    approved: set[str] = set()
    ran_here: set[str] = set()
    opened: list[tuple[dict[str, Any], datetime, str]] = []
    counter = 0
    for kind, argument in steps:
        counter += 1
        if kind == "wait":
            now += timedelta(seconds=argument)
        elif kind == "up_version":
            up.change_spec(release_spec(argument, strategy=STEPS))
        elif kind == "up_metrics":
            up.metrics = SimulatedMetrics(argument)
        elif kind == "up_abort":
            up.cluster.annotate("abort", str(counter))
        elif kind == "up_tick":
            up.now = now
            for decision in up.tick():
                oracle.saw(decision.status, now)
        elif kind == "down_version":
            down.change_spec(down_spec(argument))
        else:
            if kind in ("approve", "unapprove"):
                down.cluster.annotate(kind, f"{argument} by tester at {counter}")
                (approved.add if kind == "approve" else approved.discard)(argument)
            before = read(down.status)
            present = {r.revision for r in (before.stable, before.canary) if r} if before else set()
            up_api = up.status.to_api() if up.status else {}
            down.now = now
            down.status = before
            down.cluster.upstream = Upstream("prod/web", "staging/web", read(up.status))
            for decision in down.tick():
                for action in decision.actions:
                    if not isinstance(action, EnsureRevision) or action.revision in present:
                        continue
                    version = action.version
                    if version in ran_here:
                        continue
                    assert oracle.verified(version, parse_duration(soak), now), (version, now)
                    assert approval == "auto" or version in approved, version
                    assert in_window(spans, now), now
            status = down.status
            assert status is not None
            if status.phase == "Healthy" and status.stable is not None:
                ran_here.add(status.stable.version)
            gate = status.promotion
            if gate is not None and gate.gate == "Open" and gate.reason == "Verified":
                opened.append((up_api, now, gate.version))
    spec = down_spec("1.0.0").promotion
    assert spec is not None
    for up_api, at, version in opened:
        # Later, for the same upstream status, read afresh by a restarted operator: still open (a
        # manual gate once approved, a window once inside: those are this Release's own matters).
        later = at + timedelta(hours=5)
        fresh = ReleaseStatus.from_api(up_api)
        gate = evaluate(
            spec.model_copy(update={"approval": "auto", "windows": None}),
            version,
            ReleaseStatus(),
            Upstream("prod/web", "staging/web", fresh),
            later,
        )
        assert gate.open, gate
