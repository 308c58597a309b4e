"""The Kopf settings the operator runs with (controller/handlers.py)."""

from __future__ import annotations

import kopf

from slipway.controller.handlers import build_settings


def test_kopf_builds_no_essence_of_the_objects_it_shows() -> None:
    # Slipway registers only event handlers: an essence (a deep copy of each body, for change handlers'
    # diffs) would be built at every event and never read.
    storage = build_settings().persistence.diffbase_storage
    body = kopf.Body({"metadata": {"name": "web", "labels": {"a": "b"}}, "spec": {"replicas": 3}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=kopf.BodyEssence(spec={"replicas": 3}))
    assert not patch  # no last-handled-configuration annotation written
