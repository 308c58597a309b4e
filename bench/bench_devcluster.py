"""How the simulated world copes with many pods: 1,000 pods from one Deployment.

Prints the time from `kubectl apply` to 1,000 Ready pods (and a finished rollout), to a completed
rolling update of all of them, and the process's resident memory, with the gateway sending its
default 20 requests per second through a Service over all the pods.
Run: .venv/bin/python bench/bench_devcluster.py
"""

from __future__ import annotations

import resource
import time

from slipway_dev.cluster import DevCluster

PODS = 1000

DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: big}}
spec:
  replicas: {PODS}
  selector: {{matchLabels: {{app: big}}}}
  strategy: {{rollingUpdate: {{maxSurge: 25%, maxUnavailable: 25%}}}}
  template:
    metadata: {{labels: {{app: big}}}}
    spec:
      containers:
      - name: app
        image: demo:1
        env: [{{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "1"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: big}}
spec: {{selector: {{app: big}}, ports: [{{port: 80}}]}}
"""


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    base = rss_mib()
    with DevCluster(prometheus="off", rps=20, release_crd=False) as cluster:
        started = time.monotonic()
        cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
        cluster.kubectl("rollout", "status", "deployment/big", "--timeout=300s")
        ready = time.monotonic() - started
        print(f"{PODS} pods Ready, rollout complete: {ready:.1f} s")
        print(f"peak RSS, API server + world in one process: {rss_mib():.0f} MiB (at start {base:.0f} MiB)")
        started = time.monotonic()
        cluster.kubectl("set", "image", "deployment/big", "app=demo:2")
        cluster.kubectl("rollout", "status", "deployment/big", "--timeout=600s")
        updated = time.monotonic() - started
        print(f"rolling update of {PODS} pods (25% surge / 25% unavailable): {updated:.1f} s")
        print(f"peak RSS after the update: {rss_mib():.0f} MiB")
        stats = cluster.gateway_stats()["service/default/big"]
        print(f"gateway: {stats.sent} requests, {stats.connection_errors} connection errors")


if __name__ == "__main__":
    main()
