"""What the watch showed of the Releases and their Deployments while the queue was closed at start: the
first pass of each Release reads that instead of the API.

A restarted operator makes one pass per Release. With its Services and rules compared with what the
watch showed (kube/watched.py), each pass still sent two requests, the GET of its Release and the LIST
of its Deployments, though the watch had just shown both. At a restart over 3,000 Releases the
operator was CPU-bound, and requests were most of its time (py-spy: 38 % in the client).

So the queue stays closed at start until the watch has shown every Release, and every Service,
PrometheusRule and Deployment labelled as a Release's, that a LIST found then (`kube.cluster.
listed_at_start`; controller/operator.py opens it). Meanwhile each Release's body and its Deployments
are kept as the watch shows them, packed (kube/packed.py). The first pass takes them. The body is as fresh as
a GET (a newer event would have replaced it; the status write is guarded by its resourceVersion all
the same). The Deployments are used only if the watch showed every object listed at start, else they
are listed as always. Any event for a Release after the queue opened drops what is kept of it, so a
pass never decides on less than the watch has shown. A Release this replica does not own (sharding) is
not kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.controller.queue import ReleaseKey
from slipway.kube.packed import pack, unpack
from slipway.manifests import Obj


@dataclass
class _Kept:
    body: bytes | None = None
    deployments: dict[str, bytes] = field(default_factory=dict)
    """By name (one the watch showed deleted is dropped)."""


@dataclass(frozen=True)
class FirstView:
    body: Obj | None
    """The Release as the watch showed it; None: read it."""
    deployments: list[Obj] | None
    """Its Deployments (labelled as the Release's) as the watch showed them; None: list them."""


class FirstLook:
    """Kept from the start until each Release's first pass; written on the event loop, taken from the
    passes' worker threads."""

    def __init__(self, owns: Callable[[ReleaseKey], bool] | None = None) -> None:
        self._owns = owns
        self._kept: dict[ReleaseKey, _Kept] = {}
        self._lock = threading.Lock()
        self._keeping = True
        self._complete = False
        self._awaited: set[str] = set()

    def await_shown(self, paths: Iterable[str]) -> None:
        """The objects (API paths) the watch is to show, or delete, before the queue opens."""
        with self._lock:
            self._awaited = set(paths)

    @property
    def awaited(self) -> int:
        """How many of them the watch has neither shown nor deleted yet."""
        with self._lock:
            return len(self._awaited)

    def shown(self, path: str) -> None:
        """The watch shows the object at `path`, or its deletion."""
        with self._lock:
            self._awaited.discard(path)

    def release(self, key: ReleaseKey, body: Mapping[str, Any] | None) -> None:
        """The watch shows the Release (None: deleted)."""
        with self._lock:
            if not self._keeping or body is None:
                self._kept.pop(key, None)
            elif self._owns is None or self._owns(key):
                self._kept.setdefault(key, _Kept()).body = pack(body)

    def deployment(self, key: ReleaseKey, name: str, body: Mapping[str, Any] | None) -> None:
        """The watch shows a Deployment labelled as the Release's (None: deleted)."""
        with self._lock:
            if not self._keeping:
                self._kept.pop(key, None)
            elif self._owns is None or self._owns(key):
                kept = self._kept.setdefault(key, _Kept())
                if body is None:
                    kept.deployments.pop(name, None)
                else:
                    kept.deployments[name] = pack(body)

    def stop_keeping(self) -> None:
        """The queue opens: keep nothing more. If the watch has shown every object listed at start, what
        it showed of a Release's Deployments is all of them; else they are listed."""
        with self._lock:
            self._keeping, self._complete = False, not self._awaited
            self._awaited = set()

    def take(self, key: ReleaseKey) -> FirstView:
        """What was kept of the Release, once."""
        with self._lock:
            kept = self._kept.pop(key, None)
            complete = self._complete
        if kept is None or kept.body is None:
            return FirstView(None, None)
        deployments = [unpack(packed) for packed in kept.deployments.values()] if complete else None
        return FirstView(unpack(kept.body), deployments)

