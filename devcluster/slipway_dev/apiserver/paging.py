"""Paged LISTs (`limit` and `continue`), each served from one snapshot of its collection.

A real API server reads every page of a list from etcd at the revision of its first page, and each page
says so in its resourceVersion. A client that lists in pages and then watches from that version (Kopf
with `chunk_size`, client-go's reflector, `kubectl get`) therefore sees every change made while it read
the pages: in the list when made before the first page, in the watch when after. Serving later pages
from the current collection instead (as this server did) loses, to such a client, every change made
between two pages to an object on an earlier page. Stored objects are never mutated, so a snapshot is
the list of what matched at the first page.

A snapshot keeps the object versions it holds, as etcd keeps old revisions until it compacts them
(every 5 minutes by default): a token outlives its snapshot only as a real one outlives a compaction,
or here when newer lists have pushed it out, and is then answered 410 Expired, with the real server's
message and, as it does, a token in the Status's metadata that continues the list from the same place
at the current version (an inconsistent list, which the client may take or list again). The server
sweeps expired snapshots on a timer, not only when another list comes.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from slipway_dev.apiserver.errors import bad_request, gone
from slipway_dev.apiserver.storage import Stored

SWEEP_SECONDS = 30.0
"""How often the server drops expired snapshots (`ListSnapshots.expire`)."""
COMPACTION_SECONDS = 300.0
"""How long a list may be continued: the kube-apiserver's default etcd compaction interval."""
KEPT_LISTS = 256
"""Paged lists kept at once (finished or not: a page may be asked for again); the oldest is dropped
first, as if compacted."""

INCONSISTENT = (
    "The provided continue parameter is too old to display a consistent list result."
    " You can start a new list without the continue parameter, or use the continue token in this"
    " response to retrieve the remainder of the results. Continuing with the provided token results in"
    " an inconsistent list - objects that were created, modified, or deleted between the time the first"
    " chunk was returned and now may show up in the list."
)
LATEST = -1
"""The snapshot id in the token an expired list's 410 offers: continue at the current version (the real
server writes resourceVersion -1 into such a token)."""
INVALID_TOKEN = "invalid continue token"
OTHER_LIST = f"{INVALID_TOKEN}: it continues a list of another collection or selectors"

Current = Callable[[], tuple[list[Stored], int]]
"""What the list's collection matches now, ordered by namespace and name, and the store's version."""


@dataclass(frozen=True)
class Page:
    items: list[Stored]
    rv: int
    """The resourceVersion of the list: its first page's, on every page."""
    continue_token: str | None


@dataclass(frozen=True)
class Collection:
    storage_key: str
    namespace: str | None
    """None: every namespace."""
    label_selector: str
    field_selector: str


@dataclass(frozen=True)
class _Snapshot:
    taken: float
    collection: Collection
    """What was listed, and with which selectors: a token is refused on any other."""
    rv: int
    items: list[Stored]
    """Ordered by (namespace, name), where a continue token resumes."""


class ListSnapshots:
    """The snapshots of the paged lists under way (and of those finished, whose pages may be asked for
    again), by the id their continue tokens name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshots: OrderedDict[int, _Snapshot] = OrderedDict()
        self._ids = itertools.count(1)
        self._clock = clock

    def __len__(self) -> int:
        return len(self._snapshots)

    def first(self, collection: Collection, items: list[Stored], rv: int, limit: int | None) -> Page:
        """The first page of `items` (what the list of `collection` matched at `rv`, ordered by
        namespace and name)."""
        return self._paged(collection, items, rv, 0, limit)

    def next(self, collection: Collection, token: str, limit: int | None, current: Current) -> Page:
        """The page a continue token asks for, from its list's snapshot; from what `current` shows for
        a token an expired list's 410 offered."""
        snapshot_id, start, listed = _decode(token)
        # Every token names its collection, as a real one names its key prefix: checked even once the
        # list expired, so its 410 never offers a way on over another collection.
        if listed != (collection.storage_key, collection.namespace):
            raise bad_request(OTHER_LIST)
        if snapshot_id == LATEST:  # the request's own selectors apply, as on a real server
            items, rv = current()
            return self._paged(collection, items, rv, bisect.bisect_right(items, start, key=_position), limit)
        self.expire()
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None:
            raise gone(INCONSISTENT, _encode(LATEST, start, collection))
        if snapshot.collection != collection:
            raise bad_request(OTHER_LIST)
        offset = bisect.bisect_right(snapshot.items, start, key=_position)
        return self._page(snapshot_id, snapshot, offset, limit)

    def _paged(
        self, collection: Collection, items: list[Stored], rv: int, offset: int, limit: int | None
    ) -> Page:
        """`items` from `offset` on: in one page when they fit, else from a snapshot kept for the rest."""
        if limit is None or len(items) - offset <= limit:
            return Page(items[offset:], rv, None)
        snapshot_id = next(self._ids)
        self._snapshots[snapshot_id] = _Snapshot(self._clock(), collection, rv, items)
        while len(self._snapshots) > KEPT_LISTS:
            self._snapshots.popitem(last=False)
        return self._page(snapshot_id, self._snapshots[snapshot_id], offset, limit)

    @staticmethod
    def _page(snapshot_id: int, snapshot: _Snapshot, offset: int, limit: int | None) -> Page:
        end = len(snapshot.items) if limit is None else min(len(snapshot.items), offset + limit)
        items = snapshot.items[offset:end]
        token = None
        if end < len(snapshot.items):
            token = _encode(snapshot_id, _position(items[-1]), snapshot.collection)
        return Page(items, snapshot.rv, token)

    def expire(self) -> None:
        """Drop the snapshots older than a compaction, and the old versions only they still hold."""
        oldest = self._clock() - COMPACTION_SECONDS
        while self._snapshots and next(iter(self._snapshots.values())).taken < oldest:
            self._snapshots.popitem(last=False)


def _position(stored: Stored) -> tuple[str, str]:
    return stored.namespace, stored.name


def _encode(snapshot_id: int, after: tuple[str, str], collection: Collection) -> str:
    fields = [snapshot_id, *after, collection.storage_key, collection.namespace]
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()


def _decode(token: str) -> tuple[int, tuple[str, str], tuple[str, str | None]]:
    """The snapshot id (or LATEST), the (namespace, name) to resume after, and the storage key and
    namespace (None: every namespace) of the collection the token continues."""
    try:
        snapshot_id, namespace, name, storage_key, listed_namespace = json.loads(
            base64.urlsafe_b64decode(token.encode())
        )
        # An int that is not a bool; strings where names are; the namespace listed may be every one.
        if type(snapshot_id) is not int or not (snapshot_id == LATEST or snapshot_id > 0):
            raise ValueError(snapshot_id)
        if not all(isinstance(field, str) for field in (namespace, name, storage_key)):
            raise TypeError(namespace, name, storage_key)
        if listed_namespace is not None and not isinstance(listed_namespace, str):
            raise TypeError(listed_namespace)
    except (ValueError, binascii.Error, TypeError, RecursionError) as error:
        raise bad_request(INVALID_TOKEN) from error
    return snapshot_id, (namespace, name), (storage_key, listed_namespace)
