"""Every pass ends in a status (issue 13), on the real dev cluster: a name no derived object could take is
refused by the API server; a pass that fails is told in status (Degraded ReconcileError) and one Warning
Event and retried ever later; a name someone else's object holds is refused (NameConflict) before
anything is created. A new spec recovers."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from slipway.api.models import Metric
from slipway.controller.queue import ReconcileQueue, ReleaseKey
from slipway.controller.reconciler import Reconciler
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert
from slipway.core.revision import revision_hash
from slipway.kube.client import KubeApi, load_credentials, releases_path
from slipway.manifests import ReleaseRef
from slipway.providers.base import MeasurementContext
from slipway.runtime.config import parse_config
from slipway.runtime.metrics import OperatorMetrics
from slipway_dev.cluster import DevCluster

NAMESPACE = "shop"
KEY = ReleaseKey(NAMESPACE, "web")


def release(name: str = "web", container: str = "web", version: str = "1", namespace: str = NAMESPACE) -> str:
    return f"""
apiVersion: slipway.dev/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  version: "{version}"
  replicas: 2
  template: {{spec: {{containers: [{{name: {container}, image: "example/web:{version}"}}]}}}}
  service: {{port: 80}}
  strategy: {{canary: {{steps: [{{setWeight: 50}}, {{pause: {{}}}}]}}}}
"""


async def _no_measurements(metric: Metric, context: MeasurementContext) -> RawMeasurement:
    raise AssertionError("these Releases have no analysis")


async def _no_alerts(release: ReleaseRef, labels: Any) -> tuple[FiringAlert, ...]:
    raise AssertionError("these Releases have no rollback.alerts")


@pytest.fixture
def api(dev_cluster: DevCluster) -> Any:
    dev_cluster.kubectl("create", "namespace", NAMESPACE)
    client = KubeApi(load_credentials(str(dev_cluster.kubeconfig)), field_manager="slipway")
    yield client
    client.close()


def reconciler(api: KubeApi) -> Reconciler:
    return Reconciler(api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics())


def status(api: KubeApi) -> dict[str, Any]:
    body = api.get(releases_path(NAMESPACE, "web"))
    assert body is not None
    return dict(body.get("status") or {})


def warnings(dev_cluster: DevCluster) -> list[tuple[str, str]]:
    events = dev_cluster.kubectl_json("get", "events", "-n", NAMESPACE)["items"]
    return [(event["reason"], event["message"]) for event in events if event["type"] == "Warning"]


def deployments(dev_cluster: DevCluster) -> list[str]:
    listed = dev_cluster.kubectl_json("get", "deployments", "-n", NAMESPACE)["items"]
    return [item["metadata"]["name"] for item in listed]


@pytest.mark.parametrize("name", ["a" * 58, "a" * 63, "my.app"])
def test_a_name_some_derived_object_could_not_take_is_refused_by_the_api_server(
    dev_cluster: DevCluster, name: str
) -> None:
    dev_cluster.kubectl("create", "namespace", NAMESPACE)
    applied = dev_cluster.kubectl("apply", "-f", "-", input=release(name), check=False)
    assert applied.returncode == 1
    assert f'The Release "{name}" is invalid: metadata.name: Invalid value: "object": must' in (
        applied.stderr
    )
    assert ("at most 52 characters" if "." not in name else "DNS-1035 label") in applied.stderr


def test_a_pass_that_raises_is_told_once_and_retried_later_each_time_until_a_new_spec(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    # The CRD keeps a pod template as written; the API server refuses its Deployment (container names
    # are DNS labels), so every pass fails at its first write.
    dev_cluster.kubectl("apply", "-f", "-", input=release(container="Web_1"))
    passes: list[float] = []
    inner = reconciler(api)

    async def counted(key: ReleaseKey) -> float | None:
        passes.append(time.monotonic())
        return await inner(key)

    async def run_for(seconds: float) -> None:
        queue = ReconcileQueue(counted, retry_after_error_seconds=0.25)
        queue.notify(KEY)
        await asyncio.sleep(seconds)
        await queue.drain()

    asyncio.run(run_for(2.5))
    # At 0, 0.25, 0.75, 1.75 s, plus each pass's own time: never a tight loop.
    assert 2 <= len(passes) <= 4, passes
    gaps = [later - earlier for earlier, later in itertools.pairwise(passes)]
    assert all(gap >= 0.25 * 2**index for index, gap in enumerate(gaps)), gaps
    told = status(api)
    assert (told["phase"], told["reason"]) == ("Degraded", "ReconcileError")
    assert told["message"].startswith("cannot carry out generation 1: a pass failed: ApiError: ")
    assert "spec.template.spec.containers[0].name" in told["message"]
    stalled = next(c for c in told["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "ReconcileError")
    assert [reason for reason, _ in warnings(dev_cluster)] == ["ReconcileError"]  # once, not per pass
    assert deployments(dev_cluster) == []  # nothing half-created

    dev_cluster.kubectl("apply", "-f", "-", input=release(container="web"))
    asyncio.run(reconciler(api)(KEY))
    assert (status(api)["phase"], status(api)["reason"]) == ("Progressing", "FirstRelease")
    assert len(deployments(dev_cluster)) == 1


# The first release's revision Deployment: the hash of its template and version.
REVISION = revision_hash({"spec": {"containers": [{"name": "web", "image": "example/web:1"}]}}, "1")


@pytest.mark.parametrize(
    ("kind", "name", "create"),
    [
        ("Service", "web", ["service", "clusterip", "web", "--tcp=80"]),
        ("Deployment", f"web-{REVISION}", ["deployment", f"web-{REVISION}", "--image=example/other"]),
    ],
)
def test_a_name_someone_else_holds_is_refused_before_anything_is_created(
    api: KubeApi, dev_cluster: DevCluster, kind: str, name: str, create: list[str]
) -> None:
    dev_cluster.kubectl("create", *create, "-n", NAMESPACE)
    before = deployments(dev_cluster)
    dev_cluster.kubectl("apply", "-f", "-", input=release())
    with pytest.raises(Exception, match=f"{kind} {name} exists and is not owned by Release web"):
        asyncio.run(reconciler(api)(KEY))
    told = status(api)
    assert (told["phase"], told["reason"]) == ("Degraded", "NameConflict")
    # The simulated Deployment controller may have written the Deployment's status too (", ...").
    assert told["message"].startswith(
        f"cannot carry out generation 1: metadata.name: {kind} {name} exists and is not owned by Release"
        " web: it has no owner (written by kubectl-create"
    )
    assert warnings(dev_cluster) == [("NameConflict", told["message"])]
    assert deployments(dev_cluster) == before  # nothing created
    services = dev_cluster.kubectl_json("get", "services", "-n", NAMESPACE)["items"]
    assert [item["metadata"]["name"] for item in services] == (["web"] if kind == "Service" else [])

    # Once the name is free, the next try (the queue's backoff, or any change) goes ahead.
    dev_cluster.kubectl("delete", kind.lower(), name, "-n", NAMESPACE)
    asyncio.run(reconciler(api)(KEY))
    assert status(api)["reason"] == "FirstRelease"
    assert deployments(dev_cluster) == [f"web-{REVISION}"]
