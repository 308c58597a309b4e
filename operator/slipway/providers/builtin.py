"""The metrics Slipway knows without a query: error-rate and latency-p95, as PromQL templates.

They read the request counter and the duration histogram every pod exposes, selected by the target
labels Prometheus puts on the pods' series; the label and metric names come from the operator config.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import aiohttp

from slipway.api.models import Metric, ThresholdRange
from slipway.core.measurement import RawMeasurement
from slipway.providers._promql import escape_label_value, instant_query, prometheus_ready
from slipway.providers.base import MeasurementContext, ProviderPlugin
from slipway.runtime.config import BuiltinMetricsConfig

BuiltinMetric = Literal["error-rate", "latency-p95"]

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
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        builtin = metric.spec_of(str)
        if builtin not in get_args(BuiltinMetric):
            raise TypeError(f"metric {metric.name!r} names no builtin metric")
        template = builtin_query(builtin, context.config.builtin, context.interval_seconds)
        return await instant_query(self._session, metric, template, context)


PLUGIN = ProviderPlugin(
    key="builtin",
    spec=BuiltinMetric,
    description="A metric Slipway knows: error-rate (ratio 0-1) or latency-p95 (seconds).",
    default_threshold=seed_threshold,
    build=lambda lent: BuiltinProvider(lent.session),
    readiness=prometheus_ready,
)
