"""Assemble and run the operator: Kubernetes access, providers, the reconcile queue and Kopf."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import aiohttp
import kopf
import structlog

from slipway.alerts.alertmanager import AlertmanagerConfig, AlertmanagerSource
from slipway.controller.echoes import OwnWrites
from slipway.controller.events import EventLedger
from slipway.controller.first_look import MOST_WAIT_SECONDS, FirstLook, open_when_shown
from slipway.controller.handlers import build_registry, build_settings, owned_handlers, release_handler
from slipway.controller.notifications import Notifier
from slipway.controller.owned_watch import OwnedWatch
from slipway.controller.queue import MAX_CONCURRENT_PASSES, ReconcileQueue, ReleaseKey
from slipway.controller.reconciler import Reconciler
from slipway.controller.release_watch import ReleaseWatch
from slipway.controller.upstreams import UpstreamIndex
from slipway.controller.watch_view import REFRESH_SECONDS, WatchView
from slipway.kube.client import ApiError, Credentials, KubeApi, load_credentials
from slipway.kube.watched import WatchedObjects
from slipway.manifests import GROUP, MANAGER, PLURAL, VERSION
from slipway.providers.registry import ProviderRegistry
from slipway.runtime.config import OperatorConfig
from slipway.runtime.leader import LeaderElection
from slipway.runtime.logging import configure_logging
from slipway.runtime.metrics import OperatorMetrics
from slipway.runtime.notifications import NotificationQueue
from slipway.runtime.server import ObservabilityServer
from slipway.runtime.shards import Shards

_log = structlog.get_logger("slipway.operator")

# At a stop, how long queued notifications may still take; what is left then is lost (and logged).
_NOTIFICATION_GRACE_SECONDS = 2.0


class LeadershipLost(RuntimeError):
    """Another replica may lead (or hold this replica's shard) now: this one stopped reconciling."""


class ReleaseCrdMissing(RuntimeError):
    """Watching given namespaces, the operator holds no cluster-scoped grant, so it does not watch for
    CRDs (nor does Kopf, for the Jobs): without the Release CRD it would run and serve nothing."""


async def run_operator(
    config: OperatorConfig, stop: asyncio.Event | None = None, credentials: Credentials | None = None
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when in the main thread), with `credentials` (else
    found as kubectl finds them).

    With leader election on, wait to lead first, ready meanwhile as a standby (so a Deployment of
    several replicas, its rolling updates and its PodDisruptionBudget see every healthy pod available);
    raise LeadershipLost if the Lease is lost. With sharding on, wait for a free shard Lease the same
    way, then reconcile only the Releases this replica owns."""
    configure_logging(config.log.level, format=config.log.format)
    # Kopf logs a line per handled watch event; with many Releases that is noise, not news.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    metrics = OperatorMetrics()
    credentials = credentials or load_credentials()
    # A pass sends its requests from a worker thread (asyncio.to_thread). The loop's default pool has
    # cores + 4 threads, 6 on two cores: fewer than the passes that may run at once, which then wait
    # for a thread. One per pass, and two for the Lease renewal and measurements (Jobs).
    threads = MAX_CONCURRENT_PASSES + 2
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads, thread_name_prefix="slipway"))
    # Every write is named `slipway` in managedFields; the objects it owns are server-side applied.
    # One kept connection per thread: with fewer, every request beyond them paid a TLS handshake.
    api = KubeApi(credentials, on_response=metrics.api_request, field_manager=MANAGER, connections=threads)
    stopping = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    async with (
        aiohttp.ClientSession() as session,
        ObservabilityServer(metrics, config.server.host, config.server.port) as server,
    ):
        _log.info("operator starting", observability=server.url)
        if not config.cluster_wide:
            await asyncio.to_thread(_require_release_crd, api)
        if stop is not None:
            background.append(asyncio.create_task(_relay(stop, stopping)))
        lost: asyncio.Task[None] | None = None
        election: LeaderElection | None = None
        shards: Shards | None = None
        # Stopping on purpose while holding a Lease: hand it over at once, not at expiry.
        hand_over: Callable[[], bool] | None = None
        if config.sharding.enabled:
            sharding = config.sharding
            # Unique per process: a restarted one (pid 1 again in its container) is a newcomer.
            identity = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
            shards = Shards(
                api,
                sharding.namespace,
                sharding.lease_name,
                sharding.shards,
                identity,
                sharding.lease_duration_seconds,
            )
            server.set_not_ready("waiting for a shard")

            def all_held() -> None:
                _log.info("standing by: every shard is held", shards=sharding.shards)
                server.set_ready("standby, waiting for a shard")

            await shards.join(on_standby=all_held)
            hand_over = shards.release
        elif config.leader_election.enabled:
            election = LeaderElection(
                api,
                config.leader_election.namespace,
                config.leader_election.lease_name,
                identity=f"{socket.gethostname()}-{os.getpid()}",
            )
            server.set_not_ready("waiting to lead")

            def standing_by() -> None:
                _log.info("standing by", lease=config.leader_election.lease_name)
                server.set_ready("standby, waiting to lead")

            await election.acquire(on_standby=standing_by)
            _log.info("leading", lease=config.leader_election.lease_name, identity=election.identity)
            lost = asyncio.create_task(election.keep())
            lost.add_done_callback(lambda _: stopping.set())
            hand_over = election.release
        # Filled from the Release watch, read by each pass: who waits for whom, what the upstreams show.
        upstreams = UpstreamIndex()
        own_writes = OwnWrites()
        watched = WatchedObjects()
        watch_view = WatchView()
        namespaces = [] if config.cluster_wide else config.namespaces
        # Of the objects the Releases own: with sharding, only those of this replica's buckets.
        owned = OwnedWatch(api, namespaces, shards.buckets() if shards is not None else None)
        releases = ReleaseWatch(api, namespaces)
        first_look = FirstLook(owned.covers, all_along=shards is not None)
        events = EventLedger(api)
        # Delivery runs beside the passes: a pass only queues a message, never waits for a receiver.
        notification_queue = NotificationQueue(session, config.notifications, metrics)
        notification_queue.start()
        reconciler = Reconciler(
            api=api,
            measure=ProviderRegistry(session, config, api).measure,
            find_alerts=AlertmanagerSource(session, config.section(AlertmanagerConfig)).firing,
            config=config,
            metrics=metrics,
            upstreams=upstreams,
            own_writes=own_writes,
            watched=watched,
            notifier=Notifier(api, notification_queue, config.notifications),
            fence=shards.fence if shards is not None else None,
            first_look=first_look,
            events=events,
            watch_view=watch_view,
        )
        # Closed until the watch has shown what the cluster holds (controller/first_look.py).
        queue = ReconcileQueue(
            reconciler,
            owns=shards.owns if shards is not None else None,
            gained=partial(_gained, first_look, watch_view),
            opened=False,
            queued=metrics.queued,
            started_late=metrics.started_late,
            on_shown=first_look.decides_on_shown,
        )
        if shards is not None:
            lost = asyncio.create_task(
                shards.keep(
                    on_change=partial(_shards_changed, shards, owned, queue), prepare=owned.listed_under
                )
            )
            lost.add_done_callback(lambda _: stopping.set())
        ready = asyncio.Event()
        # Kopf stops on SIGINT/SIGTERM by itself; a flag it never sees set would cost 5 s of waiting at
        # exit, so it gets one only when something else can stop it.
        stop_flag = stopping if stop is not None or lost is not None else None
        background.append(asyncio.create_task(_mark_ready(ready, server, stop_flag)))
        background.append(asyncio.create_task(_forget_expired_views(watch_view)))
        _log.info("watching", namespaces=namespaces or "all")
        try:
            releases.start(release_handler(queue, upstreams, own_writes, first_look, watch_view))
            owned.start(owned_handlers(queue, upstreams, own_writes, watched, first_look, watch_view))
            background.append(
                asyncio.create_task(_open_at_start(releases, owned, first_look, events, queue, namespaces))
            )
            await kopf.operator(
                registry=build_registry(queue, credentials, upstreams),
                settings=build_settings(),
                standalone=True,
                clusterwide=config.cluster_wide,
                namespaces=namespaces,
                stop_flag=stop_flag,
                ready_flag=ready,
            )
        finally:
            server.set_not_ready("stopping")
            for task in background:
                task.cancel()
            # First: no event may start a pass after the drain, which a handover would not wait for.
            await asyncio.gather(releases.stop(), owned.stop())
            with contextlib.suppress(Exception):
                await queue.drain()
            # Stopped on purpose while leading (e.g. a rolling upgrade): hand over now, not at expiry.
            if hand_over is not None and lost is not None and not lost.done():
                lost.cancel()
                if await asyncio.to_thread(_released, hand_over):
                    _log.info("released the lease", lease=_lease_name(config, shards))
            # After the handover: the next leader tells only transitions it records itself.
            await notification_queue.stop(_NOTIFICATION_GRACE_SECONDS)
            api.close()
        if lost is not None and lost.done() and not lost.cancelled():
            raise LeadershipLost(f"lost the Lease {_lease_name(config, shards)}; stopped reconciling")
        if lost is not None:
            lost.cancel()


async def _open_at_start(
    releases: ReleaseWatch,
    owned: OwnedWatch,
    first_look: FirstLook,
    events: EventLedger,
    queue: ReconcileQueue,
    namespaces: Sequence[str],
    most_seconds: float = MOST_WAIT_SECONDS,
) -> None:
    """Open the queue once the watches have listed the Releases and what they own, or after
    `most_seconds` (controller/first_look.py); meanwhile list the Release Events of `namespaces` (none:
    of the namespaces the Releases are in, once listed), which the first passes look up."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + most_seconds
    if not namespaces:  # every namespace: those holding Releases are known once they are listed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await releases.listed.wait()
        namespaces = sorted(first_look.namespaces())
    await asyncio.gather(
        asyncio.to_thread(_look_ahead, events, list(namespaces)),
        open_when_shown(queue, first_look, [releases.listed, owned.listed], deadline, started),
    )


def _shards_changed(shards: Shards, owned: OwnedWatch, queue: ReconcileQueue) -> None:
    """What this replica owns changed: watch the objects of its buckets now, pass over what it gained."""
    owned.select(shards.buckets())
    queue.reclaim()


def _look_ahead(events: EventLedger, namespaces: list[str]) -> None:
    try:
        events.look_ahead(namespaces)
    except Exception as error:  # the passes list them then
        _log.warning("Release Events not listed ahead of the passes", error=str(error))


def _require_release_crd(api: KubeApi) -> None:
    # Discovery, which every authenticated identity may read (system:discovery): no extra grant.
    try:
        served = api.get(f"/apis/{GROUP}/{VERSION}") or {}
    except (
        ApiError
    ) as error:  # no answer (yet): the Releases' watch tries until served; only an answer decides
        _log.warning("could not check that the Release CRD is installed", error=str(error))
        return
    if not any(resource.get("name") == PLURAL for resource in served.get("resources") or []):
        raise ReleaseCrdMissing(
            f"the Release CRD ({PLURAL}.{GROUP}, {VERSION}) is not installed: install it (kubectl apply "
            "-f crds/) and start the operator again; watching given namespaces, it serves the CRDs found "
            "at start"
        )


def _gained(first_look: FirstLook, watch_view: WatchView, key: ReleaseKey) -> None:
    """A Release became this replica's: its first pass takes what the watch showed, only if settled
    there; another replica wrote it last, so nothing else this replica kept of it is decided on."""
    first_look.gained(key)
    watch_view.drop(key)


def _lease_name(config: OperatorConfig, shards: Shards | None) -> str | None:
    return shards.shard if shards is not None else config.leader_election.lease_name


def _released(release: Callable[[], bool]) -> bool:
    try:
        return release()
    except Exception:  # an unreachable API server: the Lease then expires, as it would after a crash
        return False


async def _forget_expired_views(watch_view: WatchView) -> None:
    """A view is forgotten at the next pass once past its refresh; where no pass comes, by this."""
    while True:
        await asyncio.sleep(REFRESH_SECONDS / 2)
        watch_view.forget_expired()


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


async def _mark_ready(
    ready: asyncio.Event, server: ObservabilityServer, stop_flag: asyncio.Event | None
) -> None:
    await ready.wait()
    server.set_ready()
    if stop_flag is not None and threading.current_thread() is threading.main_thread():
        # Kopf, stopped by a signal, waits 5 s for its waiter of our flag, which nobody sets (a rolling
        # upgrade's handover would lose them). Kopf has installed its handlers by now; ours replace
        # them and stop it through the flag instead.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_flag.set)
