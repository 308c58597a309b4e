"""Pods of a process image run as local processes (slipway_dev.processes): their env, volumes and
service-account token as a kubelet gives them, probes for Ready, restarts, stop on delete, logs; and a
pod of the Slipway image runs the real operator with in-cluster credentials."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import wait_for

from slipway import __version__
from slipway_dev.cluster import DevCluster
from slipway_dev.processes import DEFAULT_IMAGE, image_matches, rewrite_paths

ROOT = Path(__file__).resolve().parents[2]

# A container program: reports what it was given, serves the probes, exits 3 on /exit, says "bye" on
# SIGTERM and exits a second later.
PROGRAM = r"""
import http.server, json, os, signal, sys, time
account = os.environ["SLIPWAY_SERVICE_ACCOUNT_DIR"]
print(json.dumps({
    "pod": os.environ.get("POD_NAME"), "ns": os.environ.get("POD_NAMESPACE"), "ip": os.environ.get("POD_IP"),
    "config": open(sys.argv[1].partition("=")[2]).read(), "host": os.environ["KUBERNETES_SERVICE_HOST"],
    "namespace_file": open(account + "/namespace").read(), "token": len(open(account + "/token").read()),
    "kubeconfig": os.environ.get("KUBECONFIG"), "pid": os.getpid(),
}), flush=True)
def bye(*_):
    print("bye", flush=True)
    time.sleep(1)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/exit":
            os._exit(3)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["SLIPWAY_DEV_POD_PORT"])), Handler).serve_forever()
"""


def _pod(image: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "proc", "namespace": "default"},
        "spec": {
            "serviceAccountName": "runner",
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "main", "image": image, **container}],
            "volumes": [{"name": "config", "configMap": {"name": "proc-config"}}],
        },
    }


def _ready(cluster: DevCluster, name: str) -> Any:
    pod = cluster.kubectl_json("get", "pod", name)
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
    return pod if conditions.get("Ready") == "True" else None


def test_image_names_and_paths() -> None:
    chart = yaml.safe_load((ROOT / "charts/slipway/values.yaml").read_text())["image"]
    app_version = yaml.safe_load((ROOT / "charts/slipway/Chart.yaml").read_text())["appVersion"]
    assert f"{chart['repository']}:{chart['tag'] or app_version}" == DEFAULT_IMAGE
    assert __version__ == app_version
    assert image_matches("slipway/slipway:0.1.0", [DEFAULT_IMAGE])
    assert image_matches("registry:5000/slipway/slipway:dev", ["registry:5000/slipway/slipway"])
    assert not image_matches("slipway/slipway:0.2.0", [DEFAULT_IMAGE])
    mounts = {"/etc/slipway": Path("/pod/config"), "/": Path("/pod/root")}
    assert rewrite_paths("--config=/etc/slipway/config.yaml", mounts) == "--config=/pod/config/config.yaml"
    assert rewrite_paths("/etc/slipway", mounts) == "/pod/config"
    assert rewrite_paths("/etc/slipwayx", mounts) == "/pod/root/etc/slipwayx"
    assert rewrite_paths("run", mounts) == "run"


@pytest.mark.dev_cluster(process_images=["demo/process"])
def test_process_pod_runs_probes_restarts_and_stops(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("create", "serviceaccount", "runner")
    dev_cluster.kubectl("create", "configmap", "proc-config", "--from-literal=config.yaml=answer: 42")
    pod = _pod(
        "demo/process:1",
        command=["python", "-c", PROGRAM],
        args=["--config=/etc/proc/config.yaml"],
        env=[
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        volumeMounts=[{"name": "config", "mountPath": "/etc/proc", "readOnly": True}],
        readinessProbe={"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1},
        livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
        ports=[{"containerPort": 8080}],
    )
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    ready = wait_for(lambda: _ready(dev_cluster, "proc"), 20, "the process pod Ready", interval=0.1)
    assert ready["status"]["containerStatuses"][0]["restartCount"] == 0
    given = json.loads(
        wait_for(
            lambda: dev_cluster.kubectl("logs", "proc").stdout, 20, "its first line", interval=0.1
        ).splitlines()[0]
    )
    assert given | {"token": 0, "pid": 0} == {
        "pod": "proc",
        "ns": "default",
        "ip": "127.0.0.1",
        "config": "answer: 42",
        "host": "127.0.0.1",
        "namespace_file": "default",
        "token": 0,
        "kubeconfig": None,
        "pid": 0,
    }
    assert given["token"] > 100

    # It dies: the kubelet restarts it and says so.
    port = int(ready["metadata"]["annotations"]["slipway.dev/sim-port"])
    with pytest.raises(OSError):
        __import__("urllib.request").request.urlopen(f"http://127.0.0.1:{port}/exit", timeout=5)

    def restarted() -> Any:
        pod = _ready(dev_cluster, "proc")
        status = pod and pod["status"]["containerStatuses"][0]
        return status if status and status["restartCount"] == 1 else None

    status = wait_for(restarted, 20, "a restart", interval=0.1)
    assert status["lastState"]["terminated"]["exitCode"] == 3
    pid = json.loads(dev_cluster.kubectl("logs", "proc").stdout.splitlines()[0])["pid"]
    assert pid != given["pid"]

    # Deleted: SIGTERM; the pod stays Terminating while the process shuts down, then both are gone.
    dev_cluster.kubectl("delete", "pod", "proc", "--wait=false")

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie until the kubelet reaps it counts as stopped too.
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    terminating = dev_cluster.kubectl_json("get", "pod", "proc")
    assert terminating["metadata"]["deletionTimestamp"] and not gone()
    wait_for(
        lambda: _said_bye_and_still_there(dev_cluster, pid),
        20,
        "SIGTERM seen while the pod is still there",
        interval=0.1,
    )
    wait_for(gone, 10, "the process stopped", interval=0.1)
    wait_for(
        lambda: "NotFound" in dev_cluster.kubectl("get", "pod", "proc", check=False).stderr,
        20,
        "the pod object gone",
        interval=0.1,
    )


def _said_bye_and_still_there(cluster: DevCluster, pid: int) -> bool:
    """The process got SIGTERM (its stdout says bye) and has not exited, and its pod object is still
    listed: the kubelet waits for the process before it deletes the pod for good."""
    said_bye = "bye" in cluster.kubectl("logs", "proc").stdout
    return (
        said_bye
        and Path(f"/proc/{pid}").exists()
        and cluster.kubectl("get", "pod", "proc", check=False).returncode == 0
    )


def test_slipway_image_runs_the_operator_in_cluster(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("create", "serviceaccount", "runner")
    dev_cluster.kubectl(
        "create",
        "clusterrolebinding",
        "runner",
        "--clusterrole=cluster-admin",
        "--serviceaccount=default:runner",
    )
    config = {"allNamespaces": True, "server": {"host": "0.0.0.0", "port": 8080}}
    dev_cluster.kubectl(
        "create", "configmap", "proc-config", f"--from-literal=config.yaml={json.dumps(config)}"
    )
    pod = _pod(
        DEFAULT_IMAGE,
        args=["run", "--config=/etc/slipway/config.yaml", "--log-format=json"],
        volumeMounts=[{"name": "config", "mountPath": "/etc/slipway", "readOnly": True}],
        readinessProbe={"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        ports=[{"name": "http", "containerPort": 8080}],
    )
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    wait_for(lambda: _ready(dev_cluster, "proc"), 40, "the operator pod Ready", interval=0.1)
    lines = [
        json.loads(line)
        for line in dev_cluster.kubectl("logs", "proc").stdout.splitlines()
        if line.startswith("{")
    ]
    assert lines, "the operator's JSON log lines are the pod's log"
    printed = dev_cluster.kubectl("logs", "proc").stdout
    assert "403 Forbidden" not in printed and "forbidden:" not in printed
