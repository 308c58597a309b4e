"""Every module in routers/ and providers/ (but their infrastructure) is a plug-in declaring everything."""

from __future__ import annotations

import pkgutil

import slipway.providers
import slipway.routers
from slipway.api.sections import metric_sources, routing_sections
from slipway.providers import registry as providers
from slipway.routers import registry as routers


def modules(package_path: list[str], infrastructure: frozenset[str]) -> set[str]:
    return {m.name for m in pkgutil.iter_modules(package_path) if not m.name.startswith("_")} - infrastructure


def test_every_router_module_is_found_and_declares_its_section() -> None:
    found = routers.plugins()
    assert set(found) == modules(list(slipway.routers.__path__), routers.NOT_ROUTERS)
    keyed = {plugin.key: plugin for plugin in found.values() if plugin.key is not None}
    assert set(keyed) == set(routing_sections())
    for plugin in keyed.values():
        assert plugin.spec is not None and plugin.collections and plugin.rules


def test_every_provider_module_is_found_and_declares_its_source() -> None:
    found = providers.plugins()
    assert set(found) == modules(list(slipway.providers.__path__), providers.NOT_PROVIDERS)
    assert {plugin.key for plugin in found.values()} == set(metric_sources())
