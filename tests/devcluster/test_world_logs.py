"""`kubectl logs` on simulated pods: each container's lines (the pod's HTTP server prints an access log
into its first container's), with -c, --tail, --since and -f, and the errors of a real server."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from e2e_support import wait_for

from slipway_dev.cluster import DevCluster
from slipway_dev.pods import SIM_PORT_ANNOTATION

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "demo:1",
                "env": [{"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.1"}],
            },
            {"name": "sidecar", "image": "demo:1"},
        ]
    },
}


def _port(cluster: DevCluster) -> int:
    def found() -> str | None:
        pod = cluster.kubectl_json("get", "pod", "web")
        return (pod["metadata"].get("annotations") or {}).get(SIM_PORT_ANNOTATION)

    return int(wait_for(found, 20, "the pod's server port", interval=0.05))


def _hit(port: int, path: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        answer.read()


def test_logs_show_each_request_of_the_first_container(dev_cluster: DevCluster) -> None:
    # Follows test/cmd/logs.sh (kubectl logs with -c and --tail), minus exec/attach.
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(POD))
    port = _port(dev_cluster)
    for index in range(3):
        _hit(port, f"/item/{index}")
    out = dev_cluster.kubectl("logs", "web", "-c", "app").stdout
    assert f"listening on 127.0.0.1:{port}" in out
    assert all(f'"GET /item/{index} HTTP/1.1" 200' in out for index in range(3))
    tail = dev_cluster.kubectl("logs", "web", "-c", "app", "--tail=1").stdout.splitlines()
    assert len(tail) == 1 and "/item/2" in tail[0]
    assert "/item/0" in dev_cluster.kubectl("logs", "web", "-c", "app", "--since=1h").stdout
    assert dev_cluster.kubectl("logs", "web", "-c", "sidecar").stdout == ""
    wrong = dev_cluster.kubectl("logs", "web", "-c", "nope", check=False)
    assert wrong.returncode != 0 and "container nope is not valid for pod web" in wrong.stderr


def test_logs_follow_streams_new_lines(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(POD))
    port = _port(dev_cluster)
    follower = subprocess.Popen(
        ["kubectl", "logs", "-f", "web", "-c", "app"],
        env={
            "KUBECONFIG": str(dev_cluster.kubeconfig),
            "PATH": "/usr/bin:/bin",
            "HOME": str(dev_cluster.state_dir),
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert "listening on" in follower.stdout.readline()
        _hit(port, "/followed")
        assert "/followed" in follower.stdout.readline()
        dev_cluster.kubectl("delete", "pod", "web", "--wait=false")
        follower.wait(timeout=20)  # the stream ends when the container stops
    finally:
        follower.kill()
