"""Typed `kubectl create <kind>` sends protobuf: what the server stores must be what kubectl meant, field
for field, as kubectl itself renders the same command with --dry-run=client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apiserver_support import ROOT_CA, Http, Kubectl, names

PROTOBUF = "application/vnd.kubernetes.protobuf"

COMMANDS = [
    ("namespace", ["create", "namespace", "shop"]),
    ("configmap", ["create", "configmap", "settings", "--from-literal=colour=blue", "--from-literal=size=3"]),
    (
        "secret",
        ["create", "secret", "generic", "token", "--from-literal=key=s3cr3t", "--type=example.com/token"],
    ),
    ("serviceaccount", ["create", "serviceaccount", "robot"]),
    ("deployment", ["create", "deployment", "web", "--image=example/web:1", "--replicas=3", "--port=8080"]),
    ("deployment", ["create", "deployment", "idle", "--image=example/web:1", "--replicas=0"]),
    ("service", ["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:https"]),
    ("service", ["create", "service", "nodeport", "edge", "--tcp=80:8080", "--node-port=30080"]),
    ("job", ["create", "job", "once", "--image=busybox", "--", "echo", "hello"]),
    (
        "cronjob",
        [
            "create",
            "cronjob",
            "pi",
            "--schedule=59 23 31 2 *",
            "--image=perl",
            "--",
            "perl",
            "-wle",
            "print 1",
        ],
    ),
    (
        "ingress",
        ["create", "ingress", "web", "--class=nginx", "--rule=shop.example.com/cart*=web:80,tls=cert"],
    ),
]


def _meaningful(value: Any) -> Any:
    """Drop what JSON's omitempty drops (empty maps, nulls), as both sides do."""
    if isinstance(value, dict):
        cleaned = {k: _meaningful(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ({}, None)}
    if isinstance(value, list):
        return [_meaningful(v) for v in value]
    return value


def _assert_contains(stored: Any, expected: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(stored, dict), path
        for key, value in expected.items():
            assert key in stored, f"{path}.{key} missing from the stored object"
            _assert_contains(stored[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(stored, list) and len(stored) == len(expected), path
        for index, (left, right) in enumerate(zip(stored, expected, strict=True)):
            _assert_contains(left, right, f"{path}[{index}]")
    else:
        assert stored == expected, f"{path}: {stored!r} != {expected!r}"


@pytest.mark.parametrize(("kind", "command"), COMMANDS, ids=[" ".join(c[1][1:3]) for c in COMMANDS])
def test_typed_create_stores_what_kubectl_meant(kubectl: Kubectl, kind: str, command: list[str]) -> None:
    split = command.index("--") if "--" in command else len(command)
    rendered = kubectl(*command[:split], "--dry-run=client", "-o", "json", *command[split:])
    meant = _meaningful(json.loads(rendered))
    kubectl(*command)
    name = meant["metadata"]["name"]
    stored = kubectl.json("get", kind, name)
    _assert_contains(stored, meant)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (numbers and lengths here stay below 128: one byte each)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def _configmap_body(extra: bytes) -> bytes:
    type_meta = _field(1, b"v1") + _field(2, b"ConfigMap")
    configmap = _field(1, _field(1, b"c")) + extra
    return b"k8s\x00" + _field(1, type_meta) + _field(2, configmap)


@pytest.mark.parametrize(
    "body",
    [
        _configmap_body(_field(15, b"unknown")),
        _configmap_body(b"")[:-3],
        b"k8s\x00" + _field(1, _field(1, b"v1") + _field(2, b"Pod")),
        b"not protobuf at all",
    ],
    ids=["unknown field", "truncated", "unmapped kind", "no envelope"],
)
def test_protobuf_the_server_cannot_read_is_415_and_stores_nothing(http: Http, body: bytes) -> None:
    configmaps = "/api/v1/namespaces/default/configmaps"
    assert http("POST", configmaps, raw=_configmap_body(b""), content_type=PROTOBUF).status == 201
    assert http("DELETE", f"{configmaps}/c").status == 200
    refused = http("POST", configmaps, raw=body, content_type=PROTOBUF)
    assert (refused.status, refused.body["reason"]) == (415, "UnsupportedMediaType")
    assert names(http("GET", configmaps).body["items"]) == [ROOT_CA]
