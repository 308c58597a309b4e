"""The operator's HTTP endpoints: /metrics, /healthz and /readyz.

/healthz answers as long as the event loop runs (a wedged loop cannot answer, which is what liveness
should catch). /readyz answers 200 only after the operator says it is ready, 503 with the reason before.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from slipway.runtime.metrics import OperatorMetrics


class ObservabilityServer:
    def __init__(self, metrics: OperatorMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self._metrics = metrics
        self._host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._not_ready_reason: str | None = "starting"

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

    def set_ready(self) -> None:
        self._not_ready_reason = None

    def set_not_ready(self, reason: str) -> None:
        self._not_ready_reason = reason

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/healthz", self._serve_health)
        app.router.add_get("/readyz", self._serve_readiness)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self._host, self._requested_port).start()
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
        return web.Response(text="ready\n")
