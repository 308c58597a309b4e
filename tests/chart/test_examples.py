"""The sample manifests in examples/ are valid Releases, as `slipway validate` and the CRD judge them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slipway.api.models import Release

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples_of_each_strategy() -> None:
    strategies = {next(iter(yaml.safe_load(p.read_text())["spec"]["strategy"])) for p in EXAMPLES}
    assert strategies == {"canary", "blueGreen", "rolling"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_a_valid_release(path: Path) -> None:
    release = Release.model_validate(yaml.safe_load(path.read_text()))
    assert release.metadata["name"] and release.spec.version
