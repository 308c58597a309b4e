"""The gateway: requests through the routing the cluster holds to the pods, generated and from outside.

Each entry point clients call (see slipway_dev.traffic) gets `rps` generated requests per second for
its first host and path `/`, a share of them carrying a load variant's headers and cookies
(slipway_dev.load); one only testers call (a Release's canary Service) gets them only as test load.
The front door, an HTTP server on 127.0.0.1:`port`, takes real requests and routes them by Host header
and path through the same entry points. Both go through `Gateway.dispatch`: the route a request
matches, a pod of the split its weights choose, copies to its mirrors (sent with the host suffixed
`-shadow`, as Envoy does, their answers dropped) and the pod's answer. A simulated pod of this
process gets the request handed over without a socket (`SimulatedPod.answer`: the same answer and
counts, at a quarter of the cost); a pod that runs a real process gets it over HTTP.

Picks are deterministic: every request goes to the split furthest behind its weighted share and
pods within a split take turns, a mirror copies exactly its percent of a route's requests, a load
variant gets exactly its share; so tests need no tolerance for sampling noise. The gateway reads
Services, Pods and routing objects through informers, like any other client of the dev API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from slipway_dev.controllers.client import PODS, SERVICES
from slipway_dev.controllers.runtime import Informers, cancel_all
from slipway_dev.load import DEFAULT, LoadVariant, check_mix
from slipway_dev.pods import VERSION_HEADER, PodUnreachable, SimulatedPod
from slipway_dev.traffic import (
    Action,
    Backend,
    EntryPoint,
    Route,
    RoutingSource,
    ServiceKey,
    resolve,
    service_entry_name,
)
from slipway_dev.traffic.httproute import HTTPRouteSource
from slipway_dev.traffic.ingress import CanaryIngressSource
from slipway_dev.traffic.matching import Request, host_of
from slipway_dev.traffic.planner import EntryPlanner
from slipway_dev.traffic.virtualservice import VirtualServiceSource

TICK_SECONDS = 0.05
MAX_IN_FLIGHT = 512
REQUEST_TIMEOUT_SECONDS = 10
# What a request that reached no pod's answer raises.
UNREACHABLE = (aiohttp.ClientError, PodUnreachable, TimeoutError)
# Not forwarded either way: they concern one connection, not the request (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
    | {"content-length", "host", "date", "server"}  # set anew by whoever sends the message on
)


class SharePicker:
    """Deterministic picks among weights: each pick goes to the index furthest behind its share."""

    def __init__(self, weights: Sequence[float]) -> None:
        self._weights = list(weights)
        self._total = sum(self._weights)
        self._sent = [0] * len(self._weights)
        self._picks = 0

    def pick(self) -> int:
        self._picks += 1
        behind = max(
            range(len(self._weights)),
            key=lambda index: self._weights[index] * self._picks / self._total - self._sent[index],
        )
        self._sent[behind] += 1
        return behind


class ActionPicker:
    """The pod an action's next request goes to, and the mirror pods it is copied to."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self._splits = SharePicker([split.weight for split in action.splits]) if action.splits else None
        self._turns = [0] * len(action.splits)
        self._mirrors = [SharePicker([mirror.percent, 100.0 - mirror.percent]) for mirror in action.mirrors]
        self._mirror_turns = [0] * len(action.mirrors)

    def pick(self) -> tuple[Backend | None, tuple[Backend, ...]]:
        if self._splits is None:
            return None, ()
        index = self._splits.pick()
        backends = self.action.splits[index].backends
        chosen = backends[self._turns[index] % len(backends)]
        self._turns[index] += 1
        copies = []
        for number, (mirror, picker) in enumerate(zip(self.action.mirrors, self._mirrors, strict=True)):
            if picker.pick() == 0:
                copies.append(mirror.backends[self._mirror_turns[number] % len(mirror.backends)])
                self._mirror_turns[number] += 1
        return chosen, tuple(copies)


@dataclass
class EntryStats:
    """What one entry point's generated requests got: answers by HTTP code, failed connections, the
    version that answered (`X-Slipway-Version`) by load variant, and the copies sent to mirrors."""

    by_code: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    by_variant: dict[str, dict[str, int]] = field(default_factory=dict)
    mirrored: int = 0

    @property
    def sent(self) -> int:
        return sum(self.by_code.values()) + self.connection_errors

    def copy(self) -> EntryStats:
        versions = {variant: dict(counts) for variant, counts in self.by_variant.items()}
        return EntryStats(dict(self.by_code), self.connection_errors, versions, self.mirrored)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    mirrored: int = 0  # copies sent to mirrors


@dataclass
class EntryState:
    """An entry point and the picks of its actions, kept while the entry point stays the same; and,
    by load variant, the request the generated load sends and the route it takes (the same each time)."""

    entry: EntryPoint
    actions: list[ActionPicker]
    variants: SharePicker | None = None
    generated: dict[int, tuple[Request, Route | None]] = field(default_factory=dict)


class Gateway:
    def __init__(
        self,
        informers: Informers,
        rps: float,
        sources: Sequence[RoutingSource] = (HTTPRouteSource(), VirtualServiceSource(), CanaryIngressSource()),
        *,
        servers: Mapping[int, SimulatedPod],
        port: int | None = 0,
        load: Sequence[LoadVariant] = (),
        test_load: Collection[ServiceKey] = (),
    ) -> None:
        self.rps = rps
        self._tested: frozenset[str]  # entry point names
        self.set_test_load(test_load)
        self._servers = servers  # this process's simulated pods by port (the kubelet's)
        self.port = port
        check_mix(load)
        self.load = tuple(load)
        # Entry points are planned again only where a change reaches: with many pods that is real work.
        self._planner = EntryPlanner(sources)
        self._planned: list[EntryPoint] | None = None
        informers.get(SERVICES).subscribe(self._planner.service_changed)
        informers.get(PODS).subscribe(self._planner.pod_changed)
        for source in sources:
            informers.get(source.resource).subscribe(partial(self._planner.route_object_changed, source))
        self.stats: dict[str, EntryStats] = {}
        self._entries: dict[str, EntryState] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._front_door: asyncio.Server | None = None
        self._handler = web.Server(self._serve, access_log=None)

    def set_load(self, variants: Sequence[LoadVariant]) -> None:
        """A new mix for the generated load, from the next request on."""
        check_mix(variants)
        self.load = tuple(variants)
        for state in self._entries.values():
            state.variants = None
            state.generated.clear()

    def set_test_load(self, services: Collection[ServiceKey]) -> None:
        """The Services only testers call that get the generated load too, from the next tick on."""
        self._tested = frozenset(service_entry_name(service) for service in services)

    async def start(self) -> None:
        """Open the front door (unless `port` is None) and start the load (unless `rps` is 0)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
            connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT),
            auto_decompress=False,
        )
        if self.port is not None:
            loop = asyncio.get_running_loop()
            self._front_door = await loop.create_server(self._handler, host="127.0.0.1", port=self.port)
            self.port = self._front_door.sockets[0].getsockname()[1]
        if self.rps > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._front_door is not None:
            self._front_door.close()
            self._front_door = None
            await self._handler.shutdown(timeout=0.1)
        if self._task is not None:
            await cancel_all([self._task])
        await cancel_all(list(self._in_flight))
        if self._session is not None:
            await self._session.close()

    def current(self) -> dict[str, EntryState]:
        """The entry points by name, with their picks, as the routing objects stand now."""
        planned = self._planner.entry_points()
        if planned is not self._planned:
            self._planned = planned
            fresh = {entry.name: entry for entry in planned}
            self._entries = {
                name: (
                    state
                    if (state := self._entries.get(name)) is not None
                    and (state.entry is entry or state.entry == entry)
                    else EntryState(entry, [ActionPicker(action) for action in entry.actions])
                )
                for name, entry in fresh.items()
            }
        return self._entries

    async def dispatch(
        self, state: EntryState, action: int, request: Request, path_qs: str, body: bytes = b""
    ) -> Answer | None:
        """Send the request to the pod the action picks and copies to its mirrors; the pod's answer,
        or None when no pod can take it. A request that reaches no answer raises one of UNREACHABLE. The
        request's host goes to the pod as its Host header, port included."""
        backend, mirrors = state.actions[action].pick()
        if backend is None:
            return None
        if not mirrors:
            return await self._send(backend, request, path_qs, body)
        shadow = replace(request, host=f"{host_of(request.host)}-shadow")
        for mirror in mirrors:
            self._spawn(self._mirror(mirror, shadow, path_qs, body))
        return replace(await self._send(backend, request, path_qs, body), mirrored=len(mirrors))

    async def _send(self, backend: Backend, request: Request, path_qs: str, body: bytes) -> Answer:
        server = self._servers.get(backend.port)
        if server is not None and server.behaviour.pod == backend.pod:
            answer = await server.answer(request.method, path_qs, REQUEST_TIMEOUT_SECONDS)
            return Answer(answer.status, CIMultiDictProxy(CIMultiDict(answer.headers)), answer.text.encode())
        assert self._session is not None
        headers = {name: value for name, value in request.headers.items() if name not in HOP_BY_HOP}
        if request.host:
            headers["host"] = request.host
        async with self._session.request(
            request.method, f"http://127.0.0.1:{backend.port}{path_qs}", headers=headers, data=body or None
        ) as response:
            return Answer(response.status, response.headers, await response.read())

    async def _mirror(self, backend: Backend, request: Request, path_qs: str, body: bytes) -> None:
        with contextlib.suppress(*UNREACHABLE):  # a mirror's failure is nobody's answer
            await self._send(backend, request, path_qs, body)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    # The generated load.

    async def _run(self) -> None:
        credits: dict[str, float] = {}
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            current = time.monotonic()
            elapsed, last = current - last, current
            entries = self.current()
            for name, state in entries.items():
                if state.entry.testers_only and name not in self._tested:
                    continue
                credits[name] = credits.get(name, 0.0) + self.rps * elapsed
                while credits[name] >= 1.0:
                    credits[name] -= 1.0
                    if len(self._in_flight) < MAX_IN_FLIGHT:
                        self._generate(state)
            for name in list(credits):
                if name not in entries:
                    del credits[name]

    def _generate(self, state: EntryState) -> None:
        if state.variants is None:
            rest = 100.0 - sum(variant.percent for variant in self.load)
            state.variants = SharePicker([*(variant.percent for variant in self.load), rest])
        index = state.variants.pick()
        variant = self.load[index] if index < len(self.load) else None
        if index not in state.generated:
            headers = variant.request_headers() if variant is not None else {}
            request = Request(state.entry.load_host, "/", "GET", headers)
            state.generated[index] = request, state.entry.route(request)
        request, route = state.generated[index]
        if route is not None and state.actions[route.action].action.splits:
            self._spawn(self._generated(state, route.action, request, variant.name if variant else DEFAULT))

    async def _generated(self, state: EntryState, action: int, request: Request, variant: str) -> None:
        stats = self.stats.setdefault(state.entry.name, EntryStats())
        try:
            answer = await self.dispatch(state, action, request, "/")
        except UNREACHABLE:
            stats.connection_errors += 1
            return
        if answer is None:
            return
        stats.mirrored += answer.mirrored
        stats.by_code[answer.status] = stats.by_code.get(answer.status, 0) + 1
        versions = stats.by_variant.setdefault(variant, {})
        version = answer.headers.get(VERSION_HEADER, "")
        versions[version] = versions.get(version, 0) + 1

    # The front door.

    async def _serve(self, incoming: web.BaseRequest) -> web.StreamResponse:
        # Of a repeated header or parameter the first counts, as Gateway API asks of its matches.
        headers: dict[str, str] = {}
        for name, value in incoming.headers.items():
            headers.setdefault(name.lower(), value)
        query: dict[str, str] = {}
        for name, value in incoming.query.items():
            query.setdefault(name, value)
        request = Request(host_of(incoming.host), incoming.path, incoming.method, headers, query)
        states = self.current()
        found = resolve([state.entry for state in states.values()], request)
        if found is None:
            return web.Response(
                status=404, text=f"no route for host {request.host!r} and path {request.path}\n"
            )
        entry, route = found
        request = Request(incoming.host, request.path, request.method, headers, request.query)
        try:
            answer = await self.dispatch(
                states[entry.name], route.action, request, incoming.path_qs, await incoming.read()
            )
        except UNREACHABLE as error:
            return web.Response(status=502, text=f"upstream connect error: {error}\n")
        if answer is None:
            return web.Response(status=503, text="no healthy upstream\n")
        reply = CIMultiDict(
            (name, value) for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP
        )
        return web.Response(status=answer.status, headers=reply, body=answer.body)
