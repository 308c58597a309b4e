"""charts/slipway installed for real: the Helm engine (helm-python-sdk's install action, against the dev
cluster's HTTPS API with the kubeconfig's token) creates the CRD and every object; the dev cluster's
kubelet runs the operator pod as a local process (slipway_dev.processes) under the chart's
ServiceAccount, with in-cluster credentials; and that pod takes a canary Release through v1 deployed,
v2 promoted and v3 rolled back on its error rate, measured by the dev cluster's Prometheus."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import helm_python as helm
import pytest
import yaml

from slipway_dev.cluster import DevCluster
from slipway_dev.prometheus import PrometheusProcess

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "slipway"
NAMESPACE = "slipway-system"
T = TypeVar("T")

pytestmark = pytest.mark.dev_cluster(prometheus="auto", release_crd=False)


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def release(version: str, error_rate: float = 0.0, steps: list[Any] | None = None) -> str:
    env = [
        {"name": "SLIPWAY_DEMO_ERROR_RATE", "value": str(error_rate)},
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.5"},
        {"name": "SLIPWAY_DEMO_LATENCY_MS", "value": "5"},
    ]
    spec = {
        "version": version,
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "app", "image": f"demo/web:{version}", "env": env}]}},
        "service": {"port": 80, "targetPort": 8080},
        "strategy": {
            "canary": {"steps": steps or [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 2}}]}
        },
        "analysis": {
            "interval": "1s",
            "metrics": [{"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": 15}],
        },
        "rollback": {"progressDeadlineSeconds": 60},
    }
    manifest = {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web"},
        "spec": spec,
    }
    return yaml.safe_dump(manifest)


def phase(cluster: DevCluster, wanted: str, version: str, timeout: float) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = cluster.kubectl_json("get", "release", "web").get("status") or {}
        stable = (status.get("stable") or {}).get("version")
        return status if status.get("phase") == wanted and stable == version else None

    try:
        return wait_for(reached, timeout, f"Release web {wanted} on version {version}")
    except AssertionError as late:
        logs = cluster.kubectl("logs", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=slipway", "--tail=30")
        status = cluster.kubectl("get", "release", "web", "-o", "yaml").stdout
        raise AssertionError(f"{late}\n{status}\noperator log:\n{logs.stdout}") from None


def canary_at(cluster: DevCluster, weight: int) -> dict[str, Any] | None:
    status = cluster.kubectl_json("get", "release", "web").get("status") or {}
    return dict(status) if (status.get("canary") or {}).get("weight") == weight else None


def operator_pod(cluster: DevCluster) -> dict[str, Any] | None:
    pods = cluster.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=slipway")[
        "items"
    ]
    for pod in pods:
        conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
        if conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
            return dict(pod)
    return None


def test_chart_installed_by_helm_runs_a_canary_from_its_pod(dev_cluster: DevCluster) -> None:
    if dev_cluster.prometheus_url is None:
        assert not PrometheusProcess.available()
        pytest.skip("the prometheus binary is not installed (Debian package prometheus)")
    values = {
        "replicaCount": 1,
        "leaderElection": {"enabled": False},
        "config": {"prometheus": {"url": dev_cluster.prometheus_url}},
    }
    with helm.Config(kubeconfig_path=str(dev_cluster.kubeconfig), namespace=NAMESPACE) as config:
        installed = config.install(
            str(CHART), "slipway", values, namespace=NAMESPACE, create_namespace=True, timeout=60
        )
    assert installed["status"] == "deployed"
    assert dev_cluster.kubectl("get", "crd", "releases.slipway.dev").returncode == 0

    pod = wait_for(lambda: operator_pod(dev_cluster), 40, "the operator pod Ready")
    assert pod["spec"]["serviceAccountName"] == "slipway"
    assert pod["spec"]["containers"][0]["image"] == "slipway/slipway:0.1.0"

    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    v1 = phase(dev_cluster, "Healthy", "1", 30)
    # v2 in flight when `helm upgrade` changes the config: the checksum restarts the pod, and the new
    # pod carries the same rollout on to its promotion (no new revision, one history entry).
    in_flight = [
        {"setWeight": 50},
        {"pause": {"duration": "4s"}},
        {"analysis": {"successfulMeasurements": 2}},
    ]
    dev_cluster.kubectl("apply", "-f", "-", input=release("2", steps=in_flight))
    split = wait_for(lambda: canary_at(dev_cluster, 50), 30, "v2 at weight 50")
    # (Read now: the pod and its log go as soon as the Deployment's Recreate deletes it.)
    first_logs = dev_cluster.kubectl("logs", "-n", NAMESPACE, pod["metadata"]["name"]).stdout
    values["config"]["defaults"] = {"analysisIntervalSeconds": 20}
    with helm.Config(kubeconfig_path=str(dev_cluster.kubeconfig), namespace=NAMESPACE) as config:
        assert config.upgrade(str(CHART), "slipway", values, namespace=NAMESPACE, timeout=60)["revision"] == 2
    old_name, old_checksum = pod["metadata"]["name"], pod["metadata"]["annotations"]["checksum/config"]
    pod = wait_for(
        lambda: (found := operator_pod(dev_cluster)) and found["metadata"]["name"] != old_name and found,
        40,
        "the upgraded operator pod Ready",
    )
    assert pod["metadata"]["annotations"]["checksum/config"] != old_checksum
    v2 = phase(dev_cluster, "Healthy", "2", 60)
    assert v2["stable"]["revision"] == split["canary"]["revision"] != v1["stable"]["revision"]
    assert [h["outcome"] for h in v2["history"] if h["revision"] == v2["stable"]["revision"]] == ["Promoted"]

    dev_cluster.kubectl("apply", "-f", "-", input=release("3", 0.3, [{"setWeight": 50}, {"pause": {}}]))
    degraded = phase(dev_cluster, "Degraded", "2", 60)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == (
        "AnalysisFailed",
        "error-rate",
    )

    # All of it done by the pods: their logs (kubectl logs) have the reconciles, and no request was refused.
    logs = dev_cluster.kubectl("logs", "-n", NAMESPACE, pod["metadata"]["name"]).stdout
    lines = [yaml.safe_load(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line.get("release") == "web" and line.get("phase") == "Degraded" for line in lines)
    for printed in (first_logs, logs):
        assert "403 Forbidden" not in printed and "forbidden:" not in printed

    # helm uninstall leaves the CRD (Helm never deletes what crds/ installed) and nothing else of the chart.
    with helm.Config(kubeconfig_path=str(dev_cluster.kubeconfig), namespace=NAMESPACE) as config:
        config.uninstall("slipway", timeout=60)
    left = dev_cluster.kubectl(
        "get",
        "deploy,svc,sa,cm,role,rolebinding,pdb,clusterrole,clusterrolebinding",
        "-A",
        "-l",
        "app.kubernetes.io/instance=slipway",
        "-o",
        "name",
    ).stdout.split()
    assert left == []
    assert dev_cluster.kubectl("get", "crd", "releases.slipway.dev").returncode == 0
