"""The promotion gate (spec.promotion) in the real state machine: two simulated Releases, the upstream
driven by its own `decide`, the downstream reading the upstream's status as the API returns it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core_support import T0, healthy_on, of_type, phase_is, release_spec, run_until, writes

from slipway.api.models import ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.core.actions import EmitEvent, EnsureRevision, Route
from slipway.core.machine import Decision
from slipway.core.observations import Upstream
from slipway.core.simulation import SimulatedMetrics, Simulation

STEPS: dict[str, Any] = {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "1m"}}]}}
FROM: dict[str, Any] = {"from": {"namespace": "staging"}}


def gated(version: str, **promotion: Any) -> ReleaseSpec:
    return release_spec(version, strategy=STEPS, promotion={**FROM, **promotion})


def healthy(version: str) -> Simulation:
    sim = Simulation(spec=release_spec(version, strategy=STEPS), now=T0)
    run_until(sim, healthy_on(version))
    return sim


def as_read(status: ReleaseStatus | None) -> ReleaseStatus | None:
    """The status as another process reads it from the API server: nothing kept in memory."""
    return ReleaseStatus.from_api(status.to_api()) if status is not None else None


def link(down: Simulation, up: Simulation | None, *, unreadable: str | None = None) -> None:
    down.cluster.upstream = Upstream(
        own="prod/web",
        ref="staging/web",
        status=as_read(up.status) if up is not None else None,
        unreadable=unreadable,
    )


def tick(down: Simulation, up: Simulation | None) -> list[Decision]:
    link(down, up)
    down.status = as_read(down.status)
    return down.tick()


def roll_out(up: Simulation, version: str) -> None:
    up.change_spec(release_spec(version, strategy=STEPS))
    run_until(up, healthy_on(version))


def started(decisions: list[Decision], version: str) -> bool:
    return any(action.version == version for action in of_type(decisions, EnsureRevision))


def test_a_version_waits_for_the_soak_upstream_then_starts_by_itself() -> None:
    up, down = healthy("1.0.0"), healthy("1.0.0")
    roll_out(up, "2.0.0")
    down.now = up.now + timedelta(minutes=12)
    down.change_spec(gated("2.0.0", soak="30m"))
    decisions = tick(down, up)
    status = down.status
    assert status is not None and status.stable is not None
    assert (status.phase, status.reason) == ("Paused", "Soaking")
    assert up.status is not None
    since = next(entry.since for entry in up.status.healthy_versions if entry.version == "2.0.0")
    assert since is not None and since == down.now - timedelta(minutes=12)
    opens = since + timedelta(minutes=30)
    assert status.message == (
        "2.0.0 must be Healthy in staging/web for 30m: Healthy there since "
        f"{since:%Y-%m-%d %H:%M:%S}Z, so not before {opens:%Y-%m-%d %H:%M:%S}Z"
    )
    assert status.canary is None and status.stable.version == "1.0.0"
    assert not started(decisions, "2.0.0")
    assert [w for w in writes(decisions) if not isinstance(w, Route)] == []
    promotion = {c.type: c for c in status.conditions}["Promotion"]
    assert (promotion.status, promotion.reason) == ("False", "Soaking")
    assert {c.type: c.status for c in status.conditions}["Reconciling"] == "True"  # kstatus: InProgress
    assert decisions[-1].requeue_after_seconds == 18 * 60
    events = of_type(decisions, EmitEvent)
    assert [(e.type, e.reason) for e in events] == [("Normal", "Soaking")]
    # A pass meanwhile (any event wakes one) finds the status as written: it stays true while it waits.
    waiting = down.status.to_api()
    down.now += timedelta(minutes=5)
    tick(down, up)
    assert down.status is not None and down.status.to_api() == waiting
    down.wait(decisions[-1])
    decisions = tick(down, up)
    assert started(decisions, "2.0.0")
    assert down.status is not None and down.status.phase == "Progressing"
    assert "PromotionGateOpened" in [e.reason for e in of_type(decisions, EmitEvent)]
    assert {c.type: c.status for c in down.status.conditions}["Promotion"] == "True"


def test_a_version_the_upstream_never_ran_or_rolled_back_never_starts() -> None:
    up, down = healthy("1.0.0"), healthy("1.0.0")
    down.change_spec(gated("2.0.0"))
    assert not started(tick(down, up), "2.0.0")
    assert down.status is not None and down.status.reason == "WaitingForUpstream"
    assert "2.0.0 has not been Healthy in staging/web" in down.status.message
    up.metrics = SimulatedMetrics("bad")
    up.change_spec(release_spec("2.0.0", strategy=STEPS))
    run_until(up, phase_is("Degraded"))
    for _ in range(5):
        down.now = up.now = up.now + timedelta(hours=1)
        up.tick()
        assert not started(tick(down, up), "2.0.0")
    assert down.status.message.startswith("2.0.0 was rolled back in staging/web at ")
    assert down.status.stable is not None and down.status.stable.version == "1.0.0"


def test_a_rollback_upstream_after_a_soak_unverifies_the_version() -> None:
    up, down = healthy("1.0.0"), healthy("1.0.0")
    roll_out(up, "2.0.0")
    up.now += timedelta(hours=1)
    up.tick()
    roll_out(up, "1.0.0")  # a return to 1.0.0 closes the 2.0.0 stretch: 1h, verified
    up.metrics = SimulatedMetrics("bad")
    up.change_spec(release_spec("2.0.0", strategy=STEPS))
    run_until(up, phase_is("Degraded"))  # 2.0.0 tried again, and rolled back: no longer verified
    down.now = up.now
    down.change_spec(gated("2.0.0", soak="30m"))
    assert not started(tick(down, up), "2.0.0")
    assert down.status is not None and down.status.reason == "WaitingForUpstream"


def test_missing_upstream_waits_with_the_reason() -> None:
    down = healthy("1.0.0")
    down.change_spec(gated("2.0.0"))
    link(down, None, unreadable='releases "web" not found')
    assert not started(down.tick(), "2.0.0")
    assert down.status is not None
    assert down.status.message == '2.0.0 waits: staging/web cannot be read: releases "web" not found'


def test_a_first_release_waits_like_any_version() -> None:
    up = healthy("1.0.0")
    down = Simulation(spec=gated("2.0.0"), now=up.now)
    decisions = tick(down, up)
    assert down.status is not None and down.status.stable is None
    assert (down.status.phase, down.status.reason) == ("Paused", "WaitingForUpstream")
    assert writes(decisions) == []
    roll_out(up, "2.0.0")
    down.now = up.now
    assert started(tick(down, up), "2.0.0")
    link(down, up)
    run_until(down, healthy_on("2.0.0"))


def test_manual_approval_once_per_version_and_unapprove() -> None:
    up, down = healthy("1.0.0"), healthy("1.0.0")
    roll_out(up, "2.0.0")
    down.now = up.now
    down.change_spec(gated("2.0.0", approval="manual"))
    tick(down, up)
    assert down.status is not None and down.status.reason == "WaitingForApproval"
    assert up.status is not None
    since = next(entry.since for entry in up.status.healthy_versions if entry.version == "2.0.0")
    assert down.status.message == (
        f"2.0.0 verified in staging/web: Healthy there since {since:%Y-%m-%d %H:%M:%S}Z; "
        "waiting for approval (kubectl slipway approve)"
    )
    # the wait for a person is often the longest: its status stays as written meanwhile
    waiting = down.status.to_api()
    down.now += timedelta(hours=3)
    tick(down, up)
    assert down.status.to_api() == waiting
    down.cluster.annotate("approve", "2.0.0 by alice at 1")
    down.cluster.annotate("unapprove", "2.0.0 by bob at 2")
    tick(down, up)
    assert down.status.promotion is not None and down.status.promotion.approvals == []
    down.cluster.annotate("approve", "2.0.0 by alice at 3")
    decisions = tick(down, up)
    assert started(decisions, "2.0.0")
    assert [a.by for a in down.status.promotion.approvals] == ["alice"]
    down.cluster.annotate("approve", "2.0.0 by carol at 4")
    tick(down, up)
    assert [a.by for a in down.status.promotion.approvals] == ["alice"]
    record = {r.action: r for r in down.status.manual_actions}["approve"]
    assert record.result == "no effect: 2.0.0 already approved by alice"


def test_windows_hold_the_start_until_the_next_one() -> None:
    up, down = healthy("1.0.0"), healthy("1.0.0")
    roll_out(up, "2.0.0")  # T0 is Thursday 2026-01-01 12:00 UTC
    down.now = up.now
    window = {"days": ["Fri"], "start": "08:00", "end": "16:00"}
    down.change_spec(gated("2.0.0", windows=[window]))
    decisions = tick(down, up)
    assert down.status is not None and down.status.reason == "OutsideWindow"
    assert down.status.promotion is not None
    opens = down.status.promotion.next_window
    assert opens is not None and opens.isoformat() == "2026-01-02T08:00:00+00:00"
    assert decisions[-1].requeue_after_seconds == (opens - down.now).total_seconds()
    down.now = opens
    assert started(tick(down, up), "2.0.0")


def test_going_back_to_a_version_that_ran_here_is_never_gated() -> None:
    up, down = healthy("1.0.0"), healthy("1.0.0")
    roll_out(up, "2.0.0")
    down.now = up.now
    down.change_spec(gated("2.0.0"))
    link(down, up)
    run_until(down, healthy_on("2.0.0"))
    down.tick()  # the pass after the promotion deletes version 1.0.0
    down.change_spec(gated("1.0.0"))
    link(down, None, unreadable="deleted")
    decisions = down.tick()
    assert started(decisions, "1.0.0")
    assert down.status is not None and down.status.promotion is not None
    assert down.status.promotion.reason == "RanHereBefore"


def test_skip_gate_is_recorded_and_lets_the_version_start() -> None:
    down = healthy("1.0.0")
    down.change_spec(gated("2.0.0"))
    link(down, None, unreadable="forbidden")
    down.tick()
    down.cluster.annotate("skip-gate", "2.0.0 by oncall at 5")
    decisions = down.tick()
    assert started(decisions, "2.0.0")
    assert down.status is not None and down.status.promotion is not None
    (skip,) = down.status.promotion.skipped
    assert (skip.version, skip.by, skip.gate) == ("2.0.0", "oncall", "WaitingForUpstream")


def test_naming_itself_or_a_cycle_is_refused() -> None:
    down = healthy("1.0.0")
    down.change_spec(gated("2.0.0"))
    down.cluster.upstream = Upstream(own="prod/web", ref="prod/web")
    down.tick()
    assert down.status is not None and (down.status.phase, down.status.reason) == (
        "Degraded",
        "InvalidPromotion",
    )
    down.cluster.upstream = Upstream(own="prod/web", ref="staging/web", chain=("prod/web",))
    down.change_spec(gated("2.0.0", soak="1m"))
    decisions = down.tick()
    assert "prod/web waits for staging/web waits for prod/web" in down.status.message
    assert writes(decisions) == []


def test_spec_back_to_stable_while_waiting_is_healthy_again() -> None:
    down = healthy("1.0.0")
    down.change_spec(gated("2.0.0"))
    link(down, None, unreadable="forbidden")
    down.tick()
    down.change_spec(gated("1.0.0"))
    down.tick()
    assert down.status is not None and (down.status.phase, down.status.reason) == ("Healthy", "Reverted")
