"""`/openapi/v2`: the Swagger 2.0 document kubectl falls back to for kinds /openapi/v3 does not list.

kubectl asks for it as gnostic protobuf (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`)
when it validates a kind missing from v3 (an unknown kind, a custom resource whose CRD is in the same
file) and accepts nothing else; JSON is served to anyone asking for it. The document lists each
resource's paths with the PATCH operation's `fieldValidation` parameter and its group-version-kind, as
kubectl's query-parameter check reads them. It deliberately carries no definitions: without them kubectl
computes strategic merge patches and client-side checks from its compiled-in types, exactly as the v3
documents (which declare no request bodies) already make it do.
"""

from __future__ import annotations

from typing import Any

from slipway_dev.apiserver.resources import Registry, ResourceType

# What kubectl asks for, and what a real server answers with ('@' is no MIME token character: Go's
# parser, in kubectl, refuses it in a Content-Type).
PROTOBUF_V2_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_INFO = {"title": "Kubernetes", "version": "v1.32.0"}


def _gvk(resource: ResourceType) -> dict[str, str]:
    return {"group": resource.group, "kind": resource.kind, "version": resource.version}


def _operation(resource: ResourceType, action: str, field_validation: bool) -> dict[str, Any]:
    parameters = [{"name": "dryRun", "in": "query", "type": "string", "uniqueItems": True}]
    if field_validation:
        parameters.append({"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": True})
    return {
        "operationId": f"{action}{resource.kind}",
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(resource),
    }


def _paths(resource: ResourceType) -> dict[str, dict[str, Any]]:
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    scope = "/namespaces/{namespace}" if resource.namespaced else ""
    base = f"{prefix}{scope}/{resource.plural}"
    return {
        base: {"get": _operation(resource, "list", False), "post": _operation(resource, "post", True)},
        f"{base}/{{name}}": {
            "get": _operation(resource, "get", False),
            "put": _operation(resource, "put", True),
            "patch": _operation(resource, "patch", True),
            "delete": _operation(resource, "delete", False),
        },
    }


def document(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for resource in sorted(registry, key=lambda r: (r.group, r.version, r.plural)):
        paths.update(_paths(resource))
    return {"swagger": "2.0", "info": dict(_INFO), "paths": paths}


# -- the gnostic protobuf encoding (openapiv2/OpenAPIv2.proto), only the messages used above


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _string(field: int, text: str) -> bytes:
    return _bytes(field, text.encode()) if text else b""


def _bool(field: int, value: bool) -> bytes:
    return _varint(field << 3) + b"\x01" if value else b""


def _named_any(name: str, yaml_text: str) -> bytes:
    # NamedAny{name=1, value=2: Any{yaml=2}}
    return _string(1, name) + _bytes(2, _string(2, yaml_text))


def _extension_yaml(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"{key}: {_scalar_yaml(item)}\n" for key, item in value.items())
    return _scalar_yaml(value) + "\n"


def _scalar_yaml(value: Any) -> str:
    return '""' if value == "" else str(value)


def _parameter(parameter: dict[str, Any]) -> bytes:
    # ParametersItem{parameter=1: Parameter{non_body_parameter=2: NonBodyParameter{
    #   query_parameter_sub_schema=3: QueryParameterSubSchema{in=2, name=4, type=6, unique_items=20}}}}
    query = (
        _string(2, parameter["in"])
        + _string(4, parameter["name"])
        + _string(6, parameter["type"])
        + _bool(20, parameter.get("uniqueItems", False))
    )
    return _bytes(1, _bytes(2, _bytes(3, query)))


def _operation_pb(operation: dict[str, Any]) -> bytes:
    # Operation{operation_id=5, parameters=8, responses=9, vendor_extension=13}
    out = _string(5, operation["operationId"])
    out += b"".join(_bytes(8, _parameter(p)) for p in operation["parameters"])
    # Responses{response_code=1: NamedResponseValue{name=1, value=2: ResponseValue{response=1:
    #   Response{description=1}}}}
    responses = b"".join(
        _bytes(1, _string(1, code) + _bytes(2, _bytes(1, _string(1, answer["description"]))))
        for code, answer in operation["responses"].items()
    )
    out += _bytes(9, responses)
    for name in ("x-kubernetes-action", "x-kubernetes-group-version-kind"):
        out += _bytes(13, _named_any(name, _extension_yaml(operation[name])))
    return out


_PATH_ITEM_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}


def encode_protobuf(doc: dict[str, Any]) -> bytes:
    # Document{swagger=1, info=2: Info{title=1, version=2}, paths=8: Paths{path=2: NamedPathItem}}
    out = _string(1, doc["swagger"])
    out += _bytes(2, _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"]))
    paths = b""
    for path, item in doc["paths"].items():
        body = b"".join(
            _bytes(_PATH_ITEM_FIELDS[verb], _operation_pb(operation)) for verb, operation in item.items()
        )
        paths += _bytes(2, _string(1, path) + _bytes(2, body))
    return out + _bytes(8, paths)
