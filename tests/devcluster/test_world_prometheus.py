"""The real Prometheus scrapes every simulated pod with the labels analyses select on."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from slipway_dev.cluster import DevCluster
from slipway_dev.prometheus import PrometheusProcess

pytestmark = pytest.mark.skipif(not PrometheusProcess.available(), reason="prometheus binary not on PATH")

RELEASE_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-abc123}
spec:
  replicas: 2
  selector: {matchLabels: {slipway.dev/revision: abc123}}
  template:
    metadata:
      labels: {slipway.dev/release: web, slipway.dev/revision: abc123, app.kubernetes.io/version: "2.4.1"}
    spec:
      containers:
      - {name: app, image: demo:2.4.1, env: [{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {slipway.dev/release: web}, ports: [{port: 80}]}
"""


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        result: list[dict[str, Any]] = json.load(answer)["data"]["result"]
        return result


@pytest.mark.dev_cluster(prometheus="on", rps=20)
def test_prometheus_has_each_pods_series_with_release_labels(dev_cluster: DevCluster) -> None:
    assert dev_cluster.prometheus_url is not None
    assert (dev_cluster.state_dir / "prometheus-url").read_text().strip() == dev_cluster.prometheus_url
    assert dev_cluster.prometheus_url in dev_cluster.operator_config.read_text()
    dev_cluster.kubectl("apply", "-f", "-", input=RELEASE_DEPLOYMENT)
    dev_cluster.kubectl("rollout", "status", "deployment/web-abc123", "--timeout=20s")
    pod_names = set(dev_cluster.kubectl("get", "pods", "-o", "name").stdout.replace("pod/", "").split())

    deadline = time.monotonic() + 40
    series: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        series = query(dev_cluster.prometheus_url, 'http_requests_total{code="200"} > 0')
        if {s["metric"].get("pod") for s in series} == pod_names:
            break
        time.sleep(0.5)
    assert {s["metric"]["pod"] for s in series} == pod_names, series
    for sample in series:
        labels = sample["metric"]
        assert (labels["namespace"], labels["release"], labels["revision"], labels["version"]) == (
            "default",
            "web",
            "abc123",
            "2.4.1",
        )
    buckets = query(
        dev_cluster.prometheus_url, 'http_request_duration_seconds_bucket{release="web",le="+Inf"}'
    )
    assert len(buckets) == 2
