"""Bad input gets a Status error, never a crash or a hang, and leaves nothing half-written."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_support import ROOT_CA, Http, names

CMS = "/api/v1/namespaces/default/configmaps"


def _assert_status(response: Any, code: int, reason: str) -> None:
    assert response.status == code, response.body
    assert response.content_type == "application/json"
    assert response.body["kind"] == "Status"
    assert (response.body["code"], response.body["reason"]) == (code, reason)


def _nothing_stored(http: Http, rv_before: str) -> None:
    listed = http("GET", CMS).body
    assert names(listed["items"]) == [ROOT_CA]
    assert listed["metadata"]["resourceVersion"] == rv_before


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"metadata": {"name": "x"', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"metadata: {name: [unclosed", "application/yaml"),
        (b'["a", "list"]', "application/json"),
        (b'"just a string"', "application/json"),
    ],
)
def test_malformed_bodies_are_400(http: Http, raw: bytes, content_type: str) -> None:
    rv = http("GET", CMS).body["metadata"]["resourceVersion"]
    _assert_status(http("POST", CMS, raw=raw, content_type=content_type), 400, "BadRequest")
    _nothing_stored(http, rv)


def _nested(depth: int) -> bytes:
    """A ConfigMap whose extra field `x` nests objects so that the whole body is `depth` levels deep."""
    inner = depth - 1
    return b'{"metadata": {"name": "deep"}, "x": ' + b'{"a": ' * inner + b"1" + b"}" * inner + b"}"


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", CMS, "application/json"),
        ("PUT", f"{CMS}/{ROOT_CA}", "application/json"),
        ("PATCH", f"{CMS}/{ROOT_CA}", "application/merge-patch+json"),
        ("PATCH", f"{CMS}/deep?fieldManager=t", "application/apply-patch+yaml"),
    ],
)
def test_a_body_nested_too_deep_is_400_and_the_server_carries_on(
    http: Http, method: str, path: str, content_type: str
) -> None:
    rv = http("GET", CMS).body["metadata"]["resourceVersion"]
    for depth in (101, 3000, 100_000):
        _assert_status(http(method, path, raw=_nested(depth), content_type=content_type), 400, "BadRequest")
    refused = http(method, path, raw=_nested(3000), content_type=content_type).body
    assert refused["message"] == "the request body is nested too deeply: at most 100 levels are accepted"
    yaml_body = b"metadata: {name: deep}\nx: " + b"[" * 3000 + b"]" * 3000 + b"\n"
    _assert_status(http("POST", CMS, raw=yaml_body, content_type="application/yaml"), 400, "BadRequest")
    _nothing_stored(http, rv)
    # 100 levels are fine.
    assert http("POST", CMS, raw=_nested(100)).status == 201


def test_a_yaml_body_is_accepted(http: Http) -> None:
    created = http(
        "POST", CMS, raw=b"metadata: {name: from-yaml}\ndata: {a: b}\n", content_type="application/yaml"
    )
    assert created.status == 201
    assert created.body["data"] == {"a": "b"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/widgets",
        "/apis/nowhere.dev/v1/things",
        "/api/v2/pods",
        "/api/v1/namespaces/default/configmaps/x/status",
        "/nothing/here",
    ],
)
def test_unknown_resources_are_404(http: Http, path: str) -> None:
    _assert_status(http("GET", path), 404, "NotFound")


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        ("POST", "text/plain"),
        ("POST", "application/vnd.kubernetes.protobuf"),
        ("PATCH", "application/json"),
        ("PATCH", "text/plain"),
    ],
)
def test_wrong_content_types_are_415(http: Http, method: str, content_type: str) -> None:
    http("POST", CMS, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    path = CMS if method == "POST" else f"{CMS}/c"
    _assert_status(
        http(method, path, raw=b'{"data": {"k": "changed"}}', content_type=content_type),
        415,
        "UnsupportedMediaType",
    )
    assert http("GET", f"{CMS}/c").body["data"] == {"k": "v"}


def test_an_oversized_body_is_413_and_the_server_carries_on(http: Http) -> None:
    rv = http("GET", CMS).body["metadata"]["resourceVersion"]
    huge = b'{"metadata": {"name": "big"}, "data": {"k": "' + b"x" * (4 * 1024 * 1024) + b'"}}'
    _assert_status(http("POST", CMS, raw=huge), 413, "RequestEntityTooLarge")
    _nothing_stored(http, rv)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (CMS, "Upper"),
        (CMS, "under_score"),
        (CMS, "x" * 254),
        (CMS, "-leading"),
        ("/api/v1/namespaces", "dotted.name"),
        ("/api/v1/namespaces/default/services", "9starts-with-digit"),
    ],
)
def test_invalid_names_are_422_naming_the_field(http: Http, path: str, name: str) -> None:
    response = http("POST", path, {"metadata": {"name": name}})
    _assert_status(response, 422, "Invalid")
    assert [c["field"] for c in response.body["details"]["causes"]] == ["metadata.name"]
    assert name not in [item["metadata"]["name"] for item in http("GET", path).body["items"]]


def test_invalid_labels_and_mismatched_kinds_are_refused(http: Http) -> None:
    rv = http("GET", CMS).body["metadata"]["resourceVersion"]
    bad_label = http("POST", CMS, {"metadata": {"name": "c", "labels": {"a": "has space"}}})
    _assert_status(bad_label, 422, "Invalid")
    assert bad_label.body["details"]["causes"][0]["field"] == "metadata.labels.a"
    wrong_kind = http("POST", CMS, {"kind": "Secret", "metadata": {"name": "c"}})
    _assert_status(wrong_kind, 400, "BadRequest")
    wrong_namespace = http("POST", CMS, {"metadata": {"name": "c", "namespace": "kube-system"}})
    _assert_status(wrong_namespace, 400, "BadRequest")
    missing_namespace = http("POST", "/api/v1/namespaces/nowhere/configmaps", {"metadata": {"name": "c"}})
    _assert_status(missing_namespace, 404, "NotFound")
    _nothing_stored(http, rv)


def test_a_json_patch_failing_midway_changes_nothing(http: Http) -> None:
    created = http("POST", CMS, {"metadata": {"name": "c"}, "data": {"k": "v"}}).body
    patch = [
        {"op": "replace", "path": "/data/k", "value": "changed"},
        {"op": "remove", "path": "/data/missing"},
    ]
    _assert_status(http("PATCH", f"{CMS}/c", patch, "application/json-patch+json"), 422, "Invalid")
    after = http("GET", f"{CMS}/c").body
    assert after == created


@pytest.mark.parametrize(
    "query", ["labelSelector=a%20in%20(", "labelSelector=a=b=c", "fieldSelector=%21%21", "continue=%25%25%25"]
)
def test_bad_selectors_and_tokens_are_400(http: Http, query: str) -> None:
    _assert_status(http("GET", f"{CMS}?{query}"), 400, "BadRequest")


def test_unsupported_methods_are_405(http: Http) -> None:
    _assert_status(http("PUT", CMS, {"metadata": {"name": "c"}}), 405, "MethodNotAllowed")
    _assert_status(http("POST", "/api/v1", {"metadata": {"name": "c"}}), 405, "MethodNotAllowed")
