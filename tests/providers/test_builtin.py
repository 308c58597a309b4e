"""The builtin metrics against the dev cluster's real Prometheus, scraping its simulated pods, with
the operator config the dev cluster writes: proof that the label and metric names line up."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

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


def measure_until(
    cluster: DevCluster, builtin: str, revision: str, done: Callable[[RawMeasurement], bool]
) -> RawMeasurement:
    """Measure `builtin` for `revision` of release web until `done` (or 40 s have passed)."""
    context = MeasurementContext(
        namespace="default",
        release="web",
        revision=revision,
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
                if done(result) or time.monotonic() > deadline:
                    return result
                await asyncio.sleep(0.5)

    return asyncio.run(poll())


def measure_until_numbers(cluster: DevCluster, builtin: str, revision: str = "bad") -> RawMeasurement:
    def numbers(result: RawMeasurement) -> bool:
        assert result.error is None, result.error
        return any(not math.isnan(v) for v in result.values)

    return measure_until(cluster, builtin, revision, numbers)


def measure_until_error(cluster: DevCluster, builtin: str, revision: str) -> str:
    result = measure_until(cluster, builtin, revision, lambda result: result.error is not None)
    assert result.error is not None and not result.values, result
    return result.error


RESOURCE_REVISIONS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-hot}
spec:
  replicas: 2
  selector: {matchLabels: {slipway.dev/revision: hot}}
  template:
    metadata: {labels: {slipway.dev/release: web, slipway.dev/revision: hot}}
    spec:
      containers:
      - name: app
        image: demo:4
        env:
        - {name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}
        - {name: SLIPWAY_DEMO_CPU, value: "0.95"}
        - {name: SLIPWAY_DEMO_MEMORY_MB, value: "100"}
        resources: {limits: {cpu: "1", memory: 200Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-free}
spec:
  replicas: 1
  selector: {matchLabels: {slipway.dev/revision: free}}
  template:
    metadata: {labels: {slipway.dev/release: web, slipway.dev/revision: free}}
    spec:
      containers:
      - name: app
        image: demo:4
        env: [{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}]
"""


@pytest.mark.dev_cluster(prometheus="on", rps=0)
def test_resource_metrics_are_the_fraction_of_each_containers_limit(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=RESOURCE_REVISIONS)
    # One value per container (two pods), each judged: 0.95 cores of 1; 100 MB of 200 MiB. A pod
    # younger than the rate window has no value rather than a low one (rate() would read low): the
    # first values there are are already right.
    first = measure_until_numbers(dev_cluster, "cpu-usage", revision="hot")
    assert all(value == pytest.approx(0.95, abs=0.05) for value in first.values), first.values
    cpu = measure_until(dev_cluster, "cpu-usage", "hot", lambda r: len(r.values) == 2)
    assert cpu.values == pytest.approx((0.95, 0.95), abs=0.05)
    memory = measure_until(dev_cluster, "memory-usage", "hot", lambda r: len(r.values) == 2)
    assert memory.values == pytest.approx((100e6 / 200 / 2**20,) * 2, rel=1e-6)

    # A container with no limit has no fraction: an error that says so, never a value or "no data"
    # (onNoData: pass would let it through). It waits for the pod's usage series to be scraped.
    unlimited = measure_until_error(dev_cluster, "memory-usage", revision="free")
    assert "container(s) app of pod(s) web-free-" in unlimited
    assert "set resources.limits.memory in spec.template" in unlimited


@pytest.mark.dev_cluster(prometheus="on", rps=50)
def test_builtin_metrics_see_the_pods_error_rate_and_latency(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=FAILING_REVISION)
    error_rate = measure_until_numbers(dev_cluster, "error-rate")
    assert error_rate.values == pytest.approx((0.3,), abs=0.05)
    (p95,) = measure_until_numbers(dev_cluster, "latency-p95").values
    assert 0.02 <= p95 < 0.5
