"""Blue-green and rolling releases on the dev cluster, through the same operator and routing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e_support import E2E, Cluster, Operator, wait_for
from stories import blue_green, with_strategy

pytestmark = E2E


def test_blue_green_previews_then_switches_at_once(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    # Namespaced mode: the operator watches `default` only, with the chart's Role there, not a ClusterRole.
    operator_factory(namespaces=["default"])
    blue_green(cluster)


def test_rolling_update_replaces_pods_in_batches(cluster: Cluster, operator: Operator) -> None:
    rolling = {"rolling": {"maxSurge": 1, "maxUnavailable": 0}}
    cluster.apply(with_strategy("1", rolling, replicas=3))
    cluster.wait_phase("Healthy", "1", timeout=30)
    cluster.apply(with_strategy("2", rolling, replicas=3))

    seen_new: set[int] = set()

    def replaced() -> dict[str, Any] | None:
        status = cluster.status()
        canary = status.get("canary") or {}
        if canary.get("version") == "2":
            seen_new.add(canary.get("replicas", 0))
        stable = status.get("stable") or {}
        return status if status.get("phase") == "Healthy" and stable.get("version") == "2" else None

    wait_for(replaced, 60, "version 2 rolled out")
    # Batches of maxSurge=1: the new revision grew one pod at a time.
    assert {1, 2} <= seen_new, seen_new
