"""Sharding: several replicas share the Releases, each Release handled by one replica at a time.

There are `count` shard Leases (`<leaseName>-shard-<i>`); a replica holds at most one, with the rules of
leader election (runtime/leader.py: client-go's, every write testing the resourceVersion read), and
replicas beyond the Leases stand by. Releases hash into a fixed number of buckets (manifests.py, the
label on the objects they own); a bucket belongs to the held shard with the highest rendezvous score of
(shard, bucket): when a shard's holder dies only its buckets move, spread over the others, and they move
back to that shard when a replica takes it again. A replica watches the objects of its own buckets only
(controller/owned_watch.py; docs/operator.md, "Sharding").

Nobody hands a Release over to a replica that may still be writing it:
- a holder that cannot renew for two thirds of the duration stops writing (and the process exits), a
  third of the duration before anyone counts its shard as gone;
- each holder publishes, on its own Lease, which holders it acts alongside (its view); it publishes a
  view naming a newcomer only after the write batches of the Releases that move to it have ended, and a
  replica acts only once every other holder's published view names it;
- each write batch of a pass holds the fence: it checks that the Release is still this replica's and
  the Lease was renewed in time, and a new view that takes Releases away is adopted only between
  batches (one that only gains them, a holder gone, moves nothing a batch in flight writes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from slipway.kube.client import ApiError, KubeApi
from slipway.manifests import BUCKETS, release_bucket
from slipway.runtime.leader import LeaderElection, held_until

_log = structlog.get_logger("slipway.shards")

Obj = dict[str, Any]
View = Mapping[str, str]
"""The held shards as one replica sees them: shard Lease name -> holder identity."""


class Named(Protocol):
    """A Release by namespace and name (the controller's key, a manifest's reference)."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...


SHARDS_LABEL = "slipway.dev/shards"
"""On each shard Lease, the lease name they share: one LIST finds them all."""
VIEW_ANNOTATION = "slipway.dev/shard-view"
"""On each shard Lease, the view its holder acts under (JSON), written with every renewal."""
SCHEME_ANNOTATION = "slipway.dev/shard-scheme"
"""On each shard Lease, how its holder maps Releases to shards. Holders that map them otherwise (an
older operator, before buckets, during a rolling upgrade) never act beside this one: a replica takes no
shard while one of them holds a Lease (standing by, so that the older ones keep every Release handled
until the last of them is gone), and leaves them out of the view it acts under (their published views
count as naming nobody, so an older newcomer is never acknowledged)."""
SCHEME = f"buckets-{BUCKETS}"


def score(shard: str, bucket: int) -> int:
    """The rendezvous score of a bucket on a shard: stable across processes."""
    digest = hashlib.blake2b(f"{shard}\n{bucket}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def bucket_owner(bucket: int, shards: Iterable[str]) -> str | None:
    """The shard a bucket belongs to among `shards` (None when there is none)."""
    return max(shards, key=lambda shard: (score(shard, bucket), shard), default=None)


def owner(release: str, shards: Iterable[str]) -> str | None:
    """The shard a Release (`namespace/name`) belongs to among `shards` (None when there is none)."""
    namespace, _, name = release.partition("/")
    return bucket_owner(release_bucket(namespace, name), shards)


def buckets_of(shard: str, view: Iterable[str]) -> frozenset[int]:
    """The buckets `shard` owns among the shards of `view`."""
    shards = tuple(view)
    return frozenset(bucket for bucket in range(BUCKETS) if bucket_owner(bucket, shards) == shard)


def live_holders(leases: Iterable[Obj], now: datetime, duration_seconds: int) -> dict[str, str]:
    """The view the Leases give at `now`: each Lease held and not expired, with its holder."""
    view = {}
    for lease in leases:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        until = held_until(spec, duration_seconds)
        if holder and until is not None and until > now:
            view[lease["metadata"]["name"]] = str(holder)
    return view


def same_scheme(lease: Obj) -> bool:
    """Whether the Lease's holder maps Releases to shards as this replica does."""
    return (lease["metadata"].get("annotations") or {}).get(SCHEME_ANNOTATION) == SCHEME


def published_views(leases: Iterable[Obj]) -> dict[str, dict[str, str]]:
    """The view each Lease's holder last published (an unreadable one counts as naming nobody)."""
    views = {}
    for lease in leases:
        annotations = lease["metadata"].get("annotations") or {}
        text = annotations.get(VIEW_ANNOTATION, "{}") if same_scheme(lease) else "{}"
        try:
            view = json.loads(text)
        except ValueError:
            view = {}
        views[lease["metadata"]["name"]] = (
            {str(k): str(v) for k, v in view.items()} if isinstance(view, dict) else {}
        )
    return views


def acknowledged(shard: str, identity: str, view: View, published: Mapping[str, View]) -> bool:
    """Whether every other holder in `view` has published a view naming `identity` on `shard`: none of
    them writes a Release of this shard any more."""
    return all(published.get(other, {}).get(shard) == identity for other in view if other != shard)


def encoded(view: View) -> dict[str, str]:
    return {
        VIEW_ANNOTATION: json.dumps(dict(view), sort_keys=True, separators=(",", ":")),
        SCHEME_ANNOTATION: SCHEME,
    }


def loses_releases(was: tuple[View, bool], now: tuple[View, bool]) -> bool:
    """Whether a replica acting under `was` loses Releases under `now`: rendezvous hashing moves Releases
    only onto a shard that joins the view, or away from all of them when it stops acting."""
    (old_view, old_active), (new_view, new_active) = was, now
    return old_active and (not new_active or bool(set(new_view) - set(old_view)))


class ShardMoved(Exception):
    """This replica may not write the Release (any more): another shard owns it, or the Lease lapsed."""


class _Fence:
    """Many write batches at once, or one change of view (which waits for the batches in flight and
    lets no new one start meanwhile)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._batches = 0
        self._changing = False

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._changing)
            self._batches += 1
        try:
            yield
        finally:
            with self._condition:
                self._batches -= 1
                self._condition.notify_all()

    @contextmanager
    def change(self) -> Iterator[None]:
        with self._condition:
            self._changing = True
            self._condition.wait_for(lambda: self._batches == 0)
        try:
            yield
        finally:
            with self._condition:
                self._changing = False
                self._condition.notify_all()


class Shards:
    """This replica's membership: the shard it holds, the view it acts under, what it owns."""

    def __init__(
        self, api: KubeApi, namespace: str, lease_name: str, count: int, identity: str, duration_seconds: int
    ) -> None:
        self.identity = identity
        self.duration_seconds = duration_seconds
        labels = {SHARDS_LABEL: lease_name}
        self._leases = [
            LeaderElection(api, namespace, f"{lease_name}-shard-{index}", identity, duration_seconds, labels)
            for index in range(count)
        ]
        self._api = api
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._selector = labels
        self._held: LeaderElection | None = None
        # The view acted under, and whether every other holder has acknowledged this replica: one
        # tuple, replaced whole, so that no reader sees one half changed.
        self._state: tuple[dict[str, str], bool] = ({}, False)
        self._buckets: tuple[View | None, frozenset[int]] = (None, frozenset())  # for the view acted on
        self._looked = False  # whether keep() has listed the Leases since the join
        self._renewed = float("-inf")  # monotonic time a renewal that landed was sent
        self._fence = _Fence()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="shards")

    @property
    def shard(self) -> str | None:
        """The shard Lease this replica holds."""
        return self._held.name if self._held is not None else None

    def owns(self, release: Named) -> bool:
        """Whether this replica handles the Release now (cheap: called for every watch event)."""
        view, active = self._state
        return active and release_bucket(release.namespace, release.name) in self._buckets_under(view)

    def buckets(self) -> frozenset[int]:
        """The buckets this replica owns under the view it acts on, or will own once acknowledged: the
        objects it watches. Until its first look, if it joined seeing fewer holders than shards, those
        it owns with every shard held: replicas started together see each other only at that look,
        and meanwhile the first to join, seeing no other, would list the objects of every bucket (a
        peak its RSS keeps: docs/operator.md). A shard's buckets with every shard held are among its
        buckets under any view (rendezvous hashing), so the first look lists only what the shards not
        held add."""
        view = self._state[0]
        if not self._looked and len(view) < len(self._leases):
            return buckets_of(self.shard or "", [lease.name for lease in self._leases])
        return self._buckets_under(view)

    def _buckets_under(self, view: View) -> frozenset[int]:
        seen, buckets = self._buckets
        if seen is not view:
            shard = self.shard
            buckets = buckets_of(shard, view) if shard is not None else frozenset()
            # One tuple, replaced whole: another thread reads it.
            self._buckets = (view, buckets)
        return buckets

    @contextmanager
    def fence(self, release: Named) -> Iterator[None]:
        """Hold around a write batch: raises ShardMoved unless the Release is still ours and the Lease
        was renewed within two thirds of its duration. Blocks while a new view is being adopted."""
        with self._fence.batch():
            if not self.owns(release):
                raise ShardMoved(f"Release {release.namespace}/{release.name} belongs to another shard now")
            if time.monotonic() - self._renewed >= self.duration_seconds * 2 / 3:
                raise ShardMoved(f"the shard Lease {self.shard} was not renewed in time")
            yield

    async def join(self, on_standby: Callable[[], None] | None = None) -> None:
        """Take a free shard Lease, waiting while every one is held. `on_standby` is called once, the
        first time the API server answers that all are held."""
        while True:
            leases = await self._listed()
            if leases is not None:
                now = datetime.now(UTC)
                view = live_holders(leases, now, self.duration_seconds)
                # While an older operator holds a shard, none is free: it and its peers keep every
                # Release handled until the last of them is gone.
                older = live_holders([x for x in leases if not same_scheme(x)], now, self.duration_seconds)
                for lease in self._leases:
                    if lease.name in view or older:
                        continue
                    joined = {**view, lease.name: self.identity}
                    # The first publication already names the holders this replica saw: each of them
                    # knows at once that it is seen, and keeps writing its own Releases meanwhile.
                    claiming = time.monotonic()
                    if await lease.attempt(encoded(joined)):
                        self._held, self._state, self._renewed = lease, (joined, False), claiming
                        _log.info("joined", shard=lease.name, identity=self.identity, view=joined)
                        return
                if on_standby is not None:
                    if older:
                        _log.info("standing by: an older operator holds a shard", holders=older)
                    on_standby()
                    on_standby = None
            await asyncio.sleep(self.duration_seconds / 3)

    async def keep(
        self,
        on_change: Callable[[], None],
        prepare: Callable[[frozenset[int], float], Awaitable[None]] | None = None,
    ) -> None:
        """Renew the shard Lease and follow the others; `on_change` after each change of what this
        replica owns or watches (`buckets`), and before one that gains buckets, `prepare(buckets,
        most_seconds)`: the watch of their objects lists them, so that the passes it owes then decide
        on what it showed. Returns (the shard is lost: stop writing) once renewals failed for two thirds
        of the duration, a third of it before another replica counts the shard as gone."""
        held = self._held
        if held is None:
            raise RuntimeError("keep() before join()")
        leases: list[Obj] | None = None
        now = datetime.now(UTC)
        while True:
            # The first look too: replicas started together then see each other (and the views they
            # joined with) before any acts alone on every Release.
            await asyncio.sleep(self._next_look(leases or [], now))
            # Judged as of before the request: a Lease the answer shows alive is alive until then at
            # least, however slow the answer (a slow one must not make live holders look expired).
            now = datetime.now(UTC)
            leases = await self._listed()
            if leases is not None:
                # Renewed first, with the view already acted on: a change below may wait for the write
                # batches in flight, which must never hold the renewal up.
                await self._renew(encoded(self._state[0]))
                ours = [lease for lease in leases if same_scheme(lease)]
                view = {**live_holders(ours, now, self.duration_seconds), held.name: self.identity}
                active = acknowledged(held.name, self.identity, view, published_views(leases))
                watched = self.buckets()
                buckets = buckets_of(held.name, view)
                changed = (view, active) != self._state
                if changed or buckets != watched:
                    if prepare is not None and buckets - watched:
                        # Not acting on them yet is safe; a third of the duration at most, well
                        # within the renewal's two thirds.
                        await prepare(buckets, self.duration_seconds / 3)
                    if loses_releases(self._state, (view, active)):
                        await asyncio.to_thread(self._adopt, view, active)
                    else:
                        # Only gains (a holder gone): no batch in flight writes a Release that moves, so
                        # none is waited for; at a takeover that wait held up the passes it owes.
                        self._state = (view, active)
                    self._looked = True
                    if changed:
                        _log.info("shards changed", shard=held.name, view=view, active=active)
                    # The passes for what it gained start before the view is published: only what a
                    # replica loses waits for that publication (a newcomer acts once it is named).
                    on_change()
                    if changed:
                        # Published only now: what moved away from this replica is no longer written.
                        await self._renew(encoded(view))
            if time.monotonic() - self._renewed >= self.duration_seconds * 2 / 3:
                return

    async def _renew(self, annotations: dict[str, str]) -> None:
        held = self._held
        # Counted from before the request: the renewTime others judge expiry by is no later.
        renewing = time.monotonic()
        if held is not None and await held.attempt(annotations):
            self._renewed = renewing

    def _adopt(self, view: dict[str, str], active: bool) -> None:
        with self._fence.change():
            self._state = (view, active)

    def _next_look(self, leases: list[Obj], now: datetime) -> float:
        """A third of the duration, or sooner: just after another holder's Lease expires, so that
        its Releases are taken over at once, not up to a third of the duration later."""
        wait = self.duration_seconds / 3
        for lease in leases:
            spec = lease.get("spec") or {}
            until = held_until(spec, self.duration_seconds)
            if spec.get("holderIdentity") not in (None, "", self.identity) and until is not None:
                ahead = (until - now).total_seconds()
                if ahead > 0:
                    wait = min(wait, ahead + 0.05)
        return max(wait, 0.05)

    def release(self) -> bool:
        """Give the shard Lease up (a deliberate stop, after the last pass): the others take its
        Releases at their next look instead of at expiry."""
        return self._held.release() if self._held is not None else False

    async def _listed(self) -> list[Obj] | None:
        loop = asyncio.get_running_loop()
        try:
            # On a thread of its own, as the renewals: never behind the passes' threads.
            return await loop.run_in_executor(self._thread, self._api.list, self._collection, self._selector)
        except ApiError as error:
            _log.warning("listing the shard Leases failed", status=error.status, error=str(error))
            return None
