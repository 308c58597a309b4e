"""The metrics Slipway knows without a query: error-rate and latency-p95, as PromQL templates.

They read the request counter and the duration histogram every pod exposes, selected by the target
labels Prometheus puts on the pods' series; the label and metric names come from the operator config.
"""

from __future__ import annotations

from slipway.api.models import BuiltinMetric, Metric
from slipway.core.measurement import RawMeasurement
from slipway.providers.base import MeasurementContext, wrong_provider
from slipway.providers.prometheus import PrometheusProvider, escape_label_value
from slipway.runtime.config import BuiltinMetricsConfig


def builtin_query(builtin: BuiltinMetric, names: BuiltinMetricsConfig, interval_seconds: int) -> str:
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
    def __init__(self, prometheus: PrometheusProvider) -> None:
        self._prometheus = prometheus

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        if metric.builtin is None:
            raise wrong_provider(metric, "builtin")
        template = builtin_query(metric.builtin, context.config.builtin, context.interval_seconds)
        return await self._prometheus.query(metric, template, context)
