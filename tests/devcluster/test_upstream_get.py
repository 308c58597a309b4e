"""Adapted from kubernetes/kubernetes test/cmd/get.sh (run_kubectl_get_tests, run_retrieve_multiple_tests,
run_kubectl_sort_by_tests) against a fresh dev API server."""

from __future__ import annotations

from apiserver_support import Kubectl
from upstream_cases import both, fails, get, names

VALID_POD = """
apiVersion: v1
kind: Pod
metadata: {name: valid-pod, labels: {name: valid-pod}}
spec:
  containers:
  - name: kubernetes-serve-hostname
    image: registry.k8s.io/serve_hostname
    resources: {limits: {cpu: "1", memory: 512Mi}}
"""
MULTI_POD = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: redis-master, labels: {name: redis-master}}
  spec: {containers: [{name: master, image: redis}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: valid-pod, labels: {name: valid-pod}}
  spec: {containers: [{name: c, image: pause}]}
"""


def test_get_missing_objects_and_empty_lists(kubectl: Kubectl) -> None:
    # get.sh run_kubectl_get_tests: "Test retrieval of non-existing pods" (plain, -o name, -o json)
    assert names(kubectl, "pods") == ""
    assert 'pods "abc" not found' in fails(kubectl, "get", "pods", "abc")
    assert 'pods "abc" not found' in fails(kubectl, "get", "pods", "abc", "-o", "name")
    output = fails(kubectl, "get", "pods", "abc", "-o", "json")
    assert 'pods "abc" not found' in output and "List" not in output

    # get.sh run_kubectl_get_tests: no "No resources found" with non-human-readable formats
    for output_format in (
        "json",
        "yaml",
        "name",
        "jsonpath={.items}",
        "go-template={{.items}}",
        "custom-columns=NAME:.metadata.name",
    ):
        assert "No resources found" not in both(kubectl, "get", "pods", "-o", output_format)

    # get.sh run_kubectl_get_tests: human-readable output says "No resources found", errors do not
    assert "No resources found" not in fails(kubectl, "get", "foobar")
    assert "No resources found" in both(kubectl, "get", "pods")
    assert "No resources found" not in both(kubectl, "get", "pods", "--ignore-not-found")
    assert "No resources found" in both(kubectl, "get", "pods", "-o", "wide")


def test_get_all_and_chunking(kubectl: Kubectl) -> None:
    # get.sh run_kubectl_get_tests: "Test kubectl get all" (every kind of the category answers 200)
    output = both(kubectl, "--v=6", "--namespace", "default", "get", "all", "--chunk-size=0")
    for path in (
        "/api/v1/namespaces/default/pods 200 OK",
        "/api/v1/namespaces/default/replicationcontrollers 200 OK",
        "/api/v1/namespaces/default/services 200 OK",
        "/apis/apps/v1/namespaces/default/daemonsets 200 OK",
        "/apis/apps/v1/namespaces/default/deployments 200 OK",
        "/apis/apps/v1/namespaces/default/replicasets 200 OK",
        "/apis/apps/v1/namespaces/default/statefulsets 200 OK",
        "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers 200",
        "/apis/batch/v1/namespaces/default/jobs 200 OK",
    ):
        assert path in output, path
    assert "/apis/extensions/v1beta1/" not in output

    # get.sh run_kubectl_get_tests: "Test kubectl get chunk size" (limit and continue). A real cluster
    # starts with some 70 ClusterRoles, this one with fewer than 10: add some so that a second page exists.
    for index in range(10):
        kubectl("create", "clusterrole", f"upstream-{index}", "--verb=get", "--resource=pods")
    output = both(kubectl, "--v=6", "get", "clusterrole", "--chunk-size=10")
    assert "/clusterroles?limit=10 200 OK" in output
    assert "/v1/clusterroles?continue=" in output
    # get.sh run_kubectl_get_tests: "Test kubectl get chunk size defaults to 500"
    assert "/clusterroles?limit=500 200 OK" in both(kubectl, "--v=6", "get", "clusterrole")
    # get.sh run_kubectl_get_tests: "Test kubectl get accumulates pages"
    output = kubectl("get", "namespaces", "--chunk-size=1", "--no-headers")
    for namespace in ("default", "kube-public", "kube-system"):
        assert namespace in output

    # get.sh run_kubectl_get_tests: "chunk size does not result in a --watch error"
    for name in ("one", "two", "three"):
        kubectl("create", "cm", name)
    for watch in ("--watch", "--watch-only"):
        watched = kubectl.run("get", "configmap", "--chunk-size=1", watch, "--request-timeout=1s")
        assert "watch is only supported on individual resources" not in watched.stdout + watched.stderr


def test_get_templates_subresources_and_watch(kubectl: Kubectl) -> None:
    # get.sh run_kubectl_get_tests: "Test --allow-missing-template-keys"
    kubectl("create", "-f", "-", input=VALID_POD)
    assert names(kubectl, "pods") == "valid-pod:"
    kubectl("get", "pod", "valid-pod", "-o", "jsonpath={.missing}")
    kubectl("get", "pod", "valid-pod", "-o", "go-template={{.missing}}")
    assert "valid-pod:" in kubectl("get", "pod", "valid-pod", "--template={{.metadata.name}}:")
    assert "missing is not found" in fails(
        kubectl, "get", "pod", "valid-pod", "--allow-missing-template-keys=false", "-o", "jsonpath={.missing}"
    )
    assert 'map has no entry for key "missing"' in fails(
        kubectl,
        "get",
        "pod",
        "valid-pod",
        "--allow-missing-template-keys=false",
        "-o",
        "go-template={{.missing}}",
    )

    # get.sh run_kubectl_get_tests: "check --subresource=status works" / scale is not served for pods
    assert "valid-pod" in kubectl("get", "pod", "valid-pod", "--subresource=status")
    assert "the server could not find the requested resource" in fails(
        kubectl, "get", "pod", "valid-pod", "--subresource=scale"
    )

    # get.sh run_kubectl_get_tests: "Test kubectl get watch"
    output = kubectl.run("get", "pods", "-w", "--request-timeout=1").stdout
    assert "STATUS" in output and "valid-pod" in output
    output = kubectl.run("get", "pods/valid-pod", "-o", "name", "-w", "--request-timeout=1").stdout
    assert "STATUS" not in output and "pod/valid-pod" in output
    output = kubectl.run("get", "pods/valid-pod", "-o", "yaml", "-w", "--request-timeout=1").stdout
    assert "STATUS" not in output and "name: valid-pod" in output
    assert '"invalid-pod" not found' in fails(kubectl, "get", "pods/invalid-pod", "-w", "--request-timeout=1")
    kubectl("delete", "pods", "valid-pod")

    # get.sh run_kubectl_get_tests: "kubectl get -f <file> -o <non default printer>" prints every item
    kubectl("create", "-f", "-", input=MULTI_POD)
    assert "redis-master valid-pod" in kubectl(
        "get", "-f", "-", "-o", "jsonpath={..metadata.name}", input=MULTI_POD
    )
    kubectl("delete", "pods", "redis-master", "valid-pod")

    # get.sh run_retrieve_multiple_tests (without the node): two kinds in one get
    assert get(
        kubectl, "service/kubernetes namespace/default", "{{range.items}}{{.metadata.name}}:{{end}}"
    ) == ("kubernetes:default:")


def test_get_sort_by(kubectl: Kubectl) -> None:
    # get.sh run_kubectl_sort_by_tests: "sort-by should not panic if no pod exists"
    kubectl("get", "pods", "--sort-by={metadata.name}")
    kubectl("get", "pods", "--sort-by={metadata.creationTimestamp}")
    # get.sh run_kubectl_sort_by_tests: "sort-by should works if pod exists" (a Table with the objects)
    kubectl("create", "-f", "-", input=VALID_POD)
    assert "valid-pod" in kubectl("get", "pods", "--sort-by={metadata.name}")
    output = both(kubectl, "get", "pods", "--v=8", "--sort-by={metadata.name}")
    assert "as=Table" in output and "includeObject=Object" in output
    kubectl("delete", "pod", "valid-pod", "--grace-period=0", "--force")
    assert names(kubectl, "pods") == ""

    # get.sh run_kubectl_sort_by_tests: "sort-by should works by sorting by name"
    for name in ("sorted-pod3", "sorted-pod1", "sorted-pod2"):
        kubectl("run", name, "--image=pause", f"--labels=name={name}")
    assert names(kubectl, "pods") == "sorted-pod1:sorted-pod2:sorted-pod3:"
    output = kubectl("get", "pods", "--sort-by={metadata.labels.name}", "--no-headers", "-o", "name")
    assert output.split() == ["pod/sorted-pod1", "pod/sorted-pod2", "pod/sorted-pod3"]
    output = kubectl("get", "pods", "--sort-by={metadata.name}", "--no-headers", "-o", "name")
    assert output.split() == ["pod/sorted-pod1", "pod/sorted-pod2", "pod/sorted-pod3"]
