"""A new version applied while a canary is at weight 75 supersedes it: traffic goes back to stable, the
old canary is scaled to zero (kept for undo) and the new version's rollout starts, with the
replica-ratio router and with a traffic router."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import E2E, ROOT, Cluster, Operator, release_manifest, wait_for

pytestmark = E2E

ROUTING_CRDS = ROOT / "devcluster" / "slipway_dev" / "data" / "routing-crds.yaml"
GATEWAY_API = {"gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": ["web.example.com"]}}
STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "1s"}},
    {"setWeight": 50},
    {"pause": {"duration": "1s"}},
    {"setWeight": 75},
    {"pause": {}},
]


def manifest(version: str, routing: dict[str, Any] | None) -> dict[str, Any]:
    release = release_manifest(version, steps=STEPS)
    if routing is not None:
        release["spec"]["trafficRouting"] = routing
    return release


@pytest.mark.parametrize("routing", [None, GATEWAY_API], ids=["replica-ratio", "gateway-api"])
def test_a_new_version_at_weight_75_supersedes_the_canary(
    cluster: Cluster, operator: Operator, routing: dict[str, Any] | None
) -> None:
    if routing is not None:
        cluster.write("apply", "-f", str(ROUTING_CRDS))
    cluster.apply(manifest("1", routing))
    v1 = cluster.wait_phase("Healthy", "1", timeout=30)["stable"]["revision"]
    cluster.apply(manifest("2", routing))

    def at_75() -> dict[str, Any] | None:
        status = cluster.status()
        canary = status.get("canary") or {}
        return status if canary.get("weight") == 75 and status.get("phase") == "Paused" else None

    v2 = wait_for(at_75, 60, "canary at weight 75, paused")["canary"]["revision"]
    cluster.apply(manifest("3", routing))

    def v3_started() -> dict[str, Any] | None:
        status = cluster.status()
        canary = status.get("canary") or {}
        return status if canary.get("version") == "3" and canary.get("weight") == 25 else None

    started = wait_for(v3_started, 30, "version 3 at weight 25")
    assert started["stable"]["revision"] == v1
    assert [entry["outcome"] for entry in started["history"] if entry["revision"] == v2] == ["Superseded"]

    def v2_kept_at_zero() -> bool:
        deployment = cluster.deployment_of(v2)
        return deployment is not None and deployment["spec"]["replicas"] == 0

    # Kept for undo (spec.revisionHistoryLimit), with no pods.
    wait_for(v2_kept_at_zero, 10, "the superseded canary's Deployment scaled to zero")
