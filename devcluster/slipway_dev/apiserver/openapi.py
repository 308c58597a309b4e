"""OpenAPI v3 documents: enough for kubectl's server-side field validation check and `kubectl explain`.

Each group-version document lists every resource path with its group-version-kind and a PATCH operation
that accepts `fieldValidation`; custom resources carry their CRD's openAPIV3Schema, built-ins a minimal
schema. PATCH operations deliberately declare no request body, so kubectl computes strategic merge
patches of built-ins from its compiled-in types rather than from these schemas.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from slipway_dev.apiserver.builtin_schemas import INT_OR_STRING, INT_OR_STRING_SCHEMA, builtin_properties
from slipway_dev.apiserver.resources import Registry, ResourceType

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_META_SCHEMA: dict[str, Any] = {
    "description": "ObjectMeta is metadata that all persisted resources must have, which includes all "
    "objects users must create.",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {
            "type": "string",
            "description": "An optional prefix used to generate a unique name.",
        },
        "namespace": {
            "type": "string",
            "description": "Namespace defines the space within which each name must be unique.",
        },
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Map of string keys and values that can be used to organize and categorize "
            "objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Unstructured key value map stored with a resource.",
        },
        "finalizers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Must be empty before the object is deleted from the registry.",
        },
        "uid": {
            "type": "string",
            "description": "UID is the unique in time and space value for this object.",
        },
        "resourceVersion": {
            "type": "string",
            "description": "An opaque value that represents the internal version of this object.",
        },
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "A sequence number representing a specific generation of the desired state.",
        },
        "creationTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "The server time when this object was created.",
        },
        "deletionTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "The time after which this resource will be deleted.",
        },
    },
}

_TYPE_FIELDS: dict[str, Any] = {
    "apiVersion": {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    },
    "kind": {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    },
}


def schema_name(resource: ResourceType) -> str:
    if resource.custom:
        reversed_group = ".".join(reversed(resource.group.split(".")))
        return f"{reversed_group}.{resource.version}.{resource.kind}"
    group = resource.group.split(".")[0] if resource.group else "core"
    return f"io.k8s.api.{group}.{resource.version}.{resource.kind}"


def _gvk(resource: ResourceType) -> dict[str, str]:
    return {"group": resource.group, "version": resource.version, "kind": resource.kind}


def _schema(resource: ResourceType) -> dict[str, Any]:
    if resource.custom and resource.schema:
        schema = copy.deepcopy(resource.schema)
    else:
        described = builtin_properties(resource.group, resource.kind)
        schema = {
            "type": "object",
            "description": f"{resource.kind} served by the Slipway dev cluster.",
            "properties": copy.deepcopy(described)
            if described is not None
            else {"spec": {"type": "object"}, "status": {"type": "object"}},
        }
    properties = schema.setdefault("properties", {})
    properties.update(copy.deepcopy(_TYPE_FIELDS))
    properties["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{_OBJECT_META}"}],
        "description": "Standard object's metadata.",
    }
    schema["x-kubernetes-group-version-kind"] = [_gvk(resource)]
    return schema


def _operation(resource: ResourceType, action: str, with_field_validation: bool) -> dict[str, Any]:
    parameters = [{"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}}]
    if with_field_validation:
        parameters.append(
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        )
    return {
        "operationId": f"{action}{resource.kind}",
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name(resource)}"}}
                },
            }
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(resource),
    }


def _paths(resource: ResourceType) -> dict[str, Any]:
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    scope = "/namespaces/{namespace}" if resource.namespaced else ""
    item = {
        "get": _operation(resource, "get", False),
        "put": _operation(resource, "put", True),
        "patch": _operation(resource, "patch", True),
        "delete": _operation(resource, "delete", False),
    }
    collection = {"get": _operation(resource, "list", False), "post": _operation(resource, "post", True)}
    paths = {
        f"{prefix}{scope}/{resource.plural}": collection,
        f"{prefix}{scope}/{resource.plural}/{{name}}": item,
    }
    if resource.status_subresource:
        paths[f"{prefix}{scope}/{resource.plural}/{{name}}/status"] = {
            "get": _operation(resource, "get", False),
            "patch": _operation(resource, "patch", True),
            "put": _operation(resource, "put", True),
        }
    return paths


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        _OBJECT_META: copy.deepcopy(_META_SCHEMA),
        INT_OR_STRING: copy.deepcopy(INT_OR_STRING_SCHEMA),
    }
    for resource in resources:
        paths.update(_paths(resource))
        schemas[schema_name(resource)] = _schema(resource)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _path_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def document_hash(document: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:64].upper()


def root_document(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            document = group_version_document(registry, group, version)
            assert document is not None
            key = _path_key(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={document_hash(document)}"}
    return {"paths": paths}
