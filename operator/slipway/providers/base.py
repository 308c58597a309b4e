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
from typing import Any, Protocol

import aiohttp

from slipway.api.models import Metric, ThresholdRange
from slipway.core.measurement import RawMeasurement
from slipway.core.obstacles import Obstacle
from slipway.kube.client import KubeApi
from slipway.rbac import Rule
from slipway.runtime.config import PluginConfig, PluginSection
from slipway.runtime.redaction import redact

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z]+)\s*\}\}")


@dataclass(frozen=True)
class MeasurementContext:
    """Who is measured (what a provider may read of the operator config it got when it was built)."""

    namespace: str
    release: str
    revision: str
    version: str
    stable_revision: str | None
    interval_seconds: int

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
    """A measurement that could not be made. Its error goes into the Release's status and Events, and
    may quote a URL: credentials in it are redacted here, for every provider."""
    return RawMeasurement(
        metric=metric.name, revision=context.revision, at=datetime.now(UTC), error=redact(error)
    )


@dataclass(frozen=True)
class Resources:
    """What the operator lends its providers: one HTTP session, and the Kubernetes API when it has one."""

    session: aiohttp.ClientSession
    kube_api: KubeApi | None


@dataclass(frozen=True)
class ProviderPlugin:
    """What a provider module declares in `PLUGIN`; `slipway.providers.registry` finds it.

    - `key`: its key in a metric; `spec`: the type of what that key holds (a model, or a constrained
      type), `description` for the CRD when that type has no docstring;
    - `default_threshold`: the range its values are judged by when the metric sets none (None: the
      metric must set a thresholdRange);
    - `config`: the operator-config sections it reads (each under its own top-level key; the file is
      validated against them): it is given those and no other part of the config;
    - `build`: the provider, from the operator's resources and its config sections;
    - `readiness`: what keeps this operator from measuring a metric (at the given field), with its
      config sections: checked before anything is created for a Release, like Flagger's IsOnline;
    - `rules`: the Kubernetes permissions it needs (the chart's RBAC rules are generated from them);
    - `pod_templates`: the pod templates measuring a metric makes the operator create, each with its
      field below the metric's key: they are held to the operator's Pod Security level before anything
      is created, as the Release's own are (slipway/podsecurity.py).
    """

    key: str
    spec: Any
    build: Callable[[Resources, PluginConfig], MetricProvider | None]
    config: tuple[type[PluginSection], ...] = ()
    description: str | None = None
    default_threshold: Callable[[Any], ThresholdRange] | None = None
    readiness: Callable[[Metric, str, PluginConfig], tuple[Obstacle, ...]] = lambda metric, at, config: ()
    rules: tuple[Rule, ...] = ()
    pod_templates: Callable[[Metric], tuple[tuple[str, dict[str, Any]], ...]] = lambda metric: ()
