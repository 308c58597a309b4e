"""Assemble and run the operator: Kubernetes access, providers, the reconcile queue and Kopf."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import aiohttp
import kopf
import structlog

from slipway import alerting
from slipway.config import OperatorConfig
from slipway.controller.handlers import build_registry, build_settings
from slipway.controller.queue import ReconcileQueue
from slipway.controller.reconciler import Reconciler
from slipway.core.observations import FiringAlert
from slipway.kube.api import KubeApi
from slipway.kube.objects import ReleaseRef
from slipway.observability.logging import configure_logging
from slipway.observability.metrics import OperatorMetrics
from slipway.observability.server import ObservabilityServer
from slipway.providers.registry import ProviderRegistry
from slipway.routers.replicas import ReplicaRouter

_log = structlog.get_logger("slipway.operator")


class Alerts:
    def __init__(self, session: aiohttp.ClientSession, config: OperatorConfig) -> None:
        self._session = session
        self._config = config

    async def firing(self, release: ReleaseRef, match_labels: Mapping[str, str]) -> tuple[FiringAlert, ...]:
        try:
            found = await alerting.firing_alerts(
                self._session, self._config.alertmanager, release.namespace, release.name, match_labels
            )
        except alerting.AlertmanagerUnavailable as unavailable:
            # Unknown is not firing: analysis still guards the rollout, and the log says why.
            _log.warning(
                "alerts unknown", namespace=release.namespace, release=release.name, error=str(unavailable)
            )
            return ()
        return tuple(FiringAlert(name=alert.name, summary=alert.labels.get("summary", "")) for alert in found)


async def run_operator(config: OperatorConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when in the main thread)."""
    configure_logging()
    metrics = OperatorMetrics()
    api = KubeApi(on_response=metrics.api_request)
    ready = asyncio.Event()
    async with (
        aiohttp.ClientSession() as session,
        ObservabilityServer(metrics, config.server.host, config.server.port) as server,
    ):
        reconciler = Reconciler(
            api=api,
            router=ReplicaRouter(),
            measure=ProviderRegistry(session, api).measure,
            find_alerts=Alerts(session, config).firing,
            config=config,
            metrics=metrics,
        )
        queue = ReconcileQueue(reconciler)
        namespaces = [] if config.cluster_wide else config.namespaces
        _log.info("operator starting", namespaces=namespaces or "all", observability=server.url)
        readiness = asyncio.create_task(_mark_ready(ready, server))
        try:
            await kopf.operator(
                registry=build_registry(queue),
                settings=build_settings(),
                standalone=True,
                clusterwide=config.cluster_wide,
                namespaces=namespaces,
                stop_flag=stop,
                ready_flag=ready,
            )
        finally:
            readiness.cancel()
            server.set_not_ready("stopping")
            with contextlib.suppress(Exception):
                await queue.drain()
            api.close()


async def _mark_ready(ready: asyncio.Event, server: ObservabilityServer) -> None:
    await ready.wait()
    server.set_ready()
