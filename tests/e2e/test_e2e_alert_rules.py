"""Issue 11 part 3: the PrometheusRule each Release owns, end to end on the dev cluster's real Prometheus
and Alertmanager. A bad version with no analysis at all fires HighErrorRate, Alertmanager holds it and
the Release rolls back through `rollback.alerts`; a promotion moves the rule to the new version, and
`alertRules.enabled: false` deletes it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import E2E, Cluster, Operator, first_release, release_manifest, wait_for

from slipway_dev.alertmanager import AlertmanagerProcess

pytestmark = [
    *E2E,
    pytest.mark.skipif(not AlertmanagerProcess.available(), reason="prometheus-alertmanager not installed"),
]

FAST_RULES = {"highErrorRate": {"max": 0.05, "for": "2s"}}


def without_analysis(manifest: dict[str, Any]) -> dict[str, Any]:
    del manifest["spec"]["analysis"]
    manifest["spec"]["alertRules"] = FAST_RULES
    return manifest


def watched(cluster: Cluster) -> list[tuple[str, str, str]]:
    """(alert, version, revision) of every rule in the Release's PrometheusRule."""
    rule = cluster.dev.kubectl_json("get", "prometheusrule", "web")
    return [
        (entry["alert"], entry["labels"]["version"], entry["labels"]["revision"])
        for group in rule["spec"]["groups"]
        for entry in group["rules"]
    ]


def test_a_bad_version_without_analysis_fires_high_error_rate_and_rolls_back(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    alertmanager_url = cluster.dev.alertmanager_url
    assert alertmanager_url is not None
    operator_factory()  # the dev cluster's config: its Prometheus and its Alertmanager
    first_release(cluster)
    rule = cluster.dev.kubectl_json("get", "prometheusrule", "web")
    assert rule["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "slipway"
    assert rule["metadata"]["ownerReferences"][0]["uid"] == cluster.release()["metadata"]["uid"]

    rollback = {"alerts": {"matchLabels": {"severity": "critical"}}, "progressDeadlineSeconds": 120}
    steps = [{"setWeight": 50}, {"pause": {}}]
    cluster.apply(without_analysis(release_manifest("2", error_rate=0.5, steps=steps, rollback=rollback)))

    degraded = cluster.wait_phase("Degraded", "1", timeout=60)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == (
        "AlertFiring",
        "HighErrorRate",
    )
    with urllib.request.urlopen(f"{alertmanager_url}/api/v2/alerts", timeout=5) as answer:
        held = [alert["labels"] for alert in json.load(answer)]
    assert {"alertname": "HighErrorRate", "version": "2", "severity": "critical"}.items() <= next(
        labels for labels in held if labels["alertname"] == "HighErrorRate"
    ).items()
    # All traffic is back on version 1: the rule watches it alone again.
    wait_for(lambda: {version for _, version, _ in watched(cluster)} == {"1"}, 20, "the rule back on 1")


def test_a_promotion_moves_the_rule_to_the_new_version(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster)
    one = {revision for _, version, revision in watched(cluster) if version == "1"}
    assert [alert for alert, _, _ in watched(cluster)] == ["HighErrorRate", "HighResponseTime"]

    cluster.apply(without_analysis(release_manifest("2", steps=[{"setWeight": 50}, {"pause": {}}])))
    wait_for(
        lambda: {version for _, version, _ in watched(cluster)} == {"1", "2"}, 30, "both versions watched"
    )
    cluster.write("annotate", "release", "web", "slipway.dev/promote=1")
    cluster.wait_phase("Healthy", "2", timeout=60)
    wait_for(lambda: {version for _, version, _ in watched(cluster)} == {"2"}, 20, "only version 2 watched")
    assert not one & {revision for _, _, revision in watched(cluster)}

    turned_off = without_analysis(release_manifest("2", steps=[{"setWeight": 50}, {"pause": {}}]))
    turned_off["spec"]["alertRules"] = {"enabled": False}
    cluster.apply(turned_off)
    wait_for(lambda: not cluster.dev.kubectl_json("get", "prometheusrules")["items"], 20, "the rule deleted")
