"""Prometheus scrape targets for the simulated pods, as a file_sd file Prometheus re-reads on change.

Each running pod server is one target with the labels an analysis query selects on: namespace, pod,
release (label slipway.dev/release), revision (slipway.dev/revision) and version
(app.kubernetes.io/version). Labels a pod lacks are left out rather than set empty.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from slipway_dev.controllers.client import PODS, JsonObject
from slipway_dev.controllers.runtime import Informers, Key, cancel_all, key_of
from slipway_dev.pods import SIM_PORT_ANNOTATION

POD_LABELS_AS_TARGET_LABELS = {
    "slipway.dev/release": "release",
    "slipway.dev/revision": "revision",
    "app.kubernetes.io/version": "version",
}
WRITE_EVERY_SECONDS = 0.25


def scrape_target(pod: JsonObject) -> JsonObject | None:
    """The pod's target, or None while its server has no port or once it is terminating."""
    meta = pod["metadata"]
    port = (meta.get("annotations") or {}).get(SIM_PORT_ANNOTATION)
    if not port or meta.get("deletionTimestamp"):
        return None
    labels = {"namespace": meta.get("namespace", ""), "pod": meta["name"]}
    pod_labels = meta.get("labels") or {}
    labels |= {
        target: pod_labels[source]
        for source, target in POD_LABELS_AS_TARGET_LABELS.items()
        if pod_labels.get(source)
    }
    return {"targets": [f"127.0.0.1:{port}"], "labels": labels}


def write_atomically(path: Path, text: str) -> None:
    # Prometheus may read at any moment: it must never see a half-written file.
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


class ScrapeTargetsWriter:
    """Rewrites the targets file whenever a target changes, at most every WRITE_EVERY_SECONDS.

    Targets are kept pod by pod as their events come: most pod events (status) change none, and
    deriving every target again at each one was a twentieth of the dev cluster's loop in a rollout of a
    thousand Releases."""

    def __init__(self, informers: Informers, path: Path) -> None:
        self.path = path
        self._targets: dict[Key, JsonObject] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        informers.get(PODS).subscribe(self._pod_changed)

    def _pod_changed(self, kind: str, pod: JsonObject) -> None:
        key = key_of(pod)
        target = None if kind == "DELETED" else scrape_target(pod)
        if target == self._targets.get(key):
            return
        if target is None:
            del self._targets[key]
        else:
            self._targets[key] = target
        self._changed.set()

    def start(self) -> None:
        write_atomically(self.path, "[]\n")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_all([self._task])

    async def _run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            targets = [self._targets[key] for key in sorted(self._targets)]
            write_atomically(self.path, json.dumps(targets) + "\n")
            await asyncio.sleep(WRITE_EVERY_SECONDS)
