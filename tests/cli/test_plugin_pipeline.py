"""`kubectl slipway pipeline`'s drawing, from Release dicts as the API server returns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slipway.cli._plugin_pipeline import chains, pipeline_lines

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def release(namespace: str, source: str | None, status: dict[str, Any], name: str = "web") -> dict[str, Any]:
    spec: dict[str, Any] = {"version": "v3"}
    if source is not None:
        spec["promotion"] = {"from": {"namespace": source}, "soak": "30m"}
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec, "status": status}


DEV = release("dev", None, {"phase": "Healthy", "stable": {"version": "v3"}})
STAGING = release(
    "staging",
    "dev",
    {"phase": "Progressing", "stable": {"version": "v2"}, "canary": {"version": "v3", "weight": 40}},
)
PROD = release(
    "prod",
    "staging",
    {
        "phase": "Paused",
        "stable": {"version": "v2"},
        "promotion": {
            "gate": "Closed",
            "reason": "Soaking",
            "version": "v3",
            "upstream": "staging/web",
            "upstreamHealthySince": "2026-12-04T11:48:00Z",
        },
    },
)


def test_the_chain_is_drawn_from_the_top_whichever_release_is_named() -> None:
    expected = [
        "dev v3 Healthy → staging v3 Progressing 40% (from v2) → prod v2 (v3 waiting: soaking 12m/30m)"
    ]
    for namespace in ("dev", "staging", "prod"):
        assert pipeline_lines([PROD, DEV, STAGING], namespace, "web", NOW) == expected


def test_each_branch_downstream_is_one_line_and_unknown_names_draw_nothing() -> None:
    eu = release("prod-eu", "staging", {"phase": "Healthy", "stable": {"version": "v2"}})
    assert len(chains([DEV, STAGING, PROD, eu], "dev", "web")) == 2
    assert [c[-1]["metadata"]["namespace"] for c in chains([DEV, STAGING, PROD, eu], "prod", "web")] == [
        "prod"
    ]
    assert pipeline_lines([DEV], "dev", "api", NOW) == []


def test_a_cycle_is_drawn_once_round() -> None:
    a = release("a", "b", {"phase": "Degraded"})
    b = release("b", "a", {"phase": "Degraded"})
    (line,) = pipeline_lines([a, b], "a", "web", NOW)
    assert line.count("→") == 1
