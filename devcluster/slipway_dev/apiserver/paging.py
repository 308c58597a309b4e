"""Paged LISTs (`limit` and `continue`), each served from one snapshot of its collection.

A real API server reads every page of a list from etcd at the revision of its first page, and each page
says so in its resourceVersion. A client that lists in pages and then watches from that version (Kopf
with `chunk_size`, client-go's reflector, `kubectl get`) therefore sees every change made while it read
the pages: in the list when made before the first page, in the watch when after. Serving later pages
from the current collection instead (as this server did) loses, to such a client, every change made
between two pages to an object on an earlier page. Stored objects are never mutated, so a snapshot is
the list of what matched at the first page.

A token outlives its snapshot only as a real one outlives etcd's compaction (every 5 minutes by
default), or here when newer lists have pushed it out: answered 410 Expired, with the real server's
message, and the client lists again.
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

COMPACTION_SECONDS = 300.0
"""How long a list may be continued: the kube-apiserver's default etcd compaction interval."""
KEPT_LISTS = 256
"""Unfinished lists kept at once; the oldest is dropped first, as if compacted."""

EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result."
    " You can start a new list without the continue parameter."
)


@dataclass(frozen=True)
class Page:
    items: list[Stored]
    rv: int
    """The resourceVersion of the list: its first page's, on every page."""
    continue_token: str | None


@dataclass(frozen=True)
class _Snapshot:
    taken: float
    collection: str
    """The path listed: a token is refused on any other."""
    rv: int
    items: list[Stored]
    keys: list[tuple[str, str]]
    """(namespace, name) of each item, in order: where a continue token resumes."""


class ListSnapshots:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshots: OrderedDict[int, _Snapshot] = OrderedDict()
        self._ids = itertools.count(1)
        self._clock = clock

    def __len__(self) -> int:
        return len(self._snapshots)

    def first(self, collection: str, items: list[Stored], rv: int, limit: int | None) -> Page:
        """The first page of `items` (what the list of `collection` matched at `rv`, ordered by
        namespace and name)."""
        if limit is None or len(items) <= limit:
            return Page(items, rv, None)
        self._expire()
        snapshot_id = next(self._ids)
        keys = [(stored.namespace, stored.name) for stored in items]
        self._snapshots[snapshot_id] = _Snapshot(self._clock(), collection, rv, items, keys)
        while len(self._snapshots) > KEPT_LISTS:
            self._snapshots.popitem(last=False)
        return self._page(snapshot_id, self._snapshots[snapshot_id], 0, limit)

    def next(self, collection: str, token: str, limit: int | None) -> Page:
        """The page a continue token asks for, from its list's snapshot."""
        snapshot_id, start = _decode(token)
        self._expire()
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None:
            raise gone(EXPIRED)
        if snapshot.collection != collection:
            raise bad_request("invalid continue token: it continues a list of another collection")
        return self._page(snapshot_id, snapshot, bisect.bisect_right(snapshot.keys, start), limit)

    @staticmethod
    def _page(snapshot_id: int, snapshot: _Snapshot, offset: int, limit: int | None) -> Page:
        end = len(snapshot.items) if limit is None else min(len(snapshot.items), offset + limit)
        items = snapshot.items[offset:end]
        token = None
        if end < len(snapshot.items):
            namespace, name = snapshot.keys[end - 1]
            token = _encode(snapshot.rv, snapshot_id, namespace, name)
        return Page(items, snapshot.rv, token)

    def _expire(self) -> None:
        oldest = self._clock() - COMPACTION_SECONDS
        while self._snapshots and next(iter(self._snapshots.values())).taken < oldest:
            self._snapshots.popitem(last=False)


def _encode(rv: int, snapshot_id: int, namespace: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([rv, snapshot_id, namespace, name]).encode()).decode()


def _decode(token: str) -> tuple[int, tuple[str, str]]:
    try:
        _, snapshot_id, namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(snapshot_id, int):
            raise TypeError(snapshot_id)
    except (ValueError, binascii.Error, TypeError) as error:
        raise bad_request("invalid continue token") from error
    return snapshot_id, (str(namespace), str(name))
