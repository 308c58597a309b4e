"""Many Releases moving at once (issue 12): N canaries (5 weight steps, each followed by a 10 s pause;
background analysis every 10 s of the builtin error-rate against the dev cluster's real Prometheus),
a fraction of them failing. Prints the figures; not a test.

- step lateness: for every pause of every Release, from when it was due (its step's startedAt in the
  status + 10 s) to our watch seeing the status of the step after it (the write landed, as a client
  sees it); p50 / p99 / max over all pauses of all Releases;
- pauses ended per second, over 10 s windows, beside the N / 10 a second all on time would end: a
  machine that carries fewer makes the lateness whatever the passes do (`pauses_carried`);
- rollback: for the failing Releases, from the failed measurement's time in the status to our watch
  seeing the Release's Service select the stable revision only (all traffic on stable); p50 / p99;
- Prometheus queries per analysis interval: Prometheus's own count of /api/v1/query requests over the
  rollout, per interval, beside the measurements the operator took (one metric per Release);
- the test bed holding up: the requests the pods answered (Prometheus's count, against what the
  gateway was asked for) and the scrapes that failed, over the rollout; a canary short of requests
  has no data to be judged on;
- CPU (cores, averaged over the rollout) and peak RSS of the operator, of the dev cluster (API server,
  simulated pods, gateway: one process) and of Prometheus, each its own process.

The dev cluster runs as `slipway dev` in a process of its own so that its CPU and memory are never
confused with the operator's or with this script's (which only applies versions and watches).
With --baseline DIR (another checkout), runs alternate between it and this tree, both printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_operator
from bench_operator import (
    READS,
    WRITES,
    Operator,
    Process,
    Watch,
    bucket_quantile,
    buckets,
    lateness_by_pause,
    percentile,
    side_by_side,
    wait_for,
    writes_of,
)
from slipway.kube.client import KubeApi, connect, releases_path, services_path

NAMESPACE = "default"
PAUSE_SECONDS = 10
WEIGHTS = (10, 30, 50, 70, 90)
INTERVAL_SECONDS = 10
# Pause steps are the odd indices of the plan: setWeight, pause, setWeight, pause, ...
PAUSES = tuple(range(1, 2 * len(WEIGHTS), 2))
DEV_CLUSTER_SCRAPE_INTERVAL = "1s"
# Every second does not hold at ~600 pods on 2 cores (scrapes time out: no data, every measurement
# Inconclusive); every 5 s does at 1,000 (docs/operator.md).
DEFAULT_SCRAPE_INTERVAL = "5s"
APPLYING_THREADS = 16
SERVICE_ROLE_LABEL = "slipway.dev/service-role"
"""slipway.manifests.LABEL_SERVICE_ROLE, not imported: a baseline's tree may predate it."""
QUERY_HANDLER = 'handler="/api/v1/query"'
"""The label of Prometheus's instant query endpoint in its own metrics."""


def manifest(name: str, version: str, error_rate: float) -> dict[str, Any]:
    """bench_operator's Release with one replica, WEIGHTS each followed by a pause, and the builtin
    error-rate every INTERVAL_SECONDS (its default inconclusiveLimit: a canary with no data pauses)."""
    steps: list[dict[str, Any]] = []
    for weight in WEIGHTS:
        steps += [{"setWeight": weight}, {"pause": {"duration": f"{PAUSE_SECONDS}s"}}]
    body = bench_operator.release(name, version, error_rate, steps, replicas=1, analysis=False)
    body["spec"]["analysis"] = {
        "interval": f"{INTERVAL_SECONDS}s",
        "metrics": [{"name": "error-rate", "builtin": "error-rate"}],
    }
    return body


def child_named(parent: int, name: str) -> int:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text.split("(", 1)[1].rsplit(")", 1)
        if comm == name and int(rest.split()[1]) == parent:
            return int(stat.parent.name)
    raise RuntimeError(f"no child {name} of {parent}")


class DevClusterProcess:
    """`slipway dev` in its own process (and process group), its state in `workdir/.slipway`."""

    def __init__(self, workdir: Path, rps: float, scrape_interval: str, rule_interval: str | None) -> None:
        self.state = workdir / ".slipway"
        self._log = workdir / "dev.log"
        argv = [sys.executable, "-m", "slipway", "dev", "--prometheus", "on", "--alertmanager", "off"]
        argv += ["--rps", str(rps)]
        if scrape_interval != DEV_CLUSTER_SCRAPE_INTERVAL:  # an option older dev clusters lack
            # rate() needs two scrapes inside its window: the builtin metrics' window grows with the interval.
            extra = workdir / "operator-extra.yaml"
            window = max(10, 4 * int(scrape_interval.rstrip("s")))
            extra.write_text(f"builtin:\n  minimumWindowSeconds: {window}\n")
            argv += ["--scrape-interval", scrape_interval, "--operator-config", str(extra)]
        if rule_interval is not None:
            argv += ["--rule-interval", rule_interval]
        with self._log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(lambda: "ready;" in self._log.read_text(), 60, "the dev cluster", interval=0.1)
        self.kubeconfig = self.state / "kubeconfig"
        self.operator_config = self.state / "operator.yaml"
        self.prometheus_url = (self.state / "prometheus-url").read_text().strip()
        self.prometheus = Process(child_named(self.process.pid, "prometheus"))

    def metrics(self) -> str:
        """Prometheus's own /metrics."""
        with urllib.request.urlopen(f"{self.prometheus_url}/metrics", timeout=10) as answer:
            return str(answer.read().decode())

    def queries(self, metrics: str) -> float:
        """Instant queries Prometheus has answered over its HTTP API (its own counter)."""
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("prometheus_http_requests_total") and QUERY_HANDLER in line
        )

    def query(self, promql: str, at: float) -> float:
        """The value at `at` (a Unix time) of a PromQL expression of one sample (nan when it has none)."""
        url = f"{self.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': promql, 'time': at})}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            result = json.load(answer)["data"]["result"]
        return float(result[0]["value"][1]) if result else math.nan

    def test_bed(self, seconds: float, ended: float, rps: float, services: int) -> str:
        """What the pods answered, against what the gateway was asked for, and the scrapes that failed
        over the `seconds` before `ended` (a Unix time)."""
        window = f"[{math.ceil(seconds)}s]"
        answered = self.query(f"sum(increase(http_requests_total{window}))", ended) / seconds
        scrapes = self.query(f"sum(count_over_time(up{window}))", ended)
        failed = self.query(f"sum(count_over_time(up{window}) - sum_over_time(up{window}))", ended)
        return (
            f"test bed: pods answered {answered:.0f} requests/s of {rps * services:.0f} asked of the gateway"
            f" ({rps:g}/s for each of {services} Services);"
            f" {failed:.0f} of {scrapes:.0f} scrapes failed"
        )

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Seen:
    """What our watches saw, each with the wall-clock time it arrived."""

    releases: list[tuple[float, dict[str, Any]]]
    services: list[tuple[float, dict[str, Any]]]


class Watches:
    def __init__(self, api: KubeApi) -> None:
        self._releases = Watch(api, releases_path(NAMESPACE))
        self._services = Watch(api, services_path(NAMESPACE))

    @property
    def seen(self) -> Seen:
        return Seen(list(self._releases.seen), list(self._services.seen))

    def stop(self) -> None:
        self._releases.stop()
        self._services.stop()


def steps_taken(events: list[tuple[float, dict[str, Any]]], version: str) -> int:
    """Steps the canaries of `version` went through, as our watch saw them (the denominator of writes
    per step, as in bench_operator): all of the plan for a Release promoted, else up to the furthest step
    its status showed (a status may be written for two steps at once: it counts both)."""
    furthest: dict[str, int] = {}
    for _, release in events:
        status = release.get("status") or {}
        name = release["metadata"]["name"]
        promoted = status.get("phase") == "Healthy" and (status.get("stable") or {}).get("version") == version
        if promoted:
            furthest[name] = 2 * len(WEIGHTS)
        elif (status.get("canary") or {}).get("version") == version and status.get("currentStep") is not None:
            furthest[name] = max(furthest.get(name, 0), int(status["currentStep"]) + 1)
    return sum(furthest.values())


def rollbacks(seen: Seen, failing: set[str], stable: dict[str, str]) -> list[float]:
    """Seconds from each failing Release's failed measurement to its Service selecting stable only."""
    failed_at: dict[str, float] = {}
    for _, release in seen.releases:
        name = release["metadata"]["name"]
        measurements = ((release.get("status") or {}).get("analysis") or {}).get("measurements") or []
        failures = [m for m in measurements if m["result"] == "Failed"]
        if name in failing and failures and name not in failed_at:
            failed_at[name] = datetime.fromisoformat(failures[0]["at"]).timestamp()
    split: set[str] = set()
    restored: dict[str, float] = {}
    for arrived, service in seen.services:
        name = service["metadata"]["name"]
        selected = (service.get("spec") or {}).get("selector", {}).get("slipway.dev/revision")
        if name not in failing or name in restored:
            continue
        if selected is None:
            split.add(name)
        elif name in split and selected == stable[name] and name in failed_at:
            restored[name] = arrived - failed_at[name]
    return list(restored.values())


def phases(api: KubeApi) -> Iterator[tuple[str, str, str]]:
    for item in api.list(releases_path(NAMESPACE)):
        status = item.get("status") or {}
        yield (
            item["metadata"]["name"],
            status.get("phase", ""),
            (status.get("stable") or {}).get("version", ""),
        )


def stopped_at(api: KubeApi, most: int = 5) -> str:
    """Where Releases neither promoted nor rolled back stopped: each one's phase and its conditions
    (type=status reason: message), so a run that did not settle says why."""
    said = []
    for item in api.list(releases_path(NAMESPACE)):
        status = item.get("status") or {}
        if (status.get("phase"), (status.get("stable") or {}).get("version")) in (
            ("Degraded", "1"),
            ("Healthy", "2"),
        ):
            continue
        conditions = [
            f"{c.get('type')}={c.get('status')} {c.get('reason')}: {c.get('message')}"
            for c in status.get("conditions") or []
        ]
        said.append(f"{item['metadata']['name']} {status.get('phase')} ({'; '.join(conditions)})")
    return " | ".join(said[:most])


def in_parallel(call: Callable[[str], object], names: list[str]) -> None:
    """One request per name, several in flight: a thousand in a row would spread the start out."""
    with ThreadPoolExecutor(APPLYING_THREADS) as pool:
        list(pool.map(call, names))


def cores(process: Process, before: float, seconds: float) -> float:
    return (process.cpu_seconds() - before) / seconds


def run(
    count: int,
    failing_share: float,
    rps: float,
    scrape_interval: str,
    rule_interval: str | None,
    settle_seconds: float,
) -> bool:
    """Print the figures; False when some Release did not settle in `settle_seconds`."""
    names = [f"load-{index}" for index in range(count)]
    failing = set(names[:: max(1, round(1 / failing_share))]) if failing_share > 0 else set()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        cluster = DevClusterProcess(workdir, rps, scrape_interval, rule_interval)
        api = connect(str(cluster.kubeconfig))
        operator = Operator(
            [sys.executable, "-m", "slipway", "run", "--config", str(cluster.operator_config)],
            cluster.kubeconfig,
            workdir / "slipway.log",
        )
        watches: Watches | None = None
        try:
            in_parallel(lambda name: api.create(releases_path(NAMESPACE), manifest(name, "1", 0.0)), names)
            wait_for(
                lambda: all(p == "Healthy" and v == "1" for _, p, v in phases(api)),
                1200,
                f"{count} Releases Healthy on version 1",
                interval=2.0,
            )
            stable = {
                item["metadata"]["name"]: item["status"]["stable"]["revision"]
                for item in api.list(releases_path(NAMESPACE))
            }
            # With no routing object (replica-ratio routing) each Service with a selector that clients
            # call (not a canary's) is one of the gateway's entry points once it has a ready pod: `rps`
            # requests/s each. A canary's share comes through its Release's Service, by its pods.
            services = sum(
                1
                for item in api.list(services_path(NAMESPACE))
                if item["spec"].get("selector")
                and item["metadata"].get("labels", {}).get(SERVICE_ROLE_LABEL) != "canary"
            )
            watches = Watches(api)
            time.sleep(2)  # both watches have listed what there is
            dev, prometheus, slipway = (
                Process(cluster.process.pid),
                cluster.prometheus,
                Process(operator.process.pid),
            )
            cpu = [process.cpu_seconds() for process in (slipway, dev, prometheus)]
            prometheus_before, measured_before = cluster.metrics(), measurements(operator)
            requests_before, metrics_before = operator.requests(), operator.metrics()
            started = time.monotonic()
            in_parallel(
                lambda name: api.patch(
                    releases_path(NAMESPACE, name),
                    # A failing canary answers every request with an error: at a low weight it gets a
                    # few requests per window, which at 50 % could all succeed and promote it.
                    {"spec": manifest(name, "2", 1.0 if name in failing else 0.0)["spec"]},
                ),
                names,
            )
            applied = time.monotonic() - started

            def settled() -> bool:
                # Promoted or rolled back, whichever: a failing canary whose measurements all passed
                # (little traffic at a low weight) is promoted, and waiting for more would only dilute
                # the rates below.
                return all((p, v) in (("Degraded", "1"), ("Healthy", "2")) for _, p, v in phases(api))

            unsettled = ""
            try:
                wait_for(settled, settle_seconds, "every Release promoted or rolled back", interval=2.0)
            except SystemExit:
                # The figures of what did settle are still worth printing, beside what did not.
                tally = Counter((p, v) for _, p, v in phases(api))
                unsettled = (
                    f"NOT all settled in {settle_seconds:.0f} s; (phase, stable version): {dict(tally)};"
                    f" why, for the first few: {stopped_at(api)}"
                )
            seconds, ended = time.monotonic() - started, time.time()
            escaped = sorted(n for n, p, v in phases(api) if n in failing and (p, v) == ("Healthy", "2"))
            if escaped and not unsettled:
                unsettled = f"settled in {seconds:.0f} s, but failing canaries were promoted: {escaped}"
            prometheus_after = cluster.metrics()
            queries = cluster.queries(prometheus_after) - cluster.queries(prometheus_before)
            answered = prometheus_answered(prometheus_before, prometheus_after, seconds)
            taken = measurements(operator) - measured_before
            requests = operator.requests() - requests_before
            test_bed = cluster.test_bed(seconds, ended, rps, services)
            waits = what_passes_waited_for(metrics_before, operator.metrics())
            usage = [
                (cores(process, before, seconds), process.peak_rss_mib())
                for process, before in zip((slipway, dev, prometheus), cpu, strict=True)
            ]
        finally:
            if watches is not None:
                watches.stop()
            operator.stop()
            api.close()
            cluster.stop()
    assert watches is not None
    by_pause = lateness_by_pause(watches.seen.releases, "2", dict.fromkeys(PAUSES, PAUSE_SECONDS))
    late = [end.late for pause in sorted(by_pause) for end in by_pause[pause]]
    # The operator decided the next step `entered_late` past due; the rest is its writes landing and
    # the dev cluster's watch delivering them to this script.
    ends = [(end.late, end.entered_late) for found in by_pause.values() for end in found]
    entered = [entered_late for _, entered_late in ends if entered_late is not None]
    shown = [late - entered_late for late, entered_late in ends if entered_late is not None]
    back = rollbacks(watches.seen, failing, stable)
    intervals = seconds / INTERVAL_SECONDS
    print(
        f"{count} Releases progressing at once ({len(WEIGHTS)} steps, {PAUSE_SECONDS} s pauses, error-rate"
        f" every {INTERVAL_SECONDS} s; versions applied over {applied:.1f} s; gateway {rps:g} requests/s"
        f" per Service clients call, Prometheus scraping every {scrape_interval}"
        + (f", evaluating rules every {rule_interval}" if rule_interval is not None else "")
        + "): "
        + (unsettled or f"all settled in {seconds:.0f} s")
    )
    if not late:
        late = [math.nan]  # no pause ended: printed as nan, never as a good figure
    print(
        f"step lateness: p50 {statistics.median(late) * 1000:.0f} ms, p99 {percentile(late, 0.99) * 1000:.0f}"
        f" ms, max {max(late) * 1000:.0f} ms ({len(late)} pauses)"
    )
    # The first pauses end while the versions are still being applied; the later ones, in the waves
    # the synchronised pauses make: where lateness comes from.
    print(
        "step lateness by pause, p50 / p99: "
        + "; ".join(
            f"step {pause} {statistics.median(seconds):.1f} / {percentile(seconds, 0.99):.1f} s"
            for pause, seconds in sorted(
                (pause, [end.late for end in found]) for pause, found in by_pause.items()
            )
        )
    )
    if entered:
        print(
            f"of which: the next step decided after p50 {statistics.median(entered):.1f} / p99"
            f" {percentile(entered, 0.99):.1f} s (its stepStartedAt), shown to a watch"
            f" p50 {statistics.median(shown):.1f} / p99 {percentile(shown, 0.99):.1f} s after that"
            f" ({len(entered)} pauses ended by a later step, not by the promotion)"
        )
    print(pauses_carried([end.seen_at for found in by_pause.values() for end in found], count))
    if back:
        print(
            f"failing measurement -> all traffic on stable: p50 {statistics.median(back) * 1000:.0f} ms,"
            f" p99 {percentile(back, 0.99) * 1000:.0f} ms ({len(back)} of {len(failing)} failing Releases)"
        )
    print(
        f"Prometheus queries per analysis interval: {queries / intervals:.0f} ({queries:.0f} in"
        f" {intervals:.1f} intervals; {taken:.0f} measurements taken, 1 metric per Release:"
        f" {queries / max(taken, 1):.2f} queries per measurement); {answered}"
    )
    steps = steps_taken(list(watches.seen.releases), "2")
    reads = {verb: requests[verb] for verb in ("GET", "LIST")}
    per_second = {verb: count / seconds for verb, count in reads.items()}
    print(
        f"operator API requests: {sum(per_second.values()):.1f}/s reads (GET {per_second['GET']:.1f},"
        f" LIST {per_second['LIST']:.1f}), {writes_of(requests) / seconds:.1f}/s writes;"
        f" {requests['passes'] / seconds:.1f} passes/s; writes per step"
        f" {writes_of(requests) / max(steps, 1):.2f} ({writes_of(requests)} writes, {steps} steps entered,"
        " rollbacks and promotions included)"
    )
    print(waits)
    print(test_bed)
    for label, (cpu_cores, rss) in zip(("operator", "dev cluster", "Prometheus"), usage, strict=True):
        print(f"{label}: CPU {cpu_cores:.2f} cores, peak RSS {rss:.0f} MiB")
    # What the operator itself asks of a core, whatever the test bed beside it takes: on a machine of its
    # own, 1 / this many steps a second per core at most.
    operator_cpu = usage[0][0] * seconds
    print(
        f"operator CPU: {operator_cpu / max(steps, 1) * 1000:.1f} ms per step entered,"
        f" {operator_cpu / max(requests['passes'], 1) * 1000:.1f} ms per pass"
    )
    load = os.getloadavg()[0]
    print(
        f"({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores shared, load average {load:.1f} at the end)"
    )
    return not unsettled


def pauses_carried(ended: list[float], count: int) -> str:
    """How many pauses a second the operator and its test bed ended, counted over consecutive windows of
    one pause. All on time, `count` Releases end count / PAUSE_SECONDS a second; a machine that carries
    fewer makes each Release's pauses come round later, until the Releases ask no more than it carries
    (Little's law: mean lateness = count / carried - PAUSE_SECONDS while all are in flight), however
    the passes are ordered."""
    if not ended:
        return "pauses ended per second: none ended"
    start = min(ended)
    windows = Counter(int((at - start) // PAUSE_SECONDS) for at in ended)
    rates = [windows.get(index, 0) / PAUSE_SECONDS for index in range(max(windows) + 1)]
    return (
        f"pauses ended per second, over {PAUSE_SECONDS} s windows: at most {max(rates):.1f}, median"
        f" {statistics.median(rates):.1f} ({len(rates)} windows); {count} Releases ending a {PAUSE_SECONDS} s"
        f" pause each on time end {count / PAUSE_SECONDS:.1f} a second"
    )


def prometheus_answered(before: str, after: str, seconds: float) -> str:
    """From Prometheus's own metrics over the rollout: how long it took to answer the instant queries
    (its HTTP histogram: from a request received to its answer sent), the p99 of how long its engine
    made a query wait for one of its slots (--query.max-concurrency, which the rules' evaluations share;
    a summary of its last 10 minutes; nan if it has none), and how many alert rules it evaluated a
    second."""
    name = "prometheus_http_request_duration_seconds"
    start, end = buckets(before, name, label=QUERY_HANDLER), buckets(after, name, label=QUERY_HANDLER)
    p50, p99 = (bucket_quantile(start, end, share) * 1000 for share in (0.5, 0.99))
    queued = next(
        (
            float(line.rsplit(" ", 1)[1]) * 1000
            for line in after.splitlines()
            if line.startswith("prometheus_engine_query_duration_seconds{")
            and 'slice="queue_time"' in line
            and 'quantile="0.99"' in line
        ),
        math.nan,
    )
    evaluated = sum(
        sign * float(line.rsplit(" ", 1)[1])
        for sign, text in ((-1, before), (1, after))
        for line in text.splitlines()
        if line.startswith("prometheus_rule_evaluations_total")
    )
    return (
        f"Prometheus answered them in p50 {p50:.0f} / p99 {p99:.0f} ms, of which waiting in its query"
        f" queue p99 {queued:.0f} ms; it evaluated {evaluated / seconds:.0f} alert rules/s"
    )


def what_passes_waited_for(before: str, after: str) -> str:
    """From the operator's histograms over the rollout: how late the passes due at a time started, how
    long passes waited for a slot, how long they took, how long a measurement took, and how long each
    API answer took to begin as the operator saw it (reads and writes apart)."""

    def quantiles(name: str, verbs: tuple[str, ...] | None = None) -> str:
        start, end = buckets(before, name, verbs), buckets(after, name, verbs)
        p50, p99 = (bucket_quantile(start, end, share) * 1000 for share in (0.5, 0.99))
        return f"p50 {p50:.0f} / p99 {p99:.0f} ms"

    api = "slipway_api_request_duration_seconds"
    return (
        f"passes due at a time started after it {quantiles('slipway_reconcile_start_delay_seconds')};"
        f" passes waited for a slot {quantiles('slipway_reconcile_queue_seconds')}, took"
        f" {quantiles('slipway_reconcile_duration_seconds')}; measurements took"
        f" {quantiles('slipway_analysis_measurement_duration_seconds')}; API answers began after"
        f" {quantiles(api, READS)} (reads), {quantiles(api, WRITES)} (writes)"
    )


def measurements(operator: Operator) -> float:
    with urllib.request.urlopen(operator.metrics_url(), timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("slipway_analysis_measurements_total")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=1000, help="Releases progressing at once")
    parser.add_argument("--failing", type=float, default=0.1, help="share of them whose canary fails")
    parser.add_argument(
        "--rps", type=float, default=1.0, help="gateway requests per second per Service clients call"
    )
    parser.add_argument(
        "--scrape-interval", default=DEFAULT_SCRAPE_INTERVAL, help="Prometheus's scrape interval"
    )
    parser.add_argument(
        "--rule-interval",
        help="how often Prometheus evaluates the alert rules the operator writes (default: as it scrapes)",
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=900, help="how long the rollouts may take to settle"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another commit (git worktree add): alternate runs of it and of this tree",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each side with --baseline")
    args = parser.parse_args()
    argv = ["--releases", str(args.releases), "--failing", str(args.failing), "--rps", str(args.rps)]
    argv += ["--scrape-interval", args.scrape_interval, "--settle-seconds", str(args.settle_seconds)]
    if args.rule_interval is not None:
        argv += ["--rule-interval", args.rule_interval]
    if args.baseline is not None:
        side_by_side(__file__, argv, args.baseline, args.runs)
        return
    if not run(
        args.releases, args.failing, args.rps, args.scrape_interval, args.rule_interval, args.settle_seconds
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
