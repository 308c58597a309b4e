"""A watch subscription: filters events for one client and hands them to its response stream, at once
when the stream can take them, else through a queue its task drains."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from slipway_dev.apiserver.storage import Event

Matcher = Callable[[dict[str, Any]], bool]
Entry = tuple[Event, str]  # an event and the type this watcher sees it as
Item = Entry | None
Sink = Callable[[Entry], bool]


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
        self._sink: Sink | None = None

    def attach(self, sink: Sink) -> None:
        """From now on an event with nothing queued before it goes straight to `sink`, in the call that
        offered it; the sink answers False when it cannot take it now, and the event is queued."""
        self._sink = sink

    def _put(self, item: Item) -> None:
        sink = self._sink
        if item is not None and sink is not None and not self._pending and sink(item):
            return
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
