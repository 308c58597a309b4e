"""Figures of one operator holding many Releases (issue 12). Prints them; not a timed test.

For each count N: N Releases are created before the operator starts (no analysis: this cluster runs no
Prometheus), the first `--pods` of them with one replica (a running pod in the dev cluster), the rest
with none. The operator makes them all Healthy, then is restarted with everything in place. Printed:
1. start-up after a restart: seconds until every Release has been reconciled (a pass over it logged,
   the log read every 0.5 s), and the writes to Releases meanwhile (Releases whose
   resourceVersion moved: none should, nothing changed) and the operator's write requests of any kind;
2. operator RSS with the N Healthy Releases after the restart, beside a bare Kopf operator watching the
   same objects (bench_operator.BARE_KOPF), and the RSS slope per Release between the counts;
3. the dev cluster's own CPU seconds and RSS over the restart (it runs in this process, in a thread;
   the client this script uses is a small share of it), so the two are never confused.

`--baseline DIR --runs K` runs the same, alternately, against another checkout (bench_operator.side_by_side).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_operator import (
    NAMESPACE,
    Process,
    bare_kopf_operator,
    release,
    side_by_side,
    slipway_operator,
    wait_for,
)
from slipway.api.crd import render_crd
from slipway.kube.client import KubeApi, connect, releases_path
from slipway_dev.cluster import DevCluster

# After the last Release is reconciled: the passes in flight end and their writes (if any) are counted.
_SETTLE_SECONDS = 3.0
# How often the operator's log is read to count the Releases reconciled: the restart is timed to within it.
_POLL_SECONDS = 0.5
# Kopf has listed and is watching everything well within this (it does nothing else).
_BARE_KOPF_SECONDS = 10.0


def versions(api: KubeApi) -> dict[str, str]:
    return {
        item["metadata"]["name"]: str(item["metadata"]["resourceVersion"])
        for item in api.list(releases_path(NAMESPACE))
    }


def all_healthy(api: KubeApi, count: int) -> bool:
    items = api.list(releases_path(NAMESPACE))
    return len(items) == count and all((i.get("status") or {}).get("phase") == "Healthy" for i in items)


class Reconciled:
    """The Releases an operator has made a pass over since it started, read from its log, where each pass
    writes a line naming its Release and the writes it sent. Not from its /metrics, where a pass sets its
    Release's series: each read renders a series per Release, and at 10,000, read every 0.5 s, that was
    15 % of the operator's CPU over the restart (py-spy)."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._offset = 0
        self._unfinished = b""
        self._names: set[str] = set()

    def __call__(self) -> int:
        with self._log.open("rb") as out:
            out.seek(self._offset)
            chunk = out.read()
        self._offset += len(chunk)
        *lines, self._unfinished = (self._unfinished + chunk).split(b"\n")
        for line in lines:
            if b'"writes"' in line:
                entry = json.loads(line)
                if "release" in entry and "writes" in entry:
                    self._names.add(entry["release"])
        return len(self._names)


def own_usage() -> tuple[float, float]:
    """CPU seconds and RSS (MiB) of this process: the dev cluster and this script's client."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return usage.ru_utime + usage.ru_stime, int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_count(count: int, pods: int, workdir: Path) -> dict[str, float]:
    # The dev cluster refuses more pods than its limit (default 5,000): room for every pod asked for. Only
    # past the default, so a --baseline from before the limit (no such parameter) runs the usual sizes.
    room: dict[str, Any] = {"max_pods": 2 * pods} if 2 * pods > 5_000 else {}
    with DevCluster(prometheus="off", rps=0, **room) as cluster:
        cluster.kubectl("apply", "-f", "-", input=render_crd())
        api = connect(str(cluster.kubeconfig))
        for index in range(count):
            idle = release(
                f"r-{index}", "1", 0.0, [{"setWeight": 50}], replicas=int(index < pods), analysis=False
            )
            api.create(releases_path(NAMESPACE), idle)
        first = slipway_operator(cluster, workdir)
        try:
            wait_for(lambda: all_healthy(api, count), 1200, f"{count} Releases Healthy", interval=2.0)
        finally:
            first.stop()
        before = versions(api)
        cpu_before, _ = own_usage()
        started = time.monotonic()
        operator = slipway_operator(cluster, workdir)
        try:
            reconciled = Reconciled(operator.log)
            wait_for(
                lambda: reconciled() >= count,
                1200,
                f"{count} Releases reconciled",
                interval=_POLL_SECONDS,
            )
            startup = time.monotonic() - started
            cpu_after, cluster_rss = own_usage()
            operator_cpu = Process(operator.process.pid).cpu_seconds()
            requests = operator.requests()
            time.sleep(_SETTLE_SECONDS)
            after = versions(api)
            writes = operator.writes()
            rss = operator.rss_mib()
        finally:
            operator.stop()
        bare = bare_kopf_operator(cluster, workdir)
        try:
            time.sleep(_BARE_KOPF_SECONDS)
            bare_rss = bare.rss_mib()
        finally:
            bare.stop()
        api.close()
    return {
        "startup": startup,
        "release_writes": sum(1 for name, version in after.items() if before.get(name) != version),
        "writes": writes,
        "rss": rss,
        "bare": bare_rss,
        "cluster_cpu": cpu_after - cpu_before,
        "operator_cpu": operator_cpu,
        **{f"requests_{verb}": float(requests[verb]) for verb in ("GET", "LIST")},
        "requests": float(sum(n for verb, n in requests.items() if verb != "passes")),
        "cluster_rss": cluster_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000, 10000], help="Release counts")
    parser.add_argument(
        "--pods", type=int, default=10000, help="Releases (the first ones) given a running pod; the rest none"
    )
    parser.add_argument("--baseline", type=Path, help="another checkout to run alternately with this tree")
    parser.add_argument("--runs", type=int, default=1, help="runs of each tree with --baseline")
    args = parser.parse_args()
    if args.baseline is not None:
        argv = ["--counts", *map(str, args.counts), "--pods", str(args.pods)]
        side_by_side(os.path.abspath(__file__), argv, args.baseline, args.runs)
        return
    figures: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for count in args.counts:
            found = figures[count] = one_count(count, args.pods, Path(scratch))
            print(
                f"N={count} ({min(count, args.pods)} with a running pod):"
                f" restart -> every Release reconciled in {found['startup']:.1f} s;"
                f" Releases written {found['release_writes']:.0f}, operator writes {found['writes']:.0f};"
                f" RSS slipway {found['rss']:.0f} MiB, bare Kopf {found['bare']:.0f} MiB"
                f" ({found['rss'] / found['bare']:.2f}x);"
                f" dev cluster {found['cluster_cpu']:.1f} CPU s, {found['cluster_rss']:.0f} MiB",
                flush=True,
            )
            print(
                f"N={count} restart: operator {found['operator_cpu']:.1f} CPU s;"
                f" {found['requests'] / count:.2f} API requests per Release"
                f" (GET {found['requests_GET'] / count:.2f}, LIST {found['requests_LIST'] / count:.2f})",
                flush=True,
            )
    counts = sorted(figures)
    for low, high in itertools.pairwise(counts):
        slope = (figures[high]["rss"] - figures[low]["rss"]) * 1024 / (high - low)
        bare = (figures[high]["bare"] - figures[low]["bare"]) * 1024 / (high - low)
        print(f"RSS slope {low} -> {high}: slipway {slope:.1f} KiB per Release, bare Kopf {bare:.1f} KiB")


if __name__ == "__main__":
    main()
