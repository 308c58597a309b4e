"""The keys of a Release spec that plug-ins own: a router's key in spec.trafficRouting, a metric
provider's key in a metric.

slipway.api imports no router and no provider. Each plug-in registers its section here when it is
loaded (`slipway.plugins.load()`); `TrafficRouting` and `Metric` are then assembled from what is
registered: their fields, CEL rules and messages, hence the CRD too. A model that holds them is not
fully defined before that, and pydantic says so on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from slipway.api.models import ThresholdRange


@dataclass(frozen=True)
class RoutingSection:
    """A router's key in spec.trafficRouting and the model of what it holds."""

    key: str
    model: type[BaseModel]


@dataclass(frozen=True)
class MetricSource:
    """A metric provider's key in a metric, the type of what it holds, and how its values are judged.

    `schema` is a model, or a constrained type such as builtin's names; `description` describes the
    field when the type has no docstring to do it. `default_threshold` is the range a value is judged
    by when the metric sets no thresholdRange; None: the metric must set one.
    """

    key: str
    schema: Any
    description: str | None = None
    default_threshold: Callable[[Any], ThresholdRange] | None = None


class SectionsClosed(RuntimeError):
    """A section registered after the models were assembled from the others."""


class _Registry:
    def __init__(self) -> None:
        self.routing: dict[str, RoutingSection] = {}
        self.metrics: dict[str, MetricSource] = {}
        self.closed = False

    def _add(self, table: dict[str, Any], key: str, section: object) -> None:
        if self.closed:
            raise SectionsClosed(f"{key!r} registered after the Release models were assembled")
        if table.get(key, section) != section:
            raise ValueError(f"two plug-ins declare the key {key!r}")
        table[key] = section


_registry = _Registry()


def register_routing(section: RoutingSection) -> None:
    _registry._add(_registry.routing, section.key, section)


def register_metric_source(source: MetricSource) -> None:
    _registry._add(_registry.metrics, source.key, source)


def routing_sections() -> Mapping[str, RoutingSection]:
    return dict(_registry.routing)


def metric_sources() -> Mapping[str, MetricSource]:
    return dict(_registry.metrics)


def close() -> None:
    """No more sections: the models are being assembled from these."""
    _registry.closed = True
