"""Adapted from kubernetes/kubernetes test/cmd/core.sh (run_pod_tests: labels, annotations, patch,
replace, delete; run_namespace_tests; run_configmap_tests; run_secrets_test; run_service_tests) and
test/cmd/delete.sh, against a fresh dev API server."""

from __future__ import annotations

import json

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
LABELS = "{{range $k, $v := .metadata.labels}}{{$k}}={{$v}},{{end}}"
IMAGE = "{{range .spec.containers}}{{.image}}:{{end}}"


def test_pod_labels_annotations_patch_replace_and_delete(kubectl: Kubectl) -> None:
    # core.sh run_pod_tests: create valid-pod, then dry-run deletes keep it
    kubectl("create", "-f", "-", input=VALID_POD)
    assert names(kubectl, "pods") == "valid-pod:"
    kubectl("delete", "pods", "-l", "name in (valid-pod)", "--dry-run=client")
    kubectl("delete", "pods", "-l", "name in (valid-pod)", "--dry-run=server")
    assert names(kubectl, "pods") == "valid-pod:"
    # core.sh run_pod_tests: "Label the valid-pod POD", an empty label, then removing one
    kubectl("label", "pods", "valid-pod", "new-name=new-valid-pod")
    assert get(kubectl, "pod valid-pod", LABELS) == "name=valid-pod,new-name=new-valid-pod,"
    kubectl("label", "pods", "valid-pod", "emptylabel=")
    assert get(kubectl, "pod valid-pod", "{{.metadata.labels.emptylabel}}") == ""
    kubectl("label", "pods", "valid-pod", "emptylabel-", "new-name-")
    assert get(kubectl, "pod valid-pod", LABELS) == "name=valid-pod,"
    # core.sh run_pod_tests: relabelling needs --overwrite
    assert "'name' already has a value (valid-pod), and --overwrite is false" in fails(
        kubectl, "label", "pods", "valid-pod", "name=valid-pod-super-sayan"
    )
    kubectl("label", "--overwrite", "pods", "valid-pod", "name=valid-pod-super-sayan")
    assert get(kubectl, "pod valid-pod", "{{.metadata.labels.name}}") == "valid-pod-super-sayan"
    kubectl("label", "--dry-run=server", "--overwrite", "pods", "valid-pod", "name=dry")
    assert get(kubectl, "pod valid-pod", "{{.metadata.labels.name}}") == "valid-pod-super-sayan"
    # core.sh run_pod_tests: "Annotate the valid-pod POD" (an empty annotation, --overwrite, removal)
    kubectl("annotate", "pods", "valid-pod", "emptyannotation=")
    assert get(kubectl, "pod valid-pod", "{{.metadata.annotations.emptyannotation}}") == ""
    kubectl("annotate", "pods", "valid-pod", "description=first")
    assert "--overwrite is false" in fails(kubectl, "annotate", "pods", "valid-pod", "description=second")
    kubectl("annotate", "--overwrite", "pods", "valid-pod", "description=second")
    assert get(kubectl, "pod valid-pod", "{{.metadata.annotations.description}}") == "second"
    kubectl("annotate", "pods", "valid-pod", "description-")
    assert "description" not in get(kubectl, "pod valid-pod", "{{.metadata.annotations}}")

    # core.sh run_pod_tests: "Patch a pod" (strategic merge, merge, JSON patch)
    kubectl(
        "patch",
        "pod",
        "valid-pod",
        "-p",
        '{"spec":{"containers":[{"name":"kubernetes-serve-hostname","image":"nginx"}]}}',
    )
    assert get(kubectl, "pod valid-pod", IMAGE) == "nginx:"
    kubectl(
        "patch",
        "pod",
        "valid-pod",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/containers/0/image","value":"nginx2"}]',
    )
    assert get(kubectl, "pod valid-pod", IMAGE) == "nginx2:"
    kubectl("patch", "pod", "valid-pod", "--type=merge", "-p", '{"metadata":{"labels":{"patched":"yes"}}}')
    assert get(kubectl, "pod valid-pod", "{{.metadata.labels.patched}}") == "yes"
    # core.sh run_pod_tests: "kubectl patch with an empty patch" and "patch (no change)"
    assert "patched (no change)" in kubectl("patch", "pod", "valid-pod", "-p", "{}")
    # core.sh run_pod_tests: a patch with an outdated resourceVersion is a conflict
    rv = int(get(kubectl, "pod valid-pod", "{{.metadata.resourceVersion}}"))
    output = fails(
        kubectl, "patch", "pod", "valid-pod", "-p", json.dumps({"metadata": {"resourceVersion": str(rv - 1)}})
    )
    assert "please apply your changes to the latest version and try again" in output
    # core.sh run_pod_tests: a badly typed patch of labels
    assert "cannot restore map from string" in fails(
        kubectl, "patch", "pod", "valid-pod", "-p", '{"metadata":{"labels":"invalid"}}'
    )

    # core.sh run_pod_tests: "replace the container name" through `kubectl replace -f -`
    changed = kubectl("get", "pod", "valid-pod", "-o", "json").replace('"nginx2"', '"nginx3"')
    kubectl("replace", "-f", "-", input=changed)
    assert get(kubectl, "pod valid-pod", IMAGE) == "nginx3:"
    # core.sh run_pod_tests: `replace --force` deletes and recreates (a new uid)
    uid = get(kubectl, "pod valid-pod", "{{.metadata.uid}}")
    kubectl("replace", "--force", "-f", "-", input=VALID_POD)
    assert get(kubectl, "pod valid-pod", "{{.metadata.uid}}") != uid
    assert get(kubectl, "pod valid-pod", IMAGE) == "registry.k8s.io/serve_hostname:"

    # core.sh run_pod_tests: delete needs a name, a selector or --all; --all and -l together are refused
    assert "resource(s) were provided, but no name was specified" in fails(kubectl, "delete", "pods")
    assert "setting 'all' parameter but found a non empty selector" in fails(
        kubectl, "delete", "--all", "pods", "-l", "name in (valid-pod)"
    )
    assert 'pods "abc" not found' in fails(kubectl, "delete", "pods", "abc")
    assert both(kubectl, "delete", "pods", "abc", "--ignore-not-found") == ""
    # core.sh run_pod_tests: "Delete POD valid-pod with label" and --grace-period=0 --force
    kubectl(
        "create",
        "-f",
        "-",
        input=VALID_POD.replace("valid-pod}", "other-pod}").replace("name: valid-pod,", "name: other-pod,"),
    )
    output = both(kubectl, "delete", "pod", "other-pod", "--grace-period=0", "--force")
    assert (
        "Immediate deletion does not wait for confirmation" in output
        and 'pod "other-pod" force deleted' in output
    )
    kubectl("delete", "pods", "-l", "name in (valid-pod)")  # replace --force restored the labels
    assert names(kubectl, "pods") == ""


def test_delete_across_namespaces(kubectl: Kubectl) -> None:
    # delete.sh run_kubectl_delete_allnamespaces_tests
    for namespace, name in (("ns-one", "one"), ("ns-two", "two")):
        kubectl("create", "namespace", namespace)
        kubectl("create", "configmap", name, f"--namespace={namespace}")
        kubectl("label", "configmap", name, f"--namespace={namespace}", "deletetest=true")
    for dry_run in ("--dry-run=client", "--dry-run=server"):
        kubectl("delete", "configmap", dry_run, "-l", "deletetest=true", "--all-namespaces")
    assert names(kubectl, "configmap -l deletetest -n ns-one") == "one:"
    assert names(kubectl, "configmap -l deletetest -n ns-two") == "two:"
    kubectl("delete", "configmap", "-l", "deletetest=true", "--all-namespaces")
    assert names(kubectl, "configmap -l deletetest -n ns-one") == ""
    assert names(kubectl, "configmap -l deletetest -n ns-two") == ""


def test_namespaces(kubectl: Kubectl) -> None:
    # core.sh run_namespace_tests: "Create a new namespace" (dry runs first)
    assert "my-namespace" not in names(kubectl, "namespaces")
    kubectl("create", "namespace", "my-namespace", "--dry-run=client")
    kubectl("create", "namespace", "my-namespace", "--dry-run=server")
    assert "my-namespace" not in names(kubectl, "namespaces")
    kubectl("create", "namespace", "my-namespace")
    assert get(kubectl, "namespaces/my-namespace", "{{.metadata.name}}") == "my-namespace"
    # core.sh run_namespace_tests: a dry-run delete keeps it; a delete removes it
    kubectl("delete", "namespace", "my-namespace", "--dry-run=server")
    assert get(kubectl, "namespaces/my-namespace", "{{.metadata.name}}") == "my-namespace"
    kubectl("delete", "namespace", "my-namespace", "--wait=false")
    # core.sh run_namespace_tests: "Get namespace" of one being deleted: NotFound eventually
    deadline_output = ""
    for _ in range(100):
        result = kubectl.run("get", "ns/my-namespace")
        deadline_output = result.stderr
        if result.returncode != 0:
            break
    assert 'namespaces "my-namespace" not found' in deadline_output
    # core.sh run_namespace_tests: "Quota" namespaces and objects in another namespace
    kubectl("create", "namespace", "other")
    kubectl("create", "-f", "-", "--namespace=other", input=VALID_POD)
    assert names(kubectl, "pods --namespace=other") == "valid-pod:"
    # core.sh run_namespace_tests: "Delete POD valid-pod in specific namespace" via --all-namespaces listing
    assert "valid-pod" in kubectl("get", "pods", "--all-namespaces")
    kubectl("delete", "pods", "valid-pod", "--namespace=other", "--grace-period=0", "--force")
    assert names(kubectl, "pods --namespace=other") == ""
    # core.sh run_namespace_tests: the protected namespaces may not be deleted
    assert "this namespace may not be deleted" in fails(kubectl, "delete", "namespace", "kube-system")


def test_configmaps(kubectl: Kubectl, tmp_path: object) -> None:
    # core.sh run_configmap_tests: create from a file, then in a namespace from literals and binary data
    kubectl(
        "create",
        "-f",
        "-",
        input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: test-configmap}\ndata: {key-1: value-1}\n",
    )
    assert (
        kubectl("get", "configmap", "test-configmap", "-o", "jsonpath={.metadata.name}") == "test-configmap"
    )
    kubectl("delete", "configmap", "test-configmap")
    assert "test-configmap" not in names(kubectl, "configmaps")
    kubectl("create", "namespace", "test-configmaps")
    for dry_run in ("--dry-run=client", "--dry-run=server"):
        kubectl(
            "create",
            "configmap",
            "test-configmap",
            "--from-literal=key1=value1",
            "--namespace=test-configmaps",
            dry_run,
        )
    assert "test-configmap" not in names(kubectl, "configmaps --namespace=test-configmaps")
    kubectl(
        "create", "configmap", "test-configmap", "--from-literal=key1=value1", "--namespace=test-configmaps"
    )
    binary = tmp_path / "binary"  # type: ignore[operator]
    binary.write_bytes(bytes(range(256)))
    kubectl(
        "create",
        "configmap",
        "test-binary-configmap",
        f"--from-file=b={binary}",
        "--namespace=test-configmaps",
    )
    assert (
        get(kubectl, "configmap/test-configmap --namespace=test-configmaps", "{{.metadata.name}}")
        == "test-configmap"
    )
    assert get(kubectl, "configmap/test-configmap --namespace=test-configmaps", "{{.data.key1}}") == "value1"
    assert (
        get(kubectl, "configmap/test-binary-configmap --namespace=test-configmaps", "{{len .binaryData.b}}")
        == "344"
    )
    kubectl("delete", "configmap", "test-configmap", "test-binary-configmap", "--namespace=test-configmaps")


def test_secrets(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "test-secrets")
    ns = "--namespace=test-secrets"
    # core.sh run_secrets_test: "Create a generic secret in a specific namespace" (dry runs first)
    for dry_run in ("--dry-run=client", "--dry-run=server"):
        kubectl(
            "create",
            "secret",
            "generic",
            "test-secret",
            "--from-literal=key1=value1",
            "--type=test-type",
            ns,
            dry_run,
        )
    assert names(kubectl, f"secrets {ns}") == ""
    kubectl(
        "create", "secret", "generic", "test-secret", "--from-literal=key1=value1", "--type=test-type", ns
    )
    assert get(kubectl, f"secret/test-secret {ns}", "{{.metadata.name}}") == "test-secret"
    assert get(kubectl, f"secret/test-secret {ns}", "{{.type}}") == "test-type"
    assert get(kubectl, f"secret/test-secret {ns}", "{{.data.key1}}") == "dmFsdWUx"
    kubectl("delete", "secret", "test-secret", ns)
    # core.sh run_secrets_test: "Create a docker-registry secret in a specific namespace"
    kubectl(
        "create",
        "secret",
        "docker-registry",
        "test-secret",
        "--docker-username=test-user",
        "--docker-password=test-password",
        "--docker-email=test-user@test.com",
        ns,
    )
    assert get(kubectl, f"secret/test-secret {ns}", "{{.type}}") == "kubernetes.io/dockerconfigjson"
    assert ".dockerconfigjson" in get(kubectl, f"secret/test-secret {ns}", "{{.data}}")
    kubectl("delete", "secret", "test-secret", ns)
    # core.sh run_secrets_test: "Create a secret using output flags"
    output = kubectl(
        "create",
        "secret",
        "generic",
        "test-secret",
        "--from-literal=key1=value1",
        ns,
        "-o",
        "jsonpath={.metadata.name}",
    )
    assert output == "test-secret"
    # core.sh run_secrets_test: "Create a secret using stringData" (merged into data, not stored)
    kubectl(
        "create",
        "-f",
        "-",
        ns,
        input="apiVersion: v1\nkind: Secret\nmetadata: {name: secret-string-data}\n"
        "data: {k1: djE=}\nstringData: {k2: v2}\n",
    )
    data = get(kubectl, f"secret/secret-string-data {ns}", "{{.data}}")
    assert "k1:djE=" in data and "k2:djI=" in data
    assert get(kubectl, f"secret/secret-string-data {ns}", "{{.stringData}}") == "<no value>"
    # core.sh run_secrets_test: "update secret with kubectl patch" (a new key)
    kubectl("patch", "secret", "test-secret", ns, "-p", '{"data":{"key2":"dmFsdWUy"}}')
    assert get(kubectl, f"secret/test-secret {ns}", "{{.data.key2}}") == "dmFsdWUy"
    kubectl("delete", "secret", "test-secret", "secret-string-data", ns)


def test_services(kubectl: Kubectl) -> None:
    redis_master = """
apiVersion: v1
kind: Service
metadata: {name: redis-master, labels: {app: redis, role: master, tier: backend}}
spec:
  ports: [{port: 6379, targetPort: 6379}]
  selector: {app: redis, role: master, tier: backend}
"""
    # core.sh run_service_tests: the default `kubernetes` Service and a created one
    assert names(kubectl, "services") == "kubernetes:"
    kubectl("create", "-f", "-", input=redis_master)
    assert names(kubectl, "services") == "kubernetes:redis-master:"
    described = kubectl("describe", "services", "redis-master")
    assert "Selector:" in described and "app=redis,role=master,tier=backend" in described
    # core.sh run_service_tests: "set selector" (dry-run client and server change nothing, then it does)
    selector = "{{range $k, $v := .spec.selector}}{{$k}}:{{$v}},{{end}}"
    assert get(kubectl, "services redis-master", selector) == "app:redis,role:master,tier:backend,"
    for dry_run in ("--dry-run=client", "--dry-run=server"):
        kubectl("set", "selector", "services", "redis-master", "role=padawan", dry_run)
    assert get(kubectl, "services redis-master", selector) == "app:redis,role:master,tier:backend,"
    kubectl("set", "selector", "services", "redis-master", "role=padawan")
    assert get(kubectl, "services redis-master", selector) == "role:padawan,"
    # core.sh run_service_tests: "set selector with --resource-version" that is stale fails
    assert "the object has been modified" in fails(
        kubectl, "set", "selector", "services", "redis-master", "role=padawan2", "--resource-version=1"
    )
    # core.sh run_service_tests: label a service
    kubectl("label", "services", "redis-master", "service-label=true")
    assert get(kubectl, "services redis-master", '{{index .metadata.labels "service-label"}}') == "true"
    # core.sh run_service_tests: `kubectl create service` kinds
    kubectl("create", "service", "clusterip", "beep-boop", "--tcp=8080:8080")
    assert get(kubectl, "service beep-boop", "{{.spec.type}}") == "ClusterIP"
    kubectl("create", "service", "clusterip", "headless", "--clusterip=None")
    assert get(kubectl, "service headless", "{{.spec.clusterIP}}") == "None"
    kubectl("create", "service", "externalname", "beep-boop-ext", "--external-name", "bar.com")
    assert get(kubectl, "service beep-boop-ext", "{{.spec.type}}") == "ExternalName"
    assert get(kubectl, "service beep-boop-ext", "{{.spec.externalName}}") == "bar.com"
    # core.sh run_service_tests: delete several by name, then every one but `kubernetes`
    kubectl("delete", "service", "redis-master", "beep-boop", "headless", "beep-boop-ext")
    assert names(kubectl, "services") == "kubernetes:"
