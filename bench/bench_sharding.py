"""Sharding figures (issue 12): operators sharing the Releases, one SIGKILLed mid-rollout then restarted.
Prints them; not a timed test, unless asked: `--max-lateness-p99` makes the step lateness a bound.

3 operators (`--operators`; sharding on, one shard Lease of 10 s each) over 3,000 Releases, 300 of them
progressing (a canary of 3 weights with 5 s pauses; their pods run in the dev cluster, the others have
none):
1. start-up: the operators started after the Releases exist, until every one is Healthy;
2. step lateness: a first rollout (version 2) with every operator up, from when each pause was due to our
   watch seeing the step after it, p50 / p99 / max (`--max-lateness-p99 S` exits non-zero above S),
   and the CPU each operator and the dev cluster (in this process) used over it;
   then the second rollout (version 3), during which one operator is SIGKILLed:
3. takeover: from the SIGKILL to the last of its Releases reconciled by another operator (bound: the
   Lease duration plus one pass);
4. give-back: from its restart to the last of its shard's Releases reconciled by it again;
5. convergence: from the SIGKILL to every progressing Release Healthy on its new version;
6. duplicate promotions (history entries; must be 0) and Releases written by two operators at once
   (held by two at the same time by the views they logged, or written by one not holding it: must be 0);
7. RSS of each replica with every Release Healthy, after a restart of every replica, beside one operator
   alone after its own start over the same Releases and one over none (the part no Release adds): what
   the Releases add per replica, against alone; and each replica's RSS after the first start too.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_operator import Operator, Process, Watch, lateness, percentile, wait_for
from shard_logs import Line, acting, first_pass_after, held_twice, joined, passes, read
from slipway import plugins
from slipway.kube.client import KubeApi, connect, releases_path
from slipway.runtime.config import load_config, parse_config
from slipway.runtime.shards import owner
from slipway_dev.cluster import DevCluster

NAMESPACE = "default"
MOVING = "bench.slipway.dev/moving"
"""A label on the progressing Releases: watching them never lists all 3,000 (the dev cluster's API
server shares a process and two cores with this script; big lists every second slowed the operators'
Lease renewals past their deadline)."""
LEASE_SECONDS = 10
STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "5s"}},
    {"setWeight": 50},
    {"pause": {"duration": "5s"}},
    {"setWeight": 75},
    {"pause": {"duration": "5s"}},
]
PAUSES = {
    index: float(step["pause"]["duration"].removesuffix("s"))
    for index, step in enumerate(STEPS)
    if "pause" in step
}
"""The plan's pause steps and their seconds."""


def manifest(name: str, version: str, moving: bool) -> dict[str, Any]:
    env = [{"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.2"}]
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {MOVING: str(moving).lower()}},
        "spec": {
            "version": version,
            # A Release without pods promotes at once: only the progressing ones get a pod.
            "replicas": 1 if moving else 0,
            "template": {"spec": {"containers": [{"name": "app", "image": f"demo:{version}", "env": env}]}},
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {"canary": {"steps": STEPS}},
        },
    }


def operator_config(cluster: DevCluster, path: Path, shards: int) -> Path:
    """The dev cluster's operator configuration, sharded over `shards` Leases (0: not sharded)."""
    base = load_config(cluster.operator_config).model_dump(by_alias=True, mode="json")
    if shards:
        base["sharding"] = {
            "enabled": True,
            "shards": shards,
            "leaseName": "slipway",
            "namespace": "slipway-system",
            "leaseDurationSeconds": LEASE_SECONDS,
        }
    path.write_text(parse_config(base).to_yaml())
    return path


def start(cluster: DevCluster, config: Path, log: Path) -> Operator:
    argv = [sys.executable, "-m", "slipway", "run", "--config", str(config)]
    return Operator(argv, cluster.kubeconfig, log)


def kill(operator: Operator) -> None:
    os.killpg(operator.process.pid, signal.SIGKILL)
    operator.process.wait()


def statuses(api: KubeApi, moving: bool = False) -> dict[str, dict[str, Any]]:
    listed = api.list(releases_path(NAMESPACE), {MOVING: "true"} if moving else None)
    return {item["metadata"]["name"]: item.get("status") or {} for item in listed}


def healthy_on(api: KubeApi, versions: dict[str, str], moving: bool = False) -> bool:
    found = statuses(api, moving)
    return all(
        found.get(name, {}).get("phase") == "Healthy"
        and (found[name].get("stable") or {}).get("version") == version
        for name, version in versions.items()
    )


def duplicate_promotions(api: KubeApi, names: list[str]) -> int:
    found = statuses(api, True)
    duplicates = 0
    for name in names:
        promoted = Counter(e["version"] for e in found[name].get("history", []) if e["outcome"] == "Promoted")
        duplicates += sum(count - 1 for count in promoted.values())
    return duplicates


def sharing(logs: list[list[Line]], names: list[str]) -> tuple[dict[int, str | None], dict[str, str | None]]:
    """The shard each operator's latest process joined with (by the index of its log), and the shard
    each Release belongs to among them."""
    shards = {index: joined(log) for index, log in enumerate(logs)}
    held = [shard for shard in shards.values() if shard]
    return shards, {name: owner(f"{NAMESPACE}/{name}", held) for name in names}


def apply_version(api: KubeApi, names: list[str], version: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda name: api.patch(
                    releases_path(NAMESPACE, name), {"spec": manifest(name, version, True)["spec"]}
                ),
                names,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=3000)
    parser.add_argument("--progressing", type=int, default=300)
    parser.add_argument("--operators", type=int, default=3, help="operator processes, one shard each")
    parser.add_argument(
        "--max-lateness-p99",
        type=float,
        help="exit non-zero when the first rollout's step lateness p99 is above this many seconds",
    )
    parser.add_argument("--logs", type=Path, help="keep the operators' logs here (default: thrown away)")
    args = parser.parse_args()
    plugins.load()
    names = [f"web-{index}" for index in range(args.releases)]
    moving = names[: args.progressing]
    every = dict.fromkeys(names, "1")
    with tempfile.TemporaryDirectory() as scratch, DevCluster(prometheus="off", rps=1) as cluster:
        workdir = args.logs or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        cluster.kubectl("create", "namespace", "slipway-system")
        api = connect(str(cluster.kubeconfig))
        # The part of an operator's RSS that no Release adds (imported code, threads, Kopf): one operator
        # alone over the cluster before any Release exists.
        empty = start(
            cluster, operator_config(cluster, workdir / "alone.yaml", shards=0), workdir / "empty.log"
        )
        try:
            wait_for(
                lambda: "passes start" in (workdir / "empty.log").read_text(),
                120,
                "an operator over none",
                0.5,
            )
            time.sleep(3)
            fixed_rss = empty.rss_mib()
        finally:
            empty.stop()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda name: api.create(releases_path(NAMESPACE), manifest(name, "1", name in moving)),
                    names,
                )
            )
        count = args.operators
        config = operator_config(cluster, workdir / "sharded.yaml", shards=count)
        logs = [workdir / f"operator-{index}.log" for index in range(count)]
        operators = [start(cluster, config, log) for log in logs]

        def lines() -> list[list[Line]]:
            return [read(log) for log in logs]

        try:
            started = time.monotonic()
            wait_for(lambda: all(acting(log, count) for log in lines()), 120, "the operators sharing", 1.0)
            wait_for(lambda: healthy_on(api, every), 900, f"{len(names)} Releases Healthy", 10.0)
            print(
                f"start-up: {len(names)} Releases Healthy"
                f" {time.monotonic() - started:.0f} s after {count} operators started"
            )
            time.sleep(3)  # idle: nothing left to do
            sharded_rss = [operator.rss_mib() for operator in operators]

            watch = Watch(api, releases_path(NAMESPACE))
            replicas = [Process(operator.process.pid) for operator in operators]
            dev_cluster = Process(os.getpid())  # it runs in this process, which otherwise only watches
            cpu_before, dev_before = [r.cpu_seconds() for r in replicas], dev_cluster.cpu_seconds()
            rollout_started = time.monotonic()
            apply_version(api, moving, "2")
            wait_for(
                lambda: healthy_on(api, dict.fromkeys(moving, "2"), True), 600, "the first rollout done", 2.0
            )
            rollout = time.monotonic() - rollout_started
            watch.stop()
            replica_cores = [
                (replica.cpu_seconds() - before) / rollout
                for replica, before in zip(replicas, cpu_before, strict=True)
            ]
            dev_cores = (dev_cluster.cpu_seconds() - dev_before) / rollout
            late = lateness(watch.seen, "2", PAUSES) or [math.nan]  # none: nan, never a good figure
            p99 = percentile(late, 0.99)
            print(
                f"step lateness, {len(moving)} progressing Releases on {count} operators:"
                f" p50 {statistics.median(late) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms,"
                f" max {max(late) * 1000:.0f} ms ({len(late)} pauses)"
            )
            print(
                f"CPU over that rollout: replicas {', '.join(f'{c:.2f}' for c in replica_cores)} cores;"
                f" dev cluster {dev_cores:.2f} cores (it runs in this script's process, which only watches)"
            )
            too_late = args.max_lateness_p99 is not None and not p99 <= args.max_lateness_p99

            shards, owners = sharing(lines(), names)
            victim = max(shards, key=lambda index: sum(owners[name] == shards[index] for name in moving))
            victims = {f"{NAMESPACE}/{name}" for name in names if owners[name] == shards[victim]}
            apply_version(api, moving, "3")

            def under_way() -> bool:
                found = statuses(api, True)
                canaries = {
                    name
                    for name, status in found.items()
                    if (status.get("canary") or {}).get("version") == "3"
                }
                done = {
                    name
                    for name, status in found.items()
                    if (status.get("stable") or {}).get("version") == "3"
                }
                return canaries | done == set(moving) and any(
                    f"{NAMESPACE}/{name}" in victims for name in canaries
                )

            wait_for(under_way, 300, "every rollout under way, some of the victim's among them", 1.0)
            kill(operators[victim])
            killed = time.time()
            wait_for(
                lambda: len(first_pass_after(passes(lines()), killed, victims, victim)) == len(victims),
                120,
                "the killed operator's Releases taken over",
                1.0,
            )
            takeover = max(first_pass_after(passes(lines()), killed, victims, victim).values())
            print(
                f"takeover after SIGKILL: {takeover:.1f} s for its {len(victims)} Releases"
                f" (Lease {LEASE_SECONDS} s + one pass)"
            )

            logs.append(workdir / f"operator-{victim}-restarted.log")
            operators[victim] = start(cluster, config, logs[-1])
            restarted = time.time()
            back = len(logs) - 1
            wait_for(lambda: acting(lines()[back], count), 120, "the restarted operator acting", 1.0)
            wait_for(
                lambda: victims <= {p.release for p in passes(lines()) if p.at > restarted and p.of(back)},
                120,
                "its shard's Releases back",
                1.0,
            )
            given_back = max(p.at for p in passes(lines()) if p.of(back) and p.release in victims) - restarted
            print(f"give-back after restart: {given_back:.1f} s (its shard's {len(victims)} Releases)")
            wait_for(
                lambda: healthy_on(api, dict.fromkeys(moving, "3"), True), 600, "every rollout converged", 2.0
            )
            converged = time.time() - killed
            print(
                f"convergence: all {len(moving)} progressing Releases Healthy on 3,"
                f" {converged:.0f} s after the SIGKILL"
            )
            duplicates = duplicate_promotions(api, moving)
            overlapping = len(held_twice(lines()))
            print(
                f"duplicate promotions: {duplicates};"
                f" Releases written by two operators at once: {overlapping}"
            )
        finally:
            for operator in operators:
                operator.stop()

        # Again after a restart of every replica, over the objects they created: the state the operator
        # alone below is measured in (a first start creates every object, a restart only reads).
        logs = [workdir / f"operator-{index}-again.log" for index in range(count)]
        operators = [start(cluster, config, log) for log in logs]

        def each_over_its_share() -> bool:
            """Every replica acting with every shard in its view, and done with a pass over each Release
            its shard owns (one that joined first may have passed over the others' too meanwhile)."""
            found = lines()
            if not all(acting(log, count) for log in found):
                return False
            shards, owners = sharing(found, names)
            passed = passes(found)
            for index, shard in shards.items():
                done = {each.release for each in passed if each.of(index)}
                if any(owners[name] == shard and f"{NAMESPACE}/{name}" not in done for name in names):
                    return False
            return True

        try:
            wait_for(each_over_its_share, 900, "each replica's first passes over its share", 1.0)
            time.sleep(3)
            restarted_rss = [operator.rss_mib() for operator in operators]
        finally:
            for operator in operators:
                operator.stop()

        alone = start(
            cluster, operator_config(cluster, workdir / "alone.yaml", shards=0), workdir / "alone.log"
        )
        try:
            wait_for(
                lambda: len({p.release for p in passes([read(workdir / "alone.log")])}) >= len(names),
                900,
                "one operator's first pass over every Release",
                1.0,
            )
            time.sleep(3)
            alone_rss = alone.rss_mib()
        finally:
            alone.stop()
        api.close()
    mean_rss = sum(restarted_rss) / count
    print(
        f"RSS with {len(names)} Healthy Releases, each after a restart over them:"
        f" per replica {', '.join(f'{rss:.0f}' for rss in restarted_rss)} MiB ({count} shards);"
        f" one operator alone {alone_rss:.0f} MiB ({mean_rss / alone_rss:.2f} x per replica);"
        f" over no Release {fixed_rss:.0f} MiB, so what the Releases add per replica is"
        f" {(mean_rss - fixed_rss) / (alone_rss - fixed_rss):.2f} x what they add alone"
        f" (1/{count} = {1 / count:.2f}); per replica after the first start, which created every"
        f" object: {', '.join(f'{rss:.0f}' for rss in sharded_rss)} MiB"
    )
    print(f"({datetime.now(UTC):%Y-%m-%d}, dev cluster over HTTPS, {os.cpu_count()} cores)")
    if too_late:
        sys.exit(f"step lateness p99 {p99:.1f} s is above --max-lateness-p99 {args.max_lateness_p99:g} s")


if __name__ == "__main__":
    main()
