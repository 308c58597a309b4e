"""Who may hold the Lease: the rules of client-go's leader election, as a pure function."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slipway.kube.client import connect
from slipway.runtime.leader import LeaderElection, claimed_spec, micro_time
from slipway_dev.apiserver import running_apiserver, write_kubeconfig

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


# --- against an API server: standing by, and handing the Lease over on a deliberate stop ---------------


def test_a_standby_knows_it_and_a_released_lease_is_taken_at_once(tmp_path: Path) -> None:
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        leader = LeaderElection(api, "default", "slipway", "a")
        standby = LeaderElection(api, "default", "slipway", "b")
        assert leader.claim() and not standby.claim()

        async def stand_by() -> list[str]:
            calls: list[str] = []
            waiting = asyncio.create_task(standby.acquire(on_standby=lambda: calls.append("standby")))
            await asyncio.sleep(0.5)
            assert not waiting.done() and calls == ["standby"]
            assert not standby.release()  # not its Lease: nothing written
            assert await asyncio.to_thread(leader.release)
            await asyncio.wait_for(waiting, timeout=standby.duration_seconds)
            return calls

        started = time.monotonic()
        assert asyncio.run(stand_by()) == ["standby"]
        # Taken at the next try (every third of the duration), not after the Lease expired.
        assert time.monotonic() - started < standby.duration_seconds * 2 / 3 + 2
        lease = api.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/slipway")
        assert lease is not None and lease["spec"]["holderIdentity"] == "b"
        assert not leader.release()
        api.close()


def test_a_release_waits_for_a_renewal_in_flight(tmp_path: Path) -> None:
    """On SIGTERM the renewal task is cancelled, but its worker thread carries on: the release must
    follow that write, not race it (a release that read the Lease before the renewal wrote it lost
    with 409, leaving the Lease held until it expired)."""
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        leader = LeaderElection(api, "default", "slipway", "a")
        assert leader.claim()
        renewal_read = threading.Event()
        original_get, original_patch = api.get, api.patch

        # The renewal (one patch: the leader knows the Lease as it last wrote it) writes 0.3 s after it
        # started, the release 0.6 s after its read: without waiting for the renewal, the release's read
        # is stale by the time it writes.
        def pause_then_patch(path: str, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread().name == "renewal":
                renewal_read.set()
                time.sleep(0.3)
            return original_patch(path, *args, **kwargs)

        def get_then_pause(path: str, *args: Any, **kwargs: Any) -> Any:
            answer = original_get(path, *args, **kwargs)
            if threading.current_thread().name == "release":
                time.sleep(0.6)
            return answer

        api.get = get_then_pause  # type: ignore[method-assign]
        api.patch = pause_then_patch  # type: ignore[method-assign]
        released: list[bool] = []
        renewal = threading.Thread(target=leader.claim, name="renewal")
        release = threading.Thread(target=lambda: released.append(leader.release()), name="release")
        renewal.start()
        assert renewal_read.wait(5)
        release.start()
        renewal.join(5)
        release.join(5)
        assert released == [True]
        lease = original_get("/apis/coordination.k8s.io/v1/namespaces/default/leases/slipway")
        assert lease is not None and lease["spec"]["holderIdentity"] == ""
        api.close()


def test_a_renewal_is_one_request_until_someone_else_writes_the_lease(tmp_path: Path) -> None:
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        leader = LeaderElection(api, "default", "slipway", "a")
        assert leader.claim()
        reads: list[str] = []
        original_get = api.get

        def counted_get(path: str, *args: Any, **kwargs: Any) -> Any:
            reads.append(path)
            return original_get(path, *args, **kwargs)

        api.get = counted_get  # type: ignore[method-assign]
        assert leader.claim() and leader.claim()
        assert reads == []
        # Someone else wrote it (here: an annotation): the stale renewal fails, the next reads again.
        other = LeaderElection(api, "default", "slipway", "a")
        assert other.claim({"note": "x"})
        assert not leader.claim()
        assert leader.claim() and len(reads) == 2  # other's read, then leader's
        api.close()
