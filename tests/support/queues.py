"""A reconcile queue whose passes only record which Release each was for."""

from __future__ import annotations

from slipway.controller.queue import ReconcileQueue, ReleaseKey


def recording_queue(opened: bool = True) -> tuple[ReconcileQueue, list[ReleaseKey]]:
    """The queue, and the Releases of its passes in the order they ran. Made inside the test's loop."""
    passes: list[ReleaseKey] = []

    async def reconcile(key: ReleaseKey) -> float | None:
        passes.append(key)
        return None

    return ReconcileQueue(reconcile, opened=opened), passes
