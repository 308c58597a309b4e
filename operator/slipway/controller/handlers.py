"""The Kopf wiring: watch events only wake the reconcile queue; all work happens in the reconciler.

Only `on.event` handlers are registered, on purpose: Kopf then keeps no state on the objects (no
finalizer, no progress or last-handled annotations), so the Release's status is written by Slipway
alone and a Release can be deleted even while the operator is down.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from slipway.controller.queue import ReconcileQueue, ReleaseKey
from slipway.manifests import GROUP, LABEL_RELEASE, PLURAL, VERSION


def build_registry(queue: ReconcileQueue) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    # Async handlers run on the operator's loop (sync ones would run in threads), where the queue lives.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def release_event(*, type: str, name: str, namespace: str | None, **_: Any) -> None:
        key = ReleaseKey(namespace or "", name)
        if type == "DELETED":
            queue.forget(key)
        else:
            queue.notify(key)

    @kopf.on.event("apps", "v1", "deployments", labels={LABEL_RELEASE: kopf.PRESENT}, registry=registry)
    async def revision_event(*, labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
        # Readiness of a revision moves a rollout on: wake the Release that owns it.
        queue.notify(ReleaseKey(namespace or "", labels[LABEL_RELEASE]))

    return registry


def build_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # Slipway posts its own Events (one per transition); Kopf's per-log-line Events would only add writes.
    settings.posting.enabled = False
    settings.posting.level = logging.WARNING
    # Reconnect watches well before Kopf's inactivity timeout, so a quiet API server never stalls us.
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 70
    return settings
