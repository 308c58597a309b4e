"""Requests through a dev cluster's front door, and what its pods counted, for tests and benchmarks."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections import Counter

from slipway_dev.cluster import DevCluster

ONE_POD_WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, app.kubernetes.io/version: "1.2"}}
    spec:
      containers: [{name: app, image: "demo:1", env: [{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
"""
"""Deployment `web` of one pod, Ready at once, version 1.2, and its Service `web`: entry point
`service/default/web`, host `web.default`."""


def ask(cluster: DevCluster, host: str, path: str = "/", **headers: str) -> tuple[int, dict[str, str]]:
    """GET through the front door with this Host (and headers, `_` for `-`): status and answer headers."""
    sent = {"Host": host, **{name.replace("_", "-"): value for name, value in headers.items()}}
    request = urllib.request.Request(cluster.gateway_url + path, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def versions(cluster: DevCluster, host: str, times: int, path: str = "/", **headers: str) -> Counter[str]:
    """The `X-Slipway-Version` of `times` answers (status other than 200: counted as `HTTP <code>`)."""
    found: Counter[str] = Counter()
    for _ in range(times):
        status, answer = ask(cluster, host, path, **headers)
        found[answer.get("X-Slipway-Version", "") if status == 200 else f"HTTP {status}"] += 1
    return found


def served_by_label(cluster: DevCluster, selector: str, label: str) -> Counter[str]:
    """Requests each group of pods has counted (their http_requests_total), by the value of `label`."""
    counts: Counter[str] = Counter()
    pods = json.loads(cluster.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    for pod in pods:
        port = pod["metadata"]["annotations"].get("slipway.dev/sim-port")
        if port is None:
            continue
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        counts[pod["metadata"]["labels"][label]] += int(
            sum(
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith("http_requests_total{")
            )
        )
    return counts


def binomial_bound(trials: int, share: float, sigmas: float = 4.0) -> float:
    """How far a binomial count may stray from `trials * share` (this many standard deviations)."""
    return sigmas * math.sqrt(trials * share * (1 - share)) + 1
