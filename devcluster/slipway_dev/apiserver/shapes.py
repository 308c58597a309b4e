"""The JSON types of the built-in fields the server itself reads (defaulting, tables, scale, CRDs).

A real server decodes built-in objects into typed structs, so a string where a number belongs is a 400
and `null` means "not set". Without those structs, this table checks the fields the server relies on,
and nulls are dropped, so that no malformed object is stored and nothing downstream trips over one.
"""

from __future__ import annotations

import json
from typing import Any

from slipway_dev.apiserver.errors import bad_request

_CONTAINERS = ("spec.template.spec.containers", "object-list")
_CONTAINER_FIELDS = [
    ("spec.template.spec.containers[].name", "string"),
    ("spec.template.spec.containers[].image", "string"),
    ("spec.template.spec.containers[].env", "object-list"),
    ("spec.template.spec.containers[].ports", "object-list"),
]
_WORKLOAD = [
    ("spec.replicas", "int"),
    ("spec.selector", "object"),
    ("spec.selector.matchLabels", "string-map"),
    ("spec.template", "object"),
    ("spec.template.metadata", "object"),
    ("spec.template.metadata.labels", "string-map"),
    ("spec.template.spec", "object"),
    _CONTAINERS,
    *_CONTAINER_FIELDS,
    ("status.replicas", "int"),
    ("status.readyReplicas", "int"),
    ("status.availableReplicas", "int"),
    ("status.updatedReplicas", "int"),
]

_SHAPES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("apps", "Deployment"): [*_WORKLOAD, ("spec.strategy", "object")],
    ("apps", "ReplicaSet"): _WORKLOAD,
    ("batch", "Job"): [
        ("spec.template", "object"),
        ("spec.template.spec", "object"),
        _CONTAINERS,
        *_CONTAINER_FIELDS,
    ],
    ("", "Pod"): [
        ("spec.containers", "object-list"),
        ("spec.containers[].name", "string"),
        ("status.containerStatuses", "object-list"),
    ],
    ("", "Service"): [
        ("spec.ports", "object-list"),
        ("spec.ports[].port", "int"),
        ("spec.selector", "string-map"),
        ("spec.type", "string"),
    ],
    ("", "ConfigMap"): [("data", "string-map"), ("binaryData", "string-map")],
    ("", "Secret"): [("data", "string-map"), ("stringData", "string-map"), ("type", "string")],
    ("", "Namespace"): [("spec.finalizers", "string-list")],
    ("", "Event"): [("involvedObject", "object")],
    ("apiextensions.k8s.io", "CustomResourceDefinition"): [
        ("spec.group", "string"),
        ("spec.scope", "string"),
        ("spec.names", "object"),
        ("spec.names.plural", "string"),
        ("spec.names.singular", "string"),
        ("spec.names.kind", "string"),
        ("spec.names.shortNames", "string-list"),
        ("spec.names.categories", "string-list"),
        ("spec.versions", "object-list"),
        ("spec.versions[].name", "string"),
        ("spec.versions[].served", "bool"),
        ("spec.versions[].storage", "bool"),
        ("spec.versions[].schema", "object"),
        ("spec.versions[].schema.openAPIV3Schema", "object"),
        ("spec.versions[].subresources", "object"),
        ("spec.versions[].subresources.scale", "object"),
        ("spec.versions[].subresources.scale.specReplicasPath", "string"),
        ("spec.versions[].subresources.scale.statusReplicasPath", "string"),
        ("spec.versions[].additionalPrinterColumns", "object-list"),
        ("spec.versions[].additionalPrinterColumns[].name", "string"),
        ("spec.versions[].additionalPrinterColumns[].jsonPath", "string"),
        ("spec.versions[].additionalPrinterColumns[].priority", "int"),
    ],
}

_TYPE_NAMES = {
    "object": "object",
    "object-list": "array of objects",
    "string": "string",
    "int": "integer",
    "bool": "boolean",
    "string-map": "map of strings",
    "string-list": "array of strings",
}


def _matches(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "object-list":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if expected == "string":
        return isinstance(value, str)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "bool":
        return isinstance(value, bool)
    if expected == "string-map":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _values(obj: Any, path: list[str]) -> list[tuple[str, Any]]:
    """(concrete path, value) for every place `path` reaches; `[]` steps into each list element."""
    found = [("", obj)]
    for step in path:
        each = step.endswith("[]")
        key = step.removesuffix("[]")
        reached = []
        for where, value in found:
            if isinstance(value, dict) and key in value:
                child, at = value[key], f"{where}.{key}".lstrip(".")
                if each and isinstance(child, list):
                    reached += [(f"{at}[{i}]", item) for i, item in enumerate(child)]
                elif not each:
                    reached.append((at, child))
        found = reached
    return found


def _drop_nulls(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _without_nulls(value: Any) -> Any:
    """A private copy of a JSON value whose maps hold no nulls (list items stay as they are). Through
    the JSON codec, whose C code does the walk: every write of a built-in object comes here."""
    text = json.dumps(value)
    return json.loads(text, object_hook=_drop_nulls) if "null" in text else json.loads(text)


def normalized(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with nulls dropped, after checking the types the server reads; 400 on a mismatch."""
    meta = obj.get("metadata")
    managed = meta.pop("managedFields", None) if isinstance(meta, dict) else None
    result: dict[str, Any] = _without_nulls(obj)
    if managed is not None:  # field sets hold no nulls: no need to walk them
        result["metadata"]["managedFields"] = managed
    for field in ("spec", "status"):
        if field in result and not isinstance(result[field], dict):
            raise _mismatch(kind, field, "object")
    for path, expected in _SHAPES.get((group, kind), ()):
        for where, value in _values(result, path.split(".")):
            if not _matches(value, expected):
                raise _mismatch(kind, where, expected)
    return result


def _mismatch(kind: str, where: str, expected: str) -> Exception:
    return bad_request(f"{kind} cannot be handled: {where} must be {_TYPE_NAMES[expected]}")
