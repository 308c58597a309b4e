"""Container logs of simulated pods: what `kubectl logs` reads through the pods/log subresource.

Each simulated container keeps its lines in a bounded buffer (the oldest fall out, as a node's log
rotation drops them); a pod's HTTP server writes an access-log line per request into its first
container's buffer. The API server asks a `LogSource` (the kubelet) for a pod's buffers, as a real API
server asks the node's kubelet."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Protocol

MAX_LINES = 1000


class LogBuffer:
    """The lines one container printed, numbered and timed; followers are woken by each new line."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._lines: deque[tuple[int, float, str]] = deque(maxlen=max_lines)
        self._written = 0
        self._changed = asyncio.Event()
        self.closed = False

    def write(self, line: str) -> None:
        self._written += 1
        self._lines.append((self._written, time.time(), line.rstrip("\n")))
        self._changed.set()

    def close(self) -> None:
        """The container stopped: followers finish after the last line."""
        self.closed = True
        self._changed.set()

    def snapshot(
        self, tail: int | None = None, since: float | None = None, timestamps: bool = False
    ) -> tuple[list[str], int]:
        """The lines kept (the last `tail`, those printed at or after `since`) and the number of the
        newest line, from which `follow` continues."""
        selected = [(t, line) for _, t, line in self._lines if since is None or t >= since]
        if tail is not None:
            selected = selected[-tail:] if tail > 0 else []
        return [_render(t, line, timestamps) for t, line in selected], self._written

    async def follow(self, after: int, timestamps: bool = False) -> AsyncIterator[str]:
        """Lines numbered above `after`, as they are printed, until the container stops."""
        while True:
            fresh = [(n, t, line) for n, t, line in self._lines if n > after]
            for n, t, line in fresh:
                after = n
                yield _render(t, line, timestamps)
            if self.closed:
                return
            self._changed.clear()
            await self._changed.wait()


def _render(moment: float, line: str, timestamps: bool) -> str:
    if not timestamps:
        return line + "\n"
    stamp = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} {line}\n"


class LogSource(Protocol):
    def container_logs(self, namespace: str, pod: str) -> dict[str, LogBuffer] | None:
        """The log buffers of a running pod's containers by name, or None when the pod runs nowhere."""
        ...
