"""A pod's lifecycle as a real kubelet and API server show it, through the real kubectl: Pending and
ContainerCreating before Running, Terminating for its grace period on delete, forced deletion,
endpoints that drop a terminating pod, ReplicaSets that do not count it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import urllib.request
from typing import Any

import pytest
from apiserver_support import Http, Kubectl, wait_for

from slipway_dev.cluster import DevCluster


def pod(name: str, *, grace: int | None = None, labels: str = "{app: web}", **env: str) -> str:
    variables = "".join(
        f"\n        - {{name: SLIPWAY_DEMO_{k.upper()}, value: {v!r}}}" for k, v in env.items()
    )
    grace_line = f"\n  terminationGracePeriodSeconds: {grace}" if grace is not None else ""
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec:{grace_line}
  containers:
  - name: app
    image: demo:1
    env:{variables or " []"}
"""


SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
"""


def kubectl_watch(cluster: DevCluster, *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """`kubectl get ... -w` running in the background; its lines arrive on the queue."""
    process = subprocess.Popen(
        ["kubectl", "get", *args, "-w", "--no-headers"],
        env={
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "KUBECACHEDIR": str(cluster.state_dir / "kube-cache"),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def statuses_until(lines: queue.Queue[str], name: str, final: str, timeout: float = 30) -> list[str]:
    """The STATUS column of `name`'s watch lines, up to and including `final`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != final:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {final} for {name} within {timeout}s; saw {seen}")
        try:
            fields = lines.get(timeout=left).split()
        except queue.Empty:
            continue
        if fields and fields[0] == name and (not seen or seen[-1] != fields[2]):
            seen.append(fields[2])
    return seen


def get_pod(cluster: DevCluster, name: str) -> dict[str, Any] | None:
    found = cluster.kubectl("get", "pod", name, "-o", "json", "--ignore-not-found").stdout
    return json.loads(found) if found.strip() else None


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except OSError:
        return False


def running_pod(cluster: DevCluster, name: str, **env: Any) -> dict[str, Any]:
    cluster.kubectl("apply", "-f", "-", input=pod(name, **env))
    cluster.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
    found = get_pod(cluster, name)
    assert found is not None
    return found


def test_a_pod_is_container_creating_before_it_runs(dev_cluster: DevCluster) -> None:
    watch, lines = kubectl_watch(dev_cluster, "pods")
    try:
        dev_cluster.kubectl("apply", "-f", "-", input=pod("slow", creating_ms="1500", startup_seconds="0"))
        creating = wait_for(
            lambda: (p := get_pod(dev_cluster, "slow")) and "containerStatuses" in p["status"] and p,
            timeout=30,
        )
        # as a kubelet reports it while the image is pulled and the container created
        assert creating["status"]["phase"] == "Pending"
        (container,) = creating["status"]["containerStatuses"]
        assert container["state"] == {"waiting": {"reason": "ContainerCreating"}}
        assert (container["ready"], container["started"]) == (False, False)
        conditions = {c["type"]: c["status"] for c in creating["status"]["conditions"]}
        assert conditions == {
            "PodScheduled": "True",
            "Initialized": "True",
            "ContainersReady": "False",
            "Ready": "False",
        }
        assert "sim-port" not in str(creating["metadata"].get("annotations"))  # nothing listens yet
        seen = statuses_until(lines, "slow", "Running")
        assert seen[-2:] == ["ContainerCreating", "Running"], seen
    finally:
        watch.kill()
        watch.wait()
    running = get_pod(dev_cluster, "slow")
    assert running is not None
    assert running["status"]["phase"] == "Running"
    assert "startedAt" in running["status"]["containerStatuses"][0]["state"]["running"]
    dev_cluster.kubectl("wait", "--for=condition=Ready", "pod/slow", "--timeout=30s")


def test_a_deleted_pod_is_terminating_until_its_process_exits_or_its_grace_period_ends(
    dev_cluster: DevCluster,
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=SERVICE)
    found = running_pod(dev_cluster, "web-1", shutdown_seconds="60")
    port = int(found["metadata"]["annotations"]["slipway.dev/sim-port"])
    assert answers(port)
    wait_for(
        lambda: "web-1" in str(dev_cluster.kubectl_json("get", "endpoints", "web").get("subsets")), timeout=30
    )
    started = time.monotonic()
    dev_cluster.kubectl("delete", "pod", "web-1", "--grace-period=3", "--wait=false")
    terminating = get_pod(dev_cluster, "web-1")
    assert terminating is not None
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 3
    assert "deletionTimestamp" in terminating["metadata"]
    assert dev_cluster.kubectl("get", "pod", "web-1", "--no-headers").stdout.split()[2] == "Terminating"
    # SIGTERM: the server takes no new connection at once
    wait_for(lambda: not answers(port), timeout=5)
    # the Endpoints drop it and its slice says terminating, straight away
    slices = wait_for(
        lambda: [
            endpoint
            for item in dev_cluster.kubectl_json("get", "endpointslices")["items"]
            for endpoint in item["endpoints"]
            if endpoint["targetRef"]["name"] == "web-1" and endpoint["conditions"]["terminating"]
        ],
        timeout=5,
    )
    assert slices[0]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    endpoints = dev_cluster.kubectl_json("get", "endpoints", "web")
    assert "web-1" not in str(endpoints.get("subsets"))
    # the process would take 60 s: the grace period (3 s) ends it, and the pod goes
    dev_cluster.kubectl("wait", "--for=delete", "pod/web-1", "--timeout=30s")
    assert time.monotonic() - started >= 2.0
    assert dev_cluster.kubectl("get", "pods", "--no-headers").stdout == ""


def test_a_pod_whose_process_exits_quickly_is_gone_well_before_its_grace_period(
    dev_cluster: DevCluster,
) -> None:
    running_pod(dev_cluster, "quick", shutdown_seconds="1")
    started = time.monotonic()
    # kubectl waits for the pod to be gone; the default grace period is 30 s
    watch, lines = kubectl_watch(dev_cluster, "pods")
    try:
        dev_cluster.kubectl("delete", "pod", "quick", timeout=20)
        assert time.monotonic() - started < 15
        assert "Terminating" in statuses_until(lines, "quick", "Terminating", timeout=5)
    finally:
        watch.kill()
        watch.wait()
    assert get_pod(dev_cluster, "quick") is None


def test_the_grace_period_comes_from_the_pod_spec_and_a_later_delete_may_shorten_it(
    dev_cluster: DevCluster,
) -> None:
    running_pod(dev_cluster, "held", grace=120, shutdown_seconds="300")
    dev_cluster.kubectl("delete", "pod", "held", "--wait=false")
    terminating = get_pod(dev_cluster, "held")
    assert terminating is not None and terminating["metadata"]["deletionGracePeriodSeconds"] == 120
    dev_cluster.kubectl("delete", "pod", "held", "--grace-period=600", "--wait=false")
    unchanged = get_pod(dev_cluster, "held")
    assert unchanged is not None and unchanged["metadata"]["deletionGracePeriodSeconds"] == 120
    dev_cluster.kubectl("delete", "pod", "held", "--grace-period=1", "--timeout=20s")
    assert get_pod(dev_cluster, "held") is None


def test_a_forced_delete_with_grace_period_0_removes_the_pod_at_once(dev_cluster: DevCluster) -> None:
    found = running_pod(dev_cluster, "stuck", shutdown_seconds="300")
    port = int(found["metadata"]["annotations"]["slipway.dev/sim-port"])
    result = dev_cluster.kubectl("delete", "pod", "stuck", "--grace-period=0", "--force")
    assert "Immediate deletion does not wait" in result.stderr
    assert get_pod(dev_cluster, "stuck") is None
    wait_for(lambda: not answers(port), timeout=5)


def test_replica_set_scale_down_terminates_pods_gracefully_and_does_not_count_them(
    dev_cluster: DevCluster,
) -> None:
    deployment = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 4
      containers:
      - name: app
        image: demo:1
        env:
        - {name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}
        - {name: SLIPWAY_DEMO_SHUTDOWN_SECONDS, value: "60"}
"""
    dev_cluster.kubectl("apply", "-f", "-", input=deployment)
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    dev_cluster.kubectl("scale", "deployment/web", "--replicas=1")

    def counted() -> dict[str, Any] | None:
        (replica_set,) = dev_cluster.kubectl_json("get", "replicasets", "-l", "app=web")["items"]
        status = replica_set["status"]
        return status if status.get("terminatingReplicas") == 1 else None

    status = wait_for(counted, timeout=10)
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (1, 1, 1)
    listed = dev_cluster.kubectl("get", "pods", "-l", "app=web", "--no-headers").stdout.splitlines()
    assert sorted(line.split()[2] for line in listed) == ["Running", "Terminating"]
    deployment_status = wait_for(
        lambda: (
            (d := dev_cluster.kubectl_json("get", "deployment", "web")["status"]).get("terminatingReplicas")
            == 1
            and d
        ),
        timeout=10,
    )
    assert deployment_status["replicas"] == 1
    # the grace period (4 s) ends the slow process, and nothing is left terminating
    wait_for(
        lambda: len(dev_cluster.kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split()) == 1,
        timeout=30,
    )
    wait_for(lambda: counted() is None, timeout=10)


def test_deleting_a_namespace_waits_for_its_terminating_pods(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("create", "namespace", "shop")
    dev_cluster.kubectl("apply", "-n", "shop", "-f", "-", input=pod("slow", grace=3, shutdown_seconds="60"))
    dev_cluster.kubectl("-n", "shop", "wait", "--for=condition=Ready", "pod/slow", "--timeout=30s")
    started = time.monotonic()
    dev_cluster.kubectl("delete", "namespace", "shop", "--wait=false")
    wait_for(
        lambda: "Terminating" in dev_cluster.kubectl("get", "pods", "-n", "shop", "--no-headers").stdout,
        timeout=10,
    )
    assert dev_cluster.kubectl_json("get", "namespace", "shop")["status"]["phase"] == "Terminating"
    dev_cluster.kubectl("wait", "--for=delete", "namespace/shop", "--timeout=30s")
    assert time.monotonic() - started >= 2.0


def test_a_pod_deleted_while_its_containers_are_created_goes_at_once(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=pod("early", creating_ms="10000", shutdown_seconds="60"))
    wait_for(lambda: (p := get_pod(dev_cluster, "early")) and "containerStatuses" in p["status"], timeout=30)
    started = time.monotonic()
    dev_cluster.kubectl("delete", "pod", "early", "--timeout=20s")  # grace period 30 s: nothing runs yet
    assert time.monotonic() - started < 10


# -- the API server alone: no kubelet binds or runs anything


@pytest.mark.parametrize("bound", [False, True])
def test_the_server_deletes_unscheduled_pods_at_once_and_scheduled_ones_gracefully(
    kubectl: Kubectl, http: Http, bound: bool
) -> None:
    kubectl("apply", "-f", "-", input=pod("p"))
    path = "/api/v1/namespaces/default/pods/p"
    if bound:
        scheduled = {"conditions": [{"type": "PodScheduled", "status": "True"}]}
        assert (
            http("PATCH", path + "/status", {"status": scheduled}, "application/merge-patch+json").status
            == 200
        )
    answer = http("DELETE", path, {"gracePeriodSeconds": 45})
    assert answer.status == 200
    if not bound:
        assert http("GET", path).status == 404
        return
    assert answer.body["metadata"]["deletionGracePeriodSeconds"] == 45
    assert http("GET", path).body["metadata"]["deletionGracePeriodSeconds"] == 45
    # a longer period changes nothing, a shorter one shortens it, 0 removes it
    assert (
        http("DELETE", path + "?gracePeriodSeconds=90").body["metadata"]["deletionGracePeriodSeconds"] == 45
    )
    assert http("DELETE", path, {"gracePeriodSeconds": 5}).body["metadata"]["deletionGracePeriodSeconds"] == 5
    # a status write by the kubelet keeps it (a pod in its grace period is not removed by an update)
    assert (
        http(
            "PATCH", path + "/status", {"status": {"phase": "Running"}}, "application/merge-patch+json"
        ).status
        == 200
    )
    assert http("GET", path).status == 200
    assert http("DELETE", path, {"gracePeriodSeconds": 0}).status == 200
    assert http("GET", path).status == 404
