"""Simulated pods: each one a tiny real HTTP server on 127.0.0.1 whose behaviour comes from its env.

A pod answers every path with 200 or 500 after its configured latency and exposes Prometheus
text-format metrics on /metrics. Errors follow a deterministic schedule (exactly `error_rate` of the
requests, spread evenly) so tests and analyses see the configured rate without sampling noise.
One low-level aiohttp server per pod keeps a pod to a listening socket and a few objects.

The gateway, in the same process, hands its requests to `SimulatedPod.answer` without a socket: a
request over loopback HTTP cost both ends 0.3-0.5 ms of the dev cluster's one loop, which at two
thousand Services was more than it had. What the pod does and counts is the same either way; Prometheus and
anyone else reach it over HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from slipway_dev.logs import LogBuffer

ENV_ERROR_RATE = "SLIPWAY_DEMO_ERROR_RATE"
ENV_LATENCY_MS = "SLIPWAY_DEMO_LATENCY_MS"
ENV_STARTUP_SECONDS = "SLIPWAY_DEMO_STARTUP_SECONDS"
ENV_CRASH = "SLIPWAY_DEMO_CRASH"
ENV_EXIT_CODE = "SLIPWAY_DEMO_EXIT_CODE"
ENV_CREATING_MS = "SLIPWAY_DEMO_CREATING_MS"
ENV_SHUTDOWN_SECONDS = "SLIPWAY_DEMO_SHUTDOWN_SECONDS"
ENV_CPU = "SLIPWAY_DEMO_CPU"
ENV_MEMORY_MB = "SLIPWAY_DEMO_MEMORY_MB"
# Where a pod's simulated server listens (all pods share podIP 127.0.0.1, so the port tells them apart).
SIM_PORT_ANNOTATION = "slipway.dev/sim-port"
# Every answer says who gave it: the pod's name and its version (label app.kubernetes.io/version,
# else the first container's image tag).
POD_HEADER = "X-Slipway-Pod"
VERSION_HEADER = "X-Slipway-Version"
VERSION_LABEL = "app.kubernetes.io/version"

# Buckets of the default Prometheus client, so PromQL written for real services works unchanged.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(frozen=True)
class PodBehaviour:
    """What a simulated pod does, read from its first container's env."""

    error_rate: float = 0.0
    latency_seconds: float = 0.020
    startup_seconds: float = 1.0
    crash: bool = False
    exit_code: int = 0
    # ContainerCreating lasts this long before the container runs (image pull, sandbox, start).
    creating_seconds: float = 0.030
    # After SIGTERM (the pod deleted), the process takes this long to exit; the grace period caps it.
    shutdown_seconds: float = 0.0
    # What the first container uses (cores, bytes) and its resources.limits (None: no limit set).
    cpu_cores: float = 0.02
    memory_bytes: float = 48e6
    container: str = "app"
    cpu_limit_cores: float | None = None
    memory_limit_bytes: float | None = None
    pod: str = ""
    version: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PodBehaviour:
        return cls(
            error_rate=min(1.0, max(0.0, _number(env.get(ENV_ERROR_RATE), 0.0))),
            latency_seconds=max(0.0, _number(env.get(ENV_LATENCY_MS), 20.0)) / 1000.0,
            startup_seconds=max(0.0, _number(env.get(ENV_STARTUP_SECONDS), 1.0)),
            crash=env.get(ENV_CRASH, "").strip().lower() in {"1", "true", "yes"},
            exit_code=int(_number(env.get(ENV_EXIT_CODE), 0.0)),
            creating_seconds=max(0.0, _number(env.get(ENV_CREATING_MS), 30.0)) / 1000.0,
            shutdown_seconds=max(0.0, _number(env.get(ENV_SHUTDOWN_SECONDS), 0.0)),
            cpu_cores=max(0.0, _number(env.get(ENV_CPU), 0.02)),
            memory_bytes=max(0.0, _number(env.get(ENV_MEMORY_MB), 48.0)) * 1e6,
        )

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodBehaviour:
        containers: Sequence[Mapping[str, Any]] = pod.get("spec", {}).get("containers") or [{}]
        limits = (containers[0].get("resources") or {}).get("limits") or {}
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        version = labels.get(VERSION_LABEL) or image_tag(str(containers[0].get("image", "")))
        return dataclasses.replace(
            cls.from_env(container_env(pod)),
            container=str(containers[0].get("name", "app")),
            cpu_limit_cores=parse_quantity(limits.get("cpu")),
            memory_limit_bytes=parse_quantity(limits.get("memory")),
            pod=str(meta.get("name", "")),
            version=str(version),
        )


def image_tag(image: str) -> str:
    """The tag of an image reference (`demo:v2` -> `v2`; none, or only a digest: "")."""
    name = image.partition("@")[0].rpartition("/")[2]
    return name.partition(":")[2]


def container_env(pod: Mapping[str, Any]) -> dict[str, str]:
    """Literal env values of the pod's first container (valueFrom is not simulated)."""
    containers: Sequence[Mapping[str, Any]] = pod.get("spec", {}).get("containers") or []
    if not containers:
        return {}
    return {
        str(item["name"]): str(item.get("value", ""))
        for item in containers[0].get("env") or []
        if "name" in item
    }


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIXES = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


def parse_quantity(value: object) -> float | None:
    """A Kubernetes quantity (`500m`, `1`, `256Mi`, `1e9`) as a number; None when unset or unreadable."""
    match = _QUANTITY.match(str(value).strip()) if value is not None else None
    if match is None:
        return None
    try:
        return float(match.group(1)) * _SUFFIXES[match.group(2)]
    except ValueError:
        return None


def _number(text: str | None, default: float) -> float:
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) else default


@dataclass
class PodMetrics:
    """Counters of one pod, rendered in the Prometheus text exposition format."""

    requests_by_code: dict[str, int] = field(default_factory=dict)
    bucket_counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    duration_sum: float = 0.0
    duration_count: int = 0

    def observe(self, code: int, seconds: float) -> None:
        key = str(code)
        self.requests_by_code[key] = self.requests_by_code.get(key, 0) + 1
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.bucket_counts[index] += 1
        self.duration_sum += seconds
        self.duration_count += 1

    def render(self) -> str:
        lines = [
            "# HELP http_requests_total HTTP requests served, by status code.",
            "# TYPE http_requests_total counter",
        ]
        lines += [
            f'http_requests_total{{code="{code}"}} {count}'
            for code, count in sorted(self.requests_by_code.items())
        ]
        lines += [
            "# HELP http_request_duration_seconds Time to answer an HTTP request.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        lines += [
            f'http_request_duration_seconds_bucket{{le="{bound}"}} {count}'
            for bound, count in zip(LATENCY_BUCKETS, self.bucket_counts, strict=True)
        ]
        lines += [
            f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.duration_count}',
            f"http_request_duration_seconds_sum {self.duration_sum}",
            f"http_request_duration_seconds_count {self.duration_count}",
        ]
        return "\n".join(lines) + "\n"


def resource_series(behaviour: PodBehaviour, running_seconds: float) -> str:
    """The first container's usage as the kubelet's cAdvisor exports it, and its limits as
    kube-state-metrics does; on a real cluster those come from the node and a cluster exporter, here
    from the pod itself (Prometheus adds namespace and pod, as a real scrape of either does)."""
    container = f'container="{behaviour.container}"'
    lines = [
        "# TYPE container_cpu_usage_seconds_total counter",
        f"container_cpu_usage_seconds_total{{{container}}} {behaviour.cpu_cores * running_seconds}",
        "# TYPE container_memory_working_set_bytes gauge",
        f"container_memory_working_set_bytes{{{container}}} {behaviour.memory_bytes}",
    ]
    limits = [
        (resource, unit, limit)
        for resource, unit, limit in (
            ("cpu", "core", behaviour.cpu_limit_cores),
            ("memory", "byte", behaviour.memory_limit_bytes),
        )
        if limit is not None
    ]
    if limits:
        lines.append("# TYPE kube_pod_container_resource_limits gauge")
    lines += [
        f'kube_pod_container_resource_limits{{{container},resource="{resource}",unit="{unit}"}} {limit}'
        for resource, unit, limit in limits
    ]
    return "\n".join(lines) + "\n"


class ErrorSchedule:
    """Fails exactly `rate` of the calls, evenly spread: call n fails when floor(n*rate) steps up."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._calls = 0

    def next_fails(self) -> bool:
        before = math.floor(self._calls * self._rate)
        self._calls += 1
        return math.floor(self._calls * self._rate) > before


class PodUnreachable(ConnectionError):
    """The pod takes no request: it no longer listens (SIGTERM), or it stopped while answering."""


TEXT_PLAIN = "text/plain; charset=utf-8"  # what aiohttp puts on a text answer


@dataclass(frozen=True)
class PodAnswer:
    """An answer handed back in-process: what the HTTP answer would carry."""

    status: int
    headers: dict[str, str]
    text: str


class SimulatedPod:
    """The HTTP server of one Running pod; `port` is known after `start()`."""

    def __init__(self, behaviour: PodBehaviour) -> None:
        self.behaviour = behaviour
        self.metrics = PodMetrics()
        self._errors = ErrorSchedule(behaviour.error_rate)
        self._server: asyncio.Server | None = None
        self._handler = web.Server(self._handle, access_log=None)
        self.port = 0
        self._started = time.monotonic()
        self._stopped = False
        self._late: set[asyncio.Task[PodAnswer]] = set()  # requests answered after the caller's timeout
        # What `kubectl logs` shows of the pod's first container: a line at start, one per request.
        self.log = LogBuffer()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._handler, host="127.0.0.1", port=0, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        self.log.write(f"listening on 127.0.0.1:{self.port}")

    def stop_listening(self) -> None:
        """SIGTERM: accept no new connection (requests in flight still finish)."""
        if self._server is not None:
            self._server.close()
            self._server = None
            self.log.write("received SIGTERM: no new connections, shutting down")

    async def stop(self) -> None:
        """Stop listening and drop open connections: a deleted pod answers nothing more."""
        self._stopped = True
        for late in list(self._late):
            late.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._handler.shutdown(timeout=0.1)

    def metrics_text(self) -> str:
        """What /metrics serves: the request counters and the first container's usage and limits."""
        return self.metrics.render() + resource_series(self.behaviour, time.monotonic() - self._started)

    async def answer(self, method: str, path_qs: str, timeout: float) -> PodAnswer:
        """A request handed over in-process, answered as over HTTP.

        As over the gateway's kept-alive connection, a terminating pod still answers until it stops;
        before it starts or once it has stopped this raises PodUnreachable, as a connection would be
        refused or dropped. A pod slower than `timeout` raises TimeoutError then, and still answers
        the request (counted, logged), as over HTTP, where a client giving up cancels nothing."""
        if not self.port or self._stopped:
            raise PodUnreachable(f"connection refused: pod {self.behaviour.pod} is not running")
        if path_qs.partition("?")[0] == "/metrics":
            return PodAnswer(200, {"Content-Type": TEXT_PLAIN}, self.metrics_text())
        serving = self._serve(method, path_qs, "127.0.0.1")
        if self.behaviour.latency_seconds <= timeout:
            # No timeout around each request: at 2,000 requests/s that alone was 3 % of the loop.
            return await serving
        late = asyncio.get_running_loop().create_task(serving)
        self._late.add(late)
        late.add_done_callback(self._finished_late)
        await asyncio.sleep(timeout)
        raise TimeoutError(f"pod {self.behaviour.pod} answered nothing within {timeout:g} s")

    def _finished_late(self, late: asyncio.Task[PodAnswer]) -> None:
        self._late.discard(late)
        if not late.cancelled():
            late.exception()  # retrieved: nobody waits for an answer given after the timeout

    async def _serve(self, method: str, path_qs: str, remote: str) -> PodAnswer:
        started = time.monotonic()
        if self.behaviour.latency_seconds:
            await asyncio.sleep(self.behaviour.latency_seconds)
        if self._stopped:  # over HTTP, stop() cancels the request instead
            raise PodUnreachable(f"connection dropped: pod {self.behaviour.pod} stopped")
        code = 500 if self._errors.next_fails() else 200
        self.metrics.observe(code, time.monotonic() - started)
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        self.log.write(f'{remote} - - [{stamp}] "{method} {path_qs} HTTP/1.1" {code} 3')
        headers = {
            "Content-Type": TEXT_PLAIN,
            POD_HEADER: self.behaviour.pod,  # every answer says who gave it
            VERSION_HEADER: self.behaviour.version,
        }
        return PodAnswer(code, headers, "error\n" if code == 500 else "ok\n")

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/metrics":
            return web.Response(text=self.metrics_text(), content_type="text/plain", charset="utf-8")
        answer = await self._serve(request.method, request.path_qs, str(request.remote))
        return web.Response(status=answer.status, text=answer.text, headers=answer.headers)
