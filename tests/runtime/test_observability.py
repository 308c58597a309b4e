"""The operator's metrics, JSON logs and /metrics, /healthz, /readyz endpoints."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import aiohttp
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from slipway.runtime.logging import bind_release, configure_logging
from slipway.runtime.metrics import PHASES, OperatorMetrics
from slipway.runtime.server import CannotListen, ObservabilityServer


def samples(metrics: OperatorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_release_phase_is_one_for_the_current_phase_and_zero_for_the_others() -> None:
    metrics = OperatorMetrics()
    metrics.set_release("shop", "web", "Progressing", 10)
    metrics.set_release("shop", "web", "Paused", 50)
    seen = samples(metrics)
    for phase in PHASES:
        key = ("slipway_release_phase", (("namespace", "shop"), ("phase", phase), ("release", "web")))
        assert seen[key] == (1 if phase == "Paused" else 0)
    assert seen[("slipway_release_weight", (("namespace", "shop"), ("release", "web")))] == 50


def test_a_forgotten_release_has_no_series() -> None:
    metrics = OperatorMetrics()
    metrics.set_release("shop", "web", "Healthy", 0)
    metrics.set_release("shop", "api", "Healthy", 0)
    metrics.forget_release("shop", "web")
    metrics.forget_release("shop", "never-seen")
    releases = {
        dict(labels).get("release") for name, labels in samples(metrics) if name.startswith("slipway_release")
    }
    assert releases == {"api"}


def test_counters_and_the_reconcile_histogram() -> None:
    metrics = OperatorMetrics()
    metrics.transition(None, "Healthy")
    metrics.transition("Healthy", "Progressing")
    metrics.transition("Healthy", "Progressing")
    metrics.rollback("AnalysisFailed")
    metrics.measurement("error-rate", "successful")
    metrics.api_request("PATCH", 409, 0.004)
    metrics.api_request("LIST", 200, 0.3)
    metrics.queued(0.7)
    metrics.reconciled(0.02)
    metrics.reconciled(3.0)
    seen = samples(metrics)
    assert seen[("slipway_transitions_total", (("from", "Healthy"), ("to", "Progressing")))] == 2
    assert seen[("slipway_transitions_total", (("from", ""), ("to", "Healthy")))] == 1
    assert seen[("slipway_rollbacks_total", (("reason", "AnalysisFailed"),))] == 1
    assert (
        seen[("slipway_analysis_measurements_total", (("metric", "error-rate"), ("outcome", "successful")))]
        == 1
    )
    assert seen[("slipway_api_requests_total", (("code", "409"), ("verb", "PATCH")))] == 1
    assert seen[("slipway_api_request_duration_seconds_bucket", (("le", "0.005"), ("verb", "PATCH")))] == 1
    assert seen[("slipway_api_request_duration_seconds_bucket", (("le", "0.25"), ("verb", "LIST")))] == 0
    assert seen[("slipway_api_request_duration_seconds_count", (("verb", "LIST"),))] == 1
    assert seen[("slipway_reconcile_queue_seconds_bucket", (("le", "0.5"),))] == 0
    assert seen[("slipway_reconcile_queue_seconds_bucket", (("le", "1.0"),))] == 1
    assert seen[("slipway_reconcile_duration_seconds_count", ())] == 2
    assert seen[("slipway_reconcile_duration_seconds_bucket", (("le", "0.025"),))] == 1


def test_each_operator_has_its_own_registry() -> None:
    first, second = OperatorMetrics(), OperatorMetrics()
    first.rollback("Aborted")
    assert ("slipway_rollbacks_total", (("reason", "Aborted"),)) not in samples(second)


@pytest.fixture
def log_lines() -> Any:
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def test_log_lines_are_json_with_the_bound_release(log_lines: Any) -> None:
    log = structlog.get_logger("slipway.test")
    log.info("outside")
    with bind_release("shop", "web", revision="abc123", phase="Progressing", step=2):
        log.info("set weight", weight=10)
        logging.getLogger("kopf.objects").warning("from a library")
        with bind_release("shop", "web", revision="abc123", phase="Paused", step=3):
            log.info("paused")
    with bind_release("shop", "api"):
        log.debug("first sight")
    outside, weight, library, paused, first = log_lines()
    assert "release" not in outside and outside["event"] == "outside" and outside["level"] == "info"
    identity = {"namespace": "shop", "release": "web", "revision": "abc123"}
    assert weight == weight | identity | {
        "phase": "Progressing",
        "step": 2,
        "weight": 10,
        "event": "set weight",
    }
    assert library == library | identity | {
        "phase": "Progressing",
        "logger": "kopf.objects",
        "level": "warning",
    }
    assert paused == paused | identity | {"phase": "Paused", "step": 3}
    assert first["release"] == "api" and "revision" not in first and "phase" not in first
    assert all("timestamp" in line for line in (outside, weight, library, paused, first))


def test_binding_reaches_threads_started_with_to_thread(log_lines: Any) -> None:
    async def scenario() -> None:
        with bind_release("shop", "web", phase="RollingBack"):
            await asyncio.to_thread(structlog.get_logger().info, "in a worker thread")

    asyncio.run(scenario())
    (line,) = [line for line in log_lines() if line["event"] == "in a worker thread"]
    assert line["release"] == "web" and line["phase"] == "RollingBack"


def test_the_console_format_is_one_plain_line_per_record_with_its_fields() -> None:
    stream = io.StringIO()
    configure_logging("warning", stream, format="console")
    try:
        log = structlog.get_logger("slipway.test")
        log.info("below the level")
        with bind_release("shop", "web", phase="Paused"):
            log.warning("paused for a person", step=3)
        logging.getLogger("kopf.objects").error("from a library")
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    paused, library, failed, *trace = stream.getvalue().splitlines()
    assert not any(line.startswith("{") for line in (paused, library, failed))
    assert "[warning" in paused and "paused for a person [slipway.test]" in paused
    assert all(field in paused for field in ("namespace=shop", "release=web", "phase=Paused", "step=3"))
    assert "[error" in library and "from a library [kopf.objects]" in library
    assert trace[0] == "Traceback (most recent call last):" and trace[-1] == "ValueError: broken"
    assert "below the level" not in stream.getvalue()


def test_no_credential_of_a_url_reaches_a_log_line(log_lines: Any) -> None:
    at = "http://slipway:pw-1@alertmanager:9093/api/v2/alerts?access_token=tok-2&active=true"
    structlog.get_logger("slipway.test").warning(f"asked {at}", url=at, every=[{"url": at}])
    logging.getLogger("aiohttp.client").error("from a library: %s", at)
    try:
        raise ConnectionError(at)
    except ConnectionError:
        structlog.get_logger("slipway.test").exception("failed")
    text = json.dumps(log_lines())
    assert "pw-1" not in text and "tok-2" not in text
    assert "http://***@alertmanager:9093/api/v2/alerts?access_token=***&active=true" in text


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json, console"):
        configure_logging(format="xml")


def test_a_standby_is_ready_with_a_note() -> None:
    async def scenario() -> None:
        async with ObservabilityServer(OperatorMetrics()) as server, aiohttp.ClientSession() as session:
            server.set_ready("standby, waiting to lead")
            async with session.get(f"{server.url}/readyz") as readiness:
                assert readiness.status == 200
                assert await readiness.text() == "ready: standby, waiting to lead\n"

    asyncio.run(scenario())


def test_a_port_in_use_is_one_error_naming_it_and_what_to_set() -> None:
    async def scenario() -> None:
        async with ObservabilityServer(OperatorMetrics()) as first:
            with pytest.raises(CannotListen) as taken:
                await ObservabilityServer(OperatorMetrics(), "127.0.0.1", first.port).start()
            assert f"127.0.0.1:{first.port}" in str(taken.value) and "server.port" in str(taken.value)

    asyncio.run(scenario())


def test_metrics_health_and_readiness_endpoints() -> None:
    async def scenario() -> None:
        metrics = OperatorMetrics()
        metrics.set_release("shop", "web", "Healthy", 0)
        async with ObservabilityServer(metrics) as server, aiohttp.ClientSession() as session:
            assert server.url.startswith("http://127.0.0.1:")
            async with session.get(f"{server.url}/healthz") as health:
                assert health.status == 200
            async with session.get(f"{server.url}/readyz") as readiness:
                assert readiness.status == 503
                assert "starting" in await readiness.text()
            assert not server.ready
            server.set_ready()
            assert server.ready
            async with session.get(f"{server.url}/readyz") as readiness:
                assert readiness.status == 200
            server.set_not_ready("lost leadership")
            async with session.get(f"{server.url}/readyz") as readiness:
                assert readiness.status == 503 and "lost leadership" in await readiness.text()
            async with session.get(f"{server.url}/metrics") as exposition:
                assert exposition.status == 200
                assert exposition.headers["Content-Type"].startswith("text/plain")
                assert 'slipway_release_phase{namespace="shop",phase="Healthy",release="web"} 1.0' in (
                    await exposition.text()
                )

    asyncio.run(scenario())
