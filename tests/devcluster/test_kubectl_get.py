"""`kubectl get`: Table printer columns, output formats, selectors, all namespaces and --watch."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta

import yaml
from apiserver_support import RELEASE_CRD, REPO, ROOT_CA, Kubectl, wait_for

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.test.slipway.dev}
spec:
  group: test.slipway.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Checked, type: date, jsonPath: .status.checkedAt}
    - {name: Colour, type: string, jsonPath: .spec.colour, priority: 1}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              colour: {type: string}
          status:
            type: object
            properties:
              checkedAt: {type: string, format: date-time}
"""


def manifest(kind: str, name: str, namespace: str = "default", **fields: object) -> str:
    """A one-object manifest for `kubectl apply`."""
    api_version = {"Deployment": "apps/v1"}.get(kind, "v1")
    obj = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        **fields,
    }
    return json.dumps(obj)


def _rows(output: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def _configmaps(kubectl: Kubectl) -> None:
    kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
    )
    for name, labels in (("red", "tier=web,env=prod"), ("green", "tier=db,env=prod"), ("blue", "tier=web")):
        kubectl("apply", "-f", "-", input=manifest("ConfigMap", name, data={"k": "v"}))
        kubectl("label", "configmap", name, *labels.split(","))
    kubectl("apply", "-f", "-", input=manifest("ConfigMap", "elsewhere", "other"))


def test_release_printer_columns_follow_status_with_a_jsonpath_filter(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(RELEASE_CRD))
    kubectl("apply", "-f", str(REPO / "examples" / "canary.yaml"))
    since = "2026-01-01T00:00:00Z"
    status = {
        "phase": "Progressing",
        "canary": {"revision": "abc123", "version": "1.0.0", "weight": 10},
        "canaryWeight": 10,  # what the WEIGHT column reads; the operator keeps it with canary.weight
        "conditions": [
            {"type": "Reconciling", "status": "True", "reason": "Canary", "lastTransitionTime": since},
            {"type": "Ready", "status": "False", "reason": "Canary", "lastTransitionTime": since},
        ],
    }
    kubectl(
        "patch",
        "release",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    header, row = _rows(kubectl("get", "releases"))
    assert header == ["NAME", "VERSION", "PHASE", "WEIGHT", "READY", "AGE"]
    assert row[:5] == ["web", "1.0.0", "Progressing", "10", "False"]
    assert re.fullmatch(r"\d+s", row[5])


def test_date_columns_are_relative_ages_and_priority_columns_only_wide(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=WIDGET_CRD)
    widget = {
        "apiVersion": "test.slipway.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3, "colour": "red"},
    }
    kubectl("apply", "-f", "-", input=json.dumps(widget))
    three_hours_ago = (datetime.now(UTC) - timedelta(hours=3, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kubectl(
        "patch",
        "widget",
        "w",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"checkedAt": three_hours_ago}}),
    )
    assert _rows(kubectl("get", "widgets")) == [["NAME", "SIZE", "CHECKED"], ["w", "3", "3h5m"]]
    assert _rows(kubectl("get", "wd", "-o", "wide")) == [
        ["NAME", "SIZE", "CHECKED", "COLOUR"],
        ["w", "3", "3h5m", "red"],
    ]


def test_deployment_and_service_columns_are_those_of_a_real_server(kubectl: Kubectl) -> None:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "example/web:1"}]},
    }
    kubectl(
        "apply",
        "-f",
        "-",
        input=manifest(
            "Deployment",
            "web",
            spec={"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        ),
    )
    kubectl(
        "patch",
        "deployment",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}',
    )
    header, row = _rows(kubectl("get", "deployments", "-o", "wide"))
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert row[:4] == ["web", "2/3", "3", "2"]
    assert row[5:] == ["web", "example/web:1", "app=web"]
    kubectl(
        "apply",
        "-f",
        "-",
        input=manifest(
            "Service", "web", spec={"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        ),
    )
    header, row = _rows(kubectl("get", "services", "web"))
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert row[:2] == ["web", "ClusterIP"] and row[2].startswith("10.")
    assert row[3:5] == ["<none>", "80/TCP"]


def test_output_formats(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=manifest("ConfigMap", "settings", data={"colour": "blue"}))
    as_json = json.loads(kubectl("get", "configmap", "settings", "-o", "json"))
    as_yaml = yaml.safe_load(kubectl("get", "configmap", "settings", "-o", "yaml"))
    assert as_json == as_yaml
    assert as_json["data"] == {"colour": "blue"}
    assert as_json["metadata"]["uid"]
    # The namespace also holds the root-CA publisher's ConfigMap, as on a real cluster.
    assert kubectl("get", "configmaps", "-o", "name").split() == [
        f"configmap/{ROOT_CA}",
        "configmap/settings",
    ]
    listed = json.loads(kubectl("get", "configmaps", "-o", "json"))
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == [ROOT_CA, "settings"]
    assert kubectl("get", "configmap", "settings", "-o", "jsonpath={.data.colour}") == "blue"


def test_label_selectors_equality_and_set_based(kubectl: Kubectl) -> None:
    _configmaps(kubectl)

    def names(selector: str) -> list[str]:
        return sorted(n.split("/")[1] for n in kubectl("get", "cm", "-l", selector, "-o", "name").split())

    assert names("tier=web") == ["blue", "red"]
    assert names("tier==web,env=prod") == ["red"]
    assert names("tier!=web") == ["green", ROOT_CA]  # no tier label at all matches too
    assert names("env in (prod,staging)") == ["green", "red"]
    assert names("tier notin (db),env") == ["red"]
    assert names("!env,tier") == ["blue"]


def test_field_selector_and_all_namespaces(kubectl: Kubectl) -> None:
    _configmaps(kubectl)
    assert kubectl("get", "cm", "--field-selector", "metadata.name=green", "-o", "name").split() == [
        "configmap/green"
    ]
    rows = _rows(kubectl("get", "configmaps", "-A"))
    assert rows[0][:3] == ["NAMESPACE", "NAME", "DATA"]
    assert ["other", "elsewhere"] in [row[:2] for row in rows[1:]]
    assert ["default", "red"] in [row[:2] for row in rows[1:]]
    not_default = kubectl(
        "get",
        "cm",
        "-A",
        "--field-selector",
        f"metadata.namespace!=default,metadata.name!={ROOT_CA}",
        "-o",
        "name",
    )
    assert not_default.split() == ["configmap/elsewhere"]


def test_get_in_chunks_prints_every_page_as_one_table(kubectl: Kubectl) -> None:
    """kubectl lists in pages of --chunk-size (500 by default), asking each page as a Table."""
    _configmaps(kubectl)
    rows = _rows(kubectl("get", "configmaps", "-A", "--chunk-size=2"))
    assert rows[0][:3] == ["NAMESPACE", "NAME", "DATA"]
    listed = sorted(tuple(row[:2]) for row in rows[1:])
    assert ("default", "red") in listed and ("other", "elsewhere") in listed
    assert listed == sorted(tuple(row[:2]) for row in _rows(kubectl("get", "configmaps", "-A"))[1:])
    assert len(listed) > 2
    by_label = kubectl("get", "cm", "-l", "tier", "--chunk-size=1", "-o", "name").split()
    assert sorted(by_label) == ["configmap/blue", "configmap/green", "configmap/red"]


def test_get_watch_prints_changes_as_they_happen(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=manifest("ConfigMap", "first"))
    watch = kubectl.popen("get", "configmaps", "--watch")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(watch.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(line.startswith("first") for line in lines))
        kubectl("apply", "-f", "-", input=manifest("ConfigMap", "second", data={"a": "b"}))
        wait_for(lambda: any(line.startswith("second") for line in lines))
        assert lines[0].split() == ["NAME", "DATA", "AGE"]
        assert sum(1 for line in lines if line.startswith("NAME")) == 1
    finally:
        watch.terminate()
        watch.wait(timeout=10)
