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
or here when newer lists have pushed it out, and is then answered 410 Expired (the real server's
message when it offers no inconsistent continuation), so the client lists again. The server sweeps
expired snapshots on a timer, not only when another list comes.
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
        if limit is None or len(items) <= limit:
            return Page(items, rv, None)
        snapshot_id = next(self._ids)
        self._snapshots[snapshot_id] = _Snapshot(self._clock(), collection, rv, items)
        while len(self._snapshots) > KEPT_LISTS:
            self._snapshots.popitem(last=False)
        return self._page(snapshot_id, self._snapshots[snapshot_id], 0, limit)

    def next(self, collection: Collection, token: str, limit: int | None) -> Page:
        """The page a continue token asks for, from its list's snapshot."""
        snapshot_id, start = _decode(token)
        self.expire()
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None:
            raise gone(EXPIRED)
        if snapshot.collection != collection:
            raise bad_request(
                "invalid continue token: it continues a list of another collection or selectors"
            )
        offset = bisect.bisect_right(snapshot.items, start, key=_position)
        return self._page(snapshot_id, snapshot, offset, limit)

    @staticmethod
    def _page(snapshot_id: int, snapshot: _Snapshot, offset: int, limit: int | None) -> Page:
        end = len(snapshot.items) if limit is None else min(len(snapshot.items), offset + limit)
        items = snapshot.items[offset:end]
        token = None
        if end < len(snapshot.items):
            token = _encode(snapshot_id, *_position(items[-1]))
        return Page(items, snapshot.rv, token)

    def expire(self) -> None:
        """Drop the snapshots older than a compaction, and the old versions only they still hold."""
        oldest = self._clock() - COMPACTION_SECONDS
        while self._snapshots and next(iter(self._snapshots.values())).taken < oldest:
            self._snapshots.popitem(last=False)


def _position(stored: Stored) -> tuple[str, str]:
    return stored.namespace, stored.name


def _encode(snapshot_id: int, namespace: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([snapshot_id, namespace, name]).encode()).decode()


def _decode(token: str) -> tuple[int, tuple[str, str]]:
    try:
        snapshot_id, namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        if type(snapshot_id) is not int:  # not a bool either
            raise TypeError(snapshot_id)
    except (ValueError, binascii.Error, TypeError) as error:
        raise bad_request("invalid continue token") from error
    return snapshot_id, (str(namespace), str(name))
