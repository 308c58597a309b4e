"""PrometheusRules on the dev cluster: the upstream CRD is served, each object becomes a rule file the real
Prometheus evaluates, and its alerts reach the real Alertmanager."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from e2e_support import wait_for

from slipway_dev.alertmanager import AlertmanagerProcess
from slipway_dev.cluster import DevCluster
from slipway_dev.prometheus import PrometheusProcess

pytestmark = pytest.mark.skipif(
    not (PrometheusProcess.available() and AlertmanagerProcess.available()),
    reason="prometheus and prometheus-alertmanager binaries not on PATH",
)


def rule(name: str, expr: str, for_: str = "0s") -> str:
    return f"""
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {{name: {name}}}
spec:
  groups:
  - name: {name}
    rules:
    - alert: Always{name.capitalize()}
      expr: '{expr}'
      for: {for_}
      labels: {{severity: critical, release: web}}
"""


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


def loaded_groups(cluster: DevCluster) -> set[str]:
    groups = get_json(f"{cluster.prometheus_url}/api/v1/rules")["data"]["groups"]
    return {group["name"] for group in groups}


def alert_names(cluster: DevCluster) -> set[str]:
    return {alert["labels"]["alertname"] for alert in get_json(f"{cluster.alertmanager_url}/api/v2/alerts")}


@pytest.mark.dev_cluster(prometheus="on", alertmanager="on")
def test_a_prometheus_rule_fires_into_alertmanager_and_goes_when_deleted(dev_cluster: DevCluster) -> None:
    assert dev_cluster.alertmanager_url is not None
    assert dev_cluster.alertmanager_url in dev_cluster.operator_config.read_text()
    dev_cluster.kubectl("apply", "-f", "-", input=rule("one", "vector(1)"))

    wait_for(lambda: "one" in loaded_groups(dev_cluster), 20, "Prometheus to load the group")
    wait_for(lambda: "AlwaysOne" in alert_names(dev_cluster), 20, "Alertmanager to hold the alert")

    dev_cluster.kubectl("delete", "prometheusrule", "one")
    wait_for(lambda: "one" not in loaded_groups(dev_cluster), 20, "Prometheus to drop the group")


@pytest.mark.dev_cluster(prometheus="on", alertmanager="off")
def test_the_schema_is_enforced_and_a_rule_prometheus_rejects_is_left_out(dev_cluster: DevCluster) -> None:
    refused = dev_cluster.kubectl(
        "apply", "-f", "-", input=rule("odd", "vector(1)", for_="1.5m"), check=False
    )
    assert refused.returncode != 0 and "spec.groups[0].rules[0].for" in refused.stderr

    dev_cluster.kubectl("apply", "-f", "-", input=rule("broken", "sum(("))
    dev_cluster.kubectl("apply", "-f", "-", input=rule("fine", "vector(1)"))
    wait_for(lambda: "fine" in loaded_groups(dev_cluster), 20, "Prometheus to load the valid group")
    assert "broken" not in loaded_groups(dev_cluster)
    assert sorted(path.name for path in dev_cluster.rules_dir.iterdir()) == ["default_fine.yml"]
