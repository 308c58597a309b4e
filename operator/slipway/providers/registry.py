"""The metric providers: every module of this package that declares a `PLUGIN`, found by name, so
adding a provider never edits this file; and which provider measures a metric: the one it names."""

from __future__ import annotations

from functools import cache

import aiohttp

import slipway.providers
from slipway.api.models import Metric
from slipway.api.sections import MetricSource, register_metric_source
from slipway.core.measurement import RawMeasurement
from slipway.discovery import discover
from slipway.kube.client import KubeApi
from slipway.providers.base import MeasurementContext, MetricProvider, ProviderPlugin, Resources, failed
from slipway.rbac import Rule
from slipway.runtime.config import OperatorConfig

# Modules of the package that are not providers.
NOT_PROVIDERS = frozenset({"base", "registry"})


@cache
def plugins() -> dict[str, ProviderPlugin]:
    """Every provider by module name; their spec sections are registered with slipway.api."""
    found = discover(slipway.providers, ProviderPlugin, NOT_PROVIDERS)
    for plugin in found.values():
        register_metric_source(
            MetricSource(plugin.key, plugin.spec, plugin.description, plugin.default_threshold)
        )
    return found


def rules() -> tuple[Rule, ...]:
    return tuple(rule for plugin in plugins().values() for rule in plugin.rules)


class ProviderRegistry:
    """Every provider, sharing one HTTP session (and the Kubernetes API, for those that need it); each
    built with the config sections it declared."""

    def __init__(
        self, session: aiohttp.ClientSession, config: OperatorConfig, kube_api: KubeApi | None = None
    ) -> None:
        lent = Resources(session, kube_api)
        self._providers: dict[str, MetricProvider | None] = {
            plugin.key: plugin.build(lent, config.sections(plugin.config)) for plugin in plugins().values()
        }

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        provider = self._providers.get(metric.kind)
        if provider is None:
            return failed(
                metric, context, f"{metric.kind} metrics need the Kubernetes API, which this operator lacks"
            )
        return await provider.measure(metric, context)
