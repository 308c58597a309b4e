"""Adapted from kubernetes/kubernetes test/cmd/create.sh (dry run, filter, errors, jobs, kustomization)
and test/cmd/batch.sh run_job_tests (CronJobs and Jobs made from them) against a fresh dev API server."""

from __future__ import annotations

from pathlib import Path

from apiserver_support import Kubectl
from upstream_cases import both, fails, get, names

POD = """
apiVersion: v1
kind: Pod
metadata: {name: test-pod, labels: {name: test-pod-label}}
spec: {containers: [{name: kubernetes-pause, image: registry.k8s.io/pause:3.10}]}
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
KUSTOMIZATION = {
    "kustomization.yaml": "resources: [configmap.yaml, deployment.yaml, service.yaml]\n"
    "namePrefix: test-the-\n",
    "configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: map}\n"
    "data: {altGreeting: Good Morning!}\n",
    "deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata: {name: deployment}
spec:
  selector: {matchLabels: {app: the}}
  template:
    metadata: {labels: {app: the}}
    spec: {containers: [{name: the-container, image: monopole/hello:1}]}
""",
    "service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: service}\n"
    "spec: {selector: {app: the}, ports: [{port: 8666, targetPort: 8080}]}\n",
}
PERL = "registry.k8s.io/perl"


def test_create_dry_run_filter_and_errors(kubectl: Kubectl) -> None:
    # create.sh run_kubectl_create_dry_run_tests
    kubectl("create", "--dry-run=client", "-f", "-", input=POD)
    kubectl("create", "--dry-run=server", "-f", "-", input=POD)
    assert names(kubectl, "pods") == ""

    # create.sh run_kubectl_create_filter_tests
    kubectl("create", "-l", "unique-label=bingbang", "-f", "-", input=FILTERED)
    assert get(kubectl, "pods selector-test-pod", "{{.metadata.labels.name}}") == "selector-test-pod"
    assert 'pods "selector-test-pod-dont-apply" not found' in fails(
        kubectl, "get", "pods", "selector-test-pod-dont-apply"
    )

    # create.sh run_kubectl_create_error_tests: no arguments; a pod posted to /api/v1/namespaces
    fails(kubectl, "create")
    assert "the object provided is unrecognized (must be of type Namespace)" in fails(
        kubectl, "create", "--raw", "/api/v1/namespaces", "-f", "-", "--v=8", input=POD
    )
    assert "raw and --edit are mutually exclusive" in fails(
        kubectl, "create", "--raw", "/api/v1/namespaces", "-f", "-", "--edit", input=POD
    )


def test_create_jobs_and_cronjobs(kubectl: Kubectl) -> None:
    # create.sh run_create_job_tests: "Test kubectl create job" (image, then with a command)
    kubectl("create", "job", "test-job", "--image=registry.k8s.io/nginx:test-cmd")
    image = "{{(index .spec.template.spec.containers 0).image}}"
    assert get(kubectl, "job test-job", image) == "registry.k8s.io/nginx:test-cmd"
    kubectl("delete", "job", "test-job")
    kubectl(
        "create",
        "job",
        "test-job-pi",
        f"--image={PERL}",
        "--",
        "perl",
        "-Mbignum=bpi",
        "-wle",
        "print bpi(20)",
    )
    assert get(kubectl, "job test-job-pi", image) == PERL
    kubectl("delete", "job", "test-job-pi")
    # create.sh run_create_job_tests: "Test kubectl create job from cronjob"
    kubectl(
        "create",
        "cronjob",
        "test-pi",
        "--schedule=* */5 * * *",
        f"--image={PERL}",
        "--",
        "perl",
        "-Mbignum=bpi",
        "-wle",
        "print bpi(10)",
    )
    kubectl("create", "job", "my-pi", "--from=cronjob/test-pi")
    command = get(kubectl, "job my-pi", "{{(index .spec.template.spec.containers 0).command}}")
    assert "perl -Mbignum=bpi -wle print bpi(10)" in command
    kubectl("delete", "job", "my-pi")
    kubectl("delete", "cronjob", "test-pi")

    # batch.sh run_job_tests: a CronJob in a namespace, dry runs first
    kubectl("create", "namespace", "test-jobs")
    assert get(kubectl, "namespaces/test-jobs", "{{.metadata.name}}") == "test-jobs"
    cronjob = (
        "create",
        "cronjob",
        "pi",
        "--schedule=59 23 31 2 *",
        "--namespace=test-jobs",
        f"--image={PERL}",
    )
    perl = ("--", "perl", "-Mbignum=bpi", "-wle", "print bpi(20)")
    kubectl(*cronjob, "--dry-run=client", *perl)
    kubectl(*cronjob, "--dry-run=server", *perl)
    assert names(kubectl, "cronjob --namespace=test-jobs") == ""
    kubectl(*cronjob, *perl)
    assert get(kubectl, "cronjob/pi --namespace=test-jobs", "{{.metadata.name}}") == "pi"
    kubectl("get", "cronjob/pi", "--namespace=test-jobs")
    assert "Schedule:" in kubectl("describe", "cronjob/pi", "--namespace=test-jobs")
    # batch.sh run_job_tests: "Create a job in dry-run mode" (-o name, nothing stored)
    output = kubectl(
        "create", "job", "test-job", "--from=cronjob/pi", "--dry-run=client", "-n", "test-jobs", "-o", "name"
    )
    assert "job.batch/test-job" in output
    kubectl("create", "job", "test-job", "--from=cronjob/pi", "--namespace=test-jobs", "--dry-run=server")
    assert names(kubectl, "jobs --namespace=test-jobs") == ""
    kubectl("create", "job", "test-job", "--from=cronjob/pi", "--namespace=test-jobs")
    assert get(kubectl, "job/test-job --namespace=test-jobs", "{{.metadata.name}}") == "test-job"
    kubectl("get", "job/test-job", "--namespace=test-jobs")
    assert "Pods Statuses:" in kubectl("describe", "job/test-job", "--namespace=test-jobs")
    # batch.sh run_job_tests: clean up
    kubectl("delete", "job", "test-job", "--namespace=test-jobs")
    kubectl("delete", "cronjob", "pi", "--namespace=test-jobs")
    assert 'namespace "test-jobs" deleted' in both(
        kubectl, "delete", "namespace", "test-jobs", "--wait=false"
    )


def test_create_apply_get_and_delete_a_kustomization(kubectl: Kubectl, tmp_path: Path) -> None:
    directory = tmp_path / "kustomize"
    directory.mkdir()
    for name, text in KUSTOMIZATION.items():
        (directory / name).write_text(text)
    # create.sh run_kubectl_create_kustomization_directory_tests
    kubectl("create", "-k", str(directory))
    assert get(kubectl, "configmap test-the-map", "{{.metadata.name}}") == "test-the-map"
    assert get(kubectl, "deployment test-the-deployment", "{{.metadata.name}}") == "test-the-deployment"
    assert get(kubectl, "service test-the-service", "{{.metadata.name}}") == "test-the-service"
    kubectl("delete", "-k", str(directory))
    # get.sh run_kubectl_get_tests: "kubectl get -k <dir>" prints every object of the kustomization
    # (and apply.sh run_kubectl_apply_tests: "kubectl apply -k somedir")
    kubectl("apply", "-k", str(directory))
    output = kubectl("get", "-k", str(directory), "-o", "jsonpath={..metadata.name}")
    for name in ("test-the-map", "test-the-deployment", "test-the-service"):
        assert name in output
    kubectl("delete", "-k", str(directory))
    assert names(kubectl, "configmaps --field-selector=metadata.name=test-the-map") == ""
    assert names(kubectl, "deployment") == ""
    assert names(kubectl, "services --field-selector=metadata.name=test-the-service") == ""
