"""Messages and documents that kubectl users read, as a real server words them: raw YAML bodies, badly
typed patches, discovery's storageVersionHash, `kubectl explain` of nested built-in fields and
int-or-string fields, and names no route can hold."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import quote

from apiserver_support import Http, Kubectl

POD = """apiVersion: v1
kind: Pod
metadata: {name: valid-pod}
spec:
  containers: [{name: app, image: example/app:1}]
"""


def test_a_yaml_body_posted_raw_is_an_unrecognized_object(kubectl: Kubectl, tmp_path: Path) -> None:
    # Follows test/cmd/create.sh ("kubectl create --raw" with a YAML file).
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD)
    result = kubectl.run("create", "--raw", "/api/v1/namespaces", "-f", str(pod))
    assert result.returncode != 0
    assert "the object provided is unrecognized (must be of type Namespace)" in result.stderr


def test_labels_patched_with_a_string_cannot_be_restored(kubectl: Kubectl) -> None:
    # Follows test/cmd/core.sh run_pod_tests (patch with '{"metadata":{"labels":"invalid"}}').
    kubectl("create", "-f", "-", input=POD)
    for patch_type in ("strategic", "merge"):
        result = kubectl.run(
            "patch", "pod", "valid-pod", "--type", patch_type, "-p", '{"metadata":{"labels":"invalid"}}'
        )
        assert result.returncode != 0
        assert "cannot restore map from string" in result.stderr


def test_discovery_entries_carry_a_storage_version_hash(http: Http) -> None:
    resources = http("GET", "/apis/apps/v1").body["resources"]
    deployments = next(r for r in resources if r["name"] == "deployments")
    digest = hashlib.sha256(b"apps/v1/Deployment").digest()[:8]
    assert deployments["storageVersionHash"] == base64.b64encode(digest).decode()
    pods = next(r for r in http("GET", "/api/v1").body["resources"] if r["name"] == "pods")
    assert pods["storageVersionHash"]


def test_explain_reaches_nested_fields_of_built_in_kinds(kubectl: Kubectl) -> None:
    # Follows test/cmd/core.sh ("kubectl explain pods", "explain po.status.message").
    assert "FIELD: message <string>" in kubectl("explain", "po.status.message")
    containers = kubectl("explain", "deployment.spec.template.spec.containers")
    assert "FIELD: containers <[]Container>" in containers or "<[]Object>" in containers
    assert "name\t<string> -required-" in containers
    assert "FIELD: clusterIP <string>" in kubectl("explain", "svc.spec.clusterIP")


def test_explain_shows_int_or_string_fields(kubectl: Kubectl) -> None:
    assert "maxSurge\t<IntOrString>" in kubectl("explain", "deployment.spec.strategy.rollingUpdate")
    assert "FIELD: targetPort <IntOrString>" in kubectl("explain", "service.spec.ports.targetPort")


def test_a_name_holding_a_newline_is_not_found(http: Http) -> None:
    for method in ("GET", "DELETE"):
        answer = http(method, "/api/v1/namespaces/default/configmaps/" + quote("a\nb"))
        assert (answer.status, answer.body["reason"]) == (404, "NotFound")
