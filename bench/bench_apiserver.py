"""Figures for the dev cluster's API server: request latency (get, a list of 1,000 objects, patch),
sustained simple writes per second with the server on one core, and watch fan-out delay to 10 watchers.

The server runs in its own process pinned to one CPU; the load comes from this process (on another
CPU when there is one), over loopback HTTPS verified against the server's CA, with a bearer token, as
kubectl and operators reach it. For comparison the same figures are taken from a second server
started with TLS off (an internal switch of ApiServer kept only for this comparison; `slipway dev`
has no such mode), and both are printed side by side.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp

CMS = "/api/v1/namespaces/default/configmaps"
LATENCY_SAMPLES = 300
LIST_SIZE = 1000
WRITE_SECONDS = 3.0
WRITE_CONCURRENCY = 32
WATCHERS = 10
FANOUT_EVENTS = 200


def _serve(mode: str) -> None:
    """Child process: one API server on a free port, pinned to CPU 0; prints its URL, CA and token."""
    from slipway_dev.apiserver import ApiServer

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})

    async def main() -> None:
        server = ApiServer(_plain_http=mode == "plain")
        await server.start()
        credentials = server.credentials()
        line = {"url": server.url, "ca": base64.b64encode(credentials.ca_pem).decode()}
        print(json.dumps({**line, "token": credentials.token}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


Figures = dict[str, str]


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"


async def _timed(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    async with session.request(method, url, **kwargs) as response:
        await response.read()
        assert response.status < 300, (method, url, response.status)
    return time.perf_counter() - started


async def _latencies(session: aiohttp.ClientSession, base: str, figures: Figures) -> None:
    payload = {"metadata": {"name": "probe"}, "data": {"k": "v"}}
    await _timed(session, "POST", base + CMS, json=payload)
    gets = [await _timed(session, "GET", f"{base}{CMS}/probe") for _ in range(LATENCY_SAMPLES)]
    figures["get one object"] = _percentiles(gets)
    patch_headers = {"Content-Type": "application/merge-patch+json"}
    patches = [
        await _timed(
            session,
            "PATCH",
            f"{base}{CMS}/probe",
            data=json.dumps({"data": {"k": str(i)}}),
            headers=patch_headers,
        )
        for i in range(LATENCY_SAMPLES)
    ]
    figures["merge patch"] = _percentiles(patches)
    namespace = {"metadata": {"name": "bulk"}}
    await _timed(session, "POST", base + "/api/v1/namespaces", json=namespace)
    bulk = f"{base}/api/v1/namespaces/bulk/configmaps"
    for i in range(LIST_SIZE):
        await _timed(
            session,
            "POST",
            bulk,
            json={
                "metadata": {"name": f"c{i:04d}", "labels": {"app": "bulk"}},
                "data": {"key": "value" * 10},
            },
        )
    lists = [await _timed(session, "GET", bulk) for _ in range(LATENCY_SAMPLES // 10)]
    figures[f"list of {LIST_SIZE} objects"] = _percentiles(lists)


async def _write_throughput(session: aiohttp.ClientSession, base: str, figures: Figures) -> None:
    deadline = time.perf_counter() + WRITE_SECONDS
    counts = [0] * WRITE_CONCURRENCY

    async def writer(index: int) -> None:
        while time.perf_counter() < deadline:
            name = f"w{index}-{counts[index]}"
            await _timed(session, "POST", base + CMS, json={"metadata": {"name": name}, "data": {"k": "v"}})
            counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(WRITE_CONCURRENCY)))
    elapsed = time.perf_counter() - started
    figures[f"sustained creates ({WRITE_CONCURRENCY} clients)"] = f"{sum(counts) / elapsed:7.0f} writes/s"


async def _fanout(session: aiohttp.ClientSession, base: str, figures: Figures) -> None:
    url = f"{base}/api/v1/namespaces/default/secrets"
    rv = (await (await session.get(url)).json())["metadata"]["resourceVersion"]
    written: dict[str, float] = {}
    delays: list[float] = []
    connected: list[None] = []
    all_connected = asyncio.Event()

    async def watcher() -> None:
        async with session.get(f"{url}?watch=true&resourceVersion={rv}") as stream:
            connected.append(None)
            if len(connected) == WATCHERS:
                all_connected.set()
            seen = 0
            async for line in stream.content:
                name = json.loads(line)["object"]["metadata"]["name"]
                delays.append(time.perf_counter() - written[name])
                seen += 1
                if seen == FANOUT_EVENTS:
                    return

    watchers = [asyncio.create_task(watcher()) for _ in range(WATCHERS)]
    await asyncio.wait_for(all_connected.wait(), 30)
    for i in range(FANOUT_EVENTS):
        name = f"s{i}"
        written[name] = time.perf_counter()
        await _timed(session, "POST", url, json={"metadata": {"name": name}})
    await asyncio.wait_for(asyncio.gather(*watchers), 60)
    figures[f"watch fan-out to {WATCHERS} watchers"] = _percentiles(delays)


async def _run(server: dict[str, str]) -> Figures:
    tls: ssl.SSLContext | bool = False
    if server["url"].startswith("https:"):
        tls = ssl.create_default_context(cadata=base64.b64decode(server["ca"]).decode())
    connector = aiohttp.TCPConnector(limit=WRITE_CONCURRENCY + WATCHERS + 4, ssl=tls)
    headers = {"Authorization": f"Bearer {server['token']}"}
    figures: Figures = {}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        base = server["url"]
        await _latencies(session, base, figures)
        await _write_throughput(session, base, figures)
        await _fanout(session, base, figures)
    return figures


def _measure(mode: str) -> Figures:
    server = subprocess.Popen([sys.executable, __file__, "--serve", mode], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        started = json.loads(server.stdout.readline())
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
        print(f"dev API server at {started['url']} (pid {server.pid}, pinned to CPU 0)")
        return asyncio.run(_run(started))
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        _serve(sys.argv[2])
        return
    strict = _measure("tls")
    plain = _measure("plain")
    print(f"{'':34}{'HTTPS + token (as served)':>30}{'plain HTTP (comparison only)':>32}")
    for name, value in strict.items():
        print(f"{name:34}{value:>30}{plain.get(name, '-'):>32}")


if __name__ == "__main__":
    main()
