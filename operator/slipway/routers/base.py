"""What every traffic router does: turn a traffic split into the routing objects that realise it.

A router is pure: it returns the objects it wants (and, for the replica-ratio router, the pod counts
the split needs); the kube executor compares them with the cluster and writes only what differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from slipway.kube.objects import ReleaseRef


@dataclass(frozen=True)
class TrafficSplit:
    """Who gets traffic: `canary_weight` percent to the canary revision, the rest to stable.

    `canary` is None when only one revision exists. Weights always add up to 100 by construction.
    """

    stable: str
    canary: str | None
    canary_weight: int

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight must be 0..100, got {self.canary_weight}")
        if self.canary is None and self.canary_weight:
            raise ValueError("a canary weight needs a canary revision")

    @property
    def weights(self) -> dict[str, int]:
        if self.canary is None:
            return {self.stable: 100}
        return {self.stable: 100 - self.canary_weight, self.canary: self.canary_weight}


@dataclass(frozen=True)
class ServicePorts:
    port: int
    target_port: int | str


@dataclass(frozen=True)
class RoutingPlan:
    """The objects a router wants to exist, and replica counts it needs per revision (if any)."""

    objects: tuple[dict[str, Any], ...]
    replicas: dict[str, int] = field(default_factory=dict)


class Router(Protocol):
    name: str

    def plan(
        self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts, replicas: int
    ) -> RoutingPlan:
        """The routing objects for `split`, given the Release's desired replica count."""
        ...
