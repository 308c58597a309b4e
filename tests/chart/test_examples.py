"""The sample manifests in examples/ are valid Releases, as `slipway validate` and the CRD judge them.
What each one does on a cluster is tests/e2e/test_e2e_examples.py's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slipway.api.crd import build_crd
from slipway.api.models import Release
from slipway.api.validation import release_problems
from slipway_dev.schema import validate_custom_resource

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples_of_each_strategy() -> None:
    strategies = {next(iter(yaml.safe_load(p.read_text())["spec"]["strategy"])) for p in EXAMPLES}
    assert strategies == {"canary", "blueGreen", "rolling"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_a_valid_release(path: Path) -> None:
    release = Release.model_validate(yaml.safe_load(path.read_text()))
    assert release.metadata["name"] and release.spec.version


ENVIRONMENTS = Path(__file__).resolve().parents[2] / "examples" / "environments"


def test_the_environments_example_chains_dev_staging_prod() -> None:
    """Valid for `slipway validate` (the models) and for the CRD, and each names the one before."""
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    upstream: dict[str, str | None] = {}
    for path in sorted(ENVIRONMENTS.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        assert release_problems(document) == []
        assert validate_custom_resource(schema, document)[1] == []
        release = Release.model_validate(document)
        promotion = release.spec.promotion
        upstream[release.metadata["namespace"]] = promotion.from_.namespace if promotion else None
    assert upstream == {"dev": None, "staging": "dev", "prod": "staging"}
