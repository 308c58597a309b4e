"""PromQL instant queries against the Prometheus named in the operator config."""

from __future__ import annotations

from typing import Any

import aiohttp

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.providers.base import MeasurementContext, TemplateError, failed, measured, render, wrong_provider


def escape_label_value(value: str) -> str:
    """Make `value` safe inside a double-quoted PromQL string, so a name cannot end the string early."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def values_of(data: Any) -> tuple[float, ...]:
    """The sample values of a query result: one per series of a vector, one for a scalar.

    Prometheus writes numbers as strings, NaN and infinities included ("NaN", "+Inf"); float() reads
    them all. A range vector or a string is not a measurement.
    """
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "vector":
        return tuple(float(sample["value"][1]) for sample in result)
    if result_type == "scalar":
        return (float(result[1]),)
    raise ValueError(f"query returns a {result_type}, not a number; an instant vector or scalar is needed")


class PrometheusProvider:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        if metric.prometheus is None:
            raise wrong_provider(metric, "prometheus")
        return await self.query(metric, metric.prometheus.query, context)

    async def query(self, metric: Metric, template: str, context: MeasurementContext) -> RawMeasurement:
        settings = context.config.prometheus
        if settings.url is None:
            return failed(metric, context, "no Prometheus configured (prometheus.url in the operator config)")
        try:
            promql = render(template, context.placeholders(), escape_label_value)
        except TemplateError as unknown:
            return failed(metric, context, str(unknown))
        try:
            async with self._session.get(
                f"{settings.url}/api/v1/query",
                params={"query": promql},
                timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
            ) as response:
                status = response.status
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as unreachable:
            reason = str(unreachable) or type(unreachable).__name__
            return failed(metric, context, f"Prometheus at {settings.url} did not answer: {reason}")
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error", body) if isinstance(body, dict) else body
            return failed(metric, context, f"Prometheus refused the query (HTTP {status}): {detail}")
        try:
            return measured(metric, context, values_of(body["data"]))
        except (KeyError, TypeError, IndexError, ValueError) as unreadable:
            return failed(metric, context, f"unreadable Prometheus answer: {unreadable}")
