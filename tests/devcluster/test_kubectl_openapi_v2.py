"""`/openapi/v2`, which kubectl reads for kinds that /openapi/v3 does not list: unknown kinds, `kind: List`
files, and a custom resource whose CRD is in the same file."""

from __future__ import annotations

from pathlib import Path

from apiserver_support import Http, Kubectl

BOGUS = """
apiVersion: example.com/v1
kind: Bogus
metadata: {name: x}
"""

CRD_AND_CR = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: 3}
"""


def test_an_unknown_kind_is_no_match(kubectl: Kubectl) -> None:
    # Follows test/cmd/create.sh / apply.sh cases that expect "no matches for kind".
    for verb in ("apply", "create"):
        result = kubectl.run(verb, "-f", "-", input=BOGUS)
        assert result.returncode != 0
        assert 'no matches for kind "Bogus" in version "example.com/v1"' in result.stderr
        assert "could not find the requested resource" not in result.stderr


def test_a_list_file_from_get_o_yaml_applies(kubectl: Kubectl, tmp_path: Path) -> None:
    # Follows test/cmd/apply.sh ("apply a List"); `kubectl get -o yaml` of several objects is a List.
    kubectl("create", "configmap", "a", "--from-literal=k=1")
    kubectl("create", "configmap", "b", "--from-literal=k=2")
    listed = tmp_path / "list.yaml"
    listed.write_text(kubectl("get", "configmaps", "a", "b", "-o", "yaml"))
    out = kubectl("apply", "-f", str(listed))
    assert "configmap/a" in out and "configmap/b" in out
    kubectl("delete", "-f", str(listed))
    assert kubectl("create", "-f", str(listed)).count("created") == 2


def test_a_file_with_a_crd_and_its_resource(kubectl: Kubectl) -> None:
    # As on a real cluster: the CRD is created, the resource waits for a second apply ("ensure CRDs
    # are installed first"), which then creates it.
    first = kubectl.run("apply", "-f", "-", input=CRD_AND_CR)
    assert "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created" in first.stdout
    assert 'no matches for kind "Widget" in version "example.com/v1"' in first.stderr
    assert "widget.example.com/w1 created" in kubectl("apply", "-f", "-", input=CRD_AND_CR)
    assert kubectl.json("get", "widget", "w1")["spec"] == {"size": 3}


def test_openapi_v2_as_json_and_as_protobuf(http: Http) -> None:
    answer = http("GET", "/openapi/v2", headers={"Accept": "application/json"})
    assert answer.status == 200 and answer.body["swagger"] == "2.0"
    patch = answer.body["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    proto = http(
        "GET", "/openapi/v2", headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
    )
    assert proto.status == 200
    assert proto.content_type == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
