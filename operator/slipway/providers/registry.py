"""Which provider measures a metric: the one its spec names."""

from __future__ import annotations

import aiohttp

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.kube.client import KubeApi
from slipway.providers.base import MeasurementContext, MetricProvider, failed
from slipway.providers.builtin import BuiltinProvider
from slipway.providers.job import JobProvider
from slipway.providers.prometheus import PrometheusProvider
from slipway.providers.web import WebProvider

PROVIDER_KINDS = ("builtin", "prometheus", "web", "job")


class ProviderRegistry:
    """Every provider, sharing one HTTP session (and the Kubernetes API, for job metrics)."""

    def __init__(self, session: aiohttp.ClientSession, kube_api: KubeApi | None = None) -> None:
        prometheus = PrometheusProvider(session)
        self._providers: dict[str, MetricProvider] = {
            "builtin": BuiltinProvider(prometheus),
            "prometheus": prometheus,
            "web": WebProvider(session),
        }
        if kube_api is not None:
            self._providers["job"] = JobProvider(kube_api)

    @staticmethod
    def kind_of(metric: Metric) -> str:
        return next(kind for kind in PROVIDER_KINDS if getattr(metric, kind) is not None)

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        kind = self.kind_of(metric)
        provider = self._providers.get(kind)
        if provider is None:
            return failed(
                metric, context, f"{kind} metrics need the Kubernetes API, which this operator lacks"
            )
        return await provider.measure(metric, context)
