"""What the dev cluster's generated load costs it: CPU per request the gateway delivers.

Starts the dev cluster in this process (no Prometheus), one Deployment of `--pods` pods and `--services`
Services over them, then for `--seconds` lets the gateway send `--rps` requests/s to each Service and
prints the requests the pods answered, the process's CPU over that window (its main thread only waits)
and CPU per answered request. With --baseline DIR (another checkout), runs alternate between it and
this tree. bench_load's rollouts at 1,000 Releases ask 2,000 requests/s of the same loop that serves
the API, so this cost is taken from the API server's share.

Run: .venv/bin/python bench/bench_gateway.py [--services 1000 --rps 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench_operator import Process, side_by_side
from slipway_dev.cluster import DevCluster


def manifests(pods: int, services: int) -> str:
    deployment = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {pods}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: app
        image: demo:1
        env: [{{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}}]
"""
    service = """
---
apiVersion: v1
kind: Service
metadata: {{name: web-{index}}}
spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}
"""
    return deployment + "".join(service.format(index=index) for index in range(services))


def answered(cluster: DevCluster) -> int:
    return sum(sum(stats.by_code.values()) for stats in cluster.gateway_stats().values())


def run(pods: int, services: int, rps: float, seconds: float) -> None:
    with DevCluster(prometheus="off", alertmanager="off", rps=rps, release_crd=False) as cluster:
        cluster.kubectl("apply", "-f", "-", input=manifests(pods, services))
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=300s")
        deadline = time.monotonic() + 300
        # Quiet but for the gateway: every Service's EndpointSlice written, every entry point answering.
        while time.monotonic() < deadline and (
            len(cluster.kubectl_json("get", "endpointslices")["items"]) < services
            or len(cluster.gateway_stats()) < services
        ):
            time.sleep(1)
        time.sleep(3)
        this = Process(os.getpid())  # the dev cluster's process: the main thread only waits
        before, cpu = answered(cluster), this.cpu_seconds()
        started = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        delivered, used = answered(cluster) - before, this.cpu_seconds() - cpu
    print(
        f"gateway over {services} Services ({pods} pods), asked {rps * services:.0f} requests/s:"
        f" answered {delivered / elapsed:.0f}/s; dev cluster CPU {used / elapsed:.2f} cores,"
        f" {used / max(delivered, 1) * 1e6:.0f} us per answered request (everything else idle)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rps", type=float, default=1.0, help="requests per second per Service")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--baseline", type=Path, help="a checkout of another commit: alternate runs")
    parser.add_argument("--runs", type=int, default=1, help="runs of each side with --baseline")
    args = parser.parse_args()
    if args.baseline:
        argv = ["--pods", str(args.pods), "--services", str(args.services), "--rps", str(args.rps)]
        side_by_side(__file__, [*argv, "--seconds", str(args.seconds)], args.baseline, args.runs)
        return
    run(args.pods, args.services, args.rps, args.seconds)


if __name__ == "__main__":
    main()
