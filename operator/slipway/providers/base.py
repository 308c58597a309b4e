"""The one small protocol every metric provider implements, and what they share.

A provider fetches; it never judges. It returns a `RawMeasurement` with the values exactly as the
back-end gave them (NaN and infinities included), no values when there was no data, or an error when it
could not answer. Thresholds, failure limits and what NaN means are the core's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.runtime.config import OperatorConfig

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z]+)\s*\}\}")


@dataclass(frozen=True)
class MeasurementContext:
    """Who is measured, and with which operator config."""

    namespace: str
    release: str
    revision: str
    version: str
    stable_revision: str | None
    interval_seconds: int
    config: OperatorConfig

    def placeholders(self) -> dict[str, str]:
        """The values `{{name}}` in a query or URL stands for."""
        return {
            "namespace": self.namespace,
            "release": self.release,
            "revision": self.revision,
            "version": self.version,
            "stableRevision": self.stable_revision or "",
            "interval": f"{self.interval_seconds}s",
        }


class MetricProvider(Protocol):
    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement: ...


class TemplateError(ValueError):
    """A template names a placeholder that does not exist."""


def render(template: str, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """Replace each `{{name}}` by `escape(values[name])`; escaping is what keeps a value from
    changing the query or URL around it."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join("{{" + known + "}}" for known in values)
            raise TemplateError(f"unknown placeholder {{{{{name}}}}}; known: {known}")
        return escape(values[name])

    return _PLACEHOLDER.sub(substitute, template)


def measured(metric: Metric, context: MeasurementContext, values: tuple[float, ...]) -> RawMeasurement:
    return RawMeasurement(metric=metric.name, revision=context.revision, at=datetime.now(UTC), values=values)


def failed(metric: Metric, context: MeasurementContext, error: str) -> RawMeasurement:
    return RawMeasurement(metric=metric.name, revision=context.revision, at=datetime.now(UTC), error=error)


def wrong_provider(metric: Metric, provider: str) -> TypeError:
    """Raised when a metric reaches a provider it does not name: a bug in the caller, not in the metric."""
    return TypeError(f"metric {metric.name!r} has no {provider} section")
