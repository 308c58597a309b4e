"""The prometheus and builtin providers against a real Prometheus scraping real exporters.

Each exporter is a prometheus_client registry whose counters grow linearly with time, so the rates
Prometheus computes from them are known exactly: error rate and p95 are ratios of those rates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.core import Metric as Family
from prometheus_client.registry import Collector

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.providers._promql import PrometheusConfig
from slipway.providers.base import MeasurementContext
from slipway.providers.builtin import BuiltinMetricsConfig, BuiltinProvider
from slipway.providers.prometheus import PrometheusProvider
from slipway.runtime.config import OperatorConfig, parse_config
from slipway_dev.prometheus import PrometheusProcess, free_port

pytestmark = pytest.mark.skipif(not PrometheusProcess.available(), reason="prometheus binary not on PATH")

# Cumulative share of requests at or under each bucket bound: p95 falls in (0.1, 0.5], interpolated
# linearly to 0.1 + (0.95 - 0.8) / (1.0 - 0.8) * 0.4 = 0.4 s.
BUCKETS = (("0.1", 0.8), ("0.5", 1.0), ("+Inf", 1.0))
EXPECTED_P95 = 0.4


class LinearTraffic(Collector):
    """Requests arriving at a steady `rps`, a share `error_ratio` of them answered 500.

    Counters start as if traffic began long ago, so Prometheus never clips its extrapolation at zero.
    """

    def __init__(self, rps: float, error_ratio: float, report_errors: bool = True) -> None:
        self.rps, self.error_ratio, self.report_errors = rps, error_ratio, report_errors
        self.started = time.monotonic() - 1000

    def collect(self) -> Iterator[Family]:
        total = self.rps * (time.monotonic() - self.started)
        requests = CounterMetricFamily("http_requests", "Requests served.", labels=["code"])
        requests.add_metric(["200"], total * (1 - self.error_ratio))
        if self.report_errors:
            requests.add_metric(["500"], total * self.error_ratio)
        durations = HistogramMetricFamily("http_request_duration_seconds", "Request latency.")
        durations.add_metric([], [(bound, total * share) for bound, share in BUCKETS], sum_value=total * 0.2)
        yield requests
        yield durations


REVISIONS = {
    "good": LinearTraffic(rps=10, error_ratio=0.02),
    "clean": LinearTraffic(rps=10, error_ratio=0.0, report_errors=False),
    "idle": LinearTraffic(rps=0, error_ratio=0.0),
}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusProcess]:
    servers = []
    static_configs: list[dict[str, Any]] = []
    for revision, traffic in REVISIONS.items():
        registry = CollectorRegistry()
        registry.register(traffic)
        server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
        servers.append(server)
        static_configs.append(
            {
                "targets": [f"127.0.0.1:{server.server_port}"],
                "labels": {"namespace": "shop", "release": "web", "revision": revision, "version": "1"},
            }
        )
    try:
        with PrometheusProcess([{"job_name": "pods", "static_configs": static_configs}]) as process:
            yield process
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def config_for(url: str | None) -> OperatorConfig:
    return parse_config(
        {"prometheus": {"url": url, "timeoutSeconds": 2}, "builtin": {"minimumWindowSeconds": 5}}
    )


@dataclass(frozen=True)
class Measured:
    """A metric of one revision, measured by providers built from `config`."""

    config: OperatorConfig
    context: MeasurementContext


def context(config: OperatorConfig, revision: str = "good") -> Measured:
    return Measured(
        config,
        MeasurementContext(
            namespace="shop",
            release="web",
            revision=revision,
            version="1",
            stable_revision=None,
            interval_seconds=5,
        ),
    )


def promql_metric(query: str) -> Metric:
    return Metric.model_validate(
        {"name": "custom", "prometheus": {"query": query}, "thresholdRange": {"max": 1}}
    )


def builtin_metric(name: str) -> Metric:
    return Metric.model_validate({"name": name, "builtin": name})


async def measure(metric: Metric, measured: Measured) -> RawMeasurement:
    prometheus = measured.config.section(PrometheusConfig)
    async with aiohttp.ClientSession() as session:
        if metric.builtin is not None:
            names = measured.config.section(BuiltinMetricsConfig)
            return await BuiltinProvider(session, prometheus, names).measure(metric, measured.context)
        return await PrometheusProvider(session, prometheus).measure(metric, measured.context)


def measure_until_data(
    metric: Metric,
    measurement_context: Measured,
    enough: Callable[[tuple[float, ...]], bool] = bool,
) -> RawMeasurement:
    """Poll until Prometheus has scraped enough to answer (two scrapes of each target in the window)."""
    deadline = time.monotonic() + 30
    while True:
        result = asyncio.run(measure(metric, measurement_context))
        assert result.error is None, result.error
        if enough(result.values) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def every_target(values: tuple[float, ...]) -> bool:
    return len(values) == len(REVISIONS)


def numbers(values: tuple[float, ...]) -> bool:
    return bool(values) and not any(math.isnan(value) for value in values)


def test_builtin_error_rate_of_a_revision(prometheus: PrometheusProcess) -> None:
    result = measure_until_data(builtin_metric("error-rate"), context(config_for(prometheus.url)))
    assert result.values == pytest.approx((0.02,), rel=1e-6)
    assert (result.metric, result.revision) == ("error-rate", "good")


def test_builtin_error_rate_is_zero_when_a_revision_never_failed(prometheus: PrometheusProcess) -> None:
    result = measure_until_data(builtin_metric("error-rate"), context(config_for(prometheus.url), "clean"))
    assert result.values == (0.0,)


def test_builtin_latency_p95(prometheus: PrometheusProcess) -> None:
    result = measure_until_data(builtin_metric("latency-p95"), context(config_for(prometheus.url)))
    assert result.values == pytest.approx((EXPECTED_P95,), rel=1e-6)


def test_builtin_metrics_of_a_revision_with_no_requests_are_nan(prometheus: PrometheusProcess) -> None:
    for name in ("error-rate", "latency-p95"):
        result = measure_until_data(builtin_metric(name), context(config_for(prometheus.url), "idle"))
        assert len(result.values) == 1 and math.isnan(result.values[0]), (name, result)


def test_builtin_label_names_come_from_the_config(prometheus: PrometheusProcess) -> None:
    config = parse_config({"prometheus": {"url": prometheus.url}, "builtin": {"revisionLabel": "version"}})
    # With revision matched on the `version` label, revision "1" selects every exporter's series.
    result = measure_until_data(builtin_metric("latency-p95"), context(config, revision="1"), numbers)
    assert result.values == pytest.approx((EXPECTED_P95,), rel=1e-6)


def test_a_revision_with_no_series_has_no_data(prometheus: PrometheusProcess) -> None:
    measure_until_data(builtin_metric("error-rate"), context(config_for(prometheus.url)))
    for name in ("error-rate", "latency-p95"):
        result = asyncio.run(measure(builtin_metric(name), context(config_for(prometheus.url), "absent")))
        assert result.error is None and result.values == ()


def test_builtin_measurements_asked_at_once_share_one_query_and_each_gets_its_own_values(
    prometheus: PrometheusProcess,
) -> None:
    """A wave of passes measuring together: one query grouped by (namespace, release, revision),
    each measurement answered with its own workload's values, as it would be alone."""
    config = config_for(prometheus.url)
    for revision in REVISIONS:  # each target scraped twice in the window
        measure_until_data(builtin_metric("error-rate"), context(config, revision))
    elsewhere = replace(context(config).context, namespace="other")  # no series there
    contexts = [context(config, revision).context for revision in (*REVISIONS, "absent")] * 3 + [elsewhere]
    sent: list[str] = []

    async def together() -> list[RawMeasurement]:
        async def on_request_start(_: Any, __: Any, request: aiohttp.TraceRequestStartParams) -> None:
            sent.append(request.url.path)

        tracing = aiohttp.TraceConfig()
        tracing.on_request_start.append(on_request_start)
        async with aiohttp.ClientSession(trace_configs=[tracing]) as session:
            provider = BuiltinProvider(
                session, config.section(PrometheusConfig), config.section(BuiltinMetricsConfig)
            )
            metric = builtin_metric("error-rate")
            return list(await asyncio.gather(*(provider.measure(metric, each) for each in contexts)))

    results = asyncio.run(together())
    assert sent == ["/api/v1/query"]
    for result, each in zip(results, contexts, strict=True):
        assert result.error is None and result.revision == each.revision, result
        if each.namespace == "other" or each.revision == "absent":
            assert result.values == ()
        elif each.revision == "idle":
            assert len(result.values) == 1 and math.isnan(result.values[0])
        else:
            expected = 0.02 if each.revision == "good" else 0.0
            assert result.values == pytest.approx((expected,), rel=1e-6), result


def test_measurements_asked_while_queries_are_out_wait_and_go_together_in_the_next(
    prometheus: PrometheusProcess,
) -> None:
    """Each query is held before it is sent (aiohttp's trace hook) until 4 are out: a measurement asked
    then waits, and those waiting go in one query when the first held one is answered."""
    config = config_for(prometheus.url)
    for revision in REVISIONS:
        measure_until_data(builtin_metric("error-rate"), context(config, revision))
    sent: list[str] = []

    async def scenario() -> list[RawMeasurement]:
        release = asyncio.Event()

        async def hold(_: Any, __: Any, request: aiohttp.TraceRequestStartParams) -> None:
            sent.append(request.method)
            await release.wait()

        tracing = aiohttp.TraceConfig()
        tracing.on_request_start.append(hold)
        metric = builtin_metric("error-rate")
        async with aiohttp.ClientSession(trace_configs=[tracing]) as session:
            provider = BuiltinProvider(
                session, config.section(PrometheusConfig), config.section(BuiltinMetricsConfig)
            )
            first = []
            for revision in ("good", "clean", "idle", "absent"):  # one at a time: each its own query
                first.append(asyncio.create_task(provider.measure(metric, context(config, revision).context)))
                deadline = time.monotonic() + 5
                while len(sent) < len(first):
                    assert time.monotonic() < deadline, f"{len(sent)} queries out, not {len(first)}"
                    await asyncio.sleep(0.01)
            later = [
                asyncio.create_task(provider.measure(metric, context(config, revision).context))
                for revision in ("good", "clean", "idle", "absent", "good", "idle")
            ]
            await asyncio.sleep(0.2)
            assert len(sent) == 4  # the later ones wait: 4 queries are out
            release.set()
            return list(await asyncio.gather(*first, *later))

    results = asyncio.run(scenario())
    assert sent == ["POST"] * 5  # the 6 that waited went in one query
    for result in results:
        assert result.error is None, result
    expected = {"good": (0.02,), "clean": (0.0,), "absent": ()}
    for result in results:
        if result.revision == "idle":
            assert len(result.values) == 1 and math.isnan(result.values[0])
        else:
            assert result.values == pytest.approx(expected[result.revision], rel=1e-6), result


def test_custom_query_placeholders_are_substituted(prometheus: PrometheusProcess) -> None:
    metric = promql_metric(
        'count(count_over_time(http_requests_total{namespace="{{namespace}}",release="{{release}}",'
        'revision="{{revision}}",version="{{version}}"}[{{interval}}]))'
    )
    # Revision "good" exports two request series (code 200 and 500); no other revision matches.
    result = measure_until_data(metric, context(config_for(prometheus.url)))
    assert result.values == (2.0,)


def test_the_stable_revision_placeholder(prometheus: PrometheusProcess) -> None:
    comparison = promql_metric('count(up{revision=~"{{revision}}|{{stableRevision}}"})')
    good = context(config_for(prometheus.url), "good")
    with_stable = replace(good, context=replace(good.context, stable_revision="clean"))
    assert measure_until_data(comparison, with_stable, lambda values: values == (2.0,)).values == (2.0,)
    # No stable revision: the placeholder is empty, which matches no revision label here.
    first_release = asyncio.run(measure(comparison, context(config_for(prometheus.url), "good")))
    assert first_release.values == (1.0,)


def test_placeholder_values_are_label_escaped(prometheus: PrometheusProcess) -> None:
    # Unescaped, this revision would close the string and inject a matcher (or break the query).
    hostile = 'x"} or vector(7) or up{a="'
    result = asyncio.run(
        measure(promql_metric('up{revision="{{revision}}"}'), context(config_for(prometheus.url), hostile))
    )
    assert result.error is None
    assert result.values == ()


def test_every_series_of_a_vector_is_a_value(prometheus: PrometheusProcess) -> None:
    result = measure_until_data(
        promql_metric('up{release="{{release}}"}'), context(config_for(prometheus.url)), every_target
    )
    assert result.values == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ("0/0", lambda values: len(values) == 1 and math.isnan(values[0])),
        ("1/0", lambda values: values == (math.inf,)),
        ("-1/0", lambda values: values == (-math.inf,)),
        ("scalar(vector(0.25))", lambda values: values == (0.25,)),
        ('up{job="no-such-job"}', lambda values: values == ()),
    ],
)
def test_nan_infinity_and_empty_results_pass_through(
    prometheus: PrometheusProcess, query: str, check: Any
) -> None:
    result = asyncio.run(measure(promql_metric(query), context(config_for(prometheus.url))))
    assert result.error is None
    assert check(result.values), result.values


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("sum(rate(", "Prometheus refused the query (HTTP 400)"),
        ("up[1m]", "query returns a matrix"),
        ('"text"', "query returns a string"),
        ("up{revision={{revsion}}}", "unknown placeholder {{revsion}}"),
    ],
)
def test_bad_queries_are_errors(prometheus: PrometheusProcess, query: str, error: str) -> None:
    result = asyncio.run(measure(promql_metric(query), context(config_for(prometheus.url))))
    assert result.values == ()
    assert result.error is not None and error in result.error


def test_prometheus_down_is_an_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = asyncio.run(measure(builtin_metric("error-rate"), context(config_for(url))))
    assert result.values == ()
    assert result.error is not None and f"Prometheus at {url} did not answer" in result.error


def test_a_shared_query_failing_fails_every_measurement_in_it_with_the_reason() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = config_for(url)

    async def together() -> list[RawMeasurement]:
        async with aiohttp.ClientSession() as session:
            provider = BuiltinProvider(
                session, config.section(PrometheusConfig), config.section(BuiltinMetricsConfig)
            )
            asked = [context(config, revision).context for revision in ("a", "b", "c", "d", "e", "f")]
            return list(
                await asyncio.gather(*(provider.measure(builtin_metric("error-rate"), c) for c in asked))
            )

    for result in asyncio.run(together()):
        assert result.values == ()
        assert result.error is not None and f"Prometheus at {url} did not answer" in result.error


def test_no_prometheus_configured_is_an_error() -> None:
    result = asyncio.run(measure(promql_metric("1"), context(config_for(None))))
    assert result.error is not None and "prometheus.url" in result.error
