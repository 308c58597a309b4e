"""`make bench` scaled down: each benchmark runs as a user runs it, with small sizes, and prints every
figure it is there for. Not a test of the figures (the machine is shared and noisy): of the benchmarks,
so that none rots between the runs that measure. What is not a timing is asserted: a restarted operator
reconciles every Release, with a few LISTs and no request per Release, and writes nothing to Releases
whose state did not change (bench_scale.py)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench_operator import bucket_quantile, buckets

BENCH = Path(__file__).resolve().parents[2] / "bench"
NUMBER = r"[0-9.]+"
OPENING = rf"-> first downstream write: p50 {NUMBER} ms, p99 {NUMBER} ms"


@pytest.mark.parametrize(
    ("script", "args", "figures"),
    [
        (
            "bench_promotion.py",
            ["--downstream", "5"],
            [
                rf"gate opened by the upstream verifying {OPENING}",
                rf"gate opened by the soak's end {OPENING}",
            ],
        ),
        ("bench_decide.py", ["--rounds", "1"], [rf"wall: median {NUMBER} us\s+p99 {NUMBER} us"]),
        (
            "bench_gateway.py",
            ["--services", "20", "--pods", "2", "--rps", "5", "--seconds", "3"],
            [
                rf"gateway over 20 Services \(2 pods\), asked 100 requests/s: answered (9[0-9]|10[0-9])/s;"
                rf" dev cluster CPU {NUMBER} cores, {NUMBER} us per answered request"
            ],
        ),
        (
            "bench_routing.py",
            ["--requests", "40", "--matching", "20"],
            [
                *(
                    rf"{router}: matching requests to the canary [0-9]+/20 \({NUMBER} %\); mirrored share"
                    rf" at 5 %: {NUMBER} % \(error [-+]{NUMBER} points\), at 20 %: .* at 50 %: "
                    for router in ("gatewayAPI", "istio")
                ),
                r"nginx: matching requests to the canary [0-9]+/20 .*refused \(UnsupportedRouting: .*mirror",
            ],
        ),
        (
            "bench_scale.py",
            ["--counts", "20", "60", "--pods", "10"],
            [
                rf"N=60 \(10 with a running pod\): restart -> every Release reconciled in {NUMBER} s;"
                rf" Releases written 0, operator writes 0; RSS slipway {NUMBER} MiB, bare Kopf {NUMBER} MiB",
                rf"N=60 restart: operator {NUMBER} CPU s; {NUMBER} API requests per Release \(GET {NUMBER},",
                rf"RSS slope 20 -> 60: slipway -?{NUMBER} KiB per Release",
            ],
        ),
        (
            "bench_operator.py",
            ["--rounds", "1", "--rollbacks", "1", "--idle", "10"],
            [
                rf"apply -> canary Deployment created: p50 {NUMBER} ms, p99 {NUMBER} ms",
                rf"failing measurement -> all traffic on stable: p50 {NUMBER} ms, max {NUMBER} ms",
                rf"API writes for one 6-step canary release \(.*analysis gate\): [0-9]+ \({NUMBER} per step",
                rf"API writes for one 6-step canary release \(.*no analysis\): [0-9]+ \({NUMBER} per step",
                rf"RSS with 10 idle Releases: slipway {NUMBER} MiB, bare Kopf {NUMBER} MiB",
            ],
        ),
        (
            # Issue 12's scaled-down run: it exits non-zero unless every Release converges, and when the
            # step lateness p99 of 50 canaries on 2 operators is above 2 s.
            "bench_sharding.py",
            ["--releases", "500", "--progressing", "50", "--operators", "2", "--max-lateness-p99", "2"],
            [
                rf"start-up: 500 Releases Healthy {NUMBER} s after 2 operators started",
                rf"step lateness, 50 progressing Releases on 2 operators: p50 {NUMBER} ms, p99 {NUMBER} ms",
                rf"CPU over that rollout: replicas {NUMBER}, {NUMBER} cores; dev cluster {NUMBER} cores",
                rf"takeover after SIGKILL: {NUMBER} s for its [0-9]+ Releases",
                rf"give-back after restart: {NUMBER} s",
                rf"convergence: all 50 progressing Releases Healthy on 3, {NUMBER} s after the SIGKILL",
                r"duplicate promotions: 0; Releases written by two operators at once: 0",
                (
                    rf"RSS with 500 Healthy Releases, each after a restart over them: per replica {NUMBER},"
                    rf" {NUMBER} MiB \(2 shards\); .* per replica after the first start, which created"
                    rf" every object: {NUMBER}, {NUMBER} MiB"
                ),
            ],
        ),
    ],
)
def test_the_benchmark_prints_its_figures(script: str, args: list[str], figures: list[str]) -> None:
    printed = run_bench(script, args)
    for figure in figures:
        assert re.search(figure, printed), (figure, printed)
    if script == "bench_scale.py":
        # The restarted operator's passes decide on what its watch showed (controller/first_look.py):
        # its only requests are LISTs at start, not a GET and a LIST per Release (4.5 before).
        requests = rf"N=60 restart: operator {NUMBER} CPU s; {NUMBER} API requests per Release"
        per_release = re.search(rf"{requests} \(GET ({NUMBER}), LIST ({NUMBER})\)", printed)
        # The LISTs are the 4 kinds listed at start and the Release Events, 100 a page (kube/listing.py):
        # 7 for 60 Releases, a kind with more than 100 objects taking two pages. A GET is a Release
        # that changed after the queue opened (its pods becoming ready late): a few at most.
        assert per_release is not None and float(per_release[1]) <= 0.05, printed
        assert float(per_release[2]) <= 0.12, printed


def test_many_releases_at_once_all_converge_with_one_query_per_measurement() -> None:
    """bench_load scaled down: it exits non-zero unless every Release is promoted and every failing
    one rolled back; here, that each failing one was seen back on stable and that Prometheus answered
    no more queries than the operator took measurements (one metric per Release)."""
    printed = run_bench(
        "bench_load.py",
        [
            *("--releases", "20", "--failing", "0.2", "--settle-seconds", "150"),
            *("--scrape-interval", "1s", "--rule-interval", "3s"),
        ],
    )
    assert "Prometheus scraping every 1s, evaluating rules every 3s)" in printed, printed
    assert re.search(rf"step lateness: p50 {NUMBER} ms, p99 {NUMBER} ms, max {NUMBER} ms", printed), printed
    rolled_back = re.search(r"all traffic on stable: .* \(([0-9]+) of ([0-9]+) failing Releases\)", printed)
    assert rolled_back is not None and rolled_back[1] == rolled_back[2] == "4", printed
    per_measurement = re.search(rf"({NUMBER}) queries per measurement", printed)
    assert per_measurement is not None and 0 < float(per_measurement[1]) <= 1.0, printed
    answered = rf"Prometheus answered them in p50 {NUMBER} / p99 {NUMBER} ms, of which waiting in its"
    assert re.search(
        rf"{answered} query queue p99 {NUMBER} ms; it evaluated {NUMBER} alert rules/s", printed
    ), printed
    requests = rf"operator API requests: {NUMBER}/s reads .*; writes per step ({NUMBER}) "
    written = re.search(requests, printed)
    assert written is not None and float(written[1]) > 0, printed
    waited = rf"p50 {NUMBER} / p99 {NUMBER} ms"
    assert re.search(
        rf"passes due at a time started after it {waited}; passes waited for a slot {waited}, took"
        rf" {waited}; measurements took {waited}; API answers began after {waited} \(reads\),"
        rf" {waited} \(writes\)",
        printed,
    ), printed
    carried = re.search(
        rf"pauses ended per second, over 10 s windows: at most ({NUMBER}), median {NUMBER}"
        rf" \(([0-9]+) windows\); 20 Releases ending a 10 s pause each on time end 2.0 a second",
        printed,
    )
    # 16 passing Releases end 5 pauses each, 10 s apart, and the 4 failing ones their first: ~1.6 a second.
    assert carried is not None and 1.0 <= float(carried[1]) <= 2.5 and int(carried[2]) >= 5, printed
    seconds = rf"p50 {NUMBER} / p99 {NUMBER} s"
    assert re.search(rf"step lateness by pause, p50 / p99: step 1 {NUMBER} / {NUMBER} s;", printed), printed
    assert re.search(
        rf"of which: the next step decided after {seconds} \(its stepStartedAt\), shown to a watch"
        rf" {seconds} after that",
        printed,
    ), printed
    for process in ("operator", "dev cluster", "Prometheus"):
        assert re.search(rf"{process}: CPU {NUMBER} cores, peak RSS {NUMBER} MiB", printed), printed
    own = re.search(rf"operator CPU: ({NUMBER}) ms per step entered, ({NUMBER}) ms per pass", printed)
    assert own is not None and float(own[1]) > 0 and float(own[2]) > 0, printed
    # The gateway delivers what it is asked for at this size (each Release's Service, 1 request/s; the
    # canary Services only through it); pods' first samples are not counted by increase(), hence the margin.
    test_bed = re.search(rf"pods answered ({NUMBER}) requests/s of 20 asked .* scrapes failed", printed)
    assert test_bed is not None and float(test_bed[1]) >= 0.6 * 20, printed


def test_a_quantile_of_what_a_histogram_observed_between_two_readings() -> None:
    before = {0.1: 2.0, 1.0: 2.0, math.inf: 2.0}
    after = {0.1: 2.0, 1.0: 6.0, math.inf: 8.0}  # since: 4 in (0.1, 1], 2 beyond 1
    assert bucket_quantile(before, after, 0.5) == pytest.approx(0.1 + 0.9 * 3 / 4)
    assert bucket_quantile(before, after, 0.99) == 1.0  # in the +Inf bucket: the last finite bound
    assert math.isnan(bucket_quantile(after, after, 0.5))
    assert buckets(
        'x_bucket{le="0.5",verb="GET"} 3.0\nx_bucket{le="0.5",verb="PATCH"} 1.0\nx_count{verb="GET"} 3.0',
        "x",
        ("GET",),
    ) == {0.5: 3.0}
    prometheus = 'y_bucket{handler="/api/v1/query",le="0.1"} 5\ny_bucket{handler="/metrics",le="0.1"} 9'
    assert buckets(prometheus, "y", label='handler="/api/v1/query"') == {0.1: 5.0}


def run_bench(script: str, args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    return done.stdout
