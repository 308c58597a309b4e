"""PromQL instant queries against the Prometheus named in the operator config."""

from __future__ import annotations

from typing import Annotated

import aiohttp
from pydantic import Field, StringConstraints

from slipway.api.models import ApiModel, Metric
from slipway.core.measurement import RawMeasurement
from slipway.providers._promql import PrometheusConfig, instant_query, prometheus_ready
from slipway.providers.base import MeasurementContext, ProviderPlugin


class PrometheusMetric(ApiModel):
    """A PromQL query, run against the Prometheus named in the operator's config.

    `{{namespace}}`, `{{release}}`, `{{revision}}` and `{{version}}` in the query are replaced before it runs.
    """

    query: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(
        description="PromQL query returning one number (the first sample is used)."
    )


class PrometheusProvider:
    def __init__(self, session: aiohttp.ClientSession, settings: PrometheusConfig) -> None:
        self._session = session
        self._settings = settings

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        query = metric.spec_of(PrometheusMetric).query
        return await instant_query(self._session, self._settings, metric, query, context)


PLUGIN = ProviderPlugin(
    key="prometheus",
    spec=PrometheusMetric,
    config=(PrometheusConfig,),
    build=lambda lent, config: PrometheusProvider(lent.session, config.section(PrometheusConfig)),
    readiness=prometheus_ready,
)
