"""The metrics Slipway knows without a query: error-rate and latency-p95, as PromQL templates.

They read the request counter and the duration histogram every pod exposes, selected by the target
labels Prometheus puts on the pods' series; the label and metric names come from the operator config.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal, get_args

import aiohttp
from pydantic import Field

from slipway.api.models import Metric, ThresholdRange
from slipway.core.measurement import RawMeasurement
from slipway.providers._promql import PrometheusConfig, escape_label_value, instant_query, prometheus_ready
from slipway.providers.base import MeasurementContext, ProviderPlugin
from slipway.runtime.config import LabelName, MetricName, PluginSection

BuiltinMetric = Literal["error-rate", "latency-p95"]



class BuiltinMetricsConfig(PluginSection):
    """How the built-in error-rate and latency-p95 metrics find the workload's series in Prometheus."""

    key: ClassVar[str] = "builtin"

    namespace_label: LabelName = "namespace"
    release_label: LabelName = "release"
    revision_label: LabelName = "revision"
    requests_metric: MetricName = Field("http_requests_total", description="Counter of requests.")
    status_code_label: LabelName = Field("code", description="Label of requests_metric with the HTTP status.")
    error_code_regex: str = Field("5..", description="Status codes that count as errors (a PromQL regex).")
    duration_metric: MetricName = Field(
        "http_request_duration_seconds", description="Histogram of request durations in seconds."
    )
    minimum_window_seconds: int = Field(
        10, ge=1, description="Shortest rate window; rate() needs at least two scrapes inside it."
    )


_SEED_THRESHOLDS: Final[dict[str, ThresholdRange]] = {
    "error-rate": ThresholdRange(max=0.001),
    "latency-p95": ThresholdRange(max=0.5),
}


def seed_threshold(builtin: str) -> ThresholdRange:
    """The threshold a builtin metric gets when the Release sets none: error rate 0.1 %, p95 500 ms."""
    return _SEED_THRESHOLDS[builtin]


def builtin_query(builtin: str, names: BuiltinMetricsConfig, interval_seconds: int) -> str:
    """The PromQL template for a builtin metric; `{{...}}` placeholders are left for the renderer.

    The rate window is at least `minimum_window_seconds`, since rate() needs two scrapes inside it.
    """
    window = f"[{max(interval_seconds, names.minimum_window_seconds)}s]"
    selector = (
        f'{names.namespace_label}="{{{{namespace}}}}",'
        f'{names.release_label}="{{{{release}}}}",'
        f'{names.revision_label}="{{{{revision}}}}"'
    )
    if builtin == "error-rate":
        errors = f'{names.status_code_label}=~"{escape_label_value(names.error_code_regex)}"'
        # `or vector(0)`: a revision that never failed has no error series at all, which is a rate of
        # 0, not missing data. With no requests at all the division stays empty (no data) or 0/0 (NaN).
        return (
            f"(sum(rate({names.requests_metric}{{{selector},{errors}}}{window})) or vector(0))"
            f" / sum(rate({names.requests_metric}{{{selector}}}{window}))"
        )
    return (
        f"histogram_quantile(0.95, sum by (le) (rate({names.duration_metric}_bucket{{{selector}}}{window})))"
    )


class BuiltinProvider:
    def __init__(
        self, session: aiohttp.ClientSession, prometheus: PrometheusConfig, names: BuiltinMetricsConfig
    ) -> None:
        self._session = session
        self._prometheus = prometheus
        self._names = names

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        builtin = metric.spec_of(str)
        if builtin not in get_args(BuiltinMetric):
            raise TypeError(f"metric {metric.name!r} names no builtin metric")
        template = builtin_query(builtin, self._names, context.interval_seconds)
        return await instant_query(self._session, self._prometheus, metric, template, context)


PLUGIN = ProviderPlugin(
    key="builtin",
    spec=BuiltinMetric,
    description="A metric Slipway knows: error-rate (ratio 0-1) or latency-p95 (seconds).",
    default_threshold=seed_threshold,
    config=(PrometheusConfig, BuiltinMetricsConfig),
    build=lambda lent, config: BuiltinProvider(
        lent.session, config.section(PrometheusConfig), config.section(BuiltinMetricsConfig)
    ),
    readiness=prometheus_ready,
)
