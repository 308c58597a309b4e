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
resourceVersion, 409) or fails drops the Release's view, and its next pass reads. Kopf shows no
deletion it missed while re-listing a watch, so each view is read afresh every `REFRESH_SECONDS`.

A Release is kept from a pass that read it for `REFRESH_SECONDS`, then forgotten (at the next read of any
Release): the passes a settled Release's last writes wake (its old revision scaled down and deleted)
read nothing, and at rest ten thousand Releases keep nothing here. With sharding a Release this replica
gains starts without a view (another replica wrote last).
"""

from __future__ import annotations

import threading
import time
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


@dataclass
class _Kept:
    version: int
    packed: bytes | None
    """None: shown deleted at `version`."""


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
    """Filled from the watch handlers (on the event loop) and the passes' writes (worker threads)."""

    def __init__(
        self, refresh_seconds: float = REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: dict[ReleaseKey, _Entry] = {}
        # Which Release's entry holds each Deployment (namespace, name): a relabelled one leaves it.
        self._held_by: dict[tuple[str, str], ReleaseKey] = {}
        self._refresh = refresh_seconds
        self._clock = clock
        self._on = True
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, key: ReleaseKey) -> View | None:
        """The Release and its Deployments to decide on; None: read them (`reading`, then `read`)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.read_at is None or entry.release is None:
                return None
            if self._clock() - entry.read_at > self._refresh:
                self._drop(key)
                return None
            release = entry.release.packed
            deployments = [
                kept.packed
                for name, kept in entry.deployments.items()
                if kept.packed is not None and name not in entry.deleting
            ]
        if release is None:
            return None
        return View(unpack(release), [unpack(packed) for packed in deployments])

    def reading(self, key: ReleaseKey) -> None:
        """A pass is about to read the Release and list its Deployments: from now on the watch's events
        are kept, so that none shown during the read is lost to an older answer."""
        with self._lock:
            if self._on:
                self._drop(key)
                self._forget_expired()
                self._entries[key] = _Entry()

    def read(self, key: ReleaseKey, body: Obj, deployments: Iterable[Obj]) -> None:
        """What that read found; the view is used from the next pass on."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return  # deleted meanwhile, or the view is off
            self._keep_release(key, entry, body)
            for deployment in deployments:
                self._keep_deployment(key, entry, deployment)
            if key in self._entries:
                entry.read_at = self._clock()

    def drop(self, key: ReleaseKey) -> None:
        """Its next pass reads: the Release is at rest, a write conflicted or failed, or it moved to
        this replica."""
        with self._lock:
            self._drop(key)

    def shown_release(self, key: ReleaseKey, body: Mapping[str, Any] | None) -> None:
        """The watch shows the Release (None: deleted)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            if body is None:
                self._drop(key)
            else:
                self._keep_release(key, entry, body)

    def shown_deployment(
        self, namespace: str, name: str, release: str | None, body: Mapping[str, Any], deleted: bool
    ) -> None:
        """The watch shows a Deployment, labelled as `release`'s (None: not labelled as any's)."""
        with self._lock:
            key = ReleaseKey(namespace, release) if release is not None else None
            before = self._held_by.get((namespace, name))
            if before is not None and before != key:
                self._entries[before].deployments.pop(name, None)
                del self._held_by[(namespace, name)]
            entry = self._entries.get(key) if key is not None else None
            if key is None or entry is None:
                return
            if deleted:
                version = comparable_version(body)
                if version is None:
                    self._turn_off()
                    return
                entry.deleting.discard(name)
                entry.deployments[name] = _Kept(version, None)
                self._held_by[(namespace, name)] = key
            else:
                self._keep_deployment(key, entry, body)

    def wrote(self, obj: Obj) -> None:
        """The response of this operator's write: a Release (its status, an annotation removed) or one
        of its Deployments."""
        with self._lock:
            key = self._key_of(obj)
            entry = self._entries.get(key) if key is not None else None
            if key is None or entry is None:
                return
            if obj.get("kind") == "Deployment":
                entry.deleting.discard(obj["metadata"]["name"])
                self._keep_deployment(key, entry, obj)
            else:
                self._keep_release(key, entry, obj)

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

    def _keep_release(self, key: ReleaseKey, entry: _Entry, body: Mapping[str, Any]) -> None:
        version = comparable_version(body)
        if version is None:
            self._turn_off()
        elif entry.release is None or version > entry.release.version:
            entry.release = _Kept(version, pack(own_fields_only(body)))

    def _keep_deployment(self, key: ReleaseKey, entry: _Entry, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        version = comparable_version(body)
        if version is None:
            self._turn_off()
            return
        kept = entry.deployments.get(name)
        if kept is None or version > kept.version:
            entry.deployments[name] = _Kept(version, pack(own_fields_only(body)))
            self._held_by[(key.namespace, name)] = key

    def _forget_expired(self) -> None:
        """The entries read longest ago come first (each is put last when read): forget those past
        their refresh, up to the first that is not (or whose read is still in flight)."""
        expired = self._clock() - self._refresh
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.read_at is None or entry.read_at > expired:
                return
            self._drop(key)

    def _drop(self, key: ReleaseKey) -> None:
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
