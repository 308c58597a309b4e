"""Informers and work queues: the machinery every simulated controller runs on.

An Informer keeps a local cache of one resource by list + watch (resuming from the last
resourceVersion, relisting on 410 Gone or a broken stream) and tells its subscribers about every
change. A Controller reconciles object keys from a de-duplicating queue; a failed reconcile is retried
with backoff, which is also how injected API faults (500s, 409s) are absorbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from slipway_dev.controllers.client import ApiError, JsonObject, KubeClient, Resource, WatchExpired
from slipway_dev.controllers.workloads import controller_uid

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects
Subscriber = Callable[[str, JsonObject], None]
QueueKey = TypeVar("QueueKey", bound=Hashable)

RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0
# Keys reconciled at once by the controllers a rollout waits on (deployments, replica sets, kubelet).
# Each pass waits on the API server several times; while an operator's passes keep it busy (300
# canaries starting at once), 4 at a time made new canary pods come at 0.5 per second (measured): the
# world's requests held 4 of ~130 places in the server's queue. Real controllers get their own share
# (API Priority and Fairness); here, more places.
BUSY_WORKERS = 32


def key_of(obj: JsonObject) -> Key:
    meta = obj["metadata"]
    return str(meta.get("namespace") or ""), str(meta["name"])


def _version_number(obj: JsonObject) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


class Informer:
    """The watched cache of one resource across all namespaces, indexed by controlling owner.

    Only `_put` and `_drop` change the cache, so the index always agrees with it."""

    def __init__(self, client: KubeClient, resource: Resource) -> None:
        self.client = client
        self.resource = resource
        self.cache: dict[Key, JsonObject] = {}
        # controller uid -> the keys of the objects it controls: a ReplicaSet finds its thousand pods
        # without reading every pod of its namespace, many times a second during a rollout.
        self._controlled: dict[str, set[Key]] = {}
        self._subscribers: list[Subscriber] = []
        # uids this process deleted itself: late events about them must not resurrect the cache entry.
        self._deleted_uids: set[str] = set()

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)
        for obj in list(self.cache.values()):
            subscriber("ADDED", obj)

    def objects(self) -> list[JsonObject]:
        return list(self.cache.values())

    def in_namespace(self, namespace: str) -> list[JsonObject]:
        return [obj for (found, _), obj in self.cache.items() if found == namespace]

    def controlled_by(self, uid: str) -> list[JsonObject]:
        """The cached objects whose controlling owner reference names `uid`, by namespace and name."""
        return [self.cache[key] for key in sorted(self._controlled.get(uid, ()))]

    def _put(self, key: Key, obj: JsonObject) -> None:
        self._drop(key)
        self.cache[key] = obj
        owner = controller_uid(obj)
        if owner is not None:
            self._controlled.setdefault(owner, set()).add(key)

    def _drop(self, key: Key) -> None:
        old = self.cache.pop(key, None)
        owner = None if old is None else controller_uid(old)
        if owner is not None:
            keys = self._controlled[owner]
            keys.discard(key)
            if not keys:
                del self._controlled[owner]

    def record_write(self, obj: JsonObject) -> None:
        """Put an object returned by our own write in the cache now, so the next reconcile sees it."""
        current = self.cache.get(key_of(obj))
        if current is None or _version_number(obj) >= _version_number(current):
            obj["metadata"].pop("managedFields", None)
            self._put(key_of(obj), obj)

    def record_deletion(self, obj: JsonObject, answer: JsonObject | None) -> None:
        """Record what a DELETE of `obj` did: `answer` still carrying a deletionTimestamp means the
        object stays a while (a terminating pod) and its further events matter."""
        meta = (answer or {}).get("metadata") or {}
        if meta.get("deletionTimestamp") and (
            meta.get("deletionGracePeriodSeconds") or meta.get("finalizers")
        ):
            assert answer is not None
            self.record_write(answer)
        else:
            self.record_delete(obj)

    def record_delete(self, obj: JsonObject) -> None:
        uid = obj["metadata"].get("uid")
        if uid:
            self._deleted_uids.add(str(uid))
        current = self.cache.get(key_of(obj))
        if current is not None and current["metadata"].get("uid") == uid:
            self._drop(key_of(obj))
            # Subscribers that keep their own state (the gateway's routes, the scrape targets) learn it
            # now: if the watch was down meanwhile, its relist could no longer tell them.
            for subscriber in self._subscribers:
                subscriber("DELETED", current)

    def _apply(self, kind: str, obj: JsonObject) -> None:
        # No controller reads field ownership: the cache drops it, as client-go informers commonly do.
        obj["metadata"].pop("managedFields", None)
        key = key_of(obj)
        uid = str(obj["metadata"].get("uid") or "")
        if kind == "DELETED":
            self._deleted_uids.discard(uid)
            current = self.cache.get(key)
            if current is not None and current["metadata"].get("uid") == uid:
                self._drop(key)
        elif uid in self._deleted_uids:
            return
        else:
            self._put(key, obj)
        for subscriber in self._subscribers:
            subscriber(kind, obj)

    async def _relist(self) -> str:
        items, version = await self.client.list_objects(self.resource)
        fresh = {key_of(item): item for item in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                self._apply("DELETED", old)
        for item in items:
            self._apply("MODIFIED" if key_of(item) in self.cache else "ADDED", item)
        # A DELETED event lost with the old watch would otherwise keep its uid here for ever.
        self._deleted_uids &= {str(item["metadata"].get("uid")) for item in items}
        return version

    async def run(self) -> None:
        version: str | None = None
        backoff = RETRY_FIRST_SECONDS
        while True:
            try:
                if version is None:
                    version = await self._relist()
                async for event in self.client.watch(self.resource, version):
                    obj = event["object"]
                    version = str(obj["metadata"].get("resourceVersion") or version)
                    if event["type"] != "BOOKMARK":
                        self._apply(str(event["type"]), obj)
                backoff = RETRY_FIRST_SECONDS
            except WatchExpired:
                version = None
            except asyncio.CancelledError:
                raise
            except ApiError as error:
                if error.status == 404:  # the resource is not served (yet): a CRD not installed
                    version = None
                log.debug("watch of %s failed: %s", self.resource.plural, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)
            except Exception as error:  # a dropped connection or a garbled line: resume or relist
                log.debug("watch of %s broke: %r", self.resource.plural, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)


class Informers:
    """One shared informer per resource, started on first use."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._informers: dict[Resource, Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def get(self, resource: Resource) -> Informer:
        informer = self._informers.get(resource)
        if informer is None:
            informer = self._informers[resource] = Informer(self.client, resource)
            self._tasks.append(asyncio.get_running_loop().create_task(informer.run()))
        return informer

    async def stop(self) -> None:
        await cancel_all(self._tasks)


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()


class Controller(Generic[QueueKey]):
    """Reconciles each key alone, `workers` keys at once; `reconcile` returns a requeue delay or None.

    With `gather_seconds`, a key waits that long before its reconcile, so a burst of events (a
    thousand pods of one ReplicaSet changing) costs one pass instead of one pass per event. With
    `leading_edge` as well, a key whose last pass began at least that long ago goes at once: passes
    are still at most one per `gather_seconds`, but a lone change is not held back.
    """

    def __init__(
        self,
        name: str,
        reconcile: Callable[[QueueKey], Awaitable[float | None]],
        workers: int = 1,
        gather_seconds: float = 0.0,
        leading_edge: bool = False,
    ) -> None:
        self.name = name
        self._leading_edge = leading_edge
        self._last_pass: dict[QueueKey, float] = {}
        self._reconcile = reconcile
        self._workers = workers
        self._gather_seconds = gather_seconds
        self._queue: asyncio.Queue[QueueKey] = asyncio.Queue()
        self._queued: set[QueueKey] = set()
        self._active: set[QueueKey] = set()
        self._dirty: set[QueueKey] = set()
        self._failures: dict[QueueKey, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, key: QueueKey) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            loop = asyncio.get_running_loop()
            wait = self._gather_seconds
            if wait and self._leading_edge:
                wait = max(0.0, self._last_pass.get(key, -math.inf) + wait - loop.time())
            if wait:
                loop.call_later(wait, self._queue.put_nowait, key)
            else:
                self._queue.put_nowait(key)

    def enqueue_after(self, key: QueueKey, seconds: float) -> None:
        asyncio.get_running_loop().call_later(seconds, self.enqueue, key)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        await cancel_all(self._tasks)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            if self._leading_edge:
                self._last_pass[key] = asyncio.get_running_loop().time()
            try:
                requeue = await self._reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                requeue = min(RETRY_FIRST_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS)
                log.debug("%s: reconcile of %s failed (%r); retry in %.2fs", self.name, key, error, requeue)
            finally:
                self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.enqueue(key)
            elif requeue is not None:
                self.enqueue_after(key, requeue)


def is_subset(wanted: JsonObject, current: JsonObject) -> bool:
    """True when every top-level field of `wanted` already has that value in `current`."""
    return all(current.get(name) == value for name, value in wanted.items())


async def write_status(
    informer: Informer, obj: JsonObject, status: JsonObject, annotations: dict[str, str] | None = None
) -> JsonObject | None:
    """Patch the status subresource (with `annotations`, which a pod's status write may carry) unless
    it already says this; the answer goes into the cache and is returned (None when nothing was
    written)."""
    if is_subset(status, obj.get("status") or {}) and not annotations:
        return None
    namespace, name = key_of(obj)
    body: JsonObject = {"status": status}
    if annotations:
        body["metadata"] = {"annotations": annotations}
    patched = await informer.client.patch(
        informer.resource, namespace or None, name, body, subresource="status"
    )
    if patched is not None:
        informer.record_write(patched)
    return patched


def now() -> datetime:
    return datetime.now(UTC)


def owner_key(obj: JsonObject, kind: str) -> Key | None:
    """The key of the object's controlling owner when that owner is of `kind`."""
    for reference in obj["metadata"].get("ownerReferences") or []:
        if reference.get("controller") and reference.get("kind") == kind:
            return str(obj["metadata"].get("namespace") or ""), str(reference["name"])
    return None


def enqueue_owner(controller: Controller[Key], owner_kind: str) -> Subscriber:
    """A subscriber that has `controller` reconcile the controlling owner, of `owner_kind`, of each
    object that changes (a pod wakes its ReplicaSet)."""

    def on_change(_kind: str, obj: JsonObject) -> None:
        owner = owner_key(obj, owner_kind)
        if owner is not None:
            controller.enqueue(owner)

    return on_change


# Bounds the burst of creates one reconcile sends, as upstream's batched pod creation does.
CREATE_BATCH = 50


async def create_all(informer: Informer, namespace: str, bodies: Sequence[JsonObject]) -> None:
    """Create objects in concurrent batches; each success goes into the cache even if another fails."""
    for start in range(0, len(bodies), CREATE_BATCH):
        results = await asyncio.gather(
            *(
                informer.client.create(informer.resource, namespace, body)
                for body in bodies[start : start + CREATE_BATCH]
            ),
            return_exceptions=True,
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        for result in results:
            if not isinstance(result, BaseException):
                informer.record_write(result)
        if failures:
            raise failures[0]
