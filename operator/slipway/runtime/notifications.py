"""Delivering notifications: a bounded queue, a few workers, retries with exponential backoff.

Delivery runs beside the rollouts and never holds one up: `offer` never waits (a full queue drops the
notification, counted as `dropped`), and every attempt is bounded by `timeoutSeconds`. The notifier's
URL and token are read from their files at each attempt (so a rotated Secret is used) and never
logged: what is said about a failure names the notifier, the host and what went wrong, never the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from slipway.runtime.config import NotificationsConfig, NotifierConfig, host_allowed, read_secret, url_host
from slipway.runtime.metrics import OperatorMetrics

_log = structlog.get_logger("slipway.notifications")

IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Notification:
    """One message for one notifier (`notifier` its name, `target` its settings). `key` is the same
    for every attempt, so a receiver can tell a retry of a message it already has; `failed` is told
    why, once, when delivery gives up."""

    notifier: str
    target: NotifierConfig
    key: str
    body: dict[str, Any]
    failed: Callable[[str], Awaitable[None]]


class Undeliverable(Exception):
    """An attempt failed; `retry` says whether another might succeed."""

    def __init__(self, reason: str, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class NotificationQueue:
    """`offer` from the event loop; between `start` and `stop`, workers deliver."""

    def __init__(
        self, session: aiohttp.ClientSession, settings: NotificationsConfig, metrics: OperatorMetrics
    ) -> None:
        self._session = session
        self._settings = settings
        self._metrics = metrics
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=settings.queue_size)
        self._workers: list[asyncio.Task[None]] = []

    def offer(self, notification: Notification) -> bool:
        """Queue it without waiting; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(notification)
        except asyncio.QueueFull:
            self._metrics.notification(notification.notifier, "dropped")
            _log.warning("notification dropped: the queue is full", notifier=notification.notifier)
            return False
        return True

    def start(self) -> None:
        """Start the workers now (not at the loop's next turn: Kopf, started right after, treats tasks
        that appear while it runs as its own and waits for them when it stops)."""
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._settings.workers)]

    async def stop(self, grace: float) -> None:
        """Give what is queued up to `grace` seconds to be delivered (or given up), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        left = self._queue.qsize()
        if left:
            _log.warning("notifications not delivered: the operator stopped", count=left)

    async def _work(self) -> None:
        while True:
            notification = await self._queue.get()
            try:
                await self._deliver(notification)
            except Exception:  # a bug in delivery must not end the worker
                _log.exception("notification delivery failed", notifier=notification.notifier)
            finally:
                self._queue.task_done()

    async def _deliver(self, notification: Notification) -> None:
        settings = self._settings
        reason = "no attempt"
        for attempt in range(1, settings.max_attempts + 1):
            try:
                await self._attempt(notification)
            except Undeliverable as failure:
                reason = str(failure)
                _log.info(
                    "notification attempt failed",
                    notifier=notification.notifier,
                    attempt=attempt,
                    error=reason,
                )
                if not failure.retry or attempt == settings.max_attempts:
                    break
                await asyncio.sleep(
                    min(settings.backoff_seconds * 2 ** (attempt - 1), settings.max_backoff_seconds)
                )
            else:
                self._metrics.notification(notification.notifier, "delivered")
                return
        self._metrics.notification(notification.notifier, "failed")
        _log.warning("notification not delivered", notifier=notification.notifier, error=reason)
        await notification.failed(reason)

    async def _attempt(self, notification: Notification) -> None:
        notifier = notification.target
        try:
            url = read_secret(notifier.url_file)
            token = read_secret(notifier.token_file) if notifier.token_file else None
        except OSError as unreadable:
            raise Undeliverable(f"cannot read its secret: {unreadable.strerror}", retry=True) from None
        except ValueError as empty:
            raise Undeliverable(f"its secret: {empty}", retry=True) from None
        host, port = url_host(url)
        if not host_allowed(host, port, self._settings.allowed_hosts):
            raise Undeliverable(f"host {host!r} is not in notifications.allowedHosts", retry=False)
        headers = {IDEMPOTENCY_HEADER: notification.key}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        try:
            async with self._session.post(
                url, json=notification.body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            raise Undeliverable(
                f"{host} did not answer within {self._settings.timeout_seconds:g}s", retry=True
            ) from None
        except (aiohttp.ClientError, OSError) as unreachable:
            # The exception's text may carry the URL (a secret): only its kind is told.
            raise Undeliverable(f"{host}: {type(unreachable).__name__}", retry=True) from None
        if status >= 300:
            # 429 and 5xx may pass; another 4xx (or a redirect, never followed) will not.
            raise Undeliverable(f"{host} answered HTTP {status}", retry=status == 429 or status >= 500)
