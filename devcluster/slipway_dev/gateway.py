"""The gateway: a steady load of real HTTP requests through the routing the cluster holds.

Each entry point (see slipway_dev.traffic) gets `rps` requests per second. Picks are
deterministic: every request goes to the split furthest behind its weighted share and pods within a
split take turns, so a 10 % canary gets exactly every tenth request and tests need no tolerance for
sampling noise. The gateway reads Services, Pods and routing objects through informers, like any
other client of the dev API server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from slipway_dev.controllers.client import PODS, SERVICES, JsonObject
from slipway_dev.controllers.runtime import Informers, Key, cancel_all, key_of
from slipway_dev.traffic import (
    Backend,
    ClusterView,
    EntryPoint,
    ReadyPod,
    RoutingSource,
    plan_entry_points,
    ready_pod,
)
from slipway_dev.traffic.httproute import HTTPRouteSource
from slipway_dev.traffic.ingress import CanaryIngressSource
from slipway_dev.traffic.virtualservice import VirtualServiceSource

TICK_SECONDS = 0.05
MAX_IN_FLIGHT = 512


class WeightedPicker:
    def __init__(self, entry_point: EntryPoint) -> None:
        self.entry_point = entry_point
        self._sent = [0] * len(entry_point.splits)
        self._total_weight = sum(split.weight for split in entry_point.splits)
        self._picks = 0

    def pick(self) -> Backend:
        self._picks += 1
        splits = self.entry_point.splits
        behind = max(
            range(len(splits)),
            key=lambda index: splits[index].weight * self._picks / self._total_weight - self._sent[index],
        )
        backends = splits[behind].backends
        chosen = backends[self._sent[behind] % len(backends)]
        self._sent[behind] += 1
        return chosen


@dataclass
class EntryStats:
    """What one entry point's requests got: answers by HTTP code, and failed connections."""

    by_code: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0

    @property
    def sent(self) -> int:
        return sum(self.by_code.values()) + self.connection_errors


class Gateway:
    def __init__(
        self,
        informers: Informers,
        rps: float,
        sources: Sequence[RoutingSource] = (HTTPRouteSource(), VirtualServiceSource(), CanaryIngressSource()),
    ) -> None:
        self.rps = rps
        self.services = informers.get(SERVICES)
        self.pods = informers.get(PODS)
        self.sources = {source: informers.get(source.resource) for source in sources}
        # Entry points are recomputed only after a change: with many pods that is real work.
        self._changed = True
        # The ready pods, kept pod by pod as their events come: a change costs one pod's check.
        self._ready: dict[Key, ReadyPod] = {}
        for informer in (self.services, *self.sources.values()):
            informer.subscribe(self._mark_changed)
        self.pods.subscribe(self._pod_changed)
        self.stats: dict[str, EntryStats] = {}
        self._pickers: dict[str, WeightedPicker] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def entry_points(self) -> list[EntryPoint]:
        view = ClusterView(
            {key_of(service): service for service in self.services.objects()}, list(self._ready.values())
        )
        return plan_entry_points(
            view, {source: informer.objects() for source, informer in self.sources.items()}
        )

    def _mark_changed(self, _kind: str, _obj: JsonObject) -> None:
        self._changed = True

    def _pod_changed(self, kind: str, pod: JsonObject) -> None:
        key = key_of(pod)
        ready = None if kind == "DELETED" else ready_pod(pod)
        known = self._ready.get(key)
        if ready is not None:
            # A new status of a pod that stays ready changes no route.
            if ready != known:
                self._ready[key] = ready
                self._changed = True
        elif known is not None:
            del self._ready[key]
            self._changed = True

    def start(self) -> None:
        if self.rps > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_all([self._task])
        for request in list(self._in_flight):
            request.cancel()

    async def _run(self) -> None:
        credits: dict[str, float] = {}
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
        ) as session:
            last = time.monotonic()
            while True:
                await asyncio.sleep(TICK_SECONDS)
                current = time.monotonic()
                elapsed, last = current - last, current
                self._refresh_pickers()
                for name, picker in self._pickers.items():
                    credits[name] = credits.get(name, 0.0) + self.rps * elapsed
                    while credits[name] >= 1.0:
                        credits[name] -= 1.0
                        if len(self._in_flight) < MAX_IN_FLIGHT:
                            self._send(session, name, picker.pick())
                for name in list(credits):
                    if name not in self._pickers:
                        del credits[name]

    def _refresh_pickers(self) -> None:
        if not self._changed:
            return
        self._changed = False
        current = {entry.name: entry for entry in self.entry_points()}
        for name in list(self._pickers):
            if name not in current:
                del self._pickers[name]
        for name, entry in current.items():
            if name not in self._pickers or self._pickers[name].entry_point != entry:
                self._pickers[name] = WeightedPicker(entry)

    def _send(self, session: aiohttp.ClientSession, entry: str, backend: Backend) -> None:
        request = asyncio.get_running_loop().create_task(self._request(session, entry, backend))
        self._in_flight.add(request)
        request.add_done_callback(self._in_flight.discard)

    async def _request(self, session: aiohttp.ClientSession, entry: str, backend: Backend) -> None:
        stats = self.stats.setdefault(entry, EntryStats())
        try:
            async with session.get(f"http://127.0.0.1:{backend.port}/") as response:
                await response.read()
                stats.by_code[response.status] = stats.by_code.get(response.status, 0) + 1
        except (aiohttp.ClientError, TimeoutError):
            stats.connection_errors += 1
