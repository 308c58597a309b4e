"""The Prometheus HTTP API as the prometheus and builtin providers both use it: one instant query.

A module of its own (not a provider) so that neither provider imports the other.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiohttp
from pydantic import Field

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.core.obstacles import Obstacle
from slipway.providers.base import MeasurementContext, TemplateError, failed, measured, render
from slipway.runtime.config import HttpUrl, PluginConfig, PluginSection


class PrometheusConfig(PluginSection):
    """Where the Prometheus is that PromQL metrics (prometheus and builtin) are queried from."""

    key: ClassVar[str] = "prometheus"

    url: HttpUrl | None = Field(None, description="Prometheus HTTP API base URL; unset = none.")
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one query.")


def prometheus_ready(metric: Metric, at: str, config: PluginConfig) -> tuple[Obstacle, ...]:
    """A metric measured by PromQL needs the operator config's prometheus.url."""
    if config.section(PrometheusConfig).url is not None:
        return ()
    return (
        Obstacle(
            "PrometheusNotConfigured",
            f"{at}.{metric.kind}",
            f"metric {metric.name!r} needs Prometheus, and the operator config sets no prometheus.url",
        ),
    )


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


class QueryFailed(Exception):
    """Prometheus gave no usable answer; the message says why, for the measurement's error."""


async def query(
    session: aiohttp.ClientSession, settings: PrometheusConfig, template: str, context: MeasurementContext
) -> Any:
    """The `data` of the instant query `template` (placeholders filled in, escaped)."""
    try:
        promql = render(template, context.placeholders(), escape_label_value)
    except TemplateError as unknown:
        raise QueryFailed(str(unknown)) from unknown
    return await run(session, settings, promql)


async def run(session: aiohttp.ClientSession, settings: PrometheusConfig, promql: str) -> Any:
    """The `data` of the instant query `promql`."""
    if settings.url is None:
        raise QueryFailed("no Prometheus configured (prometheus.url in the operator config)")
    try:
        # A form POST, which the query API takes as it takes a GET: a grouped query (providers/_grouped.py)
        # runs to tens of kilobytes, past what proxies in front of Prometheus take in a URL (8 KB).
        async with session.post(
            f"{settings.url}/api/v1/query",
            data={"query": promql},
            timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
        ) as response:
            status = response.status
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as unreachable:
        reason = str(unreachable) or type(unreachable).__name__
        raise QueryFailed(f"Prometheus at {settings.url} did not answer: {reason}") from unreachable
    if not isinstance(body, dict) or body.get("status") != "success":
        detail = body.get("error", body) if isinstance(body, dict) else body
        raise QueryFailed(f"Prometheus refused the query (HTTP {status}): {detail}")
    if "data" not in body:
        raise QueryFailed("unreadable Prometheus answer: no data field")
    return body["data"]


async def instant_query(
    session: aiohttp.ClientSession,
    settings: PrometheusConfig,
    metric: Metric,
    template: str,
    context: MeasurementContext,
) -> RawMeasurement:
    """Run the PromQL `template` as an instant query: its values, or the reason there are none."""
    try:
        data = await query(session, settings, template, context)
    except QueryFailed as failure:
        return failed(metric, context, str(failure))
    try:
        return measured(metric, context, values_of(data))
    except (KeyError, TypeError, IndexError, ValueError) as unreadable:
        return failed(metric, context, f"unreadable Prometheus answer: {unreadable}")
