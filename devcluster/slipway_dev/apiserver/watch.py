"""A watch subscription: filters events for one client and queues them for its response stream."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from slipway_dev.apiserver.storage import Event

Matcher = Callable[[dict[str, Any]], bool]
Item = tuple[Event, str] | None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Watcher:
    """Receives every event of a collection; keeps those of its namespace that its selectors match.

    An object that stops matching the selectors is reported DELETED, one that starts matching ADDED,
    as a real server does."""

    def __init__(self, namespace: str | None, matches: Matcher) -> None:
        self.namespace = namespace
        self.matches = matches
        # None ends the stream (server shutdown). A deque and one future rather than an asyncio.Queue
        # read through wait_for: that made a task and a timer per event per watcher, the largest part
        # of a fan-out's cost.
        self._pending: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def _put(self, item: Item) -> None:
        self._pending.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self._put(None)

    async def take(self, timeout: float) -> list[Item]:
        """Everything queued, waiting up to `timeout` seconds for something; [] when the time ran out."""
        if not self._pending:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        batch = list(self._pending)
        self._pending.clear()
        return batch

    def offer(self, event: Event) -> None:
        if self.namespace is not None and event.namespace != self.namespace:
            return
        now = self.matches(event.stored.obj)
        if event.type == "MODIFIED" and event.previous is not None:
            before = self.matches(event.previous)
            if now and not before:
                self._put((event, "ADDED"))
            elif before and not now:
                self._put((event, "DELETED"))
            elif now:
                self._put((event, "MODIFIED"))
        elif event.type == "DELETED":
            if event.previous is not None and self.matches(event.previous):
                self._put((event, "DELETED"))
        elif now:
            self._put((event, event.type))
