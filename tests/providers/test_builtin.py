"""The builtin metrics against the dev cluster's real Prometheus, scraping its simulated pods, with
the operator config the dev cluster writes: proof that the label and metric names line up."""

from __future__ import annotations

import asyncio
import math
import time

import aiohttp
import pytest

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.providers.base import MeasurementContext
from slipway.providers.registry import ProviderRegistry
from slipway.runtime.config import load_config
from slipway_dev.cluster import DevCluster
from slipway_dev.prometheus import PrometheusProcess

pytestmark = pytest.mark.skipif(not PrometheusProcess.available(), reason="prometheus binary not on PATH")

FAILING_REVISION = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-bad}
spec:
  replicas: 2
  selector: {matchLabels: {slipway.dev/revision: bad}}
  template:
    metadata:
      labels: {slipway.dev/release: web, slipway.dev/revision: bad, app.kubernetes.io/version: "3"}
    spec:
      containers:
      - name: app
        image: demo:3
        env:
        - {name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}
        - {name: SLIPWAY_DEMO_ERROR_RATE, value: "0.3"}
        - {name: SLIPWAY_DEMO_LATENCY_MS, value: "20"}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {slipway.dev/release: web}, ports: [{port: 80}]}
"""


def measure_until_numbers(cluster: DevCluster, builtin: str) -> RawMeasurement:
    context = MeasurementContext(
        namespace="default",
        release="web",
        revision="bad",
        version="3",
        stable_revision=None,
        interval_seconds=5,
    )
    metric = Metric.model_validate({"name": builtin, "builtin": builtin})

    async def poll() -> RawMeasurement:
        async with aiohttp.ClientSession() as session:
            registry = ProviderRegistry(session, load_config(cluster.operator_config))
            deadline = time.monotonic() + 40
            while True:
                result = await registry.measure(metric, context)
                assert result.error is None, result.error
                if any(not math.isnan(v) for v in result.values) or time.monotonic() > deadline:
                    return result
                await asyncio.sleep(0.5)

    return asyncio.run(poll())


@pytest.mark.dev_cluster(prometheus="on", rps=50)
def test_builtin_metrics_see_the_pods_error_rate_and_latency(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=FAILING_REVISION)
    error_rate = measure_until_numbers(dev_cluster, "error-rate")
    assert error_rate.values == pytest.approx((0.3,), abs=0.05)
    (p95,) = measure_until_numbers(dev_cluster, "latency-p95").values
    assert 0.02 <= p95 < 0.5
