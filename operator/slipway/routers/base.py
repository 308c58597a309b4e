"""What every traffic router does: turn a traffic split into the routing objects that realise it.

A router is pure: it returns the objects it wants; the kube layer compares them with the cluster and
writes only what differs. Pod counts are the core's business (the canary strategy sizes the canary for
replica-ratio routing), so a router never scales anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from slipway.api.models import ApiModel
from slipway.manifests import ReleaseRef, service, serving_selector
from slipway.rbac import Rule


@dataclass(frozen=True)
class TrafficSplit:
    """Who gets traffic: `canary_weight` percent to the canary revision, the rest to stable.

    `canary` is None when only one revision exists. Weights always add up to 100 by construction.
    `legacy` names the revisions whose pods predate the operator's pod label (their Deployments were
    created by an older operator): Services reach them by the release label, as before.
    """

    stable: str
    canary: str | None
    canary_weight: int
    legacy: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight must be 0..100, got {self.canary_weight}")
        if self.canary is None and self.canary_weight:
            raise ValueError("a canary weight needs a canary revision")

    def selector(self, release: ReleaseRef, revision: str) -> dict[str, str]:
        """What a Service selects to reach the pods of `revision` alone."""
        return serving_selector(release, revision, legacy=revision in self.legacy)

    def both_selector(self, release: ReleaseRef) -> dict[str, str]:
        """What a Service selects to reach the pods of both revisions (and only the Release's own, unless
        one of them predates the pod label)."""
        return serving_selector(release, None, legacy=bool({self.stable, self.canary} & self.legacy))

    @property
    def weights(self) -> dict[str, int]:
        if self.canary is None:
            return {self.stable: 100}
        return {self.stable: 100 - self.canary_weight, self.canary: self.canary_weight}


@dataclass(frozen=True)
class ServicePorts:
    port: int
    target_port: int | str


def revision_services(
    release: ReleaseRef, split: TrafficSplit, ports: ServicePorts
) -> tuple[dict[str, Any], ...]:
    """`<name>` selecting the stable revision and `<name>-canary` the canary (stable when there is
    none): the backends traffic routers split between."""
    return (
        service(
            release,
            release.stable_service,
            split.selector(release, split.stable),
            ports.port,
            ports.target_port,
        ),
        service(
            release,
            release.canary_service,
            split.selector(release, split.canary or split.stable),
            ports.port,
            ports.target_port,
        ),
    )


class Router(Protocol):
    name: str

    def plan(
        self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts
    ) -> tuple[dict[str, Any], ...]:
        """The routing objects (owned by the Release) that realise `split`."""
        ...


@dataclass(frozen=True)
class RouterPlugin:
    """What a router module declares in `PLUGIN`; `slipway.routers.registry` finds it.

    - `key`: its key in spec.trafficRouting, None for the router used when trafficRouting is omitted;
    - `spec`: the model of what that key holds (the CRD's schema for it is generated from it);
    - `build`: the router, from the Release's section;
    - `collections`: the API path (with `{namespace}`) of each kind of object it writes;
    - `rules`: the permissions writing them needs (the chart's RBAC rules are generated from them).

    No router reads the operator config today, so none declares a config section; the first that
    needs settings adds `config` here and is built with its sections, as providers are.
    """

    key: str | None
    spec: type[ApiModel] | None
    build: Callable[[Any], Router]
    collections: Mapping[str, str]
    rules: tuple[Rule, ...]
