"""Assemble and run the operator: Kubernetes access, providers, the reconcile queue and Kopf."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import aiohttp
import kopf
import structlog

from slipway.alerts.alertmanager import AlertmanagerConfig, AlertmanagerSource
from slipway.controller.handlers import build_registry, build_settings
from slipway.controller.queue import ReconcileQueue
from slipway.controller.reconciler import Reconciler
from slipway.kube.client import KubeApi, load_credentials
from slipway.providers.registry import ProviderRegistry
from slipway.runtime.config import OperatorConfig
from slipway.runtime.leader import LeaderElection
from slipway.runtime.logging import configure_logging
from slipway.runtime.metrics import OperatorMetrics
from slipway.runtime.server import ObservabilityServer

_log = structlog.get_logger("slipway.operator")


class LeadershipLost(RuntimeError):
    """Another replica may lead now: this one stopped reconciling."""


async def run_operator(config: OperatorConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when in the main thread).

    With leader election on, wait to lead first; raise LeadershipLost if the Lease is lost."""
    configure_logging()
    # Kopf logs a line per handled watch event; with many Releases that is noise, not news.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    metrics = OperatorMetrics()
    credentials = load_credentials()
    api = KubeApi(credentials, on_response=metrics.api_request)
    stopping = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    async with (
        aiohttp.ClientSession() as session,
        ObservabilityServer(metrics, config.server.host, config.server.port) as server,
    ):
        _log.info("operator starting", observability=server.url)
        if stop is not None:
            background.append(asyncio.create_task(_relay(stop, stopping)))
        lost: asyncio.Task[None] | None = None
        if config.leader_election.enabled:
            election = LeaderElection(
                api,
                config.leader_election.namespace,
                config.leader_election.lease_name,
                identity=f"{socket.gethostname()}-{os.getpid()}",
            )
            server.set_not_ready("waiting to lead")
            await election.acquire()
            _log.info("leading", lease=config.leader_election.lease_name, identity=election.identity)
            lost = asyncio.create_task(election.keep())
            lost.add_done_callback(lambda _: stopping.set())
        reconciler = Reconciler(
            api=api,
            measure=ProviderRegistry(session, config, api).measure,
            find_alerts=AlertmanagerSource(session, config.section(AlertmanagerConfig)).firing,
            config=config,
            metrics=metrics,
        )
        queue = ReconcileQueue(reconciler)
        namespaces = [] if config.cluster_wide else config.namespaces
        ready = asyncio.Event()
        background.append(asyncio.create_task(_mark_ready(ready, server)))
        _log.info("watching", namespaces=namespaces or "all")
        try:
            await kopf.operator(
                registry=build_registry(queue, credentials),
                settings=build_settings(),
                standalone=True,
                clusterwide=config.cluster_wide,
                namespaces=namespaces,
                # Kopf stops on SIGINT/SIGTERM by itself; a flag it never sees set would cost 5 s of
                # waiting at exit, so it gets one only when something else can stop it.
                stop_flag=stopping if stop is not None or lost is not None else None,
                ready_flag=ready,
            )
        finally:
            server.set_not_ready("stopping")
            for task in background:
                task.cancel()
            with contextlib.suppress(Exception):
                await queue.drain()
            api.close()
        if lost is not None and lost.done():
            raise LeadershipLost(f"lost the Lease {config.leader_election.lease_name}; stopped reconciling")
        if lost is not None:
            lost.cancel()


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


async def _mark_ready(ready: asyncio.Event, server: ObservabilityServer) -> None:
    await ready.wait()
    server.set_ready()
