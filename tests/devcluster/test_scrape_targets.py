"""A simulated pod's scrape target: its server's port and the labels analyses select on."""

from __future__ import annotations

from typing import Any

from slipway_dev.scrape import scrape_target


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
