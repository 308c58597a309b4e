"""The soak of issue 13: many Releases through several versions while the operator is SIGKILLed every
few seconds and the API server injects faults (5 % of writes answered 500, 2 % 409, every watch dropped
every 7 s, a watch history so short that resuming meets 410 Gone).

Each Release runs its versions one after the other; every third version is bad (its smoke-test Job
fails) and must be rolled back, the others promoted. The next version is applied once the previous one
has settled. It fails (exit code 1, naming each breach) on: a Release not converged within the deadline,
a status whose weights do not add up to 100, a bad version ever stable, a duplicate history entry, a
Deployment left behind (of a revision its Release's status no longer names, or of no Release), or a
transition whose Event is missing. It prints the figures: converged, time to converge p50/p90/max,
kills, faults.

    python bench/soak.py                                # 60 Releases x 6 versions (make soak)
    python bench/soak.py --releases 20 --versions 4     # what make test runs (tests/bench)
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_operator import Operator, percentile, slipway_operator
from slipway.kube.client import ApiError, KubeApi, connect, deployments_path, events_path, releases_path
from slipway_dev.apiserver.faults import FaultConfig
from slipway_dev.cluster import DevCluster

NAMESPACE = "default"
FAULTS = FaultConfig(
    write_error_rate=0.05, write_conflict_rate=0.02, watch_drop_seconds=7.0, watch_history_size=40, seed=13
)


def release(name: str, version: str, bad: bool) -> dict[str, Any]:
    smoke = {
        "name": "smoke",
        "job": {
            "template": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "check",
                                "image": "demo/smoke",
                                "env": [
                                    {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.2"},
                                    {"name": "SLIPWAY_DEMO_EXIT_CODE", "value": "1" if bad else "0"},
                                ],
                            }
                        ],
                    }
                },
            }
        },
    }
    container = {
        "name": "app",
        "image": f"demo/web:{version}",
        "env": [{"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.2"}],
    }
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "version": version,
            "replicas": 1,
            "template": {"spec": {"containers": [container]}},
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {
                "canary": {"steps": [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}]}
            },
            "analysis": {"interval": "1s", "metrics": [smoke]},
            "rollback": {"progressDeadlineSeconds": 120},
        },
    }


@dataclass
class Story:
    """One Release's versions, which of them are bad, and how far it has come."""

    name: str
    versions: list[str]
    bad: set[str]
    index: int = 0
    applied_at: float = 0.0
    settle_seconds: list[float] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.versions[self.index]

    @property
    def done(self) -> bool:
        return self.index >= len(self.versions)

    def settled(self, body: dict[str, Any]) -> bool:
        status = body.get("status") or {}
        if status.get("observedGeneration") != body["metadata"].get("generation"):
            return False
        if self.version not in self.bad:
            return (
                status.get("phase") == "Healthy"
                and (status.get("stable") or {}).get("version") == self.version
            )
        rolled_back = any(
            entry.get("version") == self.version and entry.get("outcome") == "RolledBack"
            for entry in status.get("history") or []
        )
        return rolled_back and status.get("phase") == "Degraded"


def written(write: Any) -> Any:
    """A write of the soak's own, repeated through the injected 500s and 409s."""
    for _ in range(50):
        try:
            return write()
        except ApiError as error:
            if error.status not in (409, 500):
                raise
            time.sleep(0.05)
    raise SystemExit("a write of the soak failed 50 times")


def breaches_in(body: dict[str, Any], bad: set[str]) -> list[str]:
    """Invariants every status observed must hold (weights once the first version has served: before,
    nothing gets traffic)."""
    name, status = body["metadata"]["name"], body.get("status") or {}
    stable, canary = status.get("stable"), status.get("canary")
    found = []
    served = any(entry.get("outcome") == "Promoted" for entry in status.get("history") or [])
    if stable is not None and served:
        total = stable.get("weight", 0) + (canary.get("weight", 0) if canary else 0)
        if total != 100:
            found.append(f"{name}: weights add up to {total}: {json.dumps([stable, canary])}")
        if stable.get("version") in bad:
            found.append(f"{name}: bad version {stable.get('version')} is stable")
    entries = [(entry.get("revision"), entry.get("startedAt")) for entry in status.get("history") or []]
    if len(entries) != len(set(entries)):
        found.append(f"{name}: duplicate history entry: {entries}")
    return found


class Killer(threading.Thread):
    """SIGKILLs the operator every `every` seconds (give or take a third) and starts it again."""

    def __init__(self, cluster: DevCluster, workdir: Path, every: float) -> None:
        super().__init__(daemon=True)
        self.cluster, self.workdir, self.every = cluster, workdir, every
        self.kills = 0
        self.operator: Operator = slipway_operator(cluster, workdir)
        self._stopping = threading.Event()
        self._random = random.Random(13)

    def run(self) -> None:
        while not self._stopping.wait(self.every * self._random.uniform(0.67, 1.33)):
            self.operator.kill()
            self.kills += 1
            self.operator = slipway_operator(self.cluster, self.workdir, append=True)

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self.operator.stop()


def events_by_release(api: KubeApi) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = {}
    for event in api.list(events_path(NAMESPACE)):
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == "Release":
            reasons.setdefault(involved.get("name", ""), []).extend([event["reason"]] * event.get("count", 1))
    return reasons


def final_breaches(api: KubeApi, stories: list[Story]) -> list[str]:
    found = []
    bodies = {item["metadata"]["name"]: item for item in api.list(releases_path(NAMESPACE))}
    deployments = api.list(deployments_path(NAMESPACE))
    events = events_by_release(api)
    for story in stories:
        status = bodies[story.name].get("status") or {}
        # The revisions the status names: stable, a canary (a rolled-back one is kept, at 0 pods), retiring;
        # and those kept for undo, at 0 pods (status.oldRevisions).
        named = {(status.get(key) or {}).get("revision") for key in ("stable", "canary")} | {
            entry.get("revision") for entry in status.get("retiring") or []
        }
        kept = {entry.get("revision") for entry in status.get("oldRevisions") or []}
        owned = [d for d in deployments if d["metadata"]["labels"].get("slipway.dev/release") == story.name]
        left = [
            d["metadata"]["name"]
            for d in owned
            if d["metadata"]["labels"].get("slipway.dev/revision") not in named | kept
        ]
        if left:
            found.append(f"{story.name}: Deployments {left} of no revision its status names")
        running = [
            d["metadata"]["name"]
            for d in owned
            if d["metadata"]["labels"].get("slipway.dev/revision") in kept - named and d["spec"]["replicas"]
        ]
        if running:
            found.append(f"{story.name}: Deployments {running} kept for undo are not at zero replicas")
        history = status.get("history") or []
        promoted = sum(e.get("outcome") == "Promoted" and e.get("reason") != "first release" for e in history)
        rolled_back = sum(e.get("outcome") == "RolledBack" for e in history)
        told = events.get(story.name, [])
        if told.count("Promoted") < promoted:
            found.append(f"{story.name}: {promoted} promotions, {told.count('Promoted')} Promoted Events")
        if told.count("RolledBack") + told.count("AnalysisFailed") < rolled_back:
            found.append(f"{story.name}: {rolled_back} rollbacks, Events {sorted(set(told))}")
    releases = set(bodies)
    found += [
        f"Deployment {d['metadata']['name']} belongs to no Release"
        for d in deployments
        if d["metadata"]["labels"].get("slipway.dev/release") not in releases
    ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=60)
    parser.add_argument("--versions", type=int, default=6)
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between SIGKILLs")
    parser.add_argument(
        "--deadline", type=float, default=1200.0, help="seconds for every Release to converge"
    )
    args = parser.parse_args()
    stories = [
        Story(
            f"soak-{index}",
            [str(v) for v in range(1, args.versions + 1)],
            {str(v) for v in range(3, args.versions + 1, 3)},
        )
        for index in range(args.releases)
    ]
    breaches: list[str] = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        DevCluster(prometheus="off", rps=0, faults=FAULTS) as cluster,
    ):
        api = connect(str(cluster.kubeconfig))
        killer = Killer(cluster, Path(scratch), args.kill_every)
        killer.start()
        started = time.monotonic()
        try:
            for story in stories:
                written(
                    lambda s=story: api.create(releases_path(NAMESPACE), release(s.name, s.version, False))
                )
                story.applied_at = time.monotonic()
            while time.monotonic() - started < args.deadline and not all(s.done for s in stories):
                bodies = {item["metadata"]["name"]: item for item in api.list(releases_path(NAMESPACE))}
                for story in stories:
                    body = bodies[story.name]
                    breaches += breaches_in(body, story.bad)
                    if story.done or not story.settled(body):
                        continue
                    story.settle_seconds.append(time.monotonic() - story.applied_at)
                    story.index += 1
                    if not story.done:
                        spec = release(story.name, story.version, story.version in story.bad)["spec"]
                        path = releases_path(NAMESPACE, story.name)
                        written(lambda p=path, s=spec: api.patch(p, {"spec": s}))
                        story.applied_at = time.monotonic()
                time.sleep(0.5)
        finally:
            killer.stop()
        converged = sum(len(s.settle_seconds) for s in stories)
        total = args.releases * args.versions
        breaches += [
            f"{s.name}: version {s.version} not converged in {args.deadline:g} s"
            for s in stories
            if not s.done
        ]
        breaches += final_breaches(api, [s for s in stories if s.done])
        times = [seconds for s in stories for seconds in s.settle_seconds] or [0.0]
        faults = cluster.faults_injected()
        print(f"converged: {converged} of {total} versions ({args.releases} Releases x {args.versions})")
        print(
            f"time to converge: p50 {percentile(times, 0.5):.1f} s, p90 {percentile(times, 0.9):.1f} s, "
            f"max {max(times):.1f} s"
        )
        print(f"operator kills: {killer.kills} (SIGKILL every ~{args.kill_every:g} s)")
        print(f"faults injected: {faults.get(500, 0)} writes answered 500, {faults.get(409, 0)} answered 409")
    if breaches:
        unique = list(dict.fromkeys(breaches))
        print(f"{len(unique)} breaches:", *unique[:50], sep="\n  ")
        raise SystemExit(1)
    print("no invariant broken")


if __name__ == "__main__":
    main()
