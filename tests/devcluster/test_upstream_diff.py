"""Adapted from kubernetes/kubernetes test/cmd/diff.sh run_kubectl_diff_tests against a fresh dev API
server (the server-side apply half waits for server-side apply)."""

from __future__ import annotations

from apiserver_support import Kubectl
from upstream_cases import get, names

POD = """
apiVersion: v1
kind: Pod
metadata: {name: test-pod, labels: {name: test-pod-label}}
spec: {containers: [{name: kubernetes-pause, image: registry.k8s.io/pause:3.10}]}
"""
POD_CHANGED = POD.replace("pause:3.10", "pause:3.4")
INVALID_POD = POD.replace("name: kubernetes-pause", "name: Invalid_Name")
PRUNE_A = """
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: nsb, labels: {prune-group: "true"}}
spec: {containers: [{name: c, image: pause}]}
"""
PRUNE_B = PRUNE_A.replace("name: a,", "name: b,")


def test_diff(kubectl: Kubectl) -> None:
    # diff.sh run_kubectl_diff_tests: "it works when the live object doesn't exist" (exit 1, nothing stored)
    result = kubectl.run("diff", "-f", "-", input=POD)
    assert result.returncode == 1 and "test-pod" in result.stdout
    assert (
        get(kubectl, "pod", '{{range.items}}{{ if eq .metadata.name "test-pod" }}found{{end}}{{end}}:') == ":"
    )
    kubectl("apply", "-f", "-", input=POD)
    initial = get(kubectl, "pod test-pod", "{{.metadata.resourceVersion}}")
    # diff.sh: "diffing the resource right after returns nothing (0 exit code)"
    assert kubectl.run("diff", "-f", "-", input=POD).returncode == 0
    # diff.sh: a changed image is a difference (exit code 1) and nothing persists
    result = kubectl.run("diff", "-f", "-", input=POD_CHANGED)
    assert result.returncode == 1 and "registry.k8s.io/pause:3.4" in result.stdout
    assert get(kubectl, "pod test-pod", "{{.metadata.resourceVersion}}") == initial
    # diff.sh: "a return code bigger than 1 if there is an error when diffing"
    assert kubectl.run("diff", "-f", "-", input=INVALID_POD).returncode > 1
    kubectl("delete", "-f", "-", input=POD)

    # diff.sh: "kubectl diff --prune"
    kubectl("create", "ns", "nsb")
    kubectl("apply", "--namespace", "nsb", "-l", "prune-group=true", "-f", "-", input=PRUNE_A)
    assert get(kubectl, "pods a -n nsb", "{{.metadata.name}}") == "a"
    result = kubectl.run("diff", "-l", "prune-group=true", "-f", "-", input=PRUNE_B)
    assert result.returncode == 1 and "name: a" not in result.stdout
    result = kubectl.run("diff", "--prune", "-l", "prune-group=true", "-f", "-", input=PRUNE_B)
    assert result.returncode == 1 and "name: a" in result.stdout
    kubectl("apply", "--prune", "--namespace", "nsb", "-l", "prune-group=true", "-f", "-", input=PRUNE_B)
    assert names(kubectl, "pods -n nsb") == "b:"
    assert kubectl.run("diff", "--prune", "-l", "prune-group=true", "-f", "-", input=PRUNE_B).returncode == 0


def test_diff_server_side(kubectl: Kubectl) -> None:
    # diff.sh run_kubectl_diff_tests: "Testing kubectl diff with server-side apply"
    result = kubectl.run("diff", "--server-side", "-f", "-", input=POD)
    assert result.returncode == 1 and "test-pod" in result.stdout
    kubectl("apply", "--server-side", "-f", "-", input=POD)
    assert kubectl.run("diff", "--server-side", "-f", "-", input=POD).returncode == 0
    result = kubectl.run("diff", "--server-side", "-f", "-", input=POD_CHANGED)
    assert result.returncode == 1 and "registry.k8s.io/pause:3.4" in result.stdout
