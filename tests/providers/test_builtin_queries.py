"""The PromQL of the builtin resource metrics, as text: which series, which join, which names.

tests/providers/test_builtin.py runs the same queries against a real Prometheus."""

from __future__ import annotations

from slipway.api.models import Metric, ThresholdRange
from slipway.providers._grouped import selector
from slipway.providers.builtin import BuiltinMetricsConfig, builtin_query, no_limit_reason, resource_queries

PODS = 'namespace="{{namespace}}",pod=~"{{release}}-{{revision}}-[a-z0-9]+-[a-z0-9]+"'
KEYS = "sum by (namespace, pod, container)"


def test_cpu_usage_divides_each_containers_cpu_rate_by_its_cpu_limit() -> None:
    queries = resource_queries("cpu-usage", BuiltinMetricsConfig(), interval_seconds=30)
    counter = f'container_cpu_usage_seconds_total{{{PODS},container!~"|POD"}}'
    usage = f"{KEYS} (rate({counter}[30s]))"
    limit = f'{KEYS} (kube_pod_container_resource_limits{{{PODS},resource="cpu"}})'
    # Only containers whose counter had a sample a whole window ago: a younger one would read low.
    assert queries.fraction == f"({usage} and {KEYS} ({counter} offset 30s)) / {limit}"
    assert queries.unlimited == f"{usage} unless {limit}"


def test_memory_usage_is_the_working_set_over_the_memory_limit_with_configured_names() -> None:
    names = BuiltinMetricsConfig.model_validate(
        {"podLabel": "pod_name", "limitsMetric": "kube_limits", "memoryUsageMetric": "mem_bytes"}
    )
    queries = resource_queries("memory-usage", names, interval_seconds=1)
    pods = PODS.replace("pod=~", "pod_name=~")
    keys = "sum by (namespace, pod_name, container)"
    assert queries.fraction == (
        f'{keys} (mem_bytes{{{pods},container!~"|POD"}}) / {keys} (kube_limits{{{pods},resource="memory"}})'
    )


def test_a_missing_limit_is_named_with_the_field_to_set() -> None:
    series = [{"namespace": "shop", "pod": f"web-abc-{n}-x", "container": "app"} for n in range(5)]
    reason = no_limit_reason("cpu-usage", BuiltinMetricsConfig(), series)
    assert reason.startswith("cpu-usage is the fraction of the CPU limit in use, and container(s) app")
    assert "web-abc-0-x, web-abc-1-x, web-abc-2-x ..." in reason
    assert "set resources.limits.cpu in spec.template" in reason


def test_named_without_a_threshold_they_get_the_guides_defaults() -> None:
    for builtin, bound in (("cpu-usage", 0.80), ("memory-usage", 0.85)):
        metric = Metric.model_validate({"name": builtin, "builtin": builtin})
        assert metric.effective_threshold() == ThresholdRange(max=bound)


def test_a_grouped_query_selects_its_workloads_exactly_where_they_share_a_value_else_by_alternation() -> None:
    labels = ("namespace", "release", "revision")
    assert selector(labels, [("shop", "web", "5f1c9a")]) == 'namespace="shop",release="web",revision="5f1c9a"'
    # A dot is any character to a regex: escaped, then escaped again inside the PromQL string.
    two = selector(labels, [("shop", "web.v2", "b"), ("shop", "web", "a")])
    assert two == 'namespace="shop",release=~"web|web\\\\.v2",revision=~"a|b"'


def test_the_one_workload_form_the_alert_rules_use_is_unchanged() -> None:
    """Every Release's PrometheusRule holds it: a changed text would rewrite them all at an upgrade."""
    workload = 'namespace="{{namespace}}",release="{{release}}",revision="{{revision}}"'
    assert builtin_query("error-rate", BuiltinMetricsConfig(), 60) == (
        f'(sum(rate(http_requests_total{{{workload},code=~"5.."}}[60s])) or vector(0))'
        f" / sum(rate(http_requests_total{{{workload}}}[60s]))"
    )
    assert builtin_query("latency-p95", BuiltinMetricsConfig(), 60) == (
        "histogram_quantile(0.95, sum by (le)"
        f" (rate(http_request_duration_seconds_bucket{{{workload}}}[60s])))"
    )
