"""Adapted from kubernetes/kubernetes test/cmd/apply.sh, run_kubectl_apply_tests (client-side apply),
against a fresh dev API server. Each block names the upstream case it follows; the manifests are
small equivalents of upstream's hack/testdata files."""

from __future__ import annotations

from apiserver_support import Kubectl
from upstream_cases import fails, get, names

POD = """
apiVersion: v1
kind: Pod
metadata: {name: test-pod, labels: {name: test-pod-label}}
spec: {containers: [{name: kubernetes-pause, image: registry.k8s.io/pause:3.10}]}
"""
POD_APPLY = POD.replace("name: test-pod-label", "name: test-pod-applied")

DEPLOYMENT_BEFORE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: test-deployment-retainkeys}
spec:
  selector: {matchLabels: {name: test-deployment-retainkeys}}
  template:
    metadata: {labels: {name: test-deployment-retainkeys}}
    spec:
      containers: [{name: nginx, image: nginx, volumeMounts: [{name: v, mountPath: /data}]}]
      volumes: [{name: v}]
"""
DEPLOYMENT_AFTER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: test-deployment-retainkeys}
spec:
  strategy: {type: Recreate}
  selector: {matchLabels: {name: test-deployment-retainkeys}}
  template:
    metadata: {labels: {name: test-deployment-retainkeys}}
    spec:
      containers: [{name: nginx, image: nginx, volumeMounts: [{name: v, mountPath: /data}]}]
      volumes: [{name: v, hostPath: {path: /tmp}}]
"""

FILTERED = """
apiVersion: v1
kind: Pod
metadata: {name: selector-test-pod, labels: {name: selector-test-pod, unique-label: bingbang}}
spec: {containers: [{name: c, image: pause}]}
---
apiVersion: v1
kind: Pod
metadata: {name: selector-test-pod-dont-apply, labels: {name: selector-test-pod-dont-apply}}
spec: {containers: [{name: c, image: pause}]}
"""

PRUNE_A = """
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {prune-group: "true"}}
spec: {containers: [{name: c, image: pause}]}
"""
PRUNE_B = """
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: nsb, labels: {prune-group: "true"}}
spec: {containers: [{name: c, image: pause}]}
"""
PRUNE_SVC = """
apiVersion: v1
kind: Service
metadata: {name: prune-svc, labels: {prune-group: "true"}}
spec: {selector: {prune-group-nomatch: "true"}, ports: [{port: 80}]}
"""

SERVICE_REVISION1 = """
apiVersion: v1
kind: Service
metadata: {name: a, labels: {name: a}}
spec: {clusterIP: 10.96.0.12, selector: {name: a}, ports: [{port: 80}]}
"""
SERVICE_REVISION2 = SERVICE_REVISION1.replace("10.96.0.12", "10.96.0.13")

MULTI_RESOURCE_1 = """
apiVersion: v1
kind: Pod
metadata: {name: test-pod, namespace: multi-resource-ns}
spec: {containers: [{name: c, image: pause}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: multi-resource-ns}
"""  # the pod first, so that it fails the first time
MULTI_RESOURCE_2 = """
apiVersion: v1
kind: ConfigMap
metadata: {name: foo}
data: {key: value}
---
apiVersion: example.com/v1
kind: Bogus
metadata: {name: foo}
"""
MULTI_RESOURCE_3 = """
apiVersion: v1
kind: Pod
metadata: {name: pod-a}
spec: {containers: [{name: c, image: pause}]}
---
apiVersion: v1
kind: Pod
metadata: {name: POD-B}
spec: {containers: [{name: c, image: pause}]}
---
apiVersion: v1
kind: Pod
metadata: {name: pod-c}
spec: {containers: [{name: c, image: pause}]}
"""
MULTI_RESOURCE_4 = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: foo}
spec: {size: 1}
"""

CRD_RESOURCES = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: resources.mygroup.example.com}
spec:
  group: mygroup.example.com
  scope: Namespaced
  names: {plural: resources, singular: resource, kind: Kind, listKind: KindList}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
CR_MYOBJ = """
apiVersion: mygroup.example.com/v1alpha1
kind: Kind
metadata: {name: myobj}
spec: {key: value}
"""


def test_apply_creates_dry_runs_and_set_last_applied(kubectl: Kubectl) -> None:
    # apply.sh run_kubectl_apply_tests: "kubectl apply should create the resource that doesn't exist yet"
    assert names(kubectl, "pods") == ""
    kubectl("apply", "-f", "-", input=POD)
    assert get(kubectl, "pods test-pod", "{{.metadata.labels.name}}") == "test-pod-label"
    assert "kubectl.kubernetes.io/last-applied-configuration" in kubectl(
        "get", "pods", "test-pod", "-o", "yaml"
    )
    kubectl("delete", "pods", "test-pod")

    # apply.sh run_kubectl_apply_tests: "set-last-applied" (client and server dry runs change nothing)
    kubectl("create", "-f", "-", input=POD)
    assert "last-applied-configuration" not in kubectl("get", "pods", "test-pod", "-o", "yaml")
    for dry_run in ("--dry-run=client", "--dry-run=server"):
        kubectl("apply", "set-last-applied", dry_run, "-f", "-", "--create-annotation=true", input=POD)
    assert "last-applied-configuration" not in kubectl("get", "pods", "test-pod", "-o", "yaml")
    kubectl("apply", "set-last-applied", "-f", "-", "--create-annotation=true", input=POD)
    assert "last-applied-configuration" in kubectl("get", "pods", "test-pod", "-o", "yaml")
    kubectl("delete", "pods", "test-pod")

    # apply.sh run_kubectl_apply_tests: "kubectl apply --dry-run=server"
    for dry_run in ("--dry-run=client", "--dry-run=server"):
        kubectl("apply", dry_run, "-f", "-", input=POD)
    assert names(kubectl, "pods") == ""
    kubectl("apply", "-f", "-", input=POD)
    initial = get(kubectl, "pods test-pod", "{{.metadata.resourceVersion}}")
    for dry_run in ("--dry-run=client", "--dry-run=server"):
        kubectl("apply", dry_run, "-f", "-", input=POD_APPLY)
    assert get(kubectl, "pods test-pod", "{{.metadata.labels.name}}") == "test-pod-label"
    assert get(kubectl, "pods test-pod", "{{.metadata.resourceVersion}}") == initial
    kubectl("delete", "-f", "-", input=POD)

    # apply.sh run_kubectl_apply_tests: "kubectl apply dry-run on CR"
    kubectl("create", "-f", "-", input=CRD_RESOURCES)
    assert "resources.mygroup.example.com" in kubectl(
        "api-resources", "--api-group", "mygroup.example.com", "-o", "name"
    )
    kubectl("apply", "--dry-run=server", "-f", "-", input=CR_MYOBJ)
    assert kubectl.run("get", "resource/myobj").returncode != 0
    kubectl("delete", "customresourcedefinition", "resources.mygroup.example.com")


def test_apply_records_the_client_side_apply_field_manager(kubectl: Kubectl) -> None:
    # apply.sh run_kubectl_apply_tests: "pod has field manager for kubectl client-side apply"
    kubectl("apply", "-f", "-", input=POD)
    managers = kubectl(
        "get",
        "--show-managed-fields",
        "pods",
        "test-pod",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    )
    assert "kubectl-client-side-apply" in managers


def test_apply_clears_defaulted_fields_and_filters_by_label(kubectl: Kubectl) -> None:
    # apply.sh run_kubectl_apply_tests: "kubectl apply should be able to clear defaulted fields"
    kubectl("apply", "-f", "-", input=DEPLOYMENT_BEFORE)
    before = kubectl("get", "deployments", "test-deployment-retainkeys", "-o", "yaml")
    for defaulted in ("RollingUpdate", "maxSurge", "maxUnavailable", "emptyDir"):
        assert defaulted in before
    assert kubectl("apply", "-f", "-", input=DEPLOYMENT_AFTER)
    after = kubectl("get", "deployments", "test-deployment-retainkeys", "-o", "yaml")
    assert "Recreate" in after and "hostPath" in after
    assert "RollingUpdate" not in after and "emptyDir" not in after
    kubectl("delete", "deployments", "test-deployment-retainkeys")

    # apply.sh run_kubectl_apply_tests:
    # "kubectl apply -f with label selector should only apply matching objects"
    kubectl("apply", "-l", "unique-label=bingbang", "-f", "-", input=FILTERED)
    assert get(kubectl, "pods selector-test-pod", "{{.metadata.labels.name}}") == "selector-test-pod"
    assert 'pods "selector-test-pod-dont-apply" not found' in fails(
        kubectl, "get", "pods", "selector-test-pod-dont-apply"
    )


def test_apply_prune(kubectl: Kubectl, tmp_path: object) -> None:
    # apply.sh run_kubectl_apply_tests: "kubectl apply --prune" (a into nsb, then b with --prune -l)
    kubectl("create", "ns", "nsb")
    kubectl("apply", "--namespace", "nsb", "-l", "prune-group=true", "-f", "-", input=PRUNE_A)
    assert get(kubectl, "pods a -n nsb", "{{.metadata.name}}") == "a"
    kubectl("apply", "--namespace", "nsb", "--prune", "-l", "prune-group=true", "-f", "-", input=PRUNE_B)
    assert names(kubectl, "pods -n nsb") == "b:"
    kubectl("delete", "pods", "b", "-n", "nsb")

    # apply.sh run_kubectl_apply_tests: "same thing without prune for a sanity check"
    kubectl("apply", "-l", "prune-group=true", "-f", "-", input=PRUNE_A)
    assert get(kubectl, "pods a", "{{.metadata.name}}") == "a"
    assert names(kubectl, "pods -n nsb") == ""
    kubectl("apply", "-l", "prune-group=true", "-f", "-", input=PRUNE_B)
    assert get(kubectl, "pods a", "{{.metadata.name}}") == "a"
    assert get(kubectl, "pods b -n nsb", "{{.metadata.name}}") == "b"
    kubectl("delete", "pod/a")
    kubectl("delete", "pod/b", "-n", "nsb")

    # apply.sh run_kubectl_apply_tests: "kubectl apply --prune requires a --all flag to select everything"
    assert "all resources selected for prune without explicitly passing --all" in fails(
        kubectl, "apply", "--prune", "-f", "-", input=PRUNE_A + "---" + PRUNE_B
    )
    kubectl("apply", "--all", "--prune", "-f", "-", input=PRUNE_A + "---" + PRUNE_B)
    assert get(kubectl, "pods a", "{{.metadata.name}}") == "a"
    assert get(kubectl, "pods b -n nsb", "{{.metadata.name}}") == "b"
    kubectl("delete", "pod/a")
    kubectl("delete", "pod/b", "-n", "nsb")

    # apply.sh run_kubectl_apply_tests: "kubectl apply --prune --prune-allowlist" (formerly whitelist)
    kubectl("apply", "--prune", "-l", "prune-group=true", "-f", "-", input=PRUNE_A)
    kubectl(
        "apply",
        "--prune",
        "-l",
        "prune-group=true",
        "-f",
        "-",
        "--prune-allowlist",
        "core/v1/Service",
        input=PRUNE_SVC,
    )
    assert get(kubectl, "service prune-svc", "{{.metadata.name}}") == "prune-svc"
    assert get(kubectl, "pods a", "{{.metadata.name}}") == "a"
    kubectl("apply", "--prune", "-l", "prune-group=true", "-f", "-", input=PRUNE_SVC)
    assert get(kubectl, "service prune-svc", "{{.metadata.name}}") == "prune-svc"
    assert names(kubectl, "pods") == ""
    kubectl("delete", "svc", "prune-svc")

    # apply.sh run_kubectl_apply_tests:
    # "kubectl apply --prune can prune resources not in the defaulted namespace"
    kubectl("apply", "--namespace", "nsb", "-f", "-", input=PRUNE_A)
    kubectl("apply", "--namespace", "nsb", "-f", "-", input=PRUNE_B)
    kubectl("apply", "--prune", "--all", "-f", "-", input=PRUNE_B)
    assert names(kubectl, "pods -n nsb") == "b:"

    # apply.sh run_kubectl_apply_tests: "kubectl apply -n must fail if input file contains namespace other
    # than the one given in -n"
    assert 'the namespace from the provided object "nsb" does not match the namespace "foo".' in fails(
        kubectl, "apply", "-n", "foo", "-f", "-", input=PRUNE_B
    )


def test_apply_force_and_multi_resource_failures(kubectl: Kubectl) -> None:
    # apply.sh run_kubectl_apply_tests: "kubectl apply -f some.yml --force" (immutable clusterIP)
    kubectl("apply", "-f", "-", input=SERVICE_REVISION1)
    assert get(kubectl, "services a", "{{.metadata.name}}") == "a"
    assert "may not change once set" in fails(kubectl, "apply", "-f", "-", input=SERVICE_REVISION2)
    kubectl("apply", "-f", "-", "--force", input=SERVICE_REVISION2)
    assert get(kubectl, "services a", "{{.spec.clusterIP}}") == "10.96.0.13"
    kubectl("delete", "-f", "-", input=SERVICE_REVISION2)

    # apply.sh run_kubectl_apply_tests: "kubectl apply multiple resources with one failure during apply phase"
    assert 'namespaces "multi-resource-ns" not found' in fails(
        kubectl, "get", "namespace", "multi-resource-ns"
    )
    assert 'namespaces "multi-resource-ns" not found' in fails(
        kubectl, "apply", "-f", "-", input=MULTI_RESOURCE_1
    )
    assert 'pods "test-pod" not found' in fails(kubectl, "get", "pods", "test-pod", "-n", "multi-resource-ns")
    kubectl("apply", "-f", "-", input=MULTI_RESOURCE_1)
    assert get(kubectl, "pods test-pod -n multi-resource-ns", "{{.metadata.name}}") == "test-pod"

    # apply.sh run_kubectl_apply_tests: "... one failure during builder phase" (a bogus custom resource)
    assert 'no matches for kind "Bogus" in version "example.com/v1"' in fails(
        kubectl, "apply", "-f", "-", input=MULTI_RESOURCE_2
    )
    assert get(kubectl, "configmaps foo", "{{.metadata.name}}") == "foo"

    # apply.sh run_kubectl_apply_tests: three pods, one invalid (POD-B)
    assert 'The Pod "POD-B" is invalid' in fails(kubectl, "apply", "-f", "-", input=MULTI_RESOURCE_3)
    assert get(kubectl, "pods pod-a", "{{.metadata.name}}") == "pod-a"
    assert get(kubectl, "pods pod-c", "{{.metadata.name}}") == "pod-c"

    # apply.sh run_kubectl_apply_tests: a CRD and its resource in one file (the resource fails first time)
    assert 'no matches for kind "Widget" in version "example.com/v1"' in fails(
        kubectl, "apply", "-f", "-", input=MULTI_RESOURCE_4
    )
    assert 'widgets.example.com "foo" not found' in fails(kubectl, "get", "widgets", "foo")
    assert get(kubectl, "crds widgets.example.com", "{{.metadata.name}}") == "widgets.example.com"
    kubectl("apply", "-f", "-", input=MULTI_RESOURCE_4)
    assert get(kubectl, "widget foo", "{{.metadata.name}}") == "foo"
