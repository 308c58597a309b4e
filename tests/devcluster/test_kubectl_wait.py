"""`kubectl wait`, `delete` that waits for finalizers, namespace deletion and `rollout status`."""

from __future__ import annotations

import json

from apiserver_support import RELEASE_CRD, REPO, Kubectl, wait_for


def _release(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(RELEASE_CRD))
    kubectl("apply", "-f", str(REPO / "examples" / "canary.yaml"))


def _configmap(name: str, namespace: str = "default", finalizers: tuple[str, ...] = ()) -> str:
    meta: dict[str, object] = {"name": name, "namespace": namespace}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})


def test_wait_for_a_condition_set_later(kubectl: Kubectl) -> None:
    _release(kubectl)
    waiting = kubectl.popen("wait", "--for=condition=Ready", "release/web", "--timeout=30s")
    since = "2026-01-01T00:00:00Z"
    condition = {"type": "Ready", "status": "True", "reason": "Promoted", "lastTransitionTime": since}
    ready = {"status": {"conditions": [condition]}}
    kubectl("patch", "release", "web", "--subresource=status", "--type=merge", "-p", json.dumps(ready))
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert "release.slipway.dev/web condition met" in out


def test_wait_for_a_condition_that_never_comes_times_out(kubectl: Kubectl) -> None:
    _release(kubectl)
    result = kubectl.run("wait", "--for=condition=Ready", "release/web", "--timeout=1s")
    assert result.returncode != 0
    assert "timed out" in result.stderr


def test_delete_waits_for_finalizers_and_wait_for_delete_sees_the_end(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=_configmap("held", finalizers=("example.com/hold",)))
    deleting = kubectl.popen("delete", "configmap", "held", "--timeout=30s")
    waiting = kubectl.popen("wait", "--for=delete", "configmap/held", "--timeout=30s")
    held = wait_for(lambda: kubectl.json("get", "configmap", "held")["metadata"].get("deletionTimestamp"))
    assert held
    refused = kubectl.run(
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        '[{"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/more"}]',
    )
    assert refused.returncode != 0
    assert "no new finalizers can be added" in refused.stderr
    assert deleting.poll() is None
    kubectl("patch", "configmap", "held", "--type=merge", "-p", '{"metadata": {"finalizers": null}}')
    out, err = deleting.communicate(timeout=30)
    assert deleting.returncode == 0, err
    assert 'configmap "held" deleted' in out
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert "NotFound" in kubectl.run("get", "configmap", "held").stderr


def test_deleting_a_namespace_removes_what_it_holds(kubectl: Kubectl) -> None:
    kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    kubectl("apply", "-f", "-", input=_configmap("a", "shop"))
    kubectl("apply", "-f", "-", input=_configmap("b", "shop", ("example.com/hold",)))
    kubectl("delete", "namespace", "shop", "--wait=false")
    wait_for(lambda: kubectl("get", "configmaps", "-n", "shop", "-o", "name").split() == ["configmap/b"])
    assert kubectl.json("get", "namespace", "shop")["status"]["phase"] == "Terminating"
    refused = kubectl.run("apply", "-f", "-", input=_configmap("c", "shop"))
    assert "being terminated" in refused.stderr
    kubectl(
        "patch", "configmap", "b", "-n", "shop", "--type=merge", "-p", '{"metadata": {"finalizers": null}}'
    )
    kubectl("wait", "--for=delete", "namespace/shop", "--timeout=10s")


def test_rollout_status_follows_the_deployment_status(kubectl: Kubectl) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "example/web:1"}]},
            },
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(deployment))
    rollout = kubectl.popen("rollout", "status", "deployment/web", "--timeout=30s")
    progressing = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 1,
        "availableReplicas": 1,
    }
    kubectl(
        "patch",
        "deployment",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": progressing}),
    )
    assert rollout.poll() is None
    done = {**progressing, "readyReplicas": 2, "availableReplicas": 2}
    kubectl(
        "patch",
        "deployment",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": done}),
    )
    out, err = rollout.communicate(timeout=30)
    assert rollout.returncode == 0, err
    assert 'deployment "web" successfully rolled out' in out
