"""Server-side apply and managedFields at the API level: the raw requests kubectl never sends (bad
bodies, missing or overlong field managers), managedFields on every kind of write, CRD list and map
types, and the official Python client's apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from apiserver_support import Http, wait_for
from kubernetes.dynamic import DynamicClient

from slipway_dev.apiserver import ApiServer, write_kubeconfig

APPLY = "application/apply-patch+yaml"
CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
WEB = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "example/app:1"}]},
        },
    },
}
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def _configmap(data: dict[str, str], name: str = "settings") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _apply(http: Http, path: str, body: Any, manager: str = "alice", **query: str) -> Any:
    params = "&".join([f"fieldManager={manager}", *(f"{k}={v}" for k, v in query.items())])
    return http("PATCH", f"{path}?{params}", body, content_type=APPLY)


def _entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def test_apply_needs_a_field_manager(http: Http) -> None:
    answer = http("PATCH", f"{CMS}/settings", _configmap({"a": "1"}), content_type=APPLY)
    assert answer.status == 422
    assert answer.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    assert answer.body["details"]["causes"][0]["field"] == "fieldManager"


def test_field_manager_over_128_characters_is_invalid_and_the_server_keeps_serving(http: Http) -> None:
    answer = _apply(http, f"{CMS}/settings", _configmap({"a": "1"}), manager="m" * 129)
    assert answer.status == 422
    assert answer.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes'
    )
    created = http("POST", f"{CMS}?fieldManager={'m' * 129}", _configmap({"a": "1"}))
    assert created.status == 422 and created.body["message"].startswith(
        'CreateOptions.meta.k8s.io "" is invalid'
    )
    assert _apply(http, f"{CMS}/settings", _configmap({"a": "1"}), manager="m" * 128).status == 201
    assert http("GET", f"{CMS}/settings").status == 200


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"data: [unclosed", "error decoding YAML: "),
        (
            b"- a\n- b\n",
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array",
        ),
        (b"just words", "cannot unmarshal string into Go value of type map[string]interface {}"),
    ],
)
def test_apply_body_that_is_not_an_object_is_a_bad_request(http: Http, raw: bytes, message: str) -> None:
    answer = http("PATCH", f"{CMS}/settings?fieldManager=alice", raw=raw, content_type=APPLY)
    assert answer.status == 400 and answer.body["reason"] == "BadRequest"
    assert message in answer.body["message"]
    assert http("GET", "/api/v1/namespaces/default").status == 200


def test_force_is_only_for_apply(http: Http) -> None:
    http("POST", CMS, _configmap({"a": "1"}))
    answer = http(
        "PATCH",
        f"{CMS}/settings?force=true",
        {"data": {"a": "2"}},
        content_type="application/merge-patch+json",
    )
    assert answer.status == 422
    assert answer.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'
    )


def test_every_write_records_its_manager(http: Http) -> None:
    created = http("POST", f"{CMS}?fieldManager=maker", _configmap({"a": "1"})).body
    (entry,) = created["metadata"]["managedFields"]
    assert entry["manager"] == "maker" and entry["operation"] == "Update" and entry["apiVersion"] == "v1"
    assert entry["fieldsType"] == "FieldsV1" and entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert entry["time"].endswith("Z")
    # No fieldManager: the product name of the User-Agent, as a real server does.
    patched = http(
        "PATCH",
        f"{CMS}/settings",
        {"data": {"a": "2", "b": "3"}},
        content_type="application/merge-patch+json",
        headers={"User-Agent": "rollout-bot/1.2 (linux)"},
    ).body
    entries = _entries(patched)
    assert entries[("rollout-bot", "Update")]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    assert entries[("maker", "Update")]["fieldsV1"] == {"f:data": {}}  # a moved to the patcher
    # A write that changes nothing records nothing and keeps the resourceVersion.
    again = http(
        "PATCH",
        f"{CMS}/settings?fieldManager=other",
        {"data": {"a": "2"}},
        content_type="application/merge-patch+json",
    ).body
    assert again["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == patched["metadata"]["managedFields"]
    # Removing a field takes it from whoever owned it.
    removed = http(
        "PATCH",
        f"{CMS}/settings?fieldManager=other",
        {"data": {"b": None}},
        content_type="application/merge-patch+json",
    ).body
    assert _entries(removed)[("rollout-bot", "Update")]["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_status_and_scale_writes_record_their_subresource(http: Http) -> None:
    assert _apply(http, f"{DEPLOYS}/web", WEB, manager="deployer").status == 201
    http(
        "PATCH",
        f"{DEPLOYS}/web/status?fieldManager=controller",
        {"status": {"replicas": 1, "readyReplicas": 1}},
        content_type="application/merge-patch+json",
    )
    http(
        "PATCH",
        f"{DEPLOYS}/web/scale?fieldManager=hpa",
        {"spec": {"replicas": 3}},
        content_type="application/merge-patch+json",
    )
    obj = http("GET", f"{DEPLOYS}/web").body
    entries = _entries(obj)
    status = entries[("controller", "Update")]
    assert status["subresource"] == "status"
    assert status["fieldsV1"] == {"f:status": {"f:readyReplicas": {}, "f:replicas": {}}}
    assert entries[("hpa", "Update")]["subresource"] == "scale"
    assert entries[("hpa", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries[("deployer", "Apply")]["fieldsV1"]["f:spec"]
    assert "subresource" not in entries[("deployer", "Apply")]
    # The main resource cannot own status: an apply that sends status does not claim it.
    applied = _apply(
        http, f"{DEPLOYS}/web", {**WEB, "status": {"replicas": 7}}, manager="deployer", force="true"
    )
    assert applied.body["status"]["replicas"] == 1
    assert "f:status" not in _entries(applied.body)[("deployer", "Apply")]["fieldsV1"]


def test_apply_to_the_scale_subresource_owns_replicas_through_scale(http: Http) -> None:
    """A Scale applied to /scale, as client-go's ApplyScale sends it: the parent's owners of replicas
    are the Scale's, the applier's entry lands on the Deployment with `subresource: scale`."""
    assert _apply(http, f"{DEPLOYS}/web", WEB, manager="deployer").status == 201
    scale = {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": "web"},
        "spec": {"replicas": 3},
    }
    refused = _apply(http, f"{DEPLOYS}/web/scale", scale, manager="autoscaler")
    assert refused.status == 409
    assert refused.body["message"] == 'Apply failed with 1 conflict: conflict with "deployer": .spec.replicas'
    # The value already there is shared without conflict.
    same = _apply(http, f"{DEPLOYS}/web/scale", {**scale, "spec": {"replicas": 1}}, manager="autoscaler")
    assert (same.status, same.body["kind"], same.body["spec"]) == (200, "Scale", {"replicas": 1})
    entries = _entries(http("GET", f"{DEPLOYS}/web").body)
    assert entries[("autoscaler", "Apply")]["subresource"] == "scale"
    assert entries[("autoscaler", "Apply")]["apiVersion"] == "apps/v1"
    assert entries[("autoscaler", "Apply")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" in entries[("deployer", "Apply")]["fieldsV1"]["f:spec"]
    # Forced, the change takes replicas from the deployer; a dry run changes nothing first.
    dry = _apply(http, f"{DEPLOYS}/web/scale", scale, manager="autoscaler", force="true", dryRun="All")
    assert dry.body["spec"] == {"replicas": 3}
    assert http("GET", f"{DEPLOYS}/web").body["spec"]["replicas"] == 1
    forced = _apply(http, f"{DEPLOYS}/web/scale", scale, manager="autoscaler", force="true")
    assert (forced.status, forced.body["spec"]) == (200, {"replicas": 3})
    obj = http("GET", f"{DEPLOYS}/web").body
    assert obj["spec"]["replicas"] == 3
    assert "f:replicas" not in _entries(obj)[("deployer", "Apply")]["fieldsV1"]["f:spec"]
    # Now the deployer changing replicas meets the autoscaler, named with its subresource.
    again = _apply(
        http,
        f"{DEPLOYS}/web",
        {**WEB, "spec": {**WEB["spec"], "replicas": 2}},
        manager="deployer",
    )
    assert again.status == 409
    assert 'conflict with "autoscaler" with subresource "scale": .spec.replicas' in again.body["message"]
    # A body that is not a Scale, or for another object, is refused.
    wrong_kind = _apply(http, f"{DEPLOYS}/web/scale", {**scale, "kind": "Deployment"}, manager="autoscaler")
    assert (wrong_kind.status, wrong_kind.body["message"]) == (
        400,
        "the kind in the data (Deployment) does not match the expected kind (Scale)",
    )
    other = _apply(http, f"{DEPLOYS}/web/scale", {**scale, "metadata": {"name": "db"}}, manager="autoscaler")
    assert other.status == 400
    missing = {**scale, "metadata": {"name": "nope"}}
    assert _apply(http, f"{DEPLOYS}/nope/scale", missing, manager="autoscaler").status == 404


def test_shared_field_stays_when_one_applier_stops_applying_it(http: Http) -> None:
    _apply(http, f"{CMS}/settings", _configmap({"a": "1", "b": "2"}), manager="alice")
    # bob applies the same value for b: no conflict, both own it.
    assert _apply(http, f"{CMS}/settings", _configmap({"b": "2"}), manager="bob").status == 200
    after = _apply(http, f"{CMS}/settings", _configmap({}), manager="alice").body
    assert after["data"] == {"b": "2"}  # a was alice's alone; b is still bob's
    conflict = _apply(http, f"{CMS}/settings", _configmap({"b": "9"}), manager="carol")
    assert conflict.status == 409 and conflict.body["reason"] == "Conflict"
    assert conflict.body["message"] == 'Apply failed with 1 conflict: conflict with "bob": .data.b'
    assert conflict.body["details"]["causes"] == [
        {"type": "FieldManagerConflict", "message": 'conflict with "bob"', "field": ".data.b"}
    ]


def test_conflicts_with_several_managers_are_listed_by_manager(http: Http) -> None:
    http("POST", f"{CMS}?fieldManager=maker", _configmap({"a": "1", "b": "2"}))
    _apply(http, f"{CMS}/settings", _configmap({"c": "3"}), manager="bob")
    answer = _apply(http, f"{CMS}/settings", _configmap({"a": "x", "b": "y", "c": "z"}), manager="carol")
    assert answer.status == 409
    assert answer.body["message"] == (
        "Apply failed with 3 conflicts: "
        'conflicts with "bob":\n- .data.c\n'
        'conflicts with "maker" using v1:\n- .data.a\n- .data.b'
    )


def test_dry_run_apply_answers_the_result_and_stores_nothing(http: Http) -> None:
    answer = _apply(http, f"{CMS}/settings", _configmap({"a": "1"}), dryRun="All")
    assert answer.status == 201 and answer.body["data"] == {"a": "1"}
    assert answer.body["metadata"]["managedFields"][0]["operation"] == "Apply"
    assert http("GET", f"{CMS}/settings").status == 404


def test_object_without_managed_fields_gets_before_first_apply(http: Http) -> None:
    http("POST", f"{CMS}?fieldManager=maker", _configmap({"a": "1", "b": "2"}))
    reset = http(
        "PATCH",
        f"{CMS}/settings",
        {"metadata": {"managedFields": [{}]}},
        content_type="application/merge-patch+json",
    ).body
    assert "managedFields" not in reset["metadata"]
    answer = _apply(http, f"{CMS}/settings", _configmap({"a": "9"}), manager="alice")
    assert answer.status == 409
    assert 'conflict with "before-first-apply" using v1: .data.a' in answer.body["message"]
    forced = _apply(http, f"{CMS}/settings", _configmap({"a": "9"}), manager="alice", force="true").body
    assert _entries(forced)[("before-first-apply", "Update")]["fieldsV1"] == {"f:data": {"f:b": {}}}


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "ports": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "map",
                                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                                        "items": {
                                            "type": "object",
                                            "required": ["port", "protocol"],
                                            "properties": {
                                                "port": {"type": "integer"},
                                                "protocol": {"type": "string"},
                                                "name": {"type": "string"},
                                            },
                                        },
                                    },
                                    "tags": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "set",
                                        "items": {"type": "string"},
                                    },
                                    "args": {"type": "array", "items": {"type": "string"}},
                                    "selector": {
                                        "type": "object",
                                        "x-kubernetes-map-type": "atomic",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "settings": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _widget(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_custom_resource_list_and_map_types_from_the_schema(http: Http) -> None:
    assert http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD).status == 201
    wait_for(lambda: http("GET", WIDGETS).status == 200)
    alice = {
        "ports": [{"port": 80, "protocol": "TCP", "name": "http"}],
        "tags": ["a"],
        "args": ["--x"],
        "selector": {"app": "w"},
        "settings": {"colour": "blue"},
    }
    assert _apply(http, f"{WIDGETS}/w", _widget(alice), manager="alice").status == 201
    bob = {
        "ports": [{"port": 80, "protocol": "UDP"}],
        "tags": ["b"],
        "settings": {"size": "L"},
    }
    merged = _apply(http, f"{WIDGETS}/w", _widget(bob), manager="bob").body["spec"]
    assert merged["ports"] == [
        {"port": 80, "protocol": "TCP", "name": "http"},
        {"port": 80, "protocol": "UDP"},
    ]
    assert merged["tags"] == ["a", "b"]
    assert merged["settings"] == {"colour": "blue", "size": "L"}
    fields = _entries(http("GET", f"{WIDGETS}/w").body)[("bob", "Apply")]["fieldsV1"]["f:spec"]
    assert set(fields["f:ports"]) == {'k:{"port":80,"protocol":"UDP"}'}
    assert fields["f:tags"] == {'v:"b"': {}}
    # An atomic list and an atomic map are one field each: replacing them is a conflict on the whole.
    answer = _apply(http, f"{WIDGETS}/w", _widget({"args": ["--y"], "selector": {"app": "v"}}), manager="bob")
    assert answer.status == 409
    assert {c["field"] for c in answer.body["details"]["causes"]} == {".spec.args", ".spec.selector"}
    # alice stops applying her port, tag and setting: they go, bob's stay.
    left = _apply(http, f"{WIDGETS}/w", _widget({"args": ["--x"], "selector": {"app": "w"}}), manager="alice")
    spec = left.body["spec"]
    assert spec["ports"] == [{"port": 80, "protocol": "UDP"}]
    assert spec["tags"] == ["b"] and spec["settings"] == {"size": "L"}


def test_official_client_server_side_apply(apiserver: ApiServer, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", apiserver.credentials())
    api = kubernetes.config.new_client_from_config(str(kubeconfig))
    client = DynamicClient(api)
    configmaps = client.resources.get(api_version="v1", kind="ConfigMap")
    body = yaml.safe_load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: py}\ndata: {a: '1'}\n")
    created = configmaps.server_side_apply(body=body, namespace="default", field_manager="py-apply")
    assert created.data.a == "1"
    entry = created.metadata.managedFields[0]
    assert entry.manager == "py-apply" and entry.operation == "Apply"
    core = kubernetes.client.CoreV1Api(api)
    core.patch_namespaced_config_map("py", "default", {"data": {"a": "2"}})
    with pytest.raises(kubernetes.client.rest.ApiException) as refused:
        configmaps.server_side_apply(body=body, namespace="default", field_manager="py-apply")
    assert refused.value.status == 409
    assert json.loads(refused.value.body)["message"] == (
        'Apply failed with 1 conflict: conflict with "OpenAPI-Generator" using v1: .data.a'
    )
    forced = configmaps.server_side_apply(
        body=body, namespace="default", field_manager="py-apply", force_conflicts=True
    )
    assert forced.data.a == "1"


def test_apply_to_the_status_subresource_owns_status_only(http: Http) -> None:
    assert (
        http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _status_crd()).status == 201
    )
    wait_for(lambda: http("GET", WIDGETS).status == 200)
    assert _apply(http, f"{WIDGETS}/w", _widget({"settings": {"a": "1"}}), manager="owner").status == 201
    status = {**_widget({"settings": {"a": "changed"}}), "status": {"phase": "Ready"}}
    answer = _apply(http, f"{WIDGETS}/w/status", status, manager="controller")
    assert answer.status == 200
    assert answer.body["status"] == {"phase": "Ready"} and answer.body["spec"]["settings"] == {"a": "1"}
    entry = _entries(answer.body)[("controller", "Apply")]
    assert entry["subresource"] == "status" and entry["fieldsV1"] == {"f:status": {"f:phase": {}}}
    missing = {**status, "metadata": {"name": "missing"}}
    assert _apply(http, f"{WIDGETS}/missing/status", missing, manager="controller").status == 404


def _status_crd() -> dict[str, Any]:
    crd = json.loads(json.dumps(WIDGET_CRD))
    version = crd["spec"]["versions"][0]
    version["subresources"] = {"status": {}}
    version["schema"]["openAPIV3Schema"]["properties"]["status"] = {
        "type": "object",
        "properties": {"phase": {"type": "string"}},
    }
    return dict(crd)


def test_more_than_ten_updaters_are_capped_into_ancient_changes(http: Http) -> None:
    http("POST", f"{CMS}?fieldManager=m0", _configmap({"k0": "v"}))
    for i in range(1, 13):
        patch = {"data": {f"k{i}": "v"}}
        http("PATCH", f"{CMS}/settings?fieldManager=m{i}", patch, content_type="application/merge-patch+json")
    entries = http("GET", f"{CMS}/settings").body["metadata"]["managedFields"]
    assert len(entries) == 10
    ancient = next(e for e in entries if e["manager"] == "ancient-changes")
    assert {"f:k0", "f:k1", "f:k2"} <= set(ancient["fieldsV1"]["f:data"])
    assert "m12" in {e["manager"] for e in entries}
