"""The web provider against a local aiohttp server: JSON path values, the host allow-list, redirects."""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from slipway.api.models import Metric
from slipway.core.measurement import RawMeasurement
from slipway.providers.base import MeasurementContext
from slipway.providers.registry import ProviderRegistry
from slipway.providers.web import JsonPathError, WebConfig, WebProvider, host_allowed, json_path_values
from slipway.runtime.config import parse_config

ANSWER = {
    "data": {"errorRate": 0.004, "ok": True, "text": "NaN", "none": None, "series": [{"v": 1}, {"v": "2.5"}]}
}


class Server:
    """An HTTP server on a free loopback port that records every path it was asked for."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.headers: dict[str, str] = {}
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests[request.raw_path] += 1
        self.headers = dict(request.headers)
        if request.path == "/value":
            return web.json_response(ANSWER)
        if request.path == "/redirect-same":
            raise web.HTTPFound("/value")
        if request.path == "/redirect-away":
            raise web.HTTPFound(f"http://localhost:{self.port}/value")
        if request.path == "/html":
            return web.Response(text="<html>", content_type="text/html")
        return web.Response(status=500)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Server]:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        try:
            yield self
        finally:
            await runner.cleanup()


def web_metric(url: str, json_path: str = "$.data.errorRate", **extra: Any) -> Metric:
    spec = {"url": url, "jsonPath": json_path, **extra}
    return Metric.model_validate({"name": "checkout", "web": spec, "thresholdRange": {"max": 0.01}})


def context(version: str = "2.4.1") -> MeasurementContext:
    return MeasurementContext(
        namespace="shop",
        release="web",
        revision="abc",
        version=version,
        stable_revision=None,
        interval_seconds=30,
    )


def measure(
    path: str, allowed: list[str] | None = None, json_path: str = "$.data.errorRate", version: str = "2.4.1"
) -> tuple[RawMeasurement, Server]:
    async def scenario() -> tuple[RawMeasurement, Server]:
        async with Server().running() as server, aiohttp.ClientSession() as session:
            metric = web_metric(f"http://127.0.0.1:{server.port}{path}", json_path, headers={"X-Check": "1"})
            hosts = ["127.0.0.1"] if allowed is None else allowed
            provider = WebProvider(session, WebConfig(allowed_hosts=hosts))
            return await provider.measure(metric, context(version)), server

    return asyncio.run(scenario())


def test_value_at_the_json_path() -> None:
    result, server = measure("/value")
    assert result.error is None
    assert result.values == (0.004,)
    assert server.headers.get("X-Check") == "1"


def test_placeholders_in_the_url_are_percent_encoded() -> None:
    # A version cannot add a path segment, a query or another host to the URL.
    result, server = measure("/{{namespace}}/{{version}}", version="2.4/../x?y=@z")
    assert list(server.requests) == ["/shop/2.4%2F..%2Fx%3Fy%3D%40z"]
    assert result.error is not None and "HTTP 500" in result.error


@pytest.mark.parametrize(
    "allowed",
    [[], ["127.0.0.1:1"], ["*.example.com"], ["localhost"]],
)
def test_a_host_not_allowed_is_refused_without_a_request(allowed: list[str]) -> None:
    result, server = measure("/value", allowed)
    assert result.values == ()
    assert result.error is not None and "web.allowedHosts" in result.error and "'127.0.0.1'" in result.error
    assert not server.requests


@pytest.mark.parametrize(("allowed", "called"), [(["127.0.0.1"], True), ([], False)])
def test_the_registry_builds_the_provider_with_the_web_section_of_the_operator_config(
    allowed: list[str], called: bool
) -> None:
    async def scenario() -> tuple[RawMeasurement, Server]:
        config = parse_config({"web": {"allowedHosts": allowed}, "job": {"timeoutSeconds": 1}})
        async with Server().running() as server, aiohttp.ClientSession() as session:
            metric = web_metric(f"http://127.0.0.1:{server.port}/value")
            return await ProviderRegistry(session, config).measure(metric, context()), server

    result, server = asyncio.run(scenario())
    assert (result.values == (0.004,)) is called and bool(server.requests) is called


def test_a_redirect_on_the_same_host_is_followed() -> None:
    result, server = measure("/redirect-same")
    assert result.values == (0.004,)
    assert server.requests["/value"] == 1


def test_a_redirect_to_another_host_is_refused() -> None:
    result, server = measure("/redirect-away", ["127.0.0.1", "localhost"])
    assert result.error is not None and "refused redirect from 127.0.0.1 to localhost" in result.error
    assert server.requests["/value"] == 0


@pytest.mark.parametrize(
    ("path", "error"),
    [("/broken", "answered HTTP 500"), ("/html", "did not answer JSON"), ("/value", "nothing there")],
)
def test_bad_answers_are_errors(path: str, error: str) -> None:
    result, _ = measure(path, json_path="$.data.missing")
    assert result.values == ()
    assert result.error is not None and error in result.error


def test_an_unreachable_host_is_an_error() -> None:
    async def scenario() -> RawMeasurement:
        async with Server().running() as server:
            port = server.port
        async with aiohttp.ClientSession() as session:
            return await WebProvider(session, WebConfig(allowed_hosts=["127.0.0.1"])).measure(
                web_metric(f"http://127.0.0.1:{port}/"), context()
            )

    result = asyncio.run(scenario())
    assert result.error is not None and "did not answer" in result.error


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("$.data.errorRate", (0.004,)),
        ("{$.data.ok}", (1.0,)),
        ("data.series[*].v", (1.0, 2.5)),
        ("$.data.series[-1]['v']", (2.5,)),
        ("$['data'].none", ()),
        (".data['series'][0].v", (1.0,)),
        ("{.data.series[*].v}", (1.0, 2.5)),
        ("$.data.series[1:].v", (2.5,)),
        ("$..v", (1.0, 2.5)),
        # a path that may name many values may name none: no data, not an error
        ("$.data.series[5:]", ()),
        ("$.data.series[*].missing", ()),
    ],
)
def test_json_paths(path: str, values: tuple[float, ...]) -> None:
    assert json_path_values(ANSWER, path) == values


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("$.data[", "cannot read it"),
        ("$.data.errorRate)", "cannot read it"),
        ("$.data.missing", "nothing there"),
        ("$.data.series[5].v", "nothing there"),
        ("$.data.errorRate.v", "nothing there"),
        ("$.data.series", "{'v': 1} is not a number"),
        ("{$.data.series[0]}", "{'v': 1} is not a number"),
    ],
)
def test_json_path_errors(path: str, error: str) -> None:
    with pytest.raises(JsonPathError, match=re.escape(error)):
        json_path_values(ANSWER, path)


def test_nan_strings_pass_through_as_nan() -> None:
    (value,) = json_path_values(ANSWER, "$.data.text")
    assert math.isnan(value)


@pytest.mark.parametrize(
    ("url", "allowed", "expected"),
    [
        ("http://checks.example.com/x", ["checks.example.com"], True),
        ("https://CHECKS.example.com:8443/x", ["checks.example.com"], True),
        ("http://checks.example.com:8080/x", ["checks.example.com:8080"], True),
        ("http://checks.example.com:8081/x", ["checks.example.com:8080"], False),
        ("http://checks.example.com/x", ["checks.example.com:80"], True),
        ("http://a.svc.cluster.local/x", ["*.svc.cluster.local"], True),
        ("http://evilsvc.cluster.local/x", ["*.svc.cluster.local"], False),
        ("http://checks.example.com.evil.io/x", ["checks.example.com"], False),
        ("http://user@evil.io/x", ["checks.example.com"], False),
    ],
)
def test_host_allow_list(url: str, allowed: list[str], expected: bool) -> None:
    assert host_allowed(URL(url), WebConfig(allowed_hosts=allowed)) is expected
