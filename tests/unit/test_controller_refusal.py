"""What the operator refuses before writing anything, and what it acknowledges again: the pure pieces
of the reconciler."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from core_support import T0, metric, release_spec
from pydantic import ValidationError

from slipway.api.models import ReleaseSpec
from slipway.api.status import ManualActionRecord, ReleaseStatus, RevisionStatus
from slipway.controller.reconciler import already_carried_out
from slipway.controller.refusal import invalid_spec, newly_refused, refused_status
from slipway.core.actions import AcknowledgeAction, EnsureRevision
from slipway.core.machine import decide
from slipway.core.observations import Observations
from slipway.core.obstacles import Obstacle
from slipway.plugins import readiness as preflight
from slipway.runtime.config import parse_config

WITH_PROMETHEUS = {"prometheus": {"url": "http://127.0.0.1:9090"}}


def web_metric(url: str) -> dict[str, Any]:
    return {"name": "checkout", "web": {"url": url, "jsonPath": "$.rate"}, "thresholdRange": {"max": 1}}


def test_a_spec_the_config_allows_has_no_obstacle() -> None:
    config = parse_config(
        {
            **WITH_PROMETHEUS,
            "alertmanager": {"url": "http://127.0.0.1:9093"},
            "web": {"allowedHosts": ["*.x.io"]},
        }
    )
    spec = release_spec(
        metrics=[metric(), web_metric("https://checks.x.io/rate")],
        rollback={"alerts": {"matchLabels": {"severity": "critical"}}},
    )
    assert preflight(spec, config) == ()


def test_a_web_host_outside_the_allow_list_is_refused_naming_the_field_and_the_list() -> None:
    config = parse_config({**WITH_PROMETHEUS, "web": {"allowedHosts": ["checks.example.com"]}})
    spec = release_spec(metrics=[metric(), web_metric("http://169.254.169.254/latest?x=1")])
    (obstacle,) = preflight(spec, config)
    assert (obstacle.reason, obstacle.field) == ("HostNotAllowed", "spec.analysis.metrics[1].web.url")
    assert "'169.254.169.254'" in obstacle.message and "checks.example.com" in obstacle.message


def test_a_web_host_made_of_placeholders_is_left_to_the_provider() -> None:
    spec = release_spec(metrics=[web_metric("http://{{release}}.checks/rate")])
    assert preflight(spec, parse_config({})) == ()


@pytest.mark.parametrize("kind", ["builtin", "prometheus"])
def test_prometheus_metrics_without_prometheus_are_refused(kind: str) -> None:
    source = {"builtin": "error-rate"} if kind == "builtin" else {"prometheus": {"query": "up"}}
    spec = release_spec(metrics=[{"name": "m", **source, "thresholdRange": {"max": 1}}])
    (obstacle,) = preflight(spec, parse_config({}))
    assert (obstacle.reason, obstacle.field) == (
        "PrometheusNotConfigured",
        f"spec.analysis.metrics[0].{kind}",
    )
    assert "prometheus.url" in obstacle.message


def test_alerts_without_alertmanager_are_refused() -> None:
    spec = release_spec(rollback={"alerts": {"matchLabels": {"team": "shop"}}})
    (obstacle,) = preflight(spec, parse_config(WITH_PROMETHEUS))
    assert (obstacle.reason, obstacle.field) == ("AlertmanagerNotConfigured", "spec.rollback.alerts")


def test_a_spec_the_models_reject_names_each_field_from_spec_down() -> None:
    body = release_spec().model_dump(by_alias=True, exclude_none=True)
    body["strategy"] = {"canary": {"steps": [{"setWeight": 150}]}}
    with pytest.raises(ValidationError) as invalid:
        ReleaseSpec.model_validate(body)
    obstacles = invalid_spec(invalid.value)
    assert [(o.reason, o.field) for o in obstacles] == [
        ("InvalidSpec", "spec.strategy.canary.steps[0].setWeight")
    ]


def test_a_refused_generation_is_degraded_and_stalled_keeping_what_serves() -> None:
    serving = RevisionStatus(revision="abc", version="1", replicas=2, ready_replicas=2, weight=100)
    healthy = ReleaseStatus(phase="Healthy", reason="Ready", stable=serving, observed_generation=1)
    obstacle = Obstacle("HostNotAllowed", "spec.analysis.metrics[0].web.url", "host 'x' is not allowed")
    status = refused_status(healthy, 2, [obstacle], T0)
    assert (status.phase, status.reason, status.observed_generation) == ("Degraded", "HostNotAllowed", 2)
    assert (
        status.message
        == "cannot carry out generation 2: spec.analysis.metrics[0].web.url: host 'x' is not allowed"
    )
    assert status.stable == serving
    conditions = {c.type: (c.status, c.reason, c.observed_generation) for c in status.conditions}
    assert conditions["Stalled"] == ("True", "HostNotAllowed", 2)
    assert conditions["Ready"][0] == "False"
    assert newly_refused(healthy, status)
    again = refused_status(status, 2, [obstacle], T0 + timedelta(seconds=5))
    assert again.to_api() == status.to_api()  # the next pass over the same generation writes nothing
    assert not newly_refused(status, again)


def test_a_fixed_generation_leaves_a_refused_first_release() -> None:
    obstacle = Obstacle("PrometheusNotConfigured", "spec.analysis.metrics[0].builtin", "no Prometheus")
    refused = refused_status(None, 1, [obstacle], T0)
    assert refused.stable is None
    decision = decide(release_spec(replicas=2), refused, Observations(generation=2), T0)
    assert (decision.status.phase, decision.status.observed_generation) == ("Progressing", 2)
    assert any(isinstance(action, EnsureRevision) for action in decision.actions)


def test_annotations_already_carried_out_are_acknowledged_again() -> None:
    status = ReleaseStatus(
        manual_actions=[
            ManualActionRecord(action="pause", value="1", at=T0),
            ManualActionRecord(action="promote", value="1", at=T0),
        ]
    )
    annotations = {"slipway.dev/pause": "1", "slipway.dev/promote": "2", "team": "1"}
    body = {"metadata": {"annotations": annotations}}
    assert already_carried_out(body, status) == (AcknowledgeAction("pause", "1"),)
    assert already_carried_out(body, None) == ()
