"""What this operator cannot carry out with its config (`slipway.plugins.readiness`: each provider and
the alert source check their own part): each obstacle names the field at fault, and the core refuses the
generation (tests/core/test_core_refusal.py)."""

from __future__ import annotations

from typing import Any

import pytest
from core_support import metric, release_spec

from slipway.plugins import readiness
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
    assert readiness(spec, config) == ()


def test_a_web_host_outside_the_allow_list_is_refused_naming_the_field_and_the_list() -> None:
    config = parse_config({**WITH_PROMETHEUS, "web": {"allowedHosts": ["checks.example.com"]}})
    spec = release_spec(metrics=[metric(), web_metric("http://169.254.169.254/latest?x=1")])
    (obstacle,) = readiness(spec, config)
    assert (obstacle.reason, obstacle.field) == ("HostNotAllowed", "spec.analysis.metrics[1].web.url")
    assert "'169.254.169.254'" in obstacle.message and "checks.example.com" in obstacle.message


def test_a_web_host_made_of_placeholders_is_left_to_the_provider() -> None:
    spec = release_spec(metrics=[web_metric("http://{{release}}.checks/rate")])
    assert readiness(spec, parse_config({})) == ()


@pytest.mark.parametrize("kind", ["builtin", "prometheus"])
def test_prometheus_metrics_without_prometheus_are_refused(kind: str) -> None:
    source = {"builtin": "error-rate"} if kind == "builtin" else {"prometheus": {"query": "up"}}
    spec = release_spec(metrics=[{"name": "m", **source, "thresholdRange": {"max": 1}}])
    (obstacle,) = readiness(spec, parse_config({}))
    assert (obstacle.reason, obstacle.field) == (
        "PrometheusNotConfigured",
        f"spec.analysis.metrics[0].{kind}",
    )
    assert "prometheus.url" in obstacle.message


def test_alerts_without_alertmanager_are_refused() -> None:
    spec = release_spec(rollback={"alerts": {"matchLabels": {"team": "shop"}}})
    (obstacle,) = readiness(spec, parse_config(WITH_PROMETHEUS))
    assert (obstacle.reason, obstacle.field) == ("AlertmanagerNotConfigured", "spec.rollback.alerts")
