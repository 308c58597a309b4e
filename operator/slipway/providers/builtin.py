"""The metrics Slipway knows without a query, as PromQL templates.

error-rate and latency-p95 read the request counter and the duration histogram every pod exposes,
selected by the target labels Prometheus puts on the pods' series. cpu-usage and memory-usage read
the kubelet's cAdvisor series and kube-state-metrics' limits, which carry no Slipway label: they
select the revision's pods by namespace and name (`<release>-<revision>-<replicaset>-<suffix>`, as
a Deployment names them). The label and metric names come from the operator config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, Literal, get_args

import aiohttp
from pydantic import Field

from slipway.api.models import Metric, ThresholdRange
from slipway.core.measurement import RawMeasurement
from slipway.providers._grouped import GroupedQueries
from slipway.providers._promql import (
    PrometheusConfig,
    QueryFailed,
    escape_label_value,
    instant_query,
    prometheus_ready,
    query,
)
from slipway.providers.base import MeasurementContext, ProviderPlugin, failed, measured
from slipway.runtime.config import LabelName, MetricName, PluginSection

BuiltinMetric = Literal["error-rate", "latency-p95", "cpu-usage", "memory-usage"]


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
    pod_label: LabelName = Field("pod", description="Label naming the pod on cAdvisor and limit series.")
    container_label: LabelName = Field(
        "container", description="Label naming the container on cAdvisor and limit series."
    )
    cpu_usage_metric: MetricName = Field(
        "container_cpu_usage_seconds_total", description="cAdvisor counter of CPU seconds used."
    )
    memory_usage_metric: MetricName = Field(
        "container_memory_working_set_bytes", description="cAdvisor gauge of memory in use (working set)."
    )
    limits_metric: MetricName = Field(
        "kube_pod_container_resource_limits",
        description="kube-state-metrics gauge of each container's limits (cores, bytes).",
    )
    resource_label: LabelName = Field("resource", description="Label of limits_metric naming cpu or memory.")


_SEED_THRESHOLDS: Final[dict[str, ThresholdRange]] = {
    "error-rate": ThresholdRange(max=0.001),
    "latency-p95": ThresholdRange(max=0.5),
    "cpu-usage": ThresholdRange(max=0.80),
    "memory-usage": ThresholdRange(max=0.85),
}


def seed_threshold(builtin: str) -> ThresholdRange:
    """The threshold a builtin metric gets when the Release sets none: error rate 0.1 %, p95 500 ms,
    80 % of the CPU limit, 85 % of the memory limit (the guide's infrastructure thresholds)."""
    return _SEED_THRESHOLDS[builtin]


_WORKLOAD = ("namespace", "release", "revision")
"""The placeholders naming one workload, in the order of the labels that select it."""


def builtin_query(
    builtin: str, names: BuiltinMetricsConfig, interval_seconds: int, grouped: bool = False
) -> str:
    """The PromQL template for error-rate or latency-p95; `{{...}}` placeholders are left for the
    renderer. One workload's, by its `{{namespace}}`, `{{release}}` and `{{revision}}`; `grouped`,
    those a `{{selector}}` matches, one series per (namespace, release, revision) label.

    The rate window is at least `minimum_window_seconds`, since rate() needs two scrapes inside it.
    """
    window = f"[{max(interval_seconds, names.minimum_window_seconds)}s]"
    keys = (names.namespace_label, names.release_label, names.revision_label)
    by = f" by ({', '.join(keys)}) " if grouped else ""
    selector = (
        "{{selector}}"
        if grouped
        else ",".join(f'{label}="{{{{{part}}}}}"' for label, part in zip(keys, _WORKLOAD, strict=True))
    )
    if builtin == "error-rate":
        errors = f'{names.status_code_label}=~"{escape_label_value(names.error_code_regex)}"'
        requests = f"sum{by}(rate({names.requests_metric}{{{selector}}}{window}))"
        # A revision that never failed has no error series at all, which is a rate of 0, not missing
        # data: `or vector(0)`, or per group, `or` its request rate times 0. With no requests at all the
        # division stays empty (no data) or 0/0 (NaN). The rules' form is kept as it was: a changed
        # expression would rewrite every Release's PrometheusRule at an upgrade.
        none_failed = f"{requests} * 0" if grouped else "vector(0)"
        return (
            f"(sum{by}(rate({names.requests_metric}{{{selector},{errors}}}{window})) or {none_failed})"
            f" / {requests}"
        )
    buckets = f"{names.duration_metric}_bucket{{{selector}}}"
    le = f"le, {', '.join(keys)}" if grouped else "le"
    return f"histogram_quantile(0.95, sum by ({le}) (rate({buckets}{window})))"


RESOURCES: Final[dict[str, tuple[str, str]]] = {
    "cpu-usage": ("cpu", "CPU"),
    "memory-usage": ("memory", "memory"),
}
"""The resource metrics: their resource in limits_metric, and its name in a message."""


@dataclass(frozen=True)
class ResourceQueries:
    """A resource metric as two PromQL templates: the fraction of its limit each container of the
    revision uses (one series per container), and the containers that use some and set no limit,
    whose fraction does not exist (a division would silently drop them)."""

    fraction: str
    unlimited: str


def resource_queries(builtin: str, names: BuiltinMetricsConfig, interval_seconds: int) -> ResourceQueries:
    resource, _ = RESOURCES[builtin]
    # A Deployment's pods are <deployment>-<pod-template-hash>-<suffix>; the operator names its
    # Deployments <release>-<revision>, and neither part after that holds a dash.
    pod = f'{names.pod_label}=~"{{{{release}}}}-{{{{revision}}}}-[a-z0-9]+-[a-z0-9]+"'
    selector = f'{names.namespace_label}="{{{{namespace}}}}",{pod}'
    # Without the empty container (the pod's own cgroup) and POD (the pause container) of cAdvisor.
    containers = f'{names.container_label}!~"|POD"'
    keys = f"{names.namespace_label}, {names.pod_label}, {names.container_label}"
    limit = f'sum by ({keys}) ({names.limits_metric}{{{selector},{names.resource_label}="{resource}"}})'
    if builtin == "memory-usage":
        usage = f"sum by ({keys}) ({names.memory_usage_metric}{{{selector},{containers}}})"
        return ResourceQueries(fraction=f"{usage} / {limit}", unlimited=f"{usage} unless {limit}")
    window = max(interval_seconds, names.minimum_window_seconds)
    counter = f"{names.cpu_usage_metric}{{{selector},{containers}}}"
    usage = f"sum by ({keys}) (rate({counter}[{window}s]))"
    # rate() reads low while a series is younger than its window (Prometheus extrapolates little
    # past a first sample), which would pass a burning canary in its first seconds: a container is
    # measured once its counter has a sample a whole window ago; until then it has no data.
    covered = f"sum by ({keys}) ({counter} offset {window}s)"
    return ResourceQueries(fraction=f"({usage} and {covered}) / {limit}", unlimited=f"{usage} unless {limit}")


def no_limit_reason(builtin: str, names: BuiltinMetricsConfig, series: list[dict[str, str]]) -> str:
    """Why a resource metric has no value for the containers in `series` (from the unlimited query)."""
    resource, shown = RESOURCES[builtin]
    containers = sorted({labels.get(names.container_label, "?") for labels in series})
    pods = sorted({labels.get(names.pod_label, "?") for labels in series})
    return (
        f"{builtin} is the fraction of the {shown} limit in use, and container(s) {', '.join(containers)}"
        f" of pod(s) {', '.join(pods[:3])}{' ...' if len(pods) > 3 else ''} have none: set"
        f" resources.limits.{resource} in spec.template (no {names.limits_metric}"
        f'{{{names.resource_label}="{resource}"}} series: is kube-state-metrics scraped?)'
    )


class BuiltinProvider:
    def __init__(
        self, session: aiohttp.ClientSession, prometheus: PrometheusConfig, names: BuiltinMetricsConfig
    ) -> None:
        self._session = session
        self._prometheus = prometheus
        self._names = names
        labels = (names.namespace_label, names.release_label, names.revision_label)
        self._grouped = GroupedQueries(session, prometheus, labels)

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        builtin = metric.spec_of(str)
        if builtin not in get_args(BuiltinMetric):
            raise TypeError(f"metric {metric.name!r} names no builtin metric")
        if builtin not in RESOURCES:
            # Passes measuring at once share queries (providers/_grouped.py).
            template = builtin_query(builtin, self._names, context.interval_seconds, grouped=True)
            try:
                values = await self._grouped.values(
                    template, (context.namespace, context.release, context.revision)
                )
            except QueryFailed as failure:
                return failed(metric, context, str(failure))
            return measured(metric, context, values)
        queries = resource_queries(builtin, self._names, context.interval_seconds)
        try:
            unlimited = await query(self._session, self._prometheus, queries.unlimited, context)
            series = [dict(sample["metric"]) for sample in unlimited["result"]]
        except QueryFailed as failure:
            return failed(metric, context, str(failure))
        except (KeyError, TypeError) as unreadable:
            return failed(metric, context, f"unreadable Prometheus answer: {unreadable}")
        if series:
            # An error, not "no data": onNoData: pass must never let an unmeasurable canary through.
            return failed(metric, context, no_limit_reason(builtin, self._names, series))
        return await instant_query(self._session, self._prometheus, metric, queries.fraction, context)


PLUGIN = ProviderPlugin(
    key="builtin",
    spec=BuiltinMetric,
    description="A metric Slipway knows: error-rate (ratio 0-1), latency-p95 (seconds), cpu-usage or"
    " memory-usage (the fraction of the canary containers' limit in use, 0-1).",
    default_threshold=seed_threshold,
    config=(PrometheusConfig, BuiltinMetricsConfig),
    build=lambda lent, config: BuiltinProvider(
        lent.session, config.section(PrometheusConfig), config.section(BuiltinMetricsConfig)
    ),
    readiness=prometheus_ready,
)
