"""The Releases, watched by the operator's own informer (kube/informer.py), like the objects they own.

Kopf watched them before. Its watcher hands each listed object to a worker of its own without waiting
for the worker to take it, so at a start every Release body was alive at once: at 3,000 Releases 45 MB
of decoded JSON, the largest part of the start's peak, which the allocator keeps afterwards
(docs/operator.md, "A start lists the Releases a page at a time"). Each event also went through a
worker task, its queue and Kopf's causes, for a handler that only wakes the queue. The informer hands
the handler one page at a time and waits for it, so at most one page of bodies is alive.

Every replica watches every Release: a Release carries no label the operator writes, so a replica's
share is filtered client-side, by the queue (controller/queue.py, `notify`). A Release that a LIST
afresh no longer holds (deleted while the watch was down) is shown deleted, which Kopf never told.
A collection not served (the CRD not installed, or briefly not served during an upgrade) is tried
again, backing off to 30 s: the operator refuses to start without the CRD watching given namespaces,
and cluster-wide serves one installed after its start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slipway.kube.client import KubeApi, Obj
from slipway.kube.informer import Informer, collection_paths
from slipway.manifests import GROUP, PLURAL, VERSION


@dataclass(frozen=True)
class _ReleaseSink:
    handle: Callable[[str | None, Obj], None]

    def shown(self, type: str | None, obj: Obj) -> Any:
        self.handle(type, obj)
        return None

    def vanished(self, namespace: str, name: str, kept: Any, resource_version: str) -> None:
        metadata = {"namespace": namespace, "name": name, "resourceVersion": resource_version}
        self.handle("DELETED", {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Release", "metadata": metadata})


class ReleaseWatch:
    def __init__(self, api: KubeApi, namespaces: Sequence[str]) -> None:
        """Watching `namespaces` (none: every namespace)."""
        self._collections = collection_paths(f"/apis/{GROUP}/{VERSION}", PLURAL, namespaces)
        self._api = api
        self._informer: Informer | None = None
        self.listed = asyncio.Event()
        """Set once the Releases have been listed whole, or failed to be."""

    def start(self, handle: Callable[[str | None, Obj], None]) -> None:
        """Start watching, handing each Release (`type` None: as listed) to `handle` on this loop."""
        self._informer = Informer(self._api, self._collections, _ReleaseSink(handle), None, served_later=True)
        self._informer.start(asyncio.get_running_loop(), self._on_listed)

    async def stop(self) -> None:
        if self._informer is not None:
            await asyncio.to_thread(self._informer.stop)

    def _on_listed(self) -> None:
        if self._informer is not None and self._informer.tried:
            self.listed.set()
