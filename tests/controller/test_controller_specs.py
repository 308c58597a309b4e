"""The specs of Releases in flight: a spec unchanged since the Release's last pass is not read again
(validated, checked against the config), an edited one is, and nothing is kept of a Release forgotten."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from slipway import plugins
from slipway.api.models import ReleaseSpec
from slipway.controller.queue import ReleaseKey
from slipway.controller.specs import ValidatedSpecs
from slipway.core.obstacles import Obstacle

WEB = ReleaseKey("shop", "web")


def spec(version: str, replicas: Any = 1) -> dict[str, Any]:
    return {
        "version": version,
        "replicas": replicas,
        "template": {"spec": {"containers": [{"name": "web", "image": f"example/web:{version}"}]}},
        "service": {"port": 80},
        "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
    }


class Checks:
    """What `unmet` says of a spec (too many replicas, say), and how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self, spec: ReleaseSpec) -> tuple[Obstacle, ...]:
        self.asked += 1
        return (Obstacle("TooBig", "spec.replicas", "at most 3"),) if spec.replicas > 3 else ()


@pytest.fixture(autouse=True)
def _plugins() -> None:
    plugins.load()


def test_an_unchanged_spec_is_read_once_an_edited_one_again() -> None:
    checks = Checks()
    specs = ValidatedSpecs(checks)
    first, unmet = specs.read(WEB, spec("1"))
    assert unmet == () and checks.asked == 1
    # Read again (another pass: a fresh dict from another read of the same Release).
    assert specs.read(WEB, copy.deepcopy(spec("1")))[0] is first
    assert checks.asked == 1
    edited, unmet = specs.read(WEB, spec("1", replicas=5))
    assert edited is not first and edited.replicas == 5
    assert unmet == (Obstacle("TooBig", "spec.replicas", "at most 3"),) and checks.asked == 2
    assert specs.read(WEB, spec("1", replicas=5)) == (edited, unmet) and checks.asked == 2
    # Another Release with the same spec has a model of its own.
    assert specs.read(ReleaseKey("shop", "api"), spec("1", replicas=5))[0] is not edited


def test_a_spec_the_models_reject_raises_each_time_and_keeps_nothing_of_itself() -> None:
    specs = ValidatedSpecs(Checks())
    valid = specs.read(WEB, spec("1"))
    for _ in range(2):
        with pytest.raises(ValidationError, match="replicas"):
            specs.read(WEB, spec("1", replicas="two"))
    assert specs.read(WEB, spec("1"))[0] is valid[0]


def test_a_forgotten_release_keeps_nothing() -> None:
    specs = ValidatedSpecs(Checks())
    first, _ = specs.read(WEB, spec("1"))
    assert WEB in specs
    specs.forget(WEB)
    assert WEB not in specs
    again, _ = specs.read(WEB, spec("1"))
    assert again is not first and again == first


def test_a_release_no_pass_read_for_a_while_keeps_nothing_from_the_next_read_of_any() -> None:
    now = [0.0]
    specs = ValidatedSpecs(Checks(), keep_seconds=60, clock=lambda: now[0])
    api = ReleaseKey("shop", "api")
    specs.read(WEB, spec("1"))
    specs.read(api, spec("1"))
    now[0] = 50
    specs.read(api, spec("1"))  # read again: kept 60 s from now
    now[0] = 61
    specs.read(api, spec("1"))
    # Waiting at a manual pause for days, moved to another replica, deleted unseen: gone all the same.
    assert WEB not in specs and api in specs
    now[0] = 200
    specs.read(WEB, spec("1"))
    assert api not in specs and WEB in specs
