"""The objects the Releases own, watched: their Deployments, Services and PrometheusRules.

One operator alone watches all of them. A sharded replica watches only those labelled with a bucket it
owns (manifests.py, LABEL_BUCKET; runtime/shards.py): a label selector the API server applies, so that
neither the objects of other replicas' Releases nor the peak of listing them reach this process. When
its buckets change (a replica joins or leaves), every kind is listed afresh under the new selector
(kube/informer.py); what no longer matches is handed to the handlers as gone from view.

An object someone took the bucket label from leaves the view (the watch shows it deleted) and wakes its
Release, whose pass finds it by its other labels or by name and labels it again; one made before the
label existed is labelled by its Release's first pass (kube/cluster.py, `relabel`; docs/operator.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from slipway.controller.queue import ReleaseKey
from slipway.kube.client import KubeApi, Obj
from slipway.kube.informer import Informer, Sink, collection_paths
from slipway.manifests import GROUP, KIND, LABEL_BUCKET, LABEL_RELEASE, VERSION, release_bucket

_log = structlog.get_logger("slipway.operator")
_POLL_SECONDS = 0.05

NO_BUCKET = "none"
"""A label value no bucket has: the selector of a replica that owns no bucket (many replicas, few
buckets each), since an empty set is not a valid selector."""


@dataclass(frozen=True)
class OwnedKind:
    api_version: str
    kind: str
    base: str
    """The API group's path."""
    plural: str


OWNED_KINDS = (
    OwnedKind("apps/v1", "Deployment", "/apis/apps/v1", "deployments"),
    OwnedKind("v1", "Service", "/api/v1", "services"),
    OwnedKind(
        "monitoring.coreos.com/v1", "PrometheusRule", "/apis/monitoring.coreos.com/v1", "prometheusrules"
    ),
)

Kept = tuple[str | None, str | None]
"""What is kept of each object shown: its release label, and the Release that owns it."""


def bucket_selector(buckets: frozenset[int] | None) -> str | None:
    """The label selector of the objects of `buckets` (None: every object, labelled or not)."""
    if buckets is None:
        return None
    return f"{LABEL_BUCKET} in ({','.join(str(bucket) for bucket in sorted(buckets)) or NO_BUCKET})"


def skeleton(kind: OwnedKind, namespace: str, name: str, resource_version: str, kept: Kept) -> Obj:
    """An object that is gone from view, as a DELETED event shows it to the handlers: what names its
    Release (the release label, a controller ownerReference), at the version of the LIST that missed it."""
    release, owner = kept
    metadata: Obj = {"name": name, "namespace": namespace, "resourceVersion": resource_version}
    if release is not None:
        metadata["labels"] = {LABEL_RELEASE: release}
    if owner is not None:
        reference = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": owner, "controller": True}
        metadata["ownerReferences"] = [reference]
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}


@dataclass(frozen=True)
class HandlerSink:
    """A watch handler as an informer's sink: `handle(type, body)` returns what to keep of the object."""

    kind: OwnedKind
    handle: Callable[[str | None, Obj], Kept]

    def shown(self, type: str | None, obj: Obj) -> Any:
        return self.handle(type, obj)

    def vanished(self, namespace: str, name: str, kept: Any, resource_version: str) -> None:
        self.handle("DELETED", skeleton(self.kind, namespace, name, resource_version, kept or (None, None)))


class OwnedWatch:
    """The informers of the owned kinds, and which buckets they have shown whole."""

    def __init__(self, api: KubeApi, namespaces: Sequence[str], buckets: frozenset[int] | None) -> None:
        """Watching `namespaces` (none: every namespace), the objects of `buckets` (None: all objects,
        labelled or not)."""
        self._api = api
        self._namespaces = namespaces
        self._wanted = buckets
        self._covered: frozenset[int] | None = frozenset()
        self._informers: list[Informer] = []
        self.listed = asyncio.Event()
        """Set once every kind has been listed whole, or failed to be (the operator's start waits for
        it; the Releases whose objects were not listed are read by their passes)."""

    def start(self, handlers: Mapping[str, Callable[[str | None, Obj], Kept]]) -> None:
        """Start watching, handing each kind's objects (by plural) to its handler on this loop."""
        loop = asyncio.get_running_loop()
        for kind in OWNED_KINDS:
            sink: Sink = HandlerSink(kind, handlers[kind.plural])
            selector = bucket_selector(self._wanted)
            informer = Informer(
                self._api, collection_paths(kind.base, kind.plural, self._namespaces), sink, selector
            )
            self._informers.append(informer)
            informer.start(loop, self._on_listed)

    def select(self, buckets: frozenset[int] | None) -> None:
        """Watch the objects of `buckets` from now on. Those of buckets kept stay shown meanwhile; those
        of buckets gained count as shown once listed."""
        if buckets == self._wanted:
            return
        if self._covered is None:
            self._covered = buckets
        elif buckets is not None:
            self._covered = self._covered & buckets
        self._wanted = buckets
        for informer in self._informers:
            informer.select(bucket_selector(buckets))

    async def listed_under(self, buckets: frozenset[int], most_seconds: float) -> None:
        """Watch the objects of `buckets` from now on, and wait until they are listed whole (at most
        `most_seconds`: the passes read what is not)."""
        self.select(buckets)
        deadline = asyncio.get_running_loop().time() + most_seconds
        while self._covered is not None and not buckets <= self._covered:
            if asyncio.get_running_loop().time() > deadline:
                _log.info("gained buckets not listed in time; their passes read", seconds=most_seconds)
                return
            await asyncio.sleep(_POLL_SECONDS)

    def covers(self, key: ReleaseKey) -> bool:
        """Whether every object of the Release has been shown (listed whole, and watched since)."""
        covered = self._covered
        return covered is None or release_bucket(key.namespace, key.name) in covered

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(informer.stop) for informer in self._informers))

    def _on_listed(self) -> None:
        if all(informer.current for informer in self._informers):
            self._covered = self._wanted
        if all(informer.tried for informer in self._informers):
            self.listed.set()
