"""`slipway validate`, `slipway plan` and a pass of the core never crash on a Release the CRD accepts.

Releases are drawn from the CRD's own schema (tests/support/crd_strategy.py) and kept when the dev
cluster's schema enforcement — what the API server does with the CRD — accepts them. Each is then
validated and planned through the real command line, and given to `decide` for a first pass with the
operator's readiness checks, and the objects that pass asks for are built. Issue 13 found three crashes
this way (an OverflowError from a huge duration, a URL the parser refused, a Deployment name too long).

A few hundred examples in CI; SLIPWAY_CRD_EXAMPLES=10000 (`make bench`) for a nightly-sized run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from crd_strategy import from_schema
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.main import get_command

from slipway.api.crd import build_crd
from slipway.api.models import RELEASE_NAME_PATTERN
from slipway.api.validation import parse_release, release_problems
from slipway.cli import build_app
from slipway.core import rehearsal
from slipway.core.actions import EnsureRevision, Route
from slipway.core.machine import decide
from slipway.core.observations import Observations
from slipway.core.obstacles import INVALID_SPEC, Obstacle
from slipway.manifests import ReleaseRef, revision_deployment
from slipway.plugins import readiness
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.registry import inexpressible_in, router_for
from slipway.runtime.config import OperatorConfig
from slipway_dev.schema import validate_custom_resource

NIGHTLY = "SLIPWAY_CRD_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("SLIPWAY_CRD_EXAMPLES", "300"))
SCHEMA: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Built once: building the command line takes longer than most examples.
SLIPWAY = get_command(build_app())
SPECS = from_schema(SCHEMA["properties"]["spec"])
NAMES = st.from_regex(RELEASE_NAME_PATTERN, fullmatch=True).filter(lambda name: len(name) <= 63)


@pytest.fixture(scope="module", autouse=True)
def shorter_rehearsals() -> Iterator[None]:
    """In CI a plan rehearses 100 passes, not 2000: a drawn Release often waits long (a second's
    interval under a pause of hours), and 2000 passes take seconds. The nightly run rehearses in full."""
    with pytest.MonkeyPatch.context() as patch:
        if not NIGHTLY:
            patch.setattr(rehearsal, "MAX_PASSES", 100)
        yield


@st.composite
def accepted_releases(draw: st.DrawFn) -> dict[str, Any]:
    """A Release as the API server stores it (pruned, defaulted), drawn from the CRD's schema."""
    release = {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {
            "name": draw(NAMES),
            "namespace": "shop",
            "uid": "0",
        },
        "spec": draw(SPECS),
    }
    stored, causes = validate_custom_resource(SCHEMA, release)
    assume(not causes)
    return stored


def run(command: str, release: dict[str, Any]) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "release.yaml"
        path.write_text(yaml.safe_dump(release))
        result = CliRunner().invoke(SLIPWAY, [command, str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def first_pass(release: dict[str, Any]) -> None:
    """What the operator's first pass computes from the Release, short of any I/O."""
    problems = release_problems(release)
    if problems:
        obstacles = tuple(Obstacle(INVALID_SPEC, p.field, p.message) for p in problems)
        decision = decide(None, None, Observations(generation=1, obstacles=obstacles), NOW)
        assert decision.status.phase == "Degraded"
        return
    spec = parse_release(release).spec
    obstacles = readiness(spec, OperatorConfig())
    decision = decide(spec, None, Observations(generation=1, obstacles=obstacles), NOW)
    ref = ReleaseRef(namespace="shop", name=release["metadata"]["name"], uid="0")
    ports = ServicePorts(spec.service.port, spec.service.target_port or spec.service.port)
    for action in decision.actions:
        if isinstance(action, EnsureRevision):
            revision_deployment(ref, action.revision, action.version, action.replicas, spec.template)
        elif isinstance(action, Route):
            split = TrafficSplit(
                action.stable,
                action.canary,
                action.canary_weight,
                routes=action.routes,
                mirror_percent=action.mirror_percent,
            )
            router_for(spec.traffic_routing).plan(ref, split, ports)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(accepted_releases())
def test_validate_plan_and_a_first_pass_never_crash_on_what_the_crd_accepts(release: dict[str, Any]) -> None:
    valid = run("validate", release) == 0
    # validate also names a match route or mirror the Release's router cannot express.
    problems = release_problems(release) or inexpressible_in(parse_release(release).spec)
    assert valid == (not problems)
    if valid:
        assert run("plan", release) == 0
    first_pass(release)
