"""Who may hold the Lease: the rules of client-go's leader election, as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipway.runtime.leader import claimed_spec, micro_time

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def held_by(holder: str, renewed_seconds_ago: float, transitions: int = 0) -> dict[str, object]:
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": 15,
        "acquireTime": micro_time(NOW - timedelta(hours=1)),
        "renewTime": micro_time(NOW - timedelta(seconds=renewed_seconds_ago)),
        "leaseTransitions": transitions,
    }


def test_a_free_lease_is_acquired() -> None:
    spec = claimed_spec(None, "a", 15, NOW)
    assert spec is not None
    assert (spec["holderIdentity"], spec["leaseTransitions"], spec["renewTime"]) == ("a", 0, micro_time(NOW))


def test_the_holder_renews_without_a_transition() -> None:
    spec = claimed_spec(held_by("a", 5, transitions=2), "a", 15, NOW)
    assert spec is not None
    assert spec["renewTime"] == micro_time(NOW)
    assert spec["acquireTime"] == micro_time(NOW - timedelta(hours=1))
    assert spec["leaseTransitions"] == 2


def test_a_live_lease_of_another_replica_is_not_taken() -> None:
    assert claimed_spec(held_by("a", 14.9), "b", 15, NOW) is None


def test_an_expired_lease_is_taken_over_and_counted() -> None:
    spec = claimed_spec(held_by("a", 15.1, transitions=2), "b", 15, NOW)
    assert spec is not None
    assert (spec["holderIdentity"], spec["leaseTransitions"], spec["acquireTime"]) == (
        "b",
        3,
        micro_time(NOW),
    )
