"""A watch subscription: filters events for one client and queues them for its response stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from slipway_dev.apiserver.storage import Event

Matcher = Callable[[dict[str, Any]], bool]


class Watcher:
    """Receives every event of a collection; keeps those of its namespace that its selectors match.

    An object that stops matching the selectors is reported DELETED, one that starts matching ADDED,
    as a real server does."""

    def __init__(self, namespace: str | None, matches: Matcher) -> None:
        self.namespace = namespace
        self.matches = matches
        # None ends the stream (server shutdown).
        self.queue: asyncio.Queue[tuple[Event, str] | None] = asyncio.Queue()

    def close(self) -> None:
        self.queue.put_nowait(None)

    def offer(self, event: Event) -> None:
        if self.namespace is not None and event.namespace != self.namespace:
            return
        now = self.matches(event.stored.obj)
        if event.type == "MODIFIED" and event.previous is not None:
            before = self.matches(event.previous)
            if now and not before:
                self.queue.put_nowait((event, "ADDED"))
            elif before and not now:
                self.queue.put_nowait((event, "DELETED"))
            elif now:
                self.queue.put_nowait((event, "MODIFIED"))
        elif event.type == "DELETED":
            if event.previous is not None and self.matches(event.previous):
                self.queue.put_nowait((event, "DELETED"))
        elif now:
            self.queue.put_nowait((event, event.type))
