"""Prometheus scrape targets for the simulated pods, as a file_sd file Prometheus re-reads on change.

Each running pod server is one target with the labels an analysis query selects on: namespace, pod,
release (label slipway.dev/release), revision (slipway.dev/revision) and version
(app.kubernetes.io/version). Labels a pod lacks are left out rather than set empty.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

from slipway_dev.controllers.client import PODS, JsonObject
from slipway_dev.controllers.runtime import Informers, cancel_all
from slipway_dev.pods import SIM_PORT_ANNOTATION

POD_LABELS_AS_TARGET_LABELS = {
    "slipway.dev/release": "release",
    "slipway.dev/revision": "revision",
    "app.kubernetes.io/version": "version",
}
WRITE_EVERY_SECONDS = 0.25


def scrape_targets(pods: Sequence[JsonObject]) -> list[JsonObject]:
    targets = []
    for pod in pods:
        meta = pod["metadata"]
        port = (meta.get("annotations") or {}).get(SIM_PORT_ANNOTATION)
        if not port or meta.get("deletionTimestamp"):
            continue
        labels = {"namespace": meta.get("namespace", ""), "pod": meta["name"]}
        pod_labels = meta.get("labels") or {}
        labels |= {
            target: pod_labels[source]
            for source, target in POD_LABELS_AS_TARGET_LABELS.items()
            if pod_labels.get(source)
        }
        targets.append({"targets": [f"127.0.0.1:{port}"], "labels": labels})
    return sorted(targets, key=lambda target: (target["labels"]["namespace"], target["labels"]["pod"]))


def write_atomically(path: Path, text: str) -> None:
    # Prometheus may read at any moment: it must never see a half-written file.
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


class ScrapeTargetsWriter:
    """Rewrites the targets file whenever the set of targets changes, at most every WRITE_EVERY_SECONDS."""

    def __init__(self, informers: Informers, path: Path) -> None:
        self.path = path
        self.pods = informers.get(PODS)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.pods.subscribe(lambda _kind, _pod: self._changed.set())

    def start(self) -> None:
        write_atomically(self.path, "[]\n")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_all([self._task])

    async def _run(self) -> None:
        written: list[JsonObject] = []
        while True:
            await self._changed.wait()
            self._changed.clear()
            targets = scrape_targets(self.pods.objects())
            if targets != written:
                write_atomically(self.path, json.dumps(targets) + "\n")
                written = targets
            await asyncio.sleep(WRITE_EVERY_SECONDS)
