"""The Release CRD is generated from the models, is structural, and crds/ holds exactly its output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from typer.testing import CliRunner

from slipway.api.crd import build_crd, release_schema, render_crd
from slipway.cli import build_app

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "releases.slipway.dev.yaml"

# Keys a structural schema may not carry (or that only JSON Schema, never OpenAPI v3.0, knows).
FORBIDDEN_KEYS = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "title", "const", "prefixItems"}


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def test_crds_folder_holds_the_generated_crd() -> None:
    assert CRD_FILE.read_text() == render_crd(), "crds/ is stale: run `make crd`"


def test_slipway_crd_prints_it() -> None:
    result = CliRunner().invoke(build_app(), ["crd"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout) == build_crd()


def test_names_columns_and_status_subresource() -> None:
    spec = build_crd()["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["plural"]) == (
        "slipway.dev",
        "Namespaced",
        "releases",
    )
    assert spec["names"]["shortNames"] == ["rel"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {column["name"]: column["jsonPath"] for column in version["additionalPrinterColumns"]}
    assert columns == {
        "Version": ".spec.version",
        "Phase": ".status.phase",
        "Weight": ".status.canaryWeight",
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Age": ".metadata.creationTimestamp",
    }


def test_the_schema_is_structural() -> None:
    for path, node in nodes(release_schema()):
        assert not FORBIDDEN_KEYS & node.keys(), path
        assert node.get("additionalProperties") is not False, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        assert node.get("type") != "null", path
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True and "minimum" in node, path


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    undocumented = [
        path
        for path, node in nodes(release_schema())
        if path and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    # A description there is refused: ObjectMeta documents itself.
    assert undocumented == [".metadata", ".metadata.name"]


def test_root_metadata_is_only_typed_as_the_api_server_demands() -> None:
    # name is the one field it may describe, as a string: the root rules on it name it in fieldPath.
    assert release_schema()["properties"]["metadata"] == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
    }


def test_defaults_are_kept_and_the_rollback_policy_defaults_as_a_whole() -> None:
    spec = release_schema()["properties"]["spec"]["properties"]
    assert spec["replicas"]["default"] == 1
    assert spec["rollback"]["default"] == {}
    assert spec["rollback"]["properties"]["progressDeadlineSeconds"]["default"] == 600
    assert spec["analysis"]["properties"]["interval"]["default"] == "30s"


def test_template_keeps_unknown_fields_but_requires_containers() -> None:
    template = release_schema()["properties"]["spec"]["properties"]["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
    assert template["x-kubernetes-embedded-resource"] is False
    containers = template["properties"]["spec"]["properties"]["containers"]
    assert containers["minItems"] == 1


@pytest.mark.parametrize(
    "path",
    [path for path, node in nodes(release_schema()) if node.get("x-kubernetes-validations")],
)
def test_cel_rules_compile_and_carry_a_message(path: str) -> None:
    node = dict(nodes(release_schema()))[path]
    environment = celpy.Environment()
    for rule in node["x-kubernetes-validations"]:
        environment.compile(rule["rule"])
        assert rule["message"]


def test_the_cel_rules_cover_what_openapi_cannot_say() -> None:
    messages = [
        rule["message"]
        for _, node in nodes(release_schema())
        for rule in node.get("x-kubernetes-validations", [])
    ]
    for expected in (
        "exactly one of canary, blueGreen, rolling must be set",
        "each step must set exactly one of setWeight, pause, analysis, setCanaryRoute, removeCanaryRoute,"
        " setMirror",
        "exactly one of builtin, job, prometheus, web must be set",  # providers in module order
        "min must be <= max",
        "analysis steps need spec.analysis",
    ):
        assert expected in messages
    metrics = release_schema()["properties"]["spec"]["properties"]["analysis"]["properties"]["metrics"]
    assert (metrics["x-kubernetes-list-type"], metrics["x-kubernetes-list-map-keys"]) == ("map", ["name"])
