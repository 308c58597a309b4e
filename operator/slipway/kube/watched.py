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

After a start, no pass has left any object yet, so each would be read once more: at a restart over
thousands of Releases those reads were most of the requests (bench_scale: 7.3 per Release, the operator
CPU-bound). So until a pass first meets an object, its entry keeps what the watch showed of it (the
fields the comparison reads), and that pass compares with it instead of reading it; a difference, or
anyone else's object, is read as before.

That helps only if the watch has shown the objects before the passes start: at a restart over 500
Releases whose events came first, the passes read 964 of their 1,000 Services with a GET each. So the
queue starts no pass until the watches have listed the Releases and what they own (controller/
first_look.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slipway.kube.packed import digest, pack, unpack
from slipway.manifests import (
    Obj,
    ReleaseRef,
    is_owned_by,
    object_differs,
    own_fields_only,
    owning_release,
)


@dataclass
class _Entry:
    shown: str | None = None
    """The last resourceVersion the watch showed."""
    left: str | None = None
    """The resourceVersion the operator last read (and compared) or wrote."""
    wanted: int | None = None
    """What it matched then (`digest`)."""
    owner: str | None = None
    """The Release it belonged to then (`owning_release`)."""
    seen: bytes | None = None
    """The object as the watch showed it (`shown`), what the comparison reads of it, kept only until
    a pass first leaves it; packed (kube/packed.py: a restart holds thousands at once)."""


_COMPARED_METADATA = (
    "name",
    "namespace",
    "resourceVersion",
    "labels",
    "annotations",
    "ownerReferences",
    "managedFields",
)


def _compared(obj: Mapping[str, Any]) -> Obj:
    """What `object_differs` (with `applied_config`: the operator's own Apply entry of managedFields)
    and `is_owned_by` read of an object, and no more (not the other managers'
    entries nor its status): kept for thousands of objects after a start."""
    metadata = own_fields_only(obj)["metadata"]
    kept = {key: metadata[key] for key in _COMPARED_METADATA if key in metadata}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": kept,
        "spec": obj.get("spec") or {},
    }


class WatchedObjects:
    """Per object (its API path): the last resourceVersion the watch showed, the one the operator last
    left it at, and what it matched then. The watch's own events are kept for every object it shows
    (the event of a create comes before the create's response); written from the passes' worker
    threads and from the watch handlers on the event loop."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def unchanged(self, path: str, wanted: Obj, release: ReleaseRef) -> bool:
        """Whether the object is, as the watch shows it, as the operator last left it, matching `wanted`;
        or, before any pass met it, the Release's and matching `wanted` as the watch showed it (then it
        counts as left there)."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                return False  # a kind no watch covers (routes), or not shown yet: no digest to make
            left, shown, was_wanted, packed = entry.left, entry.shown, entry.wanted, entry.seen
        # Compared outside the lock: at a restart over 10,000 Releases the pass threads spent 11 % of
        # the operator's time waiting for it here (py-spy).
        wanted_now = digest(wanted)
        if left is not None:
            return shown == left and was_wanted == wanted_now
        if packed is None:
            return False
        seen = unpack(packed)
        if not is_owned_by(seen, release) or object_differs(wanted, seen):
            return False
        with self._lock:
            if self._entries.get(path) is not entry or entry.seen is not packed:
                return False  # the watch showed it again meanwhile: read it
            entry.left, entry.wanted, entry.owner = shown, wanted_now, release.name
            entry.seen = None
        return True

    def matched(self, path: str, obj: Obj, wanted: Obj) -> None:
        """`obj` (as read, or as a write returned it) matches `wanted`."""
        with self._lock:
            entry = self._entries.setdefault(path, _Entry())
            entry.left, entry.wanted = str(obj["metadata"]["resourceVersion"]), digest(wanted)
            entry.owner, entry.seen = owning_release(obj), None

    def owner(self, path: str) -> str | None:
        """The Release the object belonged to when a pass last met it (None: none met it)."""
        with self._lock:
            entry = self._entries.get(path)
            return entry.owner if entry is not None else None

    def shown(self, obj: Mapping[str, Any], path: str, owned: bool = True) -> None:
        """The watch shows the object. One no Release owns is kept only if a pass met it (the watch shows
        every Service of the namespaces)."""
        with self._lock:
            entry = self._entries.get(path)
            unmet = entry is None or entry.left is None
        # Packed outside the lock, which the pass threads take (the watch handlers run on the loop).
        seen = pack(_compared(obj)) if owned and unmet else None
        with self._lock:
            entry = self._entries.get(path)
            if entry is None and owned:
                entry = self._entries[path] = _Entry()
            if entry is not None:
                entry.shown = str(obj["metadata"].get("resourceVersion"))
                entry.seen = seen if entry.left is None else None

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
