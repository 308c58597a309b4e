"""The Release models as the operator uses them: defaults, seed thresholds, camelCase in and out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from invalid_releases import valid_release

from slipway.api import annotations
from slipway.api.crd import release_schema
from slipway.api.models import Metric, Release, ThresholdRange
from slipway.api.validation import InvalidRelease, parse_release
from slipway.providers.builtin import seed_threshold
from slipway_dev.schema import validate_custom_resource

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def minimal_release() -> dict[str, object]:
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web"},
        "spec": {
            "version": "1",
            "template": {"spec": {"containers": [{"name": "web", "image": "example/web:1"}]}},
            "service": {"port": 80},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"analysis": {}}]}},
            "analysis": {"metrics": [{"name": "errors", "builtin": "error-rate"}]},
        },
    }


def test_documented_defaults() -> None:
    spec = parse_release(minimal_release()).spec
    assert spec.replicas == 1
    assert spec.service.target_port is None
    assert spec.analysis is not None and spec.analysis.interval == "30s"
    metric = spec.analysis.metrics[0]
    assert (metric.failure_limit, metric.consecutive_error_limit, metric.inconclusive_limit) == (0, 4, 3)
    assert metric.on_no_data == "inconclusive"
    step = spec.strategy.canary.steps[1] if spec.strategy.canary else None
    assert step is not None and step.analysis is not None and step.analysis.successful_measurements == 1
    assert spec.rollback.on_analysis_failure is True
    assert (spec.rollback.progress_deadline_seconds, spec.rollback.on_progress_deadline) == (600, "rollback")


def test_the_api_server_fills_in_the_same_defaults_as_the_models() -> None:
    stored, causes = validate_custom_resource(release_schema(), minimal_release())
    assert causes == []
    assert Release.model_validate(stored) == parse_release(minimal_release())
    assert parse_release(stored).model_dump(by_alias=True, exclude_none=True)["spec"] == stored["spec"]


def test_builtin_metrics_get_seed_thresholds_unless_the_release_sets_one() -> None:
    assert seed_threshold("error-rate") == ThresholdRange(max=0.001)
    assert seed_threshold("latency-p95") == ThresholdRange(max=0.5)
    seeded = Metric(name="p95", builtin="latency-p95")
    assert seeded.effective_threshold() == ThresholdRange(max=0.5)
    own = Metric(name="p95", builtin="latency-p95", threshold_range=ThresholdRange(max=0.25))
    assert own.effective_threshold() == ThresholdRange(max=0.25)
    smoke = Metric.model_validate(
        {
            "name": "smoke",
            "job": {"template": {"template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}}},
        }
    )
    assert smoke.effective_threshold() == ThresholdRange(min=1.0)  # the Job succeeded


def test_python_names_are_snake_case_and_manifests_camel_case() -> None:
    release = parse_release(valid_release())
    assert release.spec.traffic_routing is not None and release.spec.traffic_routing.gateway_api is not None
    dumped = release.model_dump(by_alias=True, exclude_none=True)
    assert "gatewayAPI" in dumped["spec"]["trafficRouting"]
    assert dumped["spec"]["strategy"]["canary"]["steps"][0] == {"setWeight": 10}
    assert parse_release(dumped) == release


def test_parse_release_names_every_problem() -> None:
    manifest = minimal_release()
    manifest["spec"]["replicas"] = -1  # type: ignore[index]
    manifest["spec"]["service"] = {"port": 0}  # type: ignore[index]
    with pytest.raises(InvalidRelease) as raised:
        parse_release(manifest)
    assert [str(problem) for problem in raised.value.problems] == [
        "spec.replicas: must be >= 0",
        "spec.service.port: must be >= 1",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_examples_parse(path: Path) -> None:
    assert parse_release(yaml.safe_load(path.read_text())).spec.version


def test_manual_action_annotations() -> None:
    assert annotations.MANUAL_ACTIONS == (
        "slipway.dev/promote",
        "slipway.dev/promote-full",
        "slipway.dev/pause",
        "slipway.dev/resume",
        "slipway.dev/abort",
        "slipway.dev/retry",
    )
    assert all(key.startswith(annotations.PREFIX) for key in annotations.MANUAL_ACTIONS)
