"""The Prometheus and Alertmanager launchers: free loopback ports, readiness, clean stop."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway_dev import prometheus as launcher
from slipway_dev.alertmanager import AlertmanagerProcess
from slipway_dev.prometheus import BinaryServerProcess, PrometheusProcess

pytestmark = pytest.mark.skipif(
    not (PrometheusProcess.available() and AlertmanagerProcess.available()), reason="binaries not on PATH"
)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("process_type", [PrometheusProcess, AlertmanagerProcess])
def test_starts_ready_on_loopback_and_stops_everything(process_type: type[BinaryServerProcess]) -> None:
    process = process_type()
    with process:
        assert process.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{process.url}/-/ready", timeout=5) as answer:
            assert answer.status == 200
        workdir = process.workdir
        pgid = process.pid
        assert group_alive(pgid)
    assert not workdir.exists()
    assert not group_alive(pgid)
    with pytest.raises(RuntimeError, match="not running"):
        _ = process.url


def test_prometheus_reads_targets_from_a_file_sd_file(tmp_path: Path) -> None:
    with AlertmanagerProcess() as scraped:
        scraped_url = scraped.url
        targets = tmp_path / "targets.json"
        targets.write_text(
            json.dumps([{"targets": [scraped_url.removeprefix("http://")], "labels": {"release": "web"}}])
        )
        with PrometheusProcess(file_sd_path=targets) as prometheus:
            # Discovered targets reach the scraper in batches a few seconds apart.
            deadline = time.monotonic() + 30
            while not (active := get_json(f"{prometheus.url}/api/v1/targets")["data"]["activeTargets"]):
                assert time.monotonic() < deadline, "file_sd target never became active"
                time.sleep(0.2)
    assert [target["labels"]["release"] for target in active] == ["web"]
    assert active[0]["scrapeUrl"] == f"{scraped_url}/metrics"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_taken_between_pick_and_bind_is_retried(
    monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    picks = iter([taken_port])
    real_free_port = launcher.free_port
    monkeypatch.setattr(launcher, "free_port", lambda: next(picks, None) or real_free_port())
    with PrometheusProcess() as prometheus:
        assert not prometheus.url.endswith(f":{taken_port}")
        assert get_json(f"{prometheus.url}/api/v1/query?query=1") is not None


def test_prometheus_evaluates_rules_at_their_own_interval_or_as_it_scrapes() -> None:
    for rule_interval, expected in ((None, "3s"), ("7s", "7s")):
        with PrometheusProcess(scrape_interval="3s", rule_interval=rule_interval) as process:
            loaded = get_json(f"{process.url}/api/v1/status/config")["data"]["yaml"]
        assert "scrape_interval: 3s" in loaded, loaded
        assert f"evaluation_interval: {expected}" in loaded, loaded
