"""Firing alerts for a Release, read from a real Alertmanager started by the launcher."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from slipway.alerts.alertmanager import AlertmanagerConfig, AlertmanagerSource, AlertmanagerUnavailable
from slipway.core.observations import FiringAlert
from slipway.manifests import ReleaseRef
from slipway_dev.alertmanager import AlertmanagerProcess
from slipway_dev.prometheus import PrometheusProcess, free_port

pytestmark = pytest.mark.skipif(
    not AlertmanagerProcess.available(), reason="prometheus-alertmanager binary not on PATH"
)


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[AlertmanagerProcess]:
    with AlertmanagerProcess() as process:
        yield process


def post(url: str, body: Any) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def alert(name: str, release: str, *, ended: bool = False, **labels: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": name, "namespace": "shop", "release": release, **labels},
        "annotations": {"summary": f"{name} for {release}"},
    }
    if ended:
        body["endsAt"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return body


def ask(config: AlertmanagerConfig, release: str, match_labels: dict[str, str]) -> list[FiringAlert]:
    async def scenario() -> list[FiringAlert]:
        async with aiohttp.ClientSession() as session:
            source = AlertmanagerSource(session, config)
            return list(await source.firing(ReleaseRef("shop", release, "uid"), match_labels))

    return asyncio.run(scenario())


def ask_until_firing(
    config: AlertmanagerConfig, release: str, match_labels: dict[str, str]
) -> list[FiringAlert]:
    deadline = time.monotonic() + 30
    while not (firing := ask(config, release, match_labels)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return firing


def test_only_active_unsilenced_alerts_of_the_release_with_matching_labels_fire(
    alertmanager: AlertmanagerProcess,
) -> None:
    now = datetime.now(UTC)
    post(
        f"{alertmanager.url}/api/v2/silences",
        {
            "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": False}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "test",
            "comment": "a person already knows",
        },
    )
    post(
        f"{alertmanager.url}/api/v2/alerts",
        [
            alert("HighErrors", "web", severity="critical", revision="abc123"),
            alert("SlowCheckout", "web", severity="warning"),
            alert("OtherRelease", "api", severity="critical"),
            alert("Resolved", "web", ended=True, severity="critical"),
            alert("Silenced", "web", severity="critical"),
        ],
    )
    config = AlertmanagerConfig(url=alertmanager.url)
    firing = ask_until_firing(config, "web", {"severity": "critical"})
    assert [a.name for a in firing] == ["HighErrors"]
    assert (firing[0].summary, firing[0].revision) == ("HighErrors for web", "abc123")
    assert firing[0].starts_at is not None
    assert abs(firing[0].starts_at - now) < timedelta(minutes=1)
    assert sorted(a.name for a in ask(config, "web", {})) == ["HighErrors", "SlowCheckout"]
    assert ask(config, "web", {"severity": "page"}) == []


def test_identity_label_names_come_from_the_config(alertmanager: AlertmanagerProcess) -> None:
    post(
        f"{alertmanager.url}/api/v2/alerts", [{"labels": {"alertname": "Down", "ns": "shop", "app": "cart"}}]
    )
    config = AlertmanagerConfig(url=alertmanager.url, namespace_label="ns", release_label="app")
    assert [a.name for a in ask_until_firing(config, "cart", {})] == ["Down"]
    assert ask(AlertmanagerConfig(url=alertmanager.url), "cart", {}) == []


def test_an_alert_from_a_prometheus_rule_reaches_the_release(
    alertmanager: AlertmanagerProcess, tmp_path: Path
) -> None:
    rule = {"alert": "CanaryBroken", "expr": "vector(1)", "labels": {"namespace": "shop", "release": "ruled"}}
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "slipway", "rules": [rule]}]}))
    with PrometheusProcess(rule_files=[rules], alertmanager_url=alertmanager.url):
        firing = ask_until_firing(AlertmanagerConfig(url=alertmanager.url), "ruled", {})
    assert [a.name for a in firing] == ["CanaryBroken"]


def test_alertmanager_down_or_unset_is_unavailable() -> None:
    with pytest.raises(AlertmanagerUnavailable, match=r"Alertmanager at http://127\.0\.0\.1"):
        ask(AlertmanagerConfig(url=f"http://127.0.0.1:{free_port()}"), "web", {})
    with pytest.raises(AlertmanagerUnavailable, match=r"alertmanager\.url"):
        ask(AlertmanagerConfig(), "web", {})
