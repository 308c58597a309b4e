"""What every router test needs: one Release, its ports, and a router's objects by kind/name."""

from __future__ import annotations

from typing import Any

from slipway.manifests import ReleaseRef
from slipway.routers.base import Router, ServicePorts, TrafficSplit

RELEASE = ReleaseRef(namespace="shop", name="web", uid="u-1")
PORTS = ServicePorts(port=80, target_port=8080)


def planned(router: Router, split: TrafficSplit) -> dict[str, dict[str, Any]]:
    """`router`'s objects for `split`, keyed `Kind/name`."""
    return {obj["kind"] + "/" + obj["metadata"]["name"]: obj for obj in router.plan(RELEASE, split, PORTS)}
