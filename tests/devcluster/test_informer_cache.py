"""The world's informer cache: what its subscribers are told of the world's own writes and deletes."""

from __future__ import annotations

from typing import Any

from slipway_dev.controllers.client import PODS
from slipway_dev.controllers.runtime import Informer


def test_an_object_the_world_deletes_itself_is_told_to_subscribers_once() -> None:
    # A relist after a watch outage reports deletions only of what the cache still holds, so a
    # subscriber keeping its own state (the gateway's routes, the scrape targets) must hear it now.
    informer = Informer(None, PODS)  # type: ignore[arg-type]  # no request is sent here
    told: list[tuple[str, str]] = []
    informer.subscribe(lambda kind, obj: told.append((kind, obj["metadata"]["name"])))
    pod: dict[str, Any] = {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "5"}
    }
    informer.record_write(pod)
    informer.record_delete(pod)
    assert told == [("DELETED", "web-1")] and informer.cache == {}
    informer.record_delete(pod)
    assert told == [("DELETED", "web-1")]
