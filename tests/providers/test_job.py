"""The job provider: the Job it builds, and Jobs run to the end on the dev cluster's simulated pods."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.kube.client import connect
from slipway.providers.base import MeasurementContext
from slipway.providers.job import job_manifest, job_outcome
from slipway.providers.registry import ProviderRegistry
from slipway.runtime.config import OperatorConfig, parse_config
from slipway_dev.cluster import DevCluster


def smoke_metric(run_seconds: float = 0.2, exit_code: int = 0, name: str = "smoke") -> Metric:
    env = [
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": str(run_seconds)},
        {"name": "SLIPWAY_DEMO_EXIT_CODE", "value": str(exit_code)},
        {"name": "SLIPWAY_RELEASE", "value": "set-by-the-author"},
    ]
    template = {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": {"team": "shop"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "check", "image": "curl", "env": env}],
            },
        },
    }
    return Metric.model_validate({"name": name, "job": {"template": template}})


def config(job_timeout: float = 60) -> OperatorConfig:
    return parse_config({"job": {"timeoutSeconds": job_timeout, "pollSeconds": 0.1}})


def context(namespace: str = "smoke", release: str = "web") -> MeasurementContext:
    return MeasurementContext(
        namespace=namespace,
        release=release,
        revision="abc123",
        version="2.4.1",
        stable_revision="def456",
        interval_seconds=30,
    )


def test_the_job_is_labelled_named_and_told_what_it_tests() -> None:
    manifest = job_manifest(smoke_metric(), context())
    labels = {
        "app.kubernetes.io/managed-by": "slipway",
        "slipway.dev/release": "web",
        "slipway.dev/revision": "abc123",
        "slipway.dev/metric": "smoke",
    }
    assert manifest["metadata"] == {"generateName": "web-smoke-", "namespace": "smoke", "labels": labels}
    pod = manifest["spec"]["template"]
    assert pod["metadata"]["labels"] == {"team": "shop", **labels}
    env = {variable["name"]: variable["value"] for variable in pod["spec"]["containers"][0]["env"]}
    assert env["SLIPWAY_REVISION"] == "abc123" and env["SLIPWAY_VERSION"] == "2.4.1"
    assert env["SLIPWAY_NAMESPACE"] == "smoke"
    assert env["SLIPWAY_RELEASE"] == "set-by-the-author"
    assert manifest["spec"]["backoffLimit"] == 0


def test_the_metric_template_is_not_changed() -> None:
    metric = smoke_metric()
    job_manifest(metric, context())
    assert metric.job is not None
    assert metric.job.template["template"]["metadata"]["labels"] == {"team": "shop"}


def test_a_long_release_name_still_makes_a_valid_job_name() -> None:
    manifest = job_manifest(smoke_metric(name="m" * 63), context(release="r" * 63))
    prefix = manifest["metadata"]["generateName"]
    assert len(prefix) + 5 <= 63 and prefix.endswith("-") and not prefix.endswith("--")


@pytest.mark.parametrize(
    ("conditions", "outcome"),
    [
        ([], None),
        ([{"type": "Complete", "status": "True"}], 1.0),
        ([{"type": "Failed", "status": "True"}], 0.0),
        ([{"type": "Complete", "status": "False"}], None),
        ([{"type": "Suspended", "status": "True"}], None),
    ],
)
def test_job_outcome(conditions: list[dict[str, str]], outcome: float | None) -> None:
    assert job_outcome({"status": {"conditions": conditions}}) == outcome


def measure_on(
    cluster: DevCluster,
    metric: Metric,
    measurement_context: MeasurementContext,
    operator_config: OperatorConfig | None = None,
) -> RawMeasurement:
    async def scenario() -> RawMeasurement:
        api = connect(str(cluster.kubeconfig))
        try:
            async with aiohttp.ClientSession() as session:
                registry = ProviderRegistry(session, operator_config or config(), api)
                return await registry.measure(metric, measurement_context)
        finally:
            api.close()

    return asyncio.run(scenario())


def jobs_left(cluster: DevCluster, namespace: str) -> Any:
    return cluster.kubectl("get", "jobs", "-n", namespace, "-o", "name").stdout.split()


def test_jobs_on_the_dev_cluster(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl(
        "apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: smoke}\n"
    )

    passed = measure_on(dev_cluster, smoke_metric(), context())
    assert (passed.error, passed.values) == (None, (1.0,))

    failing = measure_on(dev_cluster, smoke_metric(exit_code=1), context())
    assert (failing.error, failing.values) == (None, (0.0,))

    too_slow = measure_on(dev_cluster, smoke_metric(run_seconds=60), context(), config(job_timeout=0.5))
    assert (
        too_slow.values == ()
        and too_slow.error is not None
        and "did not finish within 0.5s" in too_slow.error
    )

    assert jobs_left(dev_cluster, "smoke") == []


LEFTOVERS = """
apiVersion: v1
kind: Namespace
metadata: {name: smoke}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: left-by-a-stopped-operator
  namespace: smoke
  labels: {app.kubernetes.io/managed-by: slipway, slipway.dev/release: web, slipway.dev/metric: smoke}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: curl, env: [{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}]}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: another-metric
  namespace: smoke
  labels: {app.kubernetes.io/managed-by: slipway, slipway.dev/release: web, slipway.dev/metric: other}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: curl, env: [{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}]}]
"""


def test_finished_jobs_left_behind_are_deleted_before_the_next_run(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=LEFTOVERS)
    dev_cluster.kubectl("wait", "-n", "smoke", "--for=condition=Complete", "job", "--all", "--timeout=20s")
    result = measure_on(dev_cluster, smoke_metric(), context())
    assert result.values == (1.0,)
    assert jobs_left(dev_cluster, "smoke") == ["job.batch/another-metric"]


def test_a_job_that_cannot_be_created_is_an_error(dev_cluster: DevCluster) -> None:
    result = measure_on(dev_cluster, smoke_metric(), context(namespace="no-such-namespace"))
    assert result.values == () and result.error is not None and "could not start the Job" in result.error


def test_job_metrics_without_the_kubernetes_api_are_errors() -> None:
    async def scenario() -> RawMeasurement:
        async with aiohttp.ClientSession() as session:
            return await ProviderRegistry(session, config()).measure(smoke_metric(), context())

    result = asyncio.run(scenario())
    assert result.values == () and result.error is not None and "need the Kubernetes API" in result.error
