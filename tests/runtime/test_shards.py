"""Sharding: which shard owns a Release (pure, checked for any membership), and the membership protocol
against an API server: a newcomer acts only once the others have let go, a dead holder's Releases are
taken over when its Lease expires, a write batch is fenced."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from polling import until

from slipway.controller.queue import ReleaseKey
from slipway.kube.client import connect
from slipway.manifests import BUCKETS, release_bucket
from slipway.runtime.leader import micro_time
from slipway.runtime.shards import (
    SCHEME_ANNOTATION,
    SHARDS_LABEL,
    VIEW_ANNOTATION,
    ShardMoved,
    Shards,
    acknowledged,
    buckets_of,
    encoded,
    live_holders,
    loses_releases,
    owner,
    published_views,
)
from slipway_dev.apiserver import running_apiserver, write_kubeconfig

shard_names = st.sets(st.sampled_from([f"slipway-shard-{i}" for i in range(8)]), min_size=1)
release_names = st.lists(
    st.from_regex(r"[a-z]{1,8}/[a-z0-9-]{1,20}", fullmatch=True), min_size=1, max_size=50
)


@given(shard_names, release_names)
def test_each_release_has_exactly_one_owner_for_any_membership(shards: set[str], releases: list[str]) -> None:
    for release in releases:
        owners = [shard for shard in shards if owner(release, shards) == shard]
        assert len(owners) == 1


@given(shard_names, st.sampled_from([f"slipway-shard-{i}" for i in range(10)]), release_names)
def test_a_joining_shard_takes_releases_only_for_itself_and_gives_them_back_when_it_leaves(
    shards: set[str], newcomer: str, releases: list[str]
) -> None:
    grown = shards | {newcomer}
    for release in releases:
        before, after = owner(release, shards), owner(release, grown)
        # Minimal movement: a Release moves only to the newcomer, and back to where it was without it.
        assert after in (before, newcomer)


@given(shard_names, shard_names, release_names)
def test_two_replicas_that_see_each_other_never_both_own_a_release(
    first_view: set[str], second_view: set[str], releases: list[str]
) -> None:
    """Views differ while membership changes; as long as each holder's view names the other (the
    acknowledgement the protocol waits for), no Release is owned by both."""
    first, second = min(first_view), max(second_view)
    if first == second:
        return
    first_view, second_view = first_view | {second}, second_view | {first}
    for release in releases:
        assert not (owner(release, first_view) == first and owner(release, second_view) == second)


@given(shard_names, shard_names, st.booleans(), st.booleans(), release_names)
def test_a_change_that_loses_nothing_is_told_so(
    old_view: set[str], new_view: set[str], was_active: bool, is_active: bool, releases: list[str]
) -> None:
    """A replica adopts a view without waiting for its write batches in flight only when it loses no
    Release by it (a holder gone): then every Release it owned it still owns."""
    mine = min(old_view)
    new_view = new_view | {mine}
    old, new = dict.fromkeys(old_view, "x"), dict.fromkeys(new_view, "x")
    if loses_releases((old, was_active), (new, is_active)):
        return
    for release in releases:
        if was_active and owner(release, old_view) == mine:
            assert is_active and owner(release, new_view) == mine


def test_which_changes_lose_releases() -> None:
    one, two, three = (dict.fromkeys(shards, "x") for shards in (["a"], ["a", "b"], ["a", "b", "c"]))
    assert not loses_releases((three, True), (two, True))  # a holder gone: only gains
    assert not loses_releases((one, False), (two, True))  # acknowledged at last: only gains
    assert loses_releases((two, True), (three, True))  # a newcomer takes its share
    assert loses_releases((two, True), (two, False))  # no longer acting: loses everything
    assert not loses_releases((two, False), (three, False))  # nothing to lose


@given(shard_names, release_names)
def test_a_release_belongs_to_the_shard_whose_buckets_hold_its_bucket(
    shards: set[str], releases: list[str]
) -> None:
    """What a replica watches (the objects of its buckets) is what it owns."""
    held = {shard: buckets_of(shard, shards) for shard in shards}
    assert sorted(bucket for buckets in held.values() for bucket in buckets) == list(range(BUCKETS))
    for release in releases:
        namespace, _, name = release.partition("/")
        assert release_bucket(namespace, name) in held[owner(release, shards) or ""]


def test_releases_spread_evenly() -> None:
    shards = [f"slipway-shard-{i}" for i in range(3)]
    counts = Counter(owner(f"default/web-{i}", shards) for i in range(3000))
    assert all(850 <= count <= 1150 for count in counts.values()), counts


NOW = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)


def lease(name: str, holder: str, renewed_seconds_ago: float, view: dict[str, str] | None = None) -> dict:
    return {
        "metadata": {"name": name, "annotations": encoded(view) if view is not None else {}},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 10,
            "renewTime": micro_time(NOW - timedelta(seconds=renewed_seconds_ago)),
        },
    }


def test_the_view_holds_the_leases_held_and_not_expired() -> None:
    leases = [lease("s-0", "a", 1), lease("s-1", "b", 10.5), lease("s-2", "", 1)]
    assert live_holders(leases, NOW, 10) == {"s-0": "a"}


def test_a_newcomer_is_acknowledged_once_every_other_holder_names_it() -> None:
    view = {"s-0": "a", "s-1": "b", "s-2": "c"}
    published = published_views(
        [
            lease("s-0", "a", 1, view),
            lease("s-1", "b", 1, {"s-0": "a", "s-1": "b", "s-2": "old-c"}),  # names a former holder
        ]
    )
    assert not acknowledged("s-2", "c", view, published)
    published["s-1"] = dict(view)
    assert acknowledged("s-2", "c", view, published)
    broken = encoded(view) | {VIEW_ANNOTATION: "{"}
    assert published_views([{"metadata": {"name": "s-0", "annotations": broken}}]) == {"s-0": {}}


def test_a_holder_that_maps_releases_otherwise_never_acknowledges_a_newcomer() -> None:
    """An older operator (before buckets), still running during a rolling upgrade: the newcomer stands
    by rather than share a Release with it."""
    view = {"s-0": "old", "s-1": "new"}
    older = {VIEW_ANNOTATION: encoded(view)[VIEW_ANNOTATION]}  # no scheme
    published = published_views([{"metadata": {"name": "s-0", "annotations": older}}])
    assert published == {"s-0": {}}
    assert not acknowledged("s-1", "new", view, published)
    other = encoded(view) | {SCHEME_ANNOTATION: "buckets-1024"}
    assert not acknowledged(
        "s-1", "new", view, published_views([{"metadata": {"name": "s-0", "annotations": other}}])
    )


# --- the protocol against an API server ---------------------------------------------------------------

DURATION = 3
KEYS = [ReleaseKey("default", f"web-{i}") for i in range(60)]


def owned(*members: Shards) -> list[set[ReleaseKey]]:
    return [{key for key in KEYS if member.owns(key)} for member in members]


def test_replicas_share_hand_over_and_take_over(tmp_path: Path) -> None:
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))

        def member(identity: str) -> Shards:
            return Shards(api, "default", "slipway", 2, identity, DURATION)

        async def story() -> None:
            a, b, late = member("a"), member("b"), member("late")
            changes: Counter[str] = Counter()
            await a.join()
            keep_a = asyncio.create_task(a.keep(on_change=lambda: changes.update("a")))
            await until(lambda: len(owned(a)[0]) == len(KEYS), "a to own everything", DURATION)

            await b.join()
            # b published its view when it joined; until a names b in its own, b owns nothing.
            assert owned(b) == [set()]
            keep_b = asyncio.create_task(b.keep(on_change=lambda: changes.update("b")))
            await until(
                lambda: sum(map(len, owned(a, b))) == len(KEYS) and all(owned(a, b)), "a share", DURATION
            )
            first, second = owned(a, b)
            assert not first & second

            # Every shard is held: a third replica stands by.
            standing_by: list[bool] = []
            waiting = asyncio.create_task(late.join(on_standby=lambda: standing_by.append(True)))
            await until(lambda: standing_by, "the third replica to stand by", DURATION)

            # a dies (no renewal, no release): it stops writing at 2/3 of the duration, and b or the
            # standby hold its Releases once its Lease has expired, not before.
            keep_a.cancel()
            died = time.monotonic()
            with pytest.raises(ShardMoved):
                await until(lambda: time.monotonic() - died > DURATION * 2 / 3, "the fence", DURATION)
                with a.fence(next(iter(first))):
                    pass
            await until(lambda: owned(b)[0] == set(KEYS) or waiting.done(), "a takeover", DURATION * 2)
            assert time.monotonic() - died >= DURATION * 2 / 3
            await asyncio.wait_for(waiting, DURATION * 2)
            keep_late = asyncio.create_task(late.keep(on_change=lambda: changes.update("l")))
            # The standby took a's shard: exactly a's Releases move to it, once b has let go.
            await until(lambda: owned(late)[0] == first, "a's Releases to move to its shard", DURATION * 2)
            assert owned(b)[0] == second
            for task in (keep_b, keep_late):
                task.cancel()

        asyncio.run(story())


def test_a_newcomer_takes_no_shard_while_an_older_operator_holds_one(tmp_path: Path) -> None:
    """A rolling upgrade from before buckets: the older replicas keep every Release handled, by their
    own mapping, until the last of them is gone; only then do the newcomers take shards."""
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        older = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "slipway-shard-0", "labels": {SHARDS_LABEL: "slipway"}},
            "spec": {
                "holderIdentity": "older",
                "leaseDurationSeconds": DURATION,
                "renewTime": micro_time(datetime.now(UTC)),
            },
        }
        api.create("/apis/coordination.k8s.io/v1/namespaces/default/leases", older)

        async def story() -> None:
            newcomer = Shards(api, "default", "slipway", 2, "new", DURATION)
            standing_by: list[bool] = []
            joining = asyncio.create_task(newcomer.join(on_standby=lambda: standing_by.append(True)))
            await until(lambda: standing_by, "the newcomer to stand by", DURATION)
            assert newcomer.shard is None  # shard 1 is free, yet not taken
            # The older one stops renewing: once its Lease expired, the newcomer takes a shard.
            await asyncio.wait_for(joining, DURATION * 3)
            assert newcomer.shard is not None

        asyncio.run(story())


def test_before_a_gain_the_watch_of_the_gained_buckets_is_prepared(tmp_path: Path) -> None:
    """At a takeover the gained buckets' objects are listed first (controller/owned_watch.py), while
    the Releases are not this replica's yet; then it owns them."""
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))

        async def story() -> None:
            a = Shards(api, "default", "slipway", 2, "a", DURATION)
            b = Shards(api, "default", "slipway", 2, "b", DURATION)
            prepared: list[tuple[frozenset[int], int, float]] = []

            async def prepare(buckets: frozenset[int], most_seconds: float) -> None:
                prepared.append((buckets, len(owned(a)[0]), most_seconds))

            await a.join()
            keep_a = asyncio.create_task(a.keep(on_change=lambda: None, prepare=prepare))
            await until(lambda: len(owned(a)[0]) == len(KEYS), "a to own everything", DURATION)
            # a joined seeing no other holder: it watched only its share with both shards held until
            # its first look, which listed the rest.
            assert prepared == [(frozenset(range(BUCKETS)), 0, DURATION / 3)]
            await b.join()
            keep_b = asyncio.create_task(b.keep(on_change=lambda: None))
            await until(lambda: all(owned(a, b)), "a share", DURATION * 2)
            assert len(prepared) == 1  # a only lost buckets
            held_by_a = len(owned(a)[0])
            keep_b.cancel()  # b dies: a takes its buckets back once its Lease expired
            await until(lambda: len(owned(a)[0]) == len(KEYS), "the takeover", DURATION * 3)
            (buckets, owned_then, most) = prepared[1]
            assert buckets == frozenset(range(BUCKETS)) and owned_then == held_by_a
            assert most == DURATION / 3
            keep_a.cancel()

        asyncio.run(story())


def test_a_replica_joining_before_the_others_watches_its_least_share_until_it_sees_them(
    tmp_path: Path,
) -> None:
    """Replicas started together: the first to join sees no other holder, and watching the objects of
    every bucket until its first look would make a peak its RSS keeps. One joining seeing fewer holders
    than shards watches until that look only its share with every shard held (within its share under
    any view), then its share under what it sees, acknowledged or not yet; one joining beside a holder
    of every other shard watches its share at once."""
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        # Long enough that a, which never renews here, still holds its shard at b's first look.
        duration = DURATION * 3

        async def story() -> None:
            a, b, c = (Shards(api, "default", "slipway", 3, name, duration) for name in "abc")
            await a.join()
            await b.join()
            shards = [f"slipway-shard-{index}" for index in range(3)]
            assert a.buckets() == buckets_of(a.shard or "", shards) != frozenset()
            assert b.buckets() == buckets_of(b.shard or "", shards) != frozenset()
            prepared: list[frozenset[int]] = []

            async def prepare(buckets: frozenset[int], most_seconds: float) -> None:
                prepared.append(buckets)

            keep_b = asyncio.create_task(b.keep(on_change=lambda: None, prepare=prepare))
            await until(lambda: prepared, "b's first look", duration)
            # a never named b in a view of its own: b does not act yet, but watches its share.
            a_and_b = [a.shard or "", b.shard or ""]
            assert prepared == [buckets_of(b.shard or "", a_and_b)]
            await until(lambda: b.buckets() == prepared[0], "b to watch its share", duration)
            assert owned(b) == [set()]
            await c.join()
            assert c.buckets() == buckets_of(c.shard or "", [*a_and_b, c.shard or ""]) != frozenset()
            keep_b.cancel()

        asyncio.run(story())
