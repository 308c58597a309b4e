"""The CustomResourceDefinition of releases.slipway.dev, generated from the pydantic models.

Pydantic writes JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3.0 schema: every
node typed, no $ref, no `anyOf` carrying types (except the int-or-string form), boolean
exclusiveMinimum, no `additionalProperties: false` (pruning does that job), no `null` types (the API
server drops nulls of non-nullable fields before defaulting). `to_structural` does that translation.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

from slipway.api.models import GROUP, KIND, VERSION, Release

PLURAL: Final = "releases"
SINGULAR: Final = "release"
SHORT_NAMES: Final = ["rel"]
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# Keys pydantic writes that carry no meaning for the API server, or that it forbids.
_DROPPED_KEYS: Final = frozenset(
    {"title", "$defs", "additionalProperties", "default", "anyOf", "allOf", "$ref"}
)

PRINTER_COLUMNS: Final = [
    {"name": "Version", "type": "string", "jsonPath": ".spec.version", "description": "Desired version."},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Phase of the rollout."},
    {
        "name": "Weight",
        "type": "integer",
        "jsonPath": ".status.canaryWeight",
        "description": "Percentage of traffic on the canary.",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Ready condition.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def to_structural(schema: dict[str, Any], definitions: dict[str, Any] | None = None) -> dict[str, Any]:
    """A structural OpenAPI v3.0 schema from a pydantic JSON schema (`definitions` resolves $ref)."""
    definitions = schema.get("$defs", {}) if definitions is None else definitions
    node = _inline(schema, definitions)
    result: dict[str, Any] = {key: value for key, value in node.items() if key not in _DROPPED_KEYS}
    branches = [branch for branch in node.get("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        result = _beneath(result, to_structural(branches[0], definitions))
    elif branches:
        result.update(_int_or_string(branches, definitions))
    if "default" in node and node["default"] is not None:
        result["default"] = node["default"]
    if "exclusiveMinimum" in node:
        result["minimum"], result["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "properties" in node:
        result["properties"] = {
            name: to_structural(child, definitions) for name, child in node["properties"].items()
        }
    if "items" in node:
        result["items"] = to_structural(node["items"], definitions)
    additional = node.get("additionalProperties")
    if isinstance(additional, dict) and additional:
        result["additionalProperties"] = to_structural(additional, definitions)
    elif additional is True or (result.get("type") == "object" and additional == {}):
        result["x-kubernetes-preserve-unknown-fields"] = True
    return result


def _inline(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`node` with a $ref (or a one-element allOf of one) replaced by its target; node's own keys win."""
    reference = node.get("$ref") or (
        node["allOf"][0].get("$ref") if len(node.get("allOf", [])) == 1 else None
    )
    if reference is None:
        return node
    target = definitions[reference.rsplit("/", 1)[-1]]
    return _beneath(
        {k: v for k, v in node.items() if k not in {"$ref", "allOf"}}, _inline(target, definitions)
    )


def _beneath(field: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """A field's schema over its model's: the field's keys win, but both descriptions are kept.

    The field says what it is for, the model's docstring what it holds (e.g. "exactly one of ...");
    `kubectl explain` should show both.
    """
    merged = {**model, **field}
    own, shared = field.get("description"), model.get("description")
    if own and shared and own != shared:
        merged["description"] = f"{own} {shared}"
    return merged


def _int_or_string(branches: list[dict[str, Any]], definitions: dict[str, Any]) -> dict[str, Any]:
    """An int | str union in the one form the API server accepts: untyped, x-kubernetes-int-or-string.

    Value validations of both branches sit side by side; JSON Schema applies numeric keywords only to
    numbers and string keywords only to strings, so each still checks only its own branch.
    """
    types = {branch.get("type") for branch in branches}
    if types != {"integer", "string"}:
        raise ValueError(f"only int | str unions can be expressed in a structural schema, got {types}")
    merged: dict[str, Any] = {"x-kubernetes-int-or-string": True}
    for branch in branches:
        merged.update({k: v for k, v in to_structural(branch, definitions).items() if k != "type"})
    return merged


def release_schema() -> dict[str, Any]:
    """The openAPIV3Schema of a Release."""
    schema = to_structural(Release.model_json_schema(by_alias=True))
    properties = schema["properties"]
    # An object's own apiVersion, kind and metadata belong to the API server: a type, at most a
    # description, never a default; metadata not even a description (ObjectMeta documents itself).
    for name in ("apiVersion", "kind"):
        properties[name] = {"type": "string", "description": properties[name]["description"]}
    # Only name may be described here (and generateName): the root rules on it name its path.
    properties["metadata"] = {"type": "object", "properties": {"name": {"type": "string"}}}
    return schema


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition for releases.slipway.dev/v1alpha1."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": release_schema()},
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as the YAML that `slipway crd` prints and crds/releases.slipway.dev.yaml holds."""
    return yaml.safe_dump(build_crd(), sort_keys=False, width=120)
