"""`kubectl slipway runbook` on a dev cluster: the real operator and Prometheus give a Release a
history (v1 promoted, v2 rolled back on its error rate), the real kubectl runs the plugin, and each
section of the runbook is checked against that Release."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from e2e_support import plugin, wait_release_phase

from slipway_dev.cluster import DevCluster
from slipway_dev.prometheus import PrometheusProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.dev_cluster(operator=True, prometheus="on", rps=40),
    pytest.mark.skipif(not PrometheusProcess.available(), reason="prometheus binary not on PATH"),
]

DESCRIPTION = "Checkout <b>& payments</b>"


def release(version: str, error_rate: float) -> dict[str, Any]:
    env = [
        {"name": "SLIPWAY_DEMO_ERROR_RATE", "value": str(error_rate)},
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.5"},
        {"name": "SLIPWAY_DEMO_CPU", "value": "0.3"},
    ]
    container = {
        "name": "web",
        "image": f"example/web:{version}",
        "env": env,
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "resources": {"limits": {"cpu": "1", "memory": "256Mi"}},
    }
    metrics = [
        {"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": 15},
        {"name": "cpu", "builtin": "cpu-usage", "inconclusiveLimit": 15},
    ]
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {
            "name": "web",
            "labels": {"team": "payments", "tier": "frontend"},
            "annotations": {
                "slipway.dev/owner": "team-payments",
                "slipway.dev/description": DESCRIPTION,
                "slipway.dev/dependencies": "postgres, redis",
                "slipway.dev/oncall": "pagerduty:payments-primary",
                "slipway.dev/escalation": "#payments-incidents, then the payments EM",
            },
        },
        "spec": {
            "version": version,
            "replicas": 2,
            "template": {"spec": {"containers": [container]}},
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
            "analysis": {"interval": "1s", "metrics": metrics},
            "rollback": {"progressDeadlineSeconds": 90},
        },
    }


def sections(markdown: str) -> dict[str, str]:
    """The runbook's `## ` sections by title."""
    found: dict[str, str] = {}
    for chunk in markdown.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        found[title] = body
    return found


class Elements(HTMLParser):
    """Start and end tags in order, so that the HTML can be checked to nest properly."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "!doctype"):
            self.open.append(tag)
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag, f"</{tag}> closes another element"
        self._in_h2 = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_h2:
            self.headings.append(data)


def test_runbook_of_a_release_with_a_rollback(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(release("1", 0.0)))
    wait_release_phase(dev_cluster, "Healthy", "1")
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(release("2", 0.5)))
    wait_release_phase(dev_cluster, "Degraded", "2")
    status = dev_cluster.kubectl_json("get", "release", "web")["status"]
    stable, rollback = status["stable"]["revision"], status["lastRollback"]
    assert (rollback["reason"], rollback["metric"]) == ("AnalysisFailed", "error-rate")

    markdown = plugin(dev_cluster, "runbook", "web")
    assert markdown.startswith("# Runbook: default/web\n")
    found = sections(markdown)
    assert list(found) == [
        "Overview",
        "Deployment process",
        "Health-check endpoints",
        "Key metrics",
        "Alert conditions and responses",
        "Logs",
        "Troubleshooting",
        "Emergency contacts and escalation",
    ]

    overview = found["Overview"]
    assert "Checkout \\<b>& payments\\</b>" in overview  # escaped: it renders as typed
    assert "- Owner: team-payments" in overview
    assert "- Depends on: `postgres`\n- Depends on: `redis`" in overview
    assert "| `team` | payments |" in overview and "| `tier` | frontend |" in overview
    assert f"- Stable: version `1` revision `{stable}`, 2/2 ready" in overview
    assert "Phase: Degraded" in overview

    process = found["Deployment process"]
    assert "Strategy: `canary`" in process
    assert "| 1 | set weight 50% |" in process and "| 2 | pause until promoted |" in process
    assert "No data: spec.hooks sets no deploy hooks." in process
    assert "No data: spec.promotion is not set" in process
    assert "progress deadline 90 s" in process

    health = found["Health-check endpoints"]
    assert "| web | readinessProbe | `http GET /healthz` on port http (8080) | every 5 s," in health
    assert "| web | livenessProbe | TCP connect on port 8080 |" in health

    metrics = found["Key metrics"]
    error_rate = next(line for line in metrics.splitlines() if line.startswith("| `error-rate`"))
    assert "http\\_requests\\_total" not in error_rate and "http_requests_total{" in error_rate
    assert "| <= 0.001 |" in error_rate
    newest = [m for m in status["analysis"]["measurements"] if m["metric"] == "error-rate"][-1]
    assert f"| {newest['value']} ({newest['result']}," in error_rate
    cpu = next(line for line in metrics.splitlines() if line.startswith("| `cpu`"))
    assert "container_cpu_usage_seconds_total" in cpu and "| <= 0.8 |" in cpu

    alerts = found["Alert conditions and responses"]
    assert "From the PrometheusRule `web` the operator keeps for this Release" in alerts
    # One alert of each per revision serving traffic, with the guide's defaults (spec.alertRules omitted).
    assert re.search(r"\| `HighErrorRate` \| `[^|]+> 0\.01` for (1m|60s) \| critical \|", alerts), alerts
    assert re.search(r"\| `HighResponseTime` \| `[^|]+> 1(\.0)?` for (5m|300s) \| warning \|", alerts), alerts
    assert "Slipway does not act (spec.rollback.alerts is not set)" in alerts

    logs = found["Logs"]
    assert f"kubectl logs -n default -l slipway.dev/release=web,slipway.dev/revision={stable}" in logs

    troubleshooting = found["Troubleshooting"]
    assert "Last rollback: rolled back 2 -> 1: AnalysisFailed (metric error-rate = " in troubleshooting
    assert "| `2` | RolledBack | metric error-rate = " in troubleshooting
    # The timeline is the one `kubectl slipway report` prints.
    report = plugin(dev_cluster, "report", "web")
    assert "AnalysisFailed: rolling back to version 1" in report
    assert "event Warning | AnalysisFailed: rolling back to version 1" in troubleshooting
    for command in ("promote", "promote-full", "pause", "resume", "abort", "retry", "undo"):
        assert f"| `kubectl slipway {command} web -n default` |" in troubleshooting

    contacts = found["Emergency contacts and escalation"]
    assert "| `slipway.dev/oncall` | pagerduty:payments-primary |" in contacts
    assert "| `slipway.dev/escalation` | \\#payments-incidents, then the payments EM |" in contacts

    html = plugin(dev_cluster, "runbook", "web", "-o", "html")
    parsed = Elements()
    parsed.feed(html)
    assert parsed.open == [], "unclosed elements"
    assert parsed.headings == list(found)
    assert "Checkout &lt;b&gt;&amp; payments&lt;/b&gt;" in html
    assert DESCRIPTION in "".join(parsed.text)
