"""What every traffic router does: turn a traffic split into the routing objects that realise it.

A router is pure: it returns the objects it wants; the kube layer compares them with the cluster and
writes only what differs. Pod counts are the core's business (the canary strategy sizes the canary for
replica-ratio routing), so a router never scales anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from slipway.api.models import ApiModel, CanaryRoute, CanaryStep, ValueMatch
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
    routes: tuple[CanaryRoute, ...] = field(default=(), hash=False)
    """Match routes: the requests each matches go to the canary, whatever the weight."""
    mirror_percent: int = 0
    """Percentage of requests copied to the canary, whose answers are dropped."""

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight must be 0..100, got {self.canary_weight}")
        if not 0 <= self.mirror_percent <= 100:
            raise ValueError(f"mirror percent must be 0..100, got {self.mirror_percent}")
        if self.canary is None and (self.canary_weight or self.routes or self.mirror_percent):
            raise ValueError("a canary weight, match route or mirror needs a canary revision")

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
            "stable",
            split.selector(release, split.stable),
            ports.port,
            ports.target_port,
        ),
        service(
            release,
            "canary",
            split.selector(release, split.canary or split.stable),
            ports.port,
            ports.target_port,
        ),
    )


@dataclass(frozen=True)
class Capabilities:
    """What a router can express beyond weights; a Release asking for more is refused (`inexpressible`).

    - `match_routes`: match routes it can hold at once (0: none);
    - `conditions`: conditions (headers and the cookie) one match may hold, None: any number;
    - `regex`: whether a header value may be matched by a regular expression;
    - `cookie_values`: the only exact cookie values it can match (None: any value, by regex too);
    - `mirror`: whether it can mirror a percentage of requests to the canary.
    """

    match_routes: int = 0
    conditions: int | None = None
    regex: bool = False
    cookie_values: frozenset[str] | None = None
    mirror: bool = False


WEIGHTS_ONLY = Capabilities()


def shared(each: Sequence[Capabilities]) -> Capabilities:
    """What every one of several routers can express: the least of each capability."""
    conditions = [can.conditions for can in each if can.conditions is not None]
    cookie_values = [can.cookie_values for can in each if can.cookie_values is not None]
    return Capabilities(
        match_routes=min(can.match_routes for can in each),
        conditions=min(conditions) if conditions else None,
        regex=all(can.regex for can in each),
        cookie_values=frozenset.intersection(*cookie_values) if cookie_values else None,
        mirror=all(can.mirror for can in each),
    )


def cookie_pattern(name: str, value: ValueMatch) -> str:
    """A regular expression on the whole Cookie header: the cookie `name` with a value that matches.
    For routers that match cookies as a header (Gateway API, Istio)."""
    wanted = re.escape(value.exact) if value.exact is not None else f"(?:{value.regex})"
    return rf"^(.*;\s*)?{re.escape(name)}={wanted}(;.*)?$"


def inexpressible(router: str, can: Capabilities, steps: Sequence[CanaryStep]) -> Iterator[tuple[str, str]]:
    """(field below the steps, why) for each canary step asking `router` for what it cannot express."""
    active: set[str] = set()
    for index, step in enumerate(steps):
        at = f"[{index}]"
        if step.set_mirror is not None and step.set_mirror.percent and not can.mirror:
            yield f"{at}.setMirror", f"the {router} router cannot mirror a percentage of requests"
        if step.remove_canary_route is not None:
            active.discard(step.remove_canary_route.name)
        route = step.set_canary_route
        if route is None:
            continue
        at += ".setCanaryRoute"
        active.add(route.name)
        if len(active) > can.match_routes:
            held = "no match route" if not can.match_routes else f"at most {can.match_routes} at once"
            yield at, f"the {router} router can hold {held} ({len(active)} would be active)"
            continue
        match = route.match
        if can.conditions is not None and match.conditions() > can.conditions:
            yield f"{at}.match", f"the {router} router can match on {can.conditions} header or cookie only"
        for name, value in match.headers.items():
            if value.regex is not None and not can.regex:
                yield f"{at}.match.headers.{name}.regex", f"the {router} router cannot match by regex"
        cookie = match.cookie
        if (
            cookie is not None
            and can.cookie_values is not None
            and cookie.value.exact not in can.cookie_values
        ):
            allowed = ", ".join(sorted(can.cookie_values))
            yield (
                f"{at}.match.cookie.value",
                f"the {router} router matches a cookie only by the exact value {allowed}",
            )


class Router(Protocol):
    name: str
    capabilities: Capabilities

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
