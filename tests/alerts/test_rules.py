"""The PrometheusRule a Release owns: its shape, its durations, and promtool's verdict on its groups."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slipway.alerts.alertmanager import AlertmanagerConfig
from slipway.alerts.rules import prometheus_duration, prometheus_rule, rule_groups
from slipway.api.models import AlertRules
from slipway.manifests import Obj, ReleaseRef
from slipway.providers.builtin import BuiltinMetricsConfig

RELEASE = ReleaseRef(namespace="shop", name="web", uid="u-1")
CUSTOM = AlertRules.model_validate(
    {
        "highErrorRate": {"max": 0.05, "for": "1.5s", "severity": "page"},
        "highResponseTime": {"maxSeconds": 0.25, "for": "2m"},
    }
)


def groups(rules: AlertRules, live: dict[str, str]) -> list[Obj]:
    return rule_groups(RELEASE, rules, live, BuiltinMetricsConfig(), AlertmanagerConfig())


def test_one_alert_of_each_kind_per_live_revision_labelled_with_it() -> None:
    [group] = groups(AlertRules(), {"bbb": "2", "aaa": "1"})
    rules = group["rules"]
    assert [(rule["alert"], rule["labels"]["revision"], rule["labels"]["version"]) for rule in rules] == [
        ("HighErrorRate", "aaa", "1"),
        ("HighResponseTime", "aaa", "1"),
        ("HighErrorRate", "bbb", "2"),
        ("HighResponseTime", "bbb", "2"),
    ]
    error_rate = rules[0]
    assert error_rate["labels"] == {
        "namespace": "shop",
        "release": "web",
        "version": "1",
        "revision": "aaa",
        "severity": "critical",
    }
    assert error_rate["for"] == "60s"
    assert error_rate["expr"].endswith(") > 0.01")
    assert 'namespace="shop",release="web",revision="aaa"' in error_rate["expr"]
    assert rules[1]["for"] == "300s" and rules[1]["labels"]["severity"] == "warning"
    assert rules[1]["expr"].startswith("(histogram_quantile(0.95,") and rules[1]["expr"].endswith(") > 1.0")


def test_thresholds_durations_and_severities_come_from_the_spec() -> None:
    [group] = groups(CUSTOM, {"aaa": "1"})
    error_rate, latency = group["rules"]
    assert (error_rate["for"], error_rate["labels"]["severity"]) == ("1500ms", "page")
    assert error_rate["expr"].endswith(") > 0.05")
    assert latency["for"] == "120s" and latency["expr"].endswith(") > 0.25")


@pytest.mark.parametrize(
    ("duration", "prometheus"), [("1m", "60s"), ("1h30m", "5400s"), ("1.5s", "1500ms"), ("250ms", "250ms")]
)
def test_durations_are_written_as_prometheus_reads_them(duration: str, prometheus: str) -> None:
    assert prometheus_duration(duration) == prometheus


def test_the_rule_is_owned_by_the_release_and_managed_by_slipway() -> None:
    rule = prometheus_rule(RELEASE, groups(AlertRules(), {"aaa": "1"}))
    assert (rule["apiVersion"], rule["kind"], rule["metadata"]["name"]) == (
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        "web",
    )
    assert rule["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "slipway"
    assert rule["metadata"]["ownerReferences"][0]["uid"] == "u-1"


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not on PATH (Debian package prometheus)"
)
@pytest.mark.parametrize("rules", [AlertRules(), CUSTOM], ids=["defaults", "custom"])
def test_promtool_accepts_the_generated_groups(rules: AlertRules, tmp_path: Path) -> None:
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": groups(rules, {"aaa": "1", "bbb": "2"})}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout
