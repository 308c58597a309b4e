"""A Release in flight as the watch shows it and as this operator's own writes left it, so that its passes
decide without reading it and listing its Deployments again.

At 1,000 rollouts at once each pass sent a GET of its Release and a LIST of its Deployments before
deciding: half of the operator's requests (~120 of ~240 a second), two of the four or five a pass waited
for one after the other, and a third of the dev cluster's loop went to serving the API. The watch had
shown both already, but a watch lags behind the operator's own writes, and a decision on a status older
than the one written last would step traffic back. So this view keeps, per Release in flight:
- what a read found (the GET and the LIST of a pass that did read), newer watch events, and the
  responses of this operator's own writes (a status written, a Deployment applied), each object at the
  newest resourceVersion any of them carried. resourceVersions are compared as numbers: Kubernetes made
  them comparable (KEP-5504, stable in 1.35: positive integers without leading zeros); a server whose
  versions are not turns the view off, and every pass reads as before;
- the Deployments this operator deleted, hidden until the watch shows their deletion.

So a pass never decides on less than its own operator wrote, the same guarantee a read gives; what
someone else changed arrives by watch event, which wakes a pass anyway (as with client-go's informer
caches, whose controllers never read the API at all). A write that then conflicts (a status guarded by
resourceVersion, 409) or fails drops the Release's view, and its next pass reads. Each view is read
afresh every `REFRESH_SECONDS` all the same, a bound on anything a watch may have missed.

A Release is kept for `REFRESH_SECONDS` from a pass that read it, then forgotten (`forget_expired`, at
the next pass of any Release, or by a sweep twice per refresh): the passes a settled Release's last writes
wake (its old revision scaled down) read nothing, and at rest ten thousand Releases keep nothing here.
With sharding a Release this replica gains starts without a view (another replica wrote last).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.controller.queue import ReleaseKey
from slipway.kube.packed import pack, unpack
from slipway.manifests import LABEL_RELEASE, Obj, own_fields_only

# Longest a view is decided on without a read (a deletion missed across a watch re-list lasts no longer).
REFRESH_SECONDS = 30.0


def comparable_version(obj: Mapping[str, Any]) -> int | None:
    """An object's resourceVersion as a number (KEP-5504's form); None when it is not one."""
    text = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if not (text.isascii() and text.isdigit()) or text.startswith("0"):
        return None
    return int(text)


_Versioned = tuple[str, int | None, bytes]
"""An object's name, comparable resourceVersion (None: not a number) and packed form."""


def _versioned(obj: Mapping[str, Any]) -> _Versioned:
    # Not compressed: a view lives for seconds, is packed at every watch event, and few are kept.
    return obj["metadata"]["name"], comparable_version(obj), pack(own_fields_only(obj), compressed=False)


@dataclass
class _Kept:
    version: int
    packed: bytes | None
    """None: shown deleted, or no longer labelled as the Release's, at `version`."""


@dataclass
class _Entry:
    read_at: float | None = None
    """When the read that seeded it was made (monotonic); None while that read is in flight."""
    release: _Kept | None = None
    deployments: dict[str, _Kept] = field(default_factory=dict)
    deleting: set[str] = field(default_factory=set)
    """Deployments this operator deleted whose deletion the watch has not shown yet: hidden."""


@dataclass(frozen=True)
class View:
    body: Obj
    deployments: list[Obj]
    """Labelled as the Release's."""


class WatchView:
    """Filled from the watch handlers (on the event loop) and the passes' reads and writes (worker
    threads); objects are packed outside the lock."""

    def __init__(
        self, refresh_seconds: float = REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # In the order their reads ended (reads in flight anywhere): the expired ones come first.
        self._entries: OrderedDict[ReleaseKey, _Entry] = OrderedDict()
        # Which Release's entry holds each Deployment (namespace, name): a relabelled one leaves it.
        self._held_by: dict[tuple[str, str], ReleaseKey] = {}
        # Entries whose read is in flight (128 at most): a Deployment shown leaving a Release meanwhile
        # is marked gone in each, since the read's older answer may still list it as that Release's.
        self._reading: set[ReleaseKey] = set()
        self._refresh = refresh_seconds
        self._clock = clock
        self._on = True
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, key: ReleaseKey) -> View | None:
        """The Release and its Deployments to decide on; None: read them (`reading`, then `read`)."""
        with self._lock:
            self._forget_expired()  # this one too, if past its refresh
            entry = self._entries.get(key)
            if entry is None or entry.read_at is None or entry.release is None:
                return None
            release = entry.release.packed
            deployments = [
                kept.packed
                for name, kept in entry.deployments.items()
                if kept.packed is not None and name not in entry.deleting
            ]
        assert release is not None  # a Release shown deleted drops its entry
        return View(unpack(release), [unpack(packed) for packed in deployments])

    def reading(self, key: ReleaseKey) -> None:
        """A pass is about to read the Release and list its Deployments: from now on the watch's events
        are kept, so that none shown during the read is lost to an older answer."""
        with self._lock:
            if self._on:
                self._drop(key)
                self._forget_expired()
                self._entries[key] = _Entry()
                self._reading.add(key)

    def read(self, key: ReleaseKey, body: Obj, deployments: Iterable[Obj]) -> None:
        """What that read found; the view is used from the next pass on."""
        release, *listed = [_versioned(body), *map(_versioned, deployments)]
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return  # deleted meanwhile, or the view is off
            self._reading.discard(key)
            if any(version is None for _, version, _ in (release, *listed)):
                self._turn_off()
                return
            self._keep_release(entry, release)
            for deployment in listed:
                self._keep_deployment(key, entry, deployment)
            # What was marked gone only to outweigh this answer (others' Deployments) is needed no more.
            names = {name for name, _, _ in listed}
            for name, kept in list(entry.deployments.items()):
                if kept.packed is None and name not in names:
                    del entry.deployments[name]
            entry.read_at = self._clock()
            self._entries.move_to_end(key)

    def drop(self, key: ReleaseKey) -> None:
        """Its next pass reads: a write conflicted or failed, the Release moved to this replica, or one
        of its objects was deleted."""
        with self._lock:
            self._drop(key)

    def shown_release(self, key: ReleaseKey, body: Mapping[str, Any] | None) -> None:
        """The watch shows the Release (None: deleted)."""
        if key not in self._entries:
            return  # not kept: nothing to pack
        shown = _versioned(body) if body is not None else None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            if shown is None:
                self._drop(key)
            elif shown[1] is None:
                self._turn_off()
            else:
                self._keep_release(entry, shown)

    def shown_deployment(
        self, namespace: str, name: str, release: str | None, body: Mapping[str, Any], deleted: bool
    ) -> None:
        """The watch shows a Deployment, labelled as `release`'s (None: not labelled as any's)."""
        key = ReleaseKey(namespace, release) if release is not None else None
        kept = key in self._entries
        # Looked at without the lock: a Deployment the operator has just created, relabelled before its
        # write's response is kept, may stay in its Release's view until the refresh (30 s at most).
        if not kept and not self._reading and (namespace, name) not in self._held_by:
            return  # no Release's view holds it, nor will: most events
        version = comparable_version(body)
        # Packed outside the lock, and only when kept.
        shown = _versioned(body) if kept and not deleted else None
        with self._lock:
            if version is None:
                self._turn_off()
                return
            before = self._held_by.get((namespace, name))
            if before is not None and before != key:
                self._left(before, name, version)
            for reading in self._reading:
                if reading != key and reading.namespace == namespace:
                    self._left(reading, name, version)
            entry = self._entries.get(key) if key is not None else None
            if key is None or entry is None:
                return
            if deleted:
                entry.deleting.discard(name)
                self._left(key, name, version)
            else:  # packed here only if its entry was made (a read began) since the look above
                self._keep_deployment(key, entry, shown or _versioned(body))

    def wrote(self, obj: Obj) -> None:
        """The response of this operator's write: a Release (its status, an annotation removed) or one
        of its Deployments."""
        key = self._key_of(obj)
        if key is None or key not in self._entries:
            return
        written = _versioned(obj)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            if written[1] is None:
                self._turn_off()
            elif obj.get("kind") == "Deployment":
                entry.deleting.discard(written[0])
                self._keep_deployment(key, entry, written)
            else:
                self._keep_release(entry, written)

    def deleted(self, deployment: Obj) -> None:
        """This operator deleted one of a Release's Deployments: hidden until the watch shows it gone."""
        with self._lock:
            key = self._key_of(deployment)
            entry = self._entries.get(key) if key is not None else None
            if entry is not None:
                entry.deleting.add(deployment["metadata"]["name"])

    @staticmethod
    def _key_of(obj: Obj) -> ReleaseKey | None:
        metadata = obj.get("metadata") or {}
        if obj.get("kind") == "Deployment":
            release = (metadata.get("labels") or {}).get(LABEL_RELEASE)
            return ReleaseKey(metadata.get("namespace", ""), release) if release else None
        return ReleaseKey(metadata.get("namespace", ""), metadata.get("name", ""))

    @staticmethod
    def _keep_release(entry: _Entry, shown: _Versioned) -> None:
        _, version, packed = shown
        assert version is not None
        if entry.release is None or version > entry.release.version:
            entry.release = _Kept(version, packed)

    def _keep_deployment(self, key: ReleaseKey, entry: _Entry, shown: _Versioned) -> None:
        name, version, packed = shown
        assert version is not None
        kept = entry.deployments.get(name)
        if kept is not None and version <= kept.version:
            return
        before = self._held_by.get((key.namespace, name))
        if before is not None and before != key:
            other = self._entries.get(before)
            held = other.deployments.get(name) if other is not None else None
            if held is not None and version <= held.version:
                return  # an older answer: the other Release's view shows it newer
            self._left(before, name, version)
        entry.deployments[name] = _Kept(version, packed)
        self._held_by[(key.namespace, name)] = key

    def _left(self, key: ReleaseKey, name: str, version: int) -> None:
        """The Deployment is gone from the Release's view at `version` (deleted, or labelled otherwise):
        no older answer or event brings it back."""
        entry = self._entries.get(key)
        if entry is None:
            return
        kept = entry.deployments.get(name)
        if kept is None or version > kept.version:
            entry.deployments[name] = _Kept(version, None)
        if self._held_by.get((key.namespace, name)) == key:
            del self._held_by[(key.namespace, name)]

    def forget_expired(self) -> None:
        """Forget what is past its refresh (also done at every pass)."""
        with self._lock:
            self._forget_expired()

    def _forget_expired(self) -> None:
        """Forget the entries past their refresh. They come in the order their reads ended, so the
        walk stops at the first one read since (reads in flight, 128 at most, are stepped over)."""
        expired = self._clock() - self._refresh
        stale = []
        for key, entry in self._entries.items():
            if entry.read_at is None:
                continue
            if entry.read_at > expired:
                break
            stale.append(key)
        for key in stale:
            self._drop(key)

    def _drop(self, key: ReleaseKey) -> None:
        self._reading.discard(key)
        entry = self._entries.pop(key, None)
        if entry is not None:
            for name in entry.deployments:
                if self._held_by.get((key.namespace, name)) == key:
                    del self._held_by[(key.namespace, name)]

    def _turn_off(self) -> None:
        """resourceVersions that are not numbers cannot be compared: every pass reads."""
        self._on = False
        self._entries.clear()
        self._held_by.clear()
        self._reading.clear()
