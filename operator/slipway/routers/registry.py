"""The routers: every module of this package that declares a `PLUGIN`, found by name, so adding a
router never edits this file; and which of them realises a Release's traffic split."""

from __future__ import annotations

from functools import cache

import slipway.routers
from slipway.api.models import ReleaseSpec, TrafficRouting
from slipway.api.sections import RoutingSection, register_routing
from slipway.discovery import discover
from slipway.manifests import Obj, ReleaseRef
from slipway.rbac import Rule
from slipway.routers.base import (
    Router,
    RouterPlugin,
    ServicePorts,
    TrafficSplit,
    inexpressible,
    shared,
)

# Modules of the package that are not routers.
NOT_ROUTERS = frozenset({"base", "registry"})


@cache
def plugins() -> dict[str, RouterPlugin]:
    """Every router by module name; their spec sections are registered with slipway.api."""
    found = discover(slipway.routers, RouterPlugin, NOT_ROUTERS)
    defaults = [name for name, plugin in found.items() if plugin.key is None]
    if len(defaults) != 1:
        raise TypeError(f"exactly one router must serve Releases without trafficRouting, not {defaults}")
    for plugin in found.values():
        if plugin.key is not None and plugin.spec is not None:
            register_routing(RoutingSection(plugin.key, plugin.spec))
    return found


def collections() -> dict[str, str]:
    """The API path (with `{namespace}`) of every kind of routing object a router writes."""
    return {kind: path for plugin in plugins().values() for kind, path in plugin.collections.items()}


def rules() -> tuple[Rule, ...]:
    return tuple(rule for plugin in plugins().values() for rule in plugin.rules)


class CombinedRouter:
    """Several traffic routers kept in step (`trafficRouting` may name more than one); the Services
    they all route to appear once."""

    name = "combined"

    def __init__(self, routers: list[Router]) -> None:
        self._routers = routers
        # What all of them can express (`inexpressible_in` checks each router, naming it).
        self.capabilities = shared([router.capabilities for router in routers])

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        objects: dict[tuple[str, str], Obj] = {}
        for router in self._routers:
            for obj in router.plan(release, split, ports):
                objects[(obj["kind"], obj["metadata"]["name"])] = obj
        return tuple(objects.values())


def _routers(routing: TrafficRouting | None) -> list[Router]:
    by_key = {plugin.key: plugin for plugin in plugins().values()}
    if routing is None:
        return [by_key[None].build(None)]
    return [by_key[key].build(section) for key, section in routing.sections().items()]


def router_for(routing: TrafficRouting | None) -> Router:
    routers = _routers(routing)
    return routers[0] if len(routers) == 1 else CombinedRouter(routers)


def inexpressible_in(spec: ReleaseSpec) -> list[tuple[str, str]]:
    """(field, why) for each canary step asking one of the Release's routers for a match route or a
    mirror it cannot express: the operator refuses such a Release, and `slipway validate` says so."""
    canary = spec.strategy.canary
    if canary is None:
        return []
    return [
        (f"spec.strategy.canary.steps{below}", why)
        for router in _routers(spec.traffic_routing)
        for below, why in inexpressible(router.name, router.capabilities, canary.steps)
    ]
