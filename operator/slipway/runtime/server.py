"""The operator's HTTP endpoints: /metrics, /healthz and /readyz.

/healthz answers as long as the event loop runs (a wedged loop cannot answer, which is what liveness
should catch). /readyz answers 200 only after the operator says it is ready, 503 with the reason before.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from slipway.runtime.metrics import OperatorMetrics


class CannotListen(Exception):
    """The server's address is taken or not ours; the message says which and what to set."""


class ObservabilityServer:
    def __init__(self, metrics: OperatorMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self._metrics = metrics
        self._host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._not_ready_reason: str | None = "starting"
        self._ready_note = ""

    @property
    def port(self) -> int:
        """The port actually bound (a free one when 0 was asked for)."""
        if self._runner is None:
            raise RuntimeError("the observability server is not running")
        port: int = self._runner.addresses[0][1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def ready(self) -> bool:
        return self._not_ready_reason is None

    def set_ready(self, note: str = "") -> None:
        """Ready from now on; `note` (e.g. that this replica stands by) is added to /readyz's answer."""
        self._not_ready_reason = None
        self._ready_note = note

    def set_not_ready(self, reason: str) -> None:
        self._not_ready_reason = reason

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/healthz", self._serve_health)
        app.router.add_get("/readyz", self._serve_readiness)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._requested_port).start()
        except OSError as refused:
            await runner.cleanup()
            reason = os.strerror(refused.errno) if refused.errno else str(refused)
            raise CannotListen(
                f"cannot listen on {self._host}:{self._requested_port} for /metrics, /healthz and "
                f"/readyz: {reason}; set server.port in the config (the chart's `port` value) to a free "
                "port, or 0 for any"
            ) from None
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve_metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _serve_health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _serve_readiness(self, _: web.Request) -> web.Response:
        if self._not_ready_reason is not None:
            return web.Response(status=503, text=f"not ready: {self._not_ready_reason}\n")
        return web.Response(text=f"ready: {self._ready_note}\n" if self._ready_note else "ready\n")
