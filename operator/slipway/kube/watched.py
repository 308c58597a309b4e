"""What the operator knows of the objects it writes and watches, so that a pass need not read them again.

Every pass restates a Release's Services and its PrometheusRule (`ClusterWriter.ensure_routing_object`,
`ensure_alert_rule`); reading each to compare it with what the pass wants was three of a steady pass's
five requests. The operator watches those objects (each owner found by ownerReference or labels:
controller/handlers.py, so that an edit removing the labels is seen too), so it knows one is still as
its own last read or write left it when the watch has shown exactly that
resourceVersion and nothing since. Then, if the pass wants what was wanted then, there is nothing to
read and nothing to write. Anything else is a GET as before, so drift is still repaired: another
resourceVersion shown (someone changed it), the object deleted, the watch not showing it (yet), a kind
no watch covers. And the watch event of someone else's change wakes the Release, so that it is repaired
at once, not at its next pass.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from slipway.manifests import Obj, owning_release


@dataclass
class _Entry:
    shown: str | None = None
    """The last resourceVersion the watch showed."""
    left: str | None = None
    """The resourceVersion the operator last read (and compared) or wrote."""
    wanted: int | None = None
    """What it matched then (`_digest`)."""
    owner: str | None = None
    """The Release it belonged to then (`owning_release`)."""


def _digest(wanted: Obj) -> int:
    return hash(json.dumps(wanted, sort_keys=True))


class WatchedObjects:
    """Per object (its API path): the last resourceVersion the watch showed, the one the operator last
    left it at, and what it matched then. The watch's own events are kept for every object it shows
    (the event of a create comes before the create's response); written from the passes' worker
    threads and from the watch handlers on the event loop."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def unchanged(self, path: str, wanted: Obj) -> bool:
        """Whether the object is, as the watch shows it, as the operator last left it, matching `wanted`."""
        with self._lock:
            entry = self._entries.get(path)
            return (
                entry is not None
                and entry.left is not None
                and entry.shown == entry.left
                and entry.wanted == _digest(wanted)
            )

    def matched(self, path: str, obj: Obj, wanted: Obj) -> None:
        """`obj` (as read, or as a write returned it) matches `wanted`."""
        with self._lock:
            entry = self._entries.setdefault(path, _Entry())
            entry.left, entry.wanted = str(obj["metadata"]["resourceVersion"]), _digest(wanted)
            entry.owner = owning_release(obj)

    def owner(self, path: str) -> str | None:
        """The Release the object belonged to when a pass last met it (None: none met it)."""
        with self._lock:
            entry = self._entries.get(path)
            return entry.owner if entry is not None else None

    def shown(self, path: str, resource_version: str, owned: bool = True) -> None:
        """The watch shows the object at `resource_version`. One no Release owns is kept only if a pass
        met it (the watch shows every Service of the namespaces)."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None and owned:
                entry = self._entries[path] = _Entry()
            if entry is not None:
                entry.shown = resource_version

    def as_left(self, path: str, resource_version: str) -> bool:
        """Whether `resource_version` is where the operator last left the object (a watch event of it
        brings nothing new), or no pass has met the object yet (its Release's own pass will)."""
        with self._lock:
            entry = self._entries.get(path)
            return entry is None or entry.left is None or entry.left == resource_version

    def gone(self, path: str) -> None:
        """The object was deleted."""
        with self._lock:
            self._entries.pop(path, None)
