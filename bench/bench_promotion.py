"""The promotion gate's figure (issue 10): time from a gate opening to the first write of the downstream
rollout (its new revision's Deployment), p50 / p99, with 100 downstream Releases waiting on one upstream.

Two openings are timed, each over all the waiting Releases at once:
- the upstream verifies the version (soak 0s): from our watch seeing the upstream's status Healthy on
  the version to our watch seeing each downstream Deployment of it;
- the soak's end (soak 5s): from the upstream's recorded Healthy-since + 5 s (wall clock, the same
  machine) to our watch seeing each downstream Deployment.
The operator runs cluster-wide against the dev cluster over HTTPS. Prints the figures; not a test.
With --baseline DIR (another checkout), runs alternate between it and this tree, both printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_operator import Operator, percentile, side_by_side, wait_for
from slipway.api.crd import render_crd
from slipway.kube.client import KubeApi, connect, deployments_path, releases_path
from slipway_dev.cluster import DevCluster

UPSTREAM = ("staging", "web")
DOWNSTREAM_NAMESPACE = "prod"


def manifest(namespace: str, name: str, version: str, soak: str | None) -> dict[str, Any]:
    env = [{"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.1"}]
    spec: dict[str, Any] = {
        "version": version,
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "app", "image": f"demo:{version}", "env": env}]}},
        "service": {"port": 80, "targetPort": 8080},
        "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
    }
    if soak is not None:
        spec["promotion"] = {"from": {"namespace": UPSTREAM[0], "name": UPSTREAM[1]}, "soak": soak}
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def phases(api: KubeApi, namespace: str) -> list[tuple[str, str, str]]:
    return [
        (
            item["metadata"]["name"],
            (item.get("status") or {}).get("phase", ""),
            ((item.get("status") or {}).get("stable") or {}).get("version", ""),
        )
        for item in api.list(releases_path(namespace))
    ]


class DeploymentWatch:
    """When our watch first saw a Deployment of each (release, version) in a namespace."""

    def __init__(self, api: KubeApi, namespace: str) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self._api, self._namespace = api, namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for event in self._api.watch(deployments_path(self._namespace), 5):
                labels = event["object"]["metadata"].get("labels") or {}
                key = (labels.get("slipway.dev/release", ""), labels.get("app.kubernetes.io/version", ""))
                self.seen.setdefault(key, time.time())

    def stop(self) -> None:
        self._stop.set()


def round_trip(
    api: KubeApi, watch: DeploymentWatch, names: list[str], version: str, soak: str
) -> list[float]:
    for name in names:
        api.patch(
            releases_path(DOWNSTREAM_NAMESPACE, name),
            {"spec": manifest(DOWNSTREAM_NAMESPACE, name, version, soak)["spec"]},
        )
    wait_for(
        lambda: all(phase == "Paused" for _, phase, _ in phases(api, DOWNSTREAM_NAMESPACE)),
        120,
        f"{len(names)} Releases waiting for {version}",
        interval=0.5,
    )
    api.patch(releases_path(*UPSTREAM), {"spec": manifest(*UPSTREAM, version, None)["spec"]})

    def upstream_healthy() -> datetime | None:
        status = (api.get(releases_path(*UPSTREAM)) or {}).get("status") or {}
        if status.get("phase") != "Healthy" or (status.get("stable") or {}).get("version") != version:
            return None
        since = {e["version"]: e.get("since") for e in status.get("healthyVersions", [])}.get(version)
        return datetime.fromisoformat(since) if since else None

    healthy_since = wait_for(upstream_healthy, 120, f"upstream Healthy on {version}", interval=0.005)
    seen_healthy = time.time()
    opened = seen_healthy if soak == "0s" else healthy_since.timestamp() + float(soak.rstrip("s"))
    wait_for(
        lambda: all((name, version) in watch.seen for name in names),
        120,
        f"every downstream Deployment of {version}",
        interval=0.1,
    )
    return [watch.seen[(name, version)] - opened for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--downstream", type=int, default=100, help="Releases waiting on one upstream")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another commit (git worktree add): alternate runs of it and of this tree",
    )
    parser.add_argument("--runs", type=int, default=2, help="runs of each side with --baseline")
    args = parser.parse_args()
    if args.baseline is not None:
        side_by_side(__file__, ["--downstream", str(args.downstream)], args.baseline, args.runs)
        return
    names = [f"web-{index}" for index in range(args.downstream)]
    with tempfile.TemporaryDirectory() as scratch, DevCluster(prometheus="off", rps=1) as cluster:
        cluster.kubectl("apply", "-f", "-", input=render_crd())
        for namespace in (UPSTREAM[0], DOWNSTREAM_NAMESPACE):
            cluster.kubectl("create", "namespace", namespace)
        api = connect(str(cluster.kubeconfig))
        operator = Operator(
            [sys.executable, "-m", "slipway", "run", "--config", str(cluster.operator_config)],
            cluster.kubeconfig,
            Path(scratch) / "slipway.log",
        )
        watch = DeploymentWatch(api, DOWNSTREAM_NAMESPACE)
        try:
            api.create(releases_path(UPSTREAM[0]), manifest(*UPSTREAM, "1", None))
            for name in names:
                api.create(
                    releases_path(DOWNSTREAM_NAMESPACE), manifest(DOWNSTREAM_NAMESPACE, name, "1", "0s")
                )
            wait_for(
                lambda: all(p == "Healthy" and v == "1" for _, p, v in phases(api, DOWNSTREAM_NAMESPACE)),
                600,
                f"{len(names)} downstream Releases Healthy on 1",
                interval=1.0,
            )
            for version, soak, what in (("2", "0s", "the upstream verifying"), ("3", "5s", "the soak's end")):
                seconds = round_trip(api, watch, names, version, soak)
                p50, p99 = statistics.median(seconds) * 1000, percentile(seconds, 0.99) * 1000
                print(
                    f"gate opened by {what} -> first downstream write: p50 {p50:.0f} ms, p99 {p99:.0f} ms"
                    f" ({len(seconds)} Releases waiting)"
                )
        finally:
            watch.stop()
            operator.stop()
            api.close()
        print(f"({datetime.now(UTC):%Y-%m-%d}, dev cluster over HTTPS, cluster-wide operator)")


if __name__ == "__main__":
    main()
