"""Figures of the operator on the dev cluster (issue 4). Prints them; not a timed test.

1. time from a new version applied to its canary Deployment created (p50 / p99);
2. time from a failing measurement to all traffic on stable (the stable Service selecting stable only);
3. Kubernetes API writes per canary step and per full release (from the operator's own /metrics), with
   analysis (a count that varies with how many measurements each gate takes) and without (timed
   pauses instead of gates: the same count every run);
4. operator RSS with 100 and 1,000 idle Releases (Healthy, each with its Deployment scaled to 0 pods),
   next to a bare Kopf operator watching the same objects.

With --baseline DIR (another checkout), runs alternate between it and this tree, both printed;
--writes prints only figure 3.

New versions are applied with a merge patch of spec through the API (what `kubectl apply` sends, without
kubectl's own start-up time, which is not the operator's).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml

from operator_metrics import requests_of
from slipway.api.crd import render_crd
from slipway.kube.client import ApiError, KubeApi, connect, deployments_path, releases_path, services_path
from slipway_dev.cluster import DevCluster

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")
NAMESPACE = "default"


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.005) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


Buckets = dict[float, float]
"""A histogram's cumulative counts by upper bound (le)."""


def buckets(text: str, name: str, verbs: tuple[str, ...] | None = None, label: str = "") -> Buckets:
    """The histogram `name` in a /metrics text, its series summed (only those of `verbs`, if given,
    and those whose labels hold `label`, such as 'handler="/api/v1/query"')."""
    counts: Buckets = {}
    for line in text.splitlines():
        if not line.startswith(f"{name}_bucket{{") or label not in line:
            continue
        if verbs is None or line.split('verb="', 1)[1].split('"', 1)[0] in verbs:
            bound = float(line.split('le="', 1)[1].split('"', 1)[0])
            counts[bound] = counts.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def bucket_quantile(before: Buckets, after: Buckets, share: float) -> float:
    """The `share` quantile of what was observed between two readings, interpolated within its bucket
    as Prometheus's histogram_quantile does (nan when nothing was observed)."""
    bounds = sorted(after)
    counts = [after[bound] - before.get(bound, 0.0) for bound in bounds]
    if not counts or counts[-1] <= 0:
        return math.nan
    rank = share * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bound: that bound, as Prometheus answers
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return bounds[-1]


def side_by_side(script: str, argv: list[str], baseline: Path, runs: int) -> None:
    """Run `script` with `argv` alternately against the operator (and dev cluster) of another checkout
    and of this tree, `runs` times each, printing each run's figures under its label: the machine is
    shared and noisy, so a figure is only compared with one measured in the same stretch of time."""
    here = Path(__file__).resolve().parents[1]
    for run in range(1, runs + 1):
        for label, tree in ((f"baseline {baseline}", baseline.resolve()), ("this tree", here)):
            path = os.pathsep.join(str(tree / part) for part in ("operator", "devcluster", "bench"))
            finished = subprocess.run(
                [sys.executable, script, *argv],
                env={**os.environ, "PYTHONPATH": path},
                capture_output=True,
                text=True,
                check=False,
            )
            figures = finished.stdout.strip() or finished.stderr.strip()[-2000:]
            print(f"-- {label}, run {run}\n{textwrap.indent(figures, '   ')}", flush=True)


def release(
    name: str,
    version: str,
    error_rate: float,
    steps: list[dict[str, Any]],
    replicas: int = 2,
    analysis: bool = True,
) -> dict[str, Any]:
    env = [
        {"name": "SLIPWAY_DEMO_ERROR_RATE", "value": str(error_rate)},
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.2"},
    ]
    spec: dict[str, Any] = {
        "version": version,
        "replicas": replicas,
        "template": {"spec": {"containers": [{"name": "app", "image": f"demo:{version}", "env": env}]}},
        "service": {"port": 80, "targetPort": 8080},
        "strategy": {"canary": {"steps": steps}},
    }
    if analysis:
        spec["analysis"] = {
            "interval": "1s",
            "metrics": [{"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": 30}],
        }
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


class Operator:
    def __init__(self, argv: list[str], kubeconfig: Path, log: Path, append: bool = False) -> None:
        self.log = log
        with log.open("ab" if append else "wb") as out:
            self.process = subprocess.Popen(
                argv,
                env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def metrics_url(self) -> str:
        def announced() -> str | None:
            for line in self.log.read_text().splitlines():
                if '"observability"' in line:
                    return str(yaml.safe_load(line)["observability"]) + "/metrics"
            return None

        return wait_for(announced, 30, "the operator's metrics address", interval=0.1)

    def requests(self) -> Counter[str]:
        """The operator's API requests so far by verb (its own counter), and its passes under "passes"."""
        return requests_of(self.metrics())

    def writes(self) -> int:
        return writes_of(self.requests())

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url(), timeout=10) as answer:
            text: str = answer.read().decode()
            return text

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Process:
    """CPU seconds and peak RSS of one process, read from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")


class Watch:
    """Every event of a collection, with the wall-clock time it arrived, watched on a thread of its own
    (watching again whenever the server ends the watch) until stopped."""

    def __init__(self, api: KubeApi, path: str) -> None:
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(api, path), daemon=True)
        thread.start()

    def _run(self, api: KubeApi, path: str) -> None:
        while not self._stop.is_set():
            try:
                for event in api.watch(path, 300):
                    self.seen.append((time.time(), event["object"]))
            except ApiError:
                continue

    def stop(self) -> None:
        self._stop.set()


def lateness(
    events: list[tuple[float, dict[str, Any]]], version: str, pauses: dict[int, float]
) -> list[float]:
    """`lateness_by_pause`, all pauses together."""
    by_pause = lateness_by_pause(events, version, pauses)
    return [end.late for ends in by_pause.values() for end in ends]


@dataclass(frozen=True)
class PauseEnd:
    late: float
    """Seconds from when the pause's end was due to the first event showing a later step."""
    entered_late: float | None
    """Seconds from that due time to when the step that event shows began (its stepStartedAt: when the
    operator decided it); None when the event shows the Release promoted."""
    seen_at: float
    """When (wall clock) that event arrived."""


def lateness_by_pause(
    events: list[tuple[float, dict[str, Any]]], version: str, pauses: dict[int, float]
) -> dict[int, list[PauseEnd]]:
    """Every pause's end, by pause step (the canary of `version` at step `pauses` key, for its value in
    seconds), from the Release events in order of arrival: from its stepStartedAt plus the pause to the
    first event showing a later step (or the Release promoted)."""
    due: dict[str, dict[int, float]] = {}  # Release -> pause step -> when its end was due
    late: dict[tuple[str, int], PauseEnd] = {}
    for arrived, release in events:
        status = release.get("status") or {}
        canary = status.get("canary") or {}
        name = release["metadata"]["name"]
        step = status.get("currentStep")
        done = status.get("phase") == "Healthy" and (status.get("stable") or {}).get("version") == version
        started = due.setdefault(name, {})
        if canary.get("version") == version and step in pauses and status.get("stepStartedAt"):
            at = datetime.fromisoformat(status["stepStartedAt"]).timestamp()
            started.setdefault(step, at + pauses[step])
        for pause, when in started.items():
            if (name, pause) not in late and (done or (step or 0) > pause):
                entered = status.get("stepStartedAt") if not done else None
                entered_late = datetime.fromisoformat(entered).timestamp() - when if entered else None
                late[(name, pause)] = PauseEnd(arrived - when, entered_late, arrived)
    by_pause: dict[int, list[PauseEnd]] = {}
    for (_, pause), end in late.items():
        by_pause.setdefault(pause, []).append(end)
    return by_pause


READS = ("GET", "LIST", "WATCH")
WRITES = ("POST", "PUT", "PATCH", "DELETE")  # the HTTP methods of writes (an apply is a PATCH)


def writes_of(requests: Counter[str]) -> int:
    """The write requests among `Operator.requests`."""
    return sum(count for verb, count in requests.items() if verb not in (*READS, "passes"))


def slipway_operator(cluster: DevCluster, workdir: Path, append: bool = False) -> Operator:
    return Operator(
        [sys.executable, "-m", "slipway", "run", "--config", str(cluster.operator_config)],
        cluster.kubeconfig,
        workdir / "slipway.log",
        append,
    )


BARE_KOPF = textwrap.dedent(
    """
    import kopf

    @kopf.on.event("slipway.dev", "v1alpha1", "releases")
    async def release_seen(**_):
        pass

    @kopf.on.event("apps", "v1", "deployments", labels={"slipway.dev/release": kopf.PRESENT})
    @kopf.on.event("batch", "v1", "jobs", labels={"slipway.dev/release": kopf.PRESENT})
    async def revision_seen(**_):
        pass

    @kopf.on.event("", "v1", "services")
    @kopf.on.event("monitoring.coreos.com", "v1", "prometheusrules")
    async def owned_seen(**_):
        pass
    """
)


def bare_kopf_operator(cluster: DevCluster, workdir: Path) -> Operator:
    script = workdir / "bare_kopf.py"
    script.write_text(BARE_KOPF)
    kopf = Path(sys.executable).with_name("kopf")
    return Operator(
        [str(kopf), "run", "--standalone", "--all-namespaces", str(script)],
        cluster.kubeconfig,
        workdir / "kopf.log",
    )


def status_of(api: KubeApi, name: str) -> dict[str, Any]:
    body = api.get(releases_path(NAMESPACE, name)) or {}
    found: dict[str, Any] = body.get("status") or {}
    return found


def healthy(api: KubeApi, name: str, version: str) -> bool:
    status = status_of(api, name)
    return status.get("phase") == "Healthy" and (status.get("stable") or {}).get("version") == version


def apply_version(
    api: KubeApi,
    name: str,
    version: str,
    error_rate: float,
    steps: list[dict[str, Any]],
    analysis: bool = True,
) -> None:
    spec = release(name, version, error_rate, steps, analysis=analysis)["spec"]
    api.patch(releases_path(NAMESPACE, name), {"spec": spec})


def has_deployment_of(api: KubeApi, name: str, version: str) -> bool:
    return any(
        d["metadata"]["labels"].get("app.kubernetes.io/version") == version
        for d in api.list(deployments_path(NAMESPACE), {"slipway.dev/release": name})
    )


def canary_created(api: KubeApi, name: str, rounds: int) -> list[float]:
    hold: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    api.create(releases_path(NAMESPACE), release(name, "0", 0.0, hold))
    wait_for(lambda: healthy(api, name, "0"), 60, "the first release")
    seconds = []
    for index in range(1, rounds + 1):
        version = f"{index}"
        started = time.monotonic()
        apply_version(api, name, version, 0.0, hold)
        wait_for(partial(has_deployment_of, api, name, version), 30, f"canary of version {version}")
        seconds.append(time.monotonic() - started)
    return seconds


def rollback_after_failure(api: KubeApi, name: str, rounds: int) -> list[float]:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    api.create(releases_path(NAMESPACE), release(name, "good", 0.0, steps))
    wait_for(lambda: healthy(api, name, "good"), 60, "the first release", interval=0.1)
    stable = status_of(api, name)["stable"]["revision"]
    seconds = []
    for index in range(rounds):
        apply_version(api, name, f"bad{index}", 0.5, steps)
        wait_for(
            lambda: (
                (api.get(services_path(NAMESPACE, name)) or {})["spec"]["selector"].get(
                    "slipway.dev/revision"
                )
                is None
            ),
            60,
            "the canary to get traffic",
        )
        wait_for(
            lambda: (
                (api.get(services_path(NAMESPACE, name)) or {})["spec"]["selector"].get(
                    "slipway.dev/revision"
                )
                == stable
            ),
            60,
            "traffic back on stable",
        )
        all_on_stable = datetime.now().astimezone()
        failed = wait_for(
            lambda: [
                m
                for m in (status_of(api, name).get("analysis") or {}).get("measurements", [])
                if m["result"] == "Failed"
            ],
            30,
            "the failed measurement in status",
            interval=0.05,
        )
        seconds.append((all_on_stable - datetime.fromisoformat(failed[-1]["at"])).total_seconds())
    return seconds


def writes_per_release(
    api: KubeApi, operator: Operator, name: str, analysis: bool = True
) -> tuple[int, int, int]:
    """Writes for one 6-step canary release of version 2 (weights, each followed by an analysis gate,
    or by a 1 s pause without analysis), the steps, and the history entries."""
    between: dict[str, Any] = (
        {"analysis": {"successfulMeasurements": 1}} if analysis else {"pause": {"duration": "1s"}}
    )
    steps: list[dict[str, Any]] = [
        {"setWeight": 25},
        between,
        {"setWeight": 50},
        between,
        {"setWeight": 75},
        between,
    ]
    api.create(releases_path(NAMESPACE), release(name, "1", 0.0, steps, analysis=analysis))
    wait_for(lambda: healthy(api, name, "1"), 60, "the first release", interval=0.1)
    before = operator.writes()
    apply_version(api, name, "2", 0.0, steps, analysis)
    wait_for(lambda: healthy(api, name, "2"), 120, "version 2 promoted", interval=0.1)
    time.sleep(2)  # let the passes that follow promotion finish, so their writes (if any) count too
    return operator.writes() - before, len(steps), len(status_of(api, name).get("history", []))


def idle_rss(count: int, workdir: Path) -> tuple[float, float]:
    with DevCluster(prometheus="off", rps=1) as cluster:
        cluster.kubectl("apply", "-f", "-", input=render_crd())
        api = connect(str(cluster.kubeconfig))
        for index in range(count):
            # No pods: the operator watches Releases and Deployments, never pods, so pods would only
            # slow the dev cluster down without changing what the operator holds. No analysis either:
            # this cluster runs no Prometheus, and the operator rightly refuses metrics it cannot query.
            idle = release(f"idle-{index}", "1", 0.0, [{"setWeight": 50}], replicas=0, analysis=False)
            api.create(releases_path(NAMESPACE), idle)
        operator = slipway_operator(cluster, workdir)
        try:
            wait_for(
                lambda: all(
                    (item.get("status") or {}).get("phase") == "Healthy"
                    for item in api.list(releases_path(NAMESPACE))
                ),
                600,
                f"{count} Releases Healthy",
                interval=1.0,
            )
            time.sleep(3)  # idle: nothing left to do
            slipway_rss = operator.rss_mib()
        finally:
            operator.stop()
        bare = bare_kopf_operator(cluster, workdir)
        try:
            time.sleep(8)  # listed and watching everything
            bare_rss = bare.rss_mib()
        finally:
            bare.stop()
        api.close()
    return slipway_rss, bare_rss


def print_writes(api: KubeApi | None = None, operator: Operator | None = None) -> None:
    """Figure 3, on the given operator, else on a dev cluster and operator of its own."""
    if api is None or operator is None:
        with tempfile.TemporaryDirectory() as scratch, DevCluster(prometheus="on", rps=40) as cluster:
            cluster.kubectl("apply", "-f", "-", input=render_crd())
            api = connect(str(cluster.kubeconfig))
            operator = slipway_operator(cluster, Path(scratch))
            try:
                print_writes(api, operator)
            finally:
                operator.stop()
                api.close()
        return
    for analysis in (True, False):
        writes, steps, _ = writes_per_release(api, operator, f"writes-{analysis}".lower(), analysis)
        gates = "an analysis gate" if analysis else "a 1s pause, no analysis"
        print(
            f"API writes for one {steps}-step canary release (weights 25/50/75, each then {gates}):"
            f" {writes} ({writes / steps:.1f} per step, status and Events included)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="new versions applied for figure 1")
    parser.add_argument("--rollbacks", type=int, default=5, help="rollbacks timed for figure 2")
    parser.add_argument(
        "--idle", type=int, nargs="*", default=[100, 1000], help="Release counts for figure 4"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another commit (git worktree add): alternate runs of it and of this tree",
    )
    parser.add_argument("--runs", type=int, default=2, help="runs of each side with --baseline")
    parser.add_argument("--writes", action="store_true", help="figure 3 only")
    args = parser.parse_args()
    if args.baseline is not None:
        argv = [
            "--rounds",
            str(args.rounds),
            "--rollbacks",
            str(args.rollbacks),
            "--idle",
            *map(str, args.idle),
        ]
        side_by_side(__file__, ["--writes"] if args.writes else argv, args.baseline, args.runs)
        return
    if args.writes:
        print_writes()
        return
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        with DevCluster(prometheus="on", rps=40) as cluster:
            cluster.kubectl("apply", "-f", "-", input=render_crd())
            api = connect(str(cluster.kubeconfig))
            operator = slipway_operator(cluster, workdir)
            try:
                created = canary_created(api, "created", args.rounds)
                print(
                    f"apply -> canary Deployment created: p50 {statistics.median(created) * 1000:.0f} ms,"
                    f" p99 {percentile(created, 0.99) * 1000:.0f} ms ({len(created)} versions)"
                )
                restored = rollback_after_failure(api, "rollback", args.rollbacks)
                median_ms, max_ms = statistics.median(restored) * 1000, max(restored) * 1000
                print(
                    f"failing measurement -> all traffic on stable: p50 {median_ms:.0f} ms,"
                    f" max {max_ms:.0f} ms ({len(restored)} rollbacks)"
                )
                print_writes(api, operator)
            finally:
                operator.stop()
                api.close()
        for count in args.idle:
            slipway_rss, bare_rss = idle_rss(count, workdir)
            print(
                f"RSS with {count} idle Releases: slipway {slipway_rss:.0f} MiB, bare Kopf {bare_rss:.0f} MiB"
            )


if __name__ == "__main__":
    main()
