"""The dashboard's drawing (pure): plots against thresholds, weights, buttons, chains, rollbacks, escaping.

The browser test (test_plugin_dashboard.py) shows the page live; these pin what it is drawn from.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from e2e_support import release_manifest

from slipway.api.models import ThresholdRange
from slipway.cli._plugin_dashboard.view import (
    BUTTONS,
    PLOT_HEIGHT,
    PLOT_PAD,
    Point,
    board,
    card,
    disabled_because,
    plot,
    thresholds,
    weights,
)

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def release(version: str = "2", name: str = "web", **status: Any) -> dict[str, Any]:
    manifest = release_manifest(version, name=name)
    manifest["metadata"] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    manifest["status"] = status
    return manifest


def at(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_plot_draws_each_measurement_over_the_band_of_good_values() -> None:
    points = [
        Point(NOW - timedelta(seconds=3), 0.0005, "Successful", ""),
        Point(NOW - timedelta(seconds=2), 0.01, "Failed", "too high"),
        Point(NOW - timedelta(seconds=1), float("inf"), "Failed", ""),
        Point(NOW, None, "Inconclusive", "no data"),
    ]
    svg = plot("error-rate", ThresholdRange(min=0.0, max=0.001), points)
    assert 'data-points="4"' in svg
    assert svg.count('class="threshold"') == 2  # min and max
    circles = re.findall(r'<circle class="point (\w+)" cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert [c[0] for c in circles] == ["successful", "failed", "failed", "inconclusive"]
    xs = [float(c[1]) for c in circles]
    assert xs == sorted(xs) and xs[0] < xs[-1]  # in time, left to right
    assert float(circles[2][2]) == PLOT_PAD  # +Inf on the top edge
    assert float(circles[3][2]) == PLOT_HEIGHT - PLOT_PAD  # no value: on the bottom edge
    assert float(circles[1][2]) < float(circles[0][2])  # the higher value higher up
    assert "too high" in svg  # each point's tooltip says why


def test_a_plot_without_measurements_still_shows_the_threshold() -> None:
    svg = plot("smoke", ThresholdRange(min=1.0), [])
    assert 'data-points="0"' in svg and svg.count('class="threshold"') == 1


def test_thresholds_are_the_ones_the_operator_judges_by_defaults_included() -> None:
    ranges = thresholds(release())
    assert ranges["error-rate"].max == 0.001  # the builtin's seed threshold, not written in the spec


def test_the_weights_bar_splits_traffic_and_names_a_revision_without_any() -> None:
    rolling_out = release(
        stable={"revision": "a", "version": "1", "weight": 75},
        canary={"revision": "b", "version": "2", "weight": 25},
    )
    assert weights(rolling_out) == [("stable", "1", 75), ("canary", "2", 25)]
    assert weights(release(stable={"revision": "a", "version": "1"})) == [("stable", "1", 100)]
    rolled_back = release(
        phase="Degraded",
        stable={"revision": "a", "version": "1", "weight": 100},
        canary={"revision": "b", "version": "2", "weight": 0},
    )
    drawn = card(rolled_back, [rolled_back], [], NOW)
    assert 'style="width:100%">stable 1 100%' in drawn and "canary 2 0%" in drawn
    assert "width:0%" not in drawn


def test_buttons_are_enabled_only_where_the_operator_would_act() -> None:
    by_action = {button.action: button for button in BUTTONS}
    split = {
        "stable": {"revision": "a", "version": "1", "weight": 75},
        "canary": {"revision": "b", "version": "2", "weight": 25},
    }
    paused, degraded = release(phase="Paused", **split), release(phase="Degraded")
    assert disabled_because(by_action["promote"], paused) is None
    assert disabled_because(by_action["abort"], paused) is None
    assert disabled_because(by_action["retry"], paused) == "the release is not Degraded"
    assert disabled_because(by_action["retry"], degraded) is None
    assert disabled_because(by_action["promote"], degraded) == "no rollout in progress"
    assert disabled_because(by_action["approve"], paused) == "spec.promotion is not set"
    gated = release(phase="Paused", **split)
    gated["spec"]["promotion"] = {"from": {"namespace": "staging"}, "approval": "manual"}
    assert disabled_because(by_action["approve"], gated) is None
    gated["status"]["promotion"] = {"approvals": [{"version": "2", "by": "alice", "at": at(5)}]}
    assert disabled_because(by_action["approve"], gated) == "2 already approved by alice"


def test_the_card_shows_the_step_measurements_chain_and_last_rollback() -> None:
    upstream = release(name="web", phase="Healthy", stable={"revision": "b", "version": "2", "weight": 100})
    upstream["metadata"]["namespace"] = "staging"
    prod = release(
        phase="Degraded",
        message="rolled back to version 1",
        stable={"revision": "a", "version": "1", "weight": 100},
        analysis={
            "revision": "b",
            "startedAt": at(30),
            "measurements": [
                {"metric": "error-rate", "revision": "b", "at": at(20), "result": "Successful", "value": "0"},
                {"metric": "error-rate", "revision": "b", "at": at(10), "result": "Failed", "value": "0.3"},
            ],
        },
        history=[
            {
                "revision": "b",
                "version": "2",
                "outcome": "RolledBack",
                "reason": "metric error-rate = 0.3",
                "startedAt": at(30),
                "finishedAt": at(10),
            }
        ],
        lastRollback={
            "reason": "AnalysisFailed",
            "metric": "error-rate",
            "value": "0.3",
            "threshold": "<= 0.001",
            "at": at(10),
            "fromVersion": "2",
            "toVersion": "1",
        },
    )
    prod["spec"]["promotion"] = {"from": {"namespace": "staging"}}
    event = {
        "metadata": {"name": "e1", "namespace": "default", "resourceVersion": "7"},
        "involvedObject": {"kind": "Release", "name": "web", "uid": "uid-web"},
        "type": "Warning",
        "reason": "AnalysisFailed",
        "message": "rolling back to version 1",
        "lastTimestamp": at(10),
    }
    drawn = card(prod, [upstream, prod], [event], NOW)
    assert 'data-points="2"' in drawn and "good &lt;= 0.001" in drawn
    assert re.search(
        r'<span class="env">staging 2 Healthy</span>.*→.*<span class="env self">default 1 Degraded', drawn
    )
    assert "Last rollback, 10s ago" in drawn
    assert "rolled back 2 -&gt; 1: AnalysisFailed (metric error-rate = 0.3, threshold &lt;= 0.001)" in drawn
    assert "AnalysisFailed: rolling back to version 1" in drawn  # the Event, in the timeline


def test_the_board_escapes_everything_the_cluster_says() -> None:
    hostile = release(phase="Paused", message="<script>alert(1)</script>")
    drawn = board([hostile], [], NOW, "namespace default", ["cannot watch <Events>"])
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn
    assert '<p class="problem">cannot watch &lt;Events&gt;</p>' in drawn
    assert drawn.startswith(
        '<p class="summary">1 Release in namespace default, as of 2026-12-05 03:00:00 UTC'
    )
    assert "No Releases in namespace default." in board([], [], NOW, "namespace default", [])
