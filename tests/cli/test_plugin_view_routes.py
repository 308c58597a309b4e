"""`kubectl slipway get` shows the match routes and the mirror the routing holds while a rollout runs
(a file of its own beside test_plugin_view.py)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from slipway.api.status import ReleaseStatus, RevisionStatus
from slipway.cli._plugin_view import parse_time, release_view

NOW = parse_time("2026-01-01T12:00:00Z")
STEPS: list[dict[str, Any]] = [
    {"setCanaryRoute": {"name": "testers", "match": {"headers": {"x-canary": {"exact": "true"}}}}},
    {"setCanaryRoute": {"name": "beta", "match": {"cookie": {"name": "beta", "value": {"regex": "y[^;]*"}}}}},
    {"setMirror": {"percent": 20}},
    {"pause": {}},
]


def release(
    routes: list[str], mirror: int, steps: list[dict[str, Any]] = STEPS, current_step: int = 3
) -> dict[str, Any]:
    status = ReleaseStatus(
        phase="Paused",
        stable=RevisionStatus(revision="aaa111", version="1", replicas=2, ready_replicas=2, weight=100),
        canary=RevisionStatus(revision="bbb222", version="2", replicas=1, ready_replicas=1, weight=0),
        current_step=current_step,
        canary_routes=routes,
        mirror_percent=mirror,
    )
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "version": "2",
            "template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}},
            "service": {"port": 80},
            "trafficRouting": {"gatewayAPI": {"parentRefs": [{"name": "gw"}]}},
            "strategy": {"canary": {"steps": steps}},
        },
        "status": status.to_api(),
    }


def render(body: dict[str, Any]) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    assert NOW is not None
    console.print(release_view(body, NOW))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def test_get_shows_the_active_match_routes_and_the_mirror() -> None:
    text = render(release(["testers", "beta"], 20))
    line = (
        "to the canary besides its weight: route testers (x-canary: true);"
        " route beta (cookie beta ~ y[^;]*); mirror 20%"
    )
    assert line in text


def test_get_shows_no_routing_line_without_routes_or_mirror() -> None:
    assert "besides its weight" not in render(release([], 0))


def test_get_shows_the_match_in_force_not_a_later_steps_redefinition() -> None:
    later = {"setCanaryRoute": {"name": "testers", "match": {"headers": {"x-canary": {"exact": "all"}}}}}
    text = render(release(["testers"], 0, [STEPS[0], {"pause": {}}, later, {"pause": {}}], current_step=1))
    assert "besides its weight: route testers (x-canary: true)\n" in text  # step 3's match is to come
