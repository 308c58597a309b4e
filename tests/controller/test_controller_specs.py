"""The validated specs of Releases in flight: a spec unchanged since the Release's last pass is not
validated again, an edited one is, and nothing is kept of a Release forgotten."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from slipway import plugins
from slipway.controller.queue import ReleaseKey
from slipway.controller.specs import ValidatedSpecs

WEB = ReleaseKey("shop", "web")


def spec(version: str) -> dict[str, Any]:
    return {
        "version": version,
        "template": {"spec": {"containers": [{"name": "web", "image": f"example/web:{version}"}]}},
        "service": {"port": 80},
        "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
    }


@pytest.fixture(autouse=True)
def _plugins() -> None:
    plugins.load()


def test_an_unchanged_spec_gives_the_model_validated_before_an_edited_one_a_new_model() -> None:
    specs = ValidatedSpecs()
    first = specs.validated(WEB, spec("1"))
    # Read again (another pass: a fresh dict from another read of the same Release).
    assert specs.validated(WEB, copy.deepcopy(spec("1"))) is first
    edited = specs.validated(WEB, spec("2"))
    assert edited is not first and edited.version == "2"
    assert specs.validated(WEB, spec("2")) is edited
    # Another Release with the same spec has a model of its own.
    assert specs.validated(ReleaseKey("shop", "api"), spec("2")) is not edited


def test_a_spec_the_models_reject_raises_each_time_and_keeps_nothing_of_itself() -> None:
    specs = ValidatedSpecs()
    valid = specs.validated(WEB, spec("1"))
    broken = {**spec("1"), "replicas": "two"}
    for _ in range(2):
        with pytest.raises(ValidationError, match="replicas"):
            specs.validated(WEB, broken)
    assert specs.validated(WEB, spec("1")) is valid


def test_a_forgotten_release_keeps_nothing() -> None:
    specs = ValidatedSpecs()
    first = specs.validated(WEB, spec("1"))
    assert WEB in specs
    specs.forget(WEB)
    assert WEB not in specs
    again = specs.validated(WEB, spec("1"))
    assert again is not first and again == first
