"""A simulated pod's scrape target: its server's port and the labels analyses select on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slipway_dev.scrape import ScrapeTargetsWriter, scrape_target


def pod(labels: dict[str, str], port: str | None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-1", "namespace": "shop", "labels": labels}
    meta["annotations"] = {"slipway.dev/sim-port": port} if port else {}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-06T00:00:00Z"
    return {"metadata": meta}


def test_a_serving_pod_is_a_target_with_the_labels_it_has() -> None:
    labels = {"slipway.dev/release": "web", "slipway.dev/revision": "abc", "app": "web"}
    assert scrape_target(pod(labels, "4001")) == {
        "targets": ["127.0.0.1:4001"],
        "labels": {"namespace": "shop", "pod": "web-1", "release": "web", "revision": "abc"},
    }


def test_a_pod_without_a_server_or_terminating_is_no_target() -> None:
    assert scrape_target(pod({}, None)) is None
    assert scrape_target(pod({}, "4001", deleting=True)) is None


class OnePodInformer:
    """What the writer asks of the informers: a pod informer it subscribes to."""

    def __init__(self) -> None:
        self.subscribers: list[Callable[[str, dict[str, Any]], None]] = []

    def get(self, _resource: object) -> OnePodInformer:
        return self

    def subscribe(self, subscriber: Callable[[str, dict[str, Any]], None]) -> None:
        self.subscribers.append(subscriber)

    def show(self, kind: str, obj: dict[str, Any]) -> None:
        for subscriber in self.subscribers:
            subscriber(kind, obj)


def test_the_targets_file_follows_pod_events_and_a_status_change_rewrites_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        informer = OnePodInformer()
        path = tmp_path / "targets.json"
        writer = ScrapeTargetsWriter(informer, path)  # type: ignore[arg-type]
        writer.start()

        async def written(expected: list[str]) -> None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                targets = json.loads(path.read_text())
                if [target["labels"]["pod"] for target in targets] == expected:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError(f"{path.read_text()} never named {expected}")

        second = pod({}, "4002") | {"metadata": {"name": "web-0", "namespace": "shop", "annotations": {}}}
        second["metadata"]["annotations"] = {"slipway.dev/sim-port": "4002"}
        informer.show("ADDED", pod({}, "4001"))
        informer.show("ADDED", second)
        await written(["web-0", "web-1"])  # in (namespace, name) order
        mtime = path.stat().st_mtime_ns
        informer.show("MODIFIED", pod({}, "4001") | {"status": {"phase": "Running"}})
        await asyncio.sleep(0.5)  # twice the writer's pace: a rewrite would have happened by now
        assert path.stat().st_mtime_ns == mtime
        informer.show("MODIFIED", pod({}, "4001", deleting=True))
        await written(["web-0"])
        informer.show("DELETED", second)
        await written([])
        await writer.stop()

    asyncio.run(scenario())
