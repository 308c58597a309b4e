"""Web metrics: an HTTP GET returning JSON, and a JSON path to the number in it.

Only hosts in the operator config's `web.allowedHosts` are ever called, and a redirect is followed only
within the same scheme, host and port: a Release author cannot make the operator reach anything else.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import aiohttp
from jsonpath_ng import jsonpath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.parser import parse as parse_json_path
from pydantic import Field, StringConstraints, field_validator
from yarl import URL

from slipway.api.models import HTTP_URL_PATTERN, ApiModel, Metric, field_error
from slipway.core.measurement import RawMeasurement
from slipway.core.obstacles import Obstacle
from slipway.providers.base import (
    MeasurementContext,
    ProviderPlugin,
    TemplateError,
    failed,
    measured,
    render,
)
from slipway.runtime.config import HostPattern, PluginConfig, PluginSection
from slipway.runtime.config import host_allowed as allowed_host

_MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class WebConfig(PluginSection):
    """Which hosts web metrics may call: a Release alone never decides an address."""

    key: ClassVar[str] = "web"

    allowed_hosts: list[HostPattern] = Field(
        default_factory=list,
        description="Hosts a web metric may call: 'host' (any port), 'host:port' or '*.domain'.",
    )
    timeout_seconds: float = Field(10.0, gt=0, description="Upper bound on a web metric's own timeout.")


class WebMetric(ApiModel):
    """An HTTP GET returning JSON; only hosts allowed in the operator's config may be called."""

    url: Annotated[str, StringConstraints(pattern=HTTP_URL_PATTERN, max_length=2048)] = Field(
        description="http(s) URL; the same {{...}} placeholders as a PromQL query are replaced."
    )
    json_path: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="JSONPath of the number in the response, e.g. `$.data.errorRate`."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    timeout_seconds: int = Field(
        default=10, ge=1, le=300, description="Seconds before the request counts as an error."
    )

    @field_validator("url")
    @classmethod
    def _parses(cls, url: str) -> str:
        # The pattern is the API server's check; the parser that will call the URL has the last word.
        try:
            URL(url)
        except ValueError as refused:
            raise field_error(f"must be a URL the operator can call: {refused}") from None
        return url


class JsonPathError(ValueError):
    """The JSON path is malformed or does not lead anywhere in the answer."""


def host_allowed(url: URL, config: WebConfig) -> bool:
    """Whether `url`'s host is in the allow-list: 'host' (any port), 'host:port' or '*.domain'."""
    return allowed_host(url.host, url.port, config.allowed_hosts)


def json_path_values(document: Any, path: str) -> tuple[float, ...]:
    """The numbers at `path`, JSONPath as jsonpath-ng reads it (`$.data.rate`, `$.items[-1].v`,
    `$.items[*].v`, `$['a b']`); Argo-style `{...}` braces and the leading `$` are optional.

    A path naming one value (keys and indexes only) that finds nothing is an error, as a typo should be;
    a path that may name many (`[*]`, slices, `..`) may find none, which is no data. Numbers, numeric
    strings ("NaN" too) and booleans (1/0) count; null or an empty list is no data."""
    steps = path.strip().removeprefix("{").removesuffix("}").strip().removeprefix("$")
    try:
        query = parse_json_path("$" + (steps if steps[:1] in ("", ".", "[") else "." + steps))
    except JSONPathError as malformed:
        raise JsonPathError(f"json path {path!r}: cannot read it: {malformed}") from None
    nodes = [match.value for match in query.find(document)]
    if not nodes and _names_one_value(query):
        raise JsonPathError(f"json path {path!r}: nothing there in the answer")
    return tuple(number for node in nodes for number in _numbers(node, path))


def _names_one_value(query: jsonpath.JSONPath) -> bool:
    """Whether `query` is keys and single indexes only (what RFC 9535 calls a singular query)."""
    if isinstance(query, jsonpath.Child):
        return _names_one_value(query.left) and _names_one_value(query.right)
    if isinstance(query, jsonpath.Fields):
        return len(query.fields) == 1
    if isinstance(query, jsonpath.Index):
        return len(query.indices) == 1
    return isinstance(query, jsonpath.Root)


def _numbers(node: Any, path: str) -> list[float]:
    if node is None:
        return []
    if isinstance(node, list):
        return [number for item in node for number in _numbers(item, path)]
    if isinstance(node, bool):
        return [1.0 if node else 0.0]
    if isinstance(node, int | float):
        return [float(node)]
    if isinstance(node, str):
        try:
            return [float(node)]
        except ValueError:
            pass
    raise JsonPathError(f"json path {path!r}: {node!r} is not a number")


class WebProvider:
    def __init__(self, session: aiohttp.ClientSession, settings: WebConfig) -> None:
        self._session = session
        self._settings = settings

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        spec, settings = metric.spec_of(WebMetric), self._settings
        try:
            url = URL(
                render(spec.url, context.placeholders(), lambda value: quote(value, safe="")), encoded=True
            )
        except (TemplateError, ValueError) as malformed:
            return failed(metric, context, f"bad url: {malformed}")
        if not host_allowed(url, settings):
            return failed(
                metric,
                context,
                f"host {url.host!r} is not allowed: the operator config's web.allowedHosts must list it"
                " (a Release alone cannot make the operator call an address)",
            )
        timeout = aiohttp.ClientTimeout(total=min(spec.timeout_seconds, settings.timeout_seconds))
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with self._session.get(
                    url, headers=spec.headers, allow_redirects=False, timeout=timeout
                ) as response:
                    if response.status in _REDIRECT_STATUSES:
                        target = url.join(URL(response.headers.get("Location", "")))
                        if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
                            return failed(
                                metric, context, f"refused redirect from {url.host} to {target.host}"
                            )
                        url = target
                        continue
                    if response.status >= 400:
                        return failed(metric, context, f"{url} answered HTTP {response.status}")
                    document = await response.json(content_type=None)
                    return measured(metric, context, json_path_values(document, spec.json_path))
            return failed(metric, context, f"more than {_MAX_REDIRECTS} redirects from {spec.url}")
        except (aiohttp.ClientError, TimeoutError) as unreachable:
            return failed(
                metric, context, f"{url} did not answer: {str(unreachable) or type(unreachable).__name__}"
            )
        except JsonPathError as missing:
            return failed(metric, context, str(missing))
        except ValueError as not_json:
            return failed(metric, context, f"{url} did not answer JSON: {not_json}")


def ready(metric: Metric, at: str, config: PluginConfig) -> tuple[Obstacle, ...]:
    """A web metric's host must be in the allow-list, when the Release names it outright."""
    spec = metric.spec_of(WebMetric)
    authority = re.split(r"[/?#]", spec.url.split("//", 1)[-1], maxsplit=1)[0]
    # A host made of placeholders is only known at measurement time, where the provider checks it.
    if "{{" in authority:
        return ()
    url, settings = URL(spec.url), config.section(WebConfig)
    if host_allowed(url, settings):
        return ()
    allowed = ", ".join(settings.allowed_hosts) or "none"
    return (
        Obstacle(
            "HostNotAllowed",
            f"{at}.web.url",
            f"host {url.host!r} is not in the operator config's web.allowedHosts ({allowed}); "
            "the operator calls no other address",
        ),
    )


PLUGIN = ProviderPlugin(
    key="web",
    spec=WebMetric,
    config=(WebConfig,),
    build=lambda lent, config: WebProvider(lent.session, config.section(WebConfig)),
    readiness=ready,
)
