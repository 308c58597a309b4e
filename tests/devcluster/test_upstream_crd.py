"""Adapted from kubernetes/kubernetes test/cmd/crd.sh (run_crd_tests, run_non_native_resource_tests)
against a fresh dev API server."""

from __future__ import annotations

from apiserver_support import Kubectl
from upstream_cases import both, fails, get, names

FOO_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: foos.company.com}
spec:
  group: company.com
  scope: Namespaced
  names: {plural: foos, singular: foo, kind: Foo, listKind: FooList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
BAR_CRD = FOO_CRD.replace("foos", "bars").replace("foo", "bar").replace("Foo", "Bar")
FOO = """
apiVersion: company.com/v1
kind: Foo
metadata: {name: test, labels: {pruneGroup: "true"}}
someField: field1
otherField: field2
nestedField: {someSubfield: modifiedSubfield, otherSubfield: subfield2, newSubfield: subfield3}
"""


def test_custom_resources(kubectl: Kubectl) -> None:
    # crd.sh run_crd_tests: create CRDs, they are listed and served at once
    kubectl("create", "-f", "-", input=FOO_CRD)
    kubectl("create", "-f", "-", input=BAR_CRD)
    crds = get(kubectl, "customresourcedefinitions", "{{range.items}}{{.metadata.name}}:{{end}}")
    assert "bars.company.com:" in crds and "foos.company.com:" in crds
    assert "foos" in kubectl("api-resources", "--api-group=company.com", "-o", "name")

    # crd.sh run_non_native_resource_tests: "Test that we can list this new third party resource"
    assert names(kubectl, "foos") == ""
    kubectl("create", "-f", "-", input=FOO)
    assert names(kubectl, "foos") == "test:"
    # crd.sh: the resource by kind, by plural and with its group, in every output
    for what in ("foo", "foos", "foos.company.com", "foos.v1.company.com"):
        assert get(kubectl, what, "{{range.items}}{{.metadata.name}}:{{end}}") == "test:", what
    kubectl("get", "foos")
    kubectl("get", "foos", "-o", "wide")
    assert "name: test" in kubectl("get", "foos/test", "-o", "yaml")
    assert "foo.company.com/test" in kubectl("get", "foos", "-o", "name")
    kubectl("describe", "foos")
    kubectl("describe", "foos/test")
    # crd.sh run_non_native_resource_tests: "Test patching" (merge and JSON patch; strategic is refused)
    kubectl("patch", "foos/test", "--type=merge", "-p", '{"patched":"value1"}')
    assert get(kubectl, "foos/test", "{{.patched}}") == "value1"
    kubectl("patch", "foos/test", "--type=merge", "-p", '{"patched":"value2"}')
    assert get(kubectl, "foos/test", "{{.patched}}") == "value2"
    kubectl("patch", "foos/test", "--type=merge", "-p", '{"patched":null}')
    assert get(kubectl, "foos/test", "{{.patched}}") == "<no value>"
    kubectl("patch", "foos/test", "--type=json", "-p", '[{"op":"add","path":"/patched","value":"value3"}]')
    assert get(kubectl, "foos/test", "{{.patched}}") == "value3"
    output = fails(kubectl, "patch", "foos/test", "-p", '{"patched":"value4"}')
    assert "the body of the request was in an unknown format" in output
    assert "application/merge-patch+json" in output
    # crd.sh run_non_native_resource_tests: "Test labeling" and "annotating"
    kubectl("label", "foos/test", "listlabel=true")
    assert get(kubectl, "foos/test", "{{.metadata.labels.listlabel}}") == "true"
    kubectl("annotate", "foos/test", "listannotation=true")
    assert get(kubectl, "foos/test", "{{.metadata.annotations.listannotation}}") == "true"
    # crd.sh run_non_native_resource_tests: "Test that we can watch the resource"
    result = kubectl.run("get", "foos", "--watch", "--request-timeout=1s")
    assert "test" in result.stdout
    # crd.sh run_non_native_resource_tests: "Test apply" then "apply --prune" of custom resources
    kubectl("delete", "foos", "test")
    kubectl("apply", "-f", "-", input=FOO)
    assert get(kubectl, "foos/test", "{{.someField}}") == "field1"
    kubectl("apply", "-f", "-", input=FOO.replace("someField: field1", "someField: modifiedField"))
    assert get(kubectl, "foos/test", "{{.someField}}") == "modifiedField"
    bar = 'apiVersion: company.com/v1\nkind: Bar\nmetadata: {name: test, labels: {pruneGroup: "true"}}\n'
    kubectl(
        "apply",
        "--prune",
        "-l",
        "pruneGroup=true",
        "-f",
        "-",
        "--prune-allowlist=company.com/v1/Foo",
        "--prune-allowlist=company.com/v1/Bar",
        input=bar,
    )
    assert names(kubectl, "foos") == "" and names(kubectl, "bars") == "test:"
    # crd.sh run_non_native_resource_tests: "Test deleting" by kind and a missing one
    assert 'bars.company.com "missing" not found' in fails(kubectl, "delete", "bars", "missing")
    assert 'bar.company.com "test" deleted' in both(kubectl, "delete", "bars", "test")
    # crd.sh run_crd_tests: deleting the CRDs stops serving their resources
    kubectl("delete", "customresourcedefinitions", "foos.company.com", "bars.company.com")
    # (kubectl's discovery cache still names foos, so the list itself is the 404, as on a real server)
    assert "the server could not find the requested resource" in fails(kubectl, "get", "foos")
