"""Figures for the dev cluster's API server: request latency (get, a list of 1,000 objects, patch),
sustained simple writes per second with the server on one core, and watch fan-out delay to 10 watchers.

The server runs in its own process pinned to one CPU; the load comes from this process (on another
CPU when there is one), over loopback HTTPS verified against the server's CA, with a bearer token, as
kubectl and operators reach it. Each figure is taken twice on the same server: as the admin (group
system:masters, which RBAC lets through before reading any rule) and as a ServiceAccount whose access
comes from a RoleBinding of the aggregated ClusterRole `edit` (so token verification and RBAC rule
evaluation are on every request's path). For comparison the same figures are taken from a second
server started with TLS off (an internal switch of ApiServer kept only for this comparison; `slipway
dev` has no such mode), as the admin: the figures of the server before TLS, tokens and RBAC.

The machine the bench runs on may be shared, which makes wall-clock percentiles swing several times
between runs. So besides the wall clock, every figure comes with what the server itself spent, read
from the kernel's scheduler statistics of the server process (/proc/PID/task/*/schedstat, in ns):

- `cpu`: the server's CPU time per request (per event for the fan-out: the write and its 10
  deliveries), which other load on the machine inflates far less than the wall clock;
- `quiet`: the wall-clock latency minus the time the server and this client spent runnable but
  waiting for a CPU (the run-queue wait other processes cause): the latency an idle machine would see.

Latency samples are taken one request at a time (no client-side queueing), and the fan-out writes the
next event only once every watcher has received the previous one.

`--profile DIR` runs the server under cProfile and writes one DIR/MODE-IDENTITY-PHASE.prof per phase.
"""

from __future__ import annotations

import asyncio
import base64
import cProfile
import glob
import json
import os
import re
import selectors
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

LATENCY_SAMPLES = 500
LIST_SIZE = 1000
WRITE_SECONDS = 3.0
WRITE_CONCURRENCY = 32
WATCHERS = 10
FANOUT_EVENTS = 200
SA_NAMESPACE = "bench-sa"
SA_NAME = "bench"
TARGET_WRITES = 1000.0
TARGET_P99_MS = 2.0
HAS_SCHEDSTAT = os.path.exists("/proc/self/schedstat")


# -- the server child


def _serve(mode: str, profile_dir: str | None) -> None:
    """Child process: one API server on a free port, pinned to CPU 0; prints its URL, CA and token.
    With a profile directory, a line `phase NAME` on stdin writes the profile so far to NAME.prof."""
    from slipway_dev.apiserver import ApiServer

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    # CPU time, not wall time: on a shared machine waiting for a CPU would count as work.
    profiler = cProfile.Profile(time.thread_time) if profile_dir else None

    def dump(name: str) -> None:
        assert profiler is not None and profile_dir is not None
        profiler.disable()
        profiler.dump_stats(os.path.join(profile_dir, f"{name}.prof"))
        profiler.clear()
        profiler.enable()

    async def main() -> None:
        server = ApiServer(_plain_http=mode == "plain")
        await server.start()
        credentials = server.credentials()
        line = {"url": server.url, "ca": base64.b64encode(credentials.ca_pem).decode()}
        print(json.dumps({**line, "token": credentials.token}), flush=True)
        loop = asyncio.get_running_loop()

        def control() -> None:
            for command in sys.stdin:
                verb, _, name = command.strip().partition(" ")
                if verb == "phase" and profiler is not None:
                    loop.call_soon_threadsafe(dump, name)

        threading.Thread(target=control, daemon=True).start()
        if profiler is not None:
            profiler.enable()
        await asyncio.Event().wait()

    asyncio.run(main())


# -- what the kernel says a process spent


@dataclass(frozen=True, slots=True)
class Sched:
    """Nanoseconds a set of threads ran on a CPU, and waited runnable for one."""

    cpu: int = 0
    wait: int = 0

    def __sub__(self, other: Sched) -> Sched:
        return Sched(self.cpu - other.cpu, self.wait - other.wait)

    def __add__(self, other: Sched) -> Sched:
        return Sched(self.cpu + other.cpu, self.wait + other.wait)


class SchedReader:
    """Reads /proc/.../schedstat of every thread of one process (kept open: a read is a few µs)."""

    def __init__(self, pid: int, threads: list[int] | None = None) -> None:
        self._fds: list[int] = []
        if not HAS_SCHEDSTAT:
            return
        if threads is not None:
            paths = [f"/proc/{pid}/task/{tid}/schedstat" for tid in threads]
        else:
            paths = sorted(glob.glob(f"/proc/{pid}/task/*/schedstat"))
        self._fds = [os.open(path, os.O_RDONLY) for path in paths]

    def read(self) -> Sched:
        cpu = wait = 0
        for fd in self._fds:
            fields = os.pread(fd, 128, 0).split()
            cpu += int(fields[0])
            wait += int(fields[1])
        return Sched(cpu, wait)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


@dataclass
class Probe:
    server: SchedReader
    client: SchedReader
    pid: int = 0

    def read(self) -> tuple[Sched, Sched]:
        return self.server.read(), self.client.read()


# -- figures


@dataclass
class Samples:
    """Per-request samples: wall clock, server CPU, and wall minus run-queue waits."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    quiet: list[float] = field(default_factory=list)

    def add(self, wall: float, server: Sched, client: Sched) -> None:
        self.wall.append(wall)
        self.cpu.append(server.cpu / 1e9)
        self.quiet.append(max(0.0, wall - (server.wait + client.wait) / 1e9))


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def _latency(samples: Samples) -> list[str]:
    lines = [f"wall  p50 {statistics.median(samples.wall) * 1000:6.2f}  p99 {_p(samples.wall, 0.99):6.2f} ms"]
    if HAS_SCHEDSTAT:
        quiet, cpu = samples.quiet, samples.cpu
        lines.append(f"quiet p50 {statistics.median(quiet) * 1000:6.2f}  p99 {_p(quiet, 0.99):6.2f} ms")
        lines.append(f"cpu   p50 {statistics.median(cpu) * 1000:6.2f}  p99 {_p(cpu, 0.99):6.2f} ms")
    return lines


Figures = dict[str, list[str]]


async def _timed(
    session: aiohttp.ClientSession, method: str, url: str, expect: int = 300, **kwargs: Any
) -> float:
    started = time.perf_counter()
    async with session.request(method, url, **kwargs) as response:
        await response.read()
        assert response.status < expect, (method, url, response.status, await response.text())
    return time.perf_counter() - started


async def _sampled(probe: Probe, samples: Samples, request: Callable[[], Awaitable[float]]) -> None:
    server, client = probe.read()
    wall = await request()
    server_after, client_after = probe.read()
    samples.add(wall, server_after - server, client_after - client)


class Phases:
    """Marks phase boundaries for the server child's profiler (when there is one)."""

    def __init__(self, child: subprocess.Popen[str], prefix: str, profiling: bool) -> None:
        self._child, self._prefix, self._profiling = child, prefix, profiling

    def end(self, name: str) -> None:
        if self._profiling and self._child.stdin is not None:
            self._child.stdin.write(f"phase {self._prefix}-{name}\n")
            self._child.stdin.flush()


async def _latencies(
    session: aiohttp.ClientSession, base: str, namespace: str, probe: Probe, figures: Figures, phases: Phases
) -> None:
    cms = f"{base}/api/v1/namespaces/{namespace}/configmaps"
    await _timed(session, "POST", cms, json={"metadata": {"name": "probe"}, "data": {"k": "v"}})
    for _ in range(20):  # warm up: connections, caches
        await _timed(session, "GET", f"{cms}/probe")
    phases.end("setup")
    gets = Samples()
    for _ in range(LATENCY_SAMPLES):
        await _sampled(probe, gets, lambda: _timed(session, "GET", f"{cms}/probe"))
    figures["get one object"] = _latency(gets)
    phases.end("get")
    patch_headers = {"Content-Type": "application/merge-patch+json"}
    patches = Samples()
    for i in range(LATENCY_SAMPLES):
        body = json.dumps({"data": {"k": str(i)}})

        def patch(body: str = body) -> Awaitable[float]:
            return _timed(session, "PATCH", f"{cms}/probe", data=body, headers=patch_headers)

        await _sampled(probe, patches, patch)
    figures["merge patch"] = _latency(patches)
    phases.end("patch")
    bulk = f"{base}/api/v1/namespaces/{namespace}-bulk/configmaps"
    for i in range(LIST_SIZE):
        body_obj = {
            "metadata": {"name": f"c{i:04d}", "labels": {"app": "bulk"}},
            "data": {"key": "value" * 10},
        }
        await _timed(session, "POST", bulk, json=body_obj)
    phases.end("bulk-create")
    lists = Samples()
    for _ in range(LATENCY_SAMPLES // 10):
        await _sampled(probe, lists, lambda: _timed(session, "GET", bulk))
    figures[f"list of {LIST_SIZE} objects"] = _latency(lists)
    phases.end("list")


async def _write_throughput(
    session: aiohttp.ClientSession, base: str, namespace: str, probe: Probe, figures: Figures, phases: Phases
) -> None:
    cms = f"{base}/api/v1/namespaces/{namespace}/configmaps"
    deadline = time.perf_counter() + WRITE_SECONDS
    counts = [0] * WRITE_CONCURRENCY

    async def writer(index: int) -> None:
        while time.perf_counter() < deadline:
            name = f"w{index}-{counts[index]}"
            await _timed(session, "POST", cms, json={"metadata": {"name": name}, "data": {"k": "v"}})
            counts[index] += 1

    server, _ = probe.read()
    started = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(WRITE_CONCURRENCY)))
    elapsed = time.perf_counter() - started
    spent = probe.server.read() - server
    writes = sum(counts)
    lines = [f"wall {writes / elapsed:7.0f} writes/s"]
    if HAS_SCHEDSTAT:
        per_write = spent.cpu / 1e9 / writes
        lines.append(f"cpu {per_write * 1000:6.3f} ms/write")
        lines.append(f"= {1 / per_write:7.0f} writes/s/core")
    figures[f"sustained creates ({WRITE_CONCURRENCY} clients)"] = lines
    phases.end("creates")


class _Watchers(threading.Thread):
    """The fan-out's watchers: plain sockets read by one thread with a selector, so what is timed is
    when an event's bytes reach each watcher, not how long a Python HTTP client takes to decode ten
    streams in turn (ten real watchers would be ten processes)."""

    def __init__(self, base: str, tls: ssl.SSLContext | None, token: str, path: str, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.writer = threading.get_native_id()
        host, port = base.split("//")[1].rsplit(":", 1)
        self._sockets: list[socket.socket] = []
        for _ in range(WATCHERS):
            raw = socket.create_connection((host, int(port)))
            sock = tls.wrap_socket(raw, server_hostname=host) if tls is not None else raw
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            )
            self._sockets.append(sock)
        self._server_pid = server_pid
        self.arrivals: dict[str, list[tuple[float, Sched, Sched]]] = {}
        self.condition = threading.Condition()
        self.failure: BaseException | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            self._read()
        except BaseException as error:  # reported to the writer, which is waiting for arrivals
            self.failure = error
            with self.condition:
                self.condition.notify_all()

    def _read(self) -> None:
        # Both client threads' run-queue waits count: the writer's delays the write, this one's the read.
        threads = [self.writer, threading.get_native_id()]
        probe = Probe(SchedReader(self._server_pid), SchedReader(os.getpid(), threads))
        self.ready.set()
        selector = selectors.DefaultSelector()
        buffers: dict[socket.socket, bytes] = {}
        for sock in self._sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, sock)
            buffers[sock] = b""
        pattern = re.compile(rb'"name":"(s\d+)"')
        done = 0
        while done < WATCHERS * FANOUT_EVENTS:
            ready = selector.select(30)
            if not ready:
                raise TimeoutError("no watch event for 30 s")
            now = time.perf_counter()
            server, client = probe.read()
            for key, _ in ready:
                ready_sock: socket.socket = key.data
                try:
                    while True:
                        data = ready_sock.recv(1 << 16)
                        if not data:
                            raise ConnectionError("a watch ended early")
                        buffers[ready_sock] += data
                except (BlockingIOError, ssl.SSLWantReadError):
                    pass
                names = pattern.findall(buffers[ready_sock])
                buffers[ready_sock] = buffers[ready_sock][buffers[ready_sock].rfind(b"\n") + 1 :]
                with self.condition:
                    for name in names:
                        self.arrivals.setdefault(name.decode(), []).append((now, server, client))
                        done += 1
                    self.condition.notify_all()
        probe.server.close()
        probe.client.close()
        for sock in self._sockets:
            sock.close()

    def wait_for(self, name: str) -> None:
        with self.condition:
            if not self.condition.wait_for(
                lambda: self.failure is not None or len(self.arrivals.get(name, ())) >= WATCHERS, 30
            ):
                raise TimeoutError(f"not every watcher got {name}")
        if self.failure is not None:
            raise self.failure


async def _fanout(
    session: aiohttp.ClientSession,
    base: str,
    namespace: str,
    probe: Probe,
    figures: Figures,
    phases: Phases,
    tls: ssl.SSLContext | None,
    token: str,
) -> None:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    async with session.get(base + path) as listed:
        rv = (await listed.json())["metadata"]["resourceVersion"]
    watchers = _Watchers(base, tls, token, f"{path}?watch=true&resourceVersion={rv}", probe.pid)
    watchers.start()
    watchers.ready.wait(30)
    assert watchers.native_id is not None
    clients = SchedReader(os.getpid(), [threading.get_native_id(), watchers.native_id])
    await asyncio.sleep(0.3)  # every watch registered on the server
    phases.end("watch-setup")
    written: dict[str, tuple[float, Sched, Sched]] = {}
    server_before, _ = probe.read()
    loop = asyncio.get_running_loop()
    for i in range(FANOUT_EVENTS):
        name = f"s{i}"
        server, client = probe.server.read(), clients.read()
        written[name] = (time.perf_counter(), server, client)
        await _timed(session, "POST", base + path, json={"metadata": {"name": name}})
        # The next event only once every watcher has this one: no event queues behind another.
        await loop.run_in_executor(None, watchers.wait_for, name)
    spent = probe.server.read() - server_before
    watchers.join(10)
    clients.close()
    delays = Samples()
    for name, (at, server_at, client_at) in written.items():
        for now, server, client in watchers.arrivals[name]:
            delays.add(now - at, server - server_at, client - client_at)
    lines = _latency(delays)
    if HAS_SCHEDSTAT:
        # The cost of an event: the server's CPU time over the phase divided by the events.
        lines = [*lines[:2], f"cpu {spent.cpu / 1e6 / FANOUT_EVENTS:6.2f} ms/event"]
    figures[f"watch fan-out to {WATCHERS} watchers"] = lines
    phases.end("fanout")


async def _admin_request(
    session: aiohttp.ClientSession, base: str, method: str, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with session.request(method, base + path, json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status < 300, (path, response.status, answer)
        return answer


async def _service_account_token(session: aiohttp.ClientSession, base: str) -> str:
    """A ServiceAccount with `edit` (an aggregated ClusterRole) in its two namespaces by RoleBindings,
    as kubectl would set it up; its token from a TokenRequest."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    account = {"metadata": {"name": SA_NAME}}
    await _admin_request(session, base, "POST", f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts", account)
    for namespace in (SA_NAMESPACE, f"{SA_NAMESPACE}-bulk"):
        binding = {
            "metadata": {"name": "bench-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}],
        }
        await _admin_request(session, base, "POST", f"{rbac}/namespaces/{namespace}/rolebindings", binding)
    # Bindings that do not concern it, as a cluster holds many.
    for i in range(20):
        await _admin_request(
            session,
            base,
            "POST",
            f"{rbac}/namespaces/{SA_NAMESPACE}/rolebindings",
            {
                "metadata": {"name": f"other-{i}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "name": f"someone-{i}"}],
            },
        )
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    answer = await _admin_request(
        session, base, "POST", f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts/{SA_NAME}/token", request
    )
    token: str = answer["status"]["token"]
    return token


async def _run(
    started: dict[str, str],
    child: subprocess.Popen[str],
    mode: str,
    identities: list[str],
    profiling: bool,
) -> dict[str, Figures]:
    pid = child.pid
    tls: ssl.SSLContext | None = None
    if started["url"].startswith("https:"):
        tls = ssl.create_default_context(cadata=base64.b64decode(started["ca"]).decode())
    base = started["url"]
    admin_headers = {"Authorization": f"Bearer {started['token']}"}
    results: dict[str, Figures] = {}
    admin_connector = aiohttp.TCPConnector(ssl=tls or False)
    async with aiohttp.ClientSession(connector=admin_connector, headers=admin_headers) as admin:
        for namespace in ("bench-admin", "bench-admin-bulk", SA_NAMESPACE, f"{SA_NAMESPACE}-bulk"):
            await _admin_request(admin, base, "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        tokens = {"admin": started["token"]}
        if "sa" in identities:
            tokens["sa"] = await _service_account_token(admin, base)
    probe = Probe(SchedReader(pid), SchedReader(os.getpid(), [threading.get_native_id()]), pid)
    try:
        for identity in identities:
            phases = Phases(child, f"{mode}-{identity}", profiling)
            namespace = "bench-admin" if identity == "admin" else SA_NAMESPACE
            connector = aiohttp.TCPConnector(limit=WRITE_CONCURRENCY + 4, ssl=tls or False)
            headers = {"Authorization": f"Bearer {tokens[identity]}"}
            figures: Figures = {}
            async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
                await _latencies(session, base, namespace, probe, figures, phases)
                await _write_throughput(session, base, namespace, probe, figures, phases)
                await _fanout(session, base, namespace, probe, figures, phases, tls or None, tokens[identity])
            results[identity] = figures
    finally:
        probe.server.close()
        probe.client.close()
    return results


def _measure(mode: str, identities: list[str], profile_dir: str | None) -> dict[str, Figures]:
    command = [sys.executable, __file__, "--serve", mode]
    if profile_dir:
        command += ["--profile", profile_dir]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
        print(f"dev API server at {started['url']} (pid {child.pid}, pinned to CPU 0)", flush=True)
        return asyncio.run(_run(started, child, mode, identities, profile_dir is not None))
    finally:
        child.terminate()
        child.wait(timeout=10)


def _ok(met: bool) -> str:
    return "ok" if met else "MISSED"


def _verdicts(figures: Figures) -> list[str]:
    """The issue's limits, judged on the wall clock and on the noise-free figures."""
    verdicts = []

    def number(line: str, label: str) -> float:
        return float(line.split(label)[1].split()[0])

    for name in ("get one object", f"watch fan-out to {WATCHERS} watchers"):
        lines = figures[name]
        wall = number(lines[0], "p99")
        quiet = number(lines[1], "p99") if HAS_SCHEDSTAT else wall
        verdicts.append(
            f"{name} p99 <= {TARGET_P99_MS} ms: wall {wall:.2f} ({_ok(wall <= TARGET_P99_MS)}), "
            f"quiet {quiet:.2f} ({_ok(quiet <= TARGET_P99_MS)})"
        )
    writes = figures[f"sustained creates ({WRITE_CONCURRENCY} clients)"]
    wall_writes = float(writes[0].split()[1])
    capacity = float(writes[2].split()[1]) if HAS_SCHEDSTAT else wall_writes
    verdicts.append(
        f"simple writes >= {TARGET_WRITES:.0f}/s: "
        f"wall {wall_writes:.0f} ({_ok(wall_writes >= TARGET_WRITES)}), "
        f"per core of server CPU {capacity:.0f} ({_ok(capacity >= TARGET_WRITES)})"
    )
    return verdicts


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--profile" else None)
        return
    profile_dir = None
    if len(sys.argv) > 2 and sys.argv[1] == "--profile":
        profile_dir = os.path.abspath(sys.argv[2])
        os.makedirs(profile_dir, exist_ok=True)
    if not HAS_SCHEDSTAT:
        print("note: no /proc/PID/schedstat here: wall-clock figures only")
    strict = _measure("tls", ["admin", "sa"], profile_dir)
    today = _measure("plain", ["admin"], profile_dir)
    columns = [
        ("HTTPS, ServiceAccount + RBAC", strict["sa"]),
        ("HTTPS, admin (system:masters)", strict["admin"]),
        ("today: plain HTTP, admin", today["admin"]),
    ]
    print(f"{'':32}" + "".join(f"{title:>36}" for title, _ in columns))
    for name in strict["sa"]:
        rows = max(len(figures[name]) for _, figures in columns)
        for row in range(rows):
            label = name if row == 0 else ""
            cells = [figures[name][row] if row < len(figures[name]) else "" for _, figures in columns]
            print(f"{label:32}" + "".join(f"{cell:>36}" for cell in cells))
    print("wall: as measured; quiet: wall minus the run-queue waits of server and client (what another")
    print("process's load adds); cpu: the server process's CPU time (schedstat), per request or event.")
    for title, figures in columns[:2]:
        print(f"limits, {title}:")
        for verdict in _verdicts(figures):
            print(f"  {verdict}")


if __name__ == "__main__":
    main()
