"""Istio VirtualServices (networking.istio.io/v1): hosts, HTTP routes in order, matches, weights, mirrors.

Each VirtualService is an entry point for its `hosts` (a short name such as `web` means
`web.<namespace>.svc.cluster.local`; `*.example.com` and `*` are wildcards). Its `http` routes are
tried in order and the first whose `match` holds is taken (no `match`: every request). Match blocks
are ORed, their conditions ANDed: `uri`, `headers` and `queryParams` (`exact`, `prefix`, `regex` on
the whole value; a header given as `{}` must be present), `withoutHeaders`, and a `method` given as
`exact`; header names are lower-case, and a cookie is a header match on `cookie`. Conditions the
gateway cannot see (`sourceLabels`, `gateways`, `port`) are left out. The `route` destinations split
by `weight` (a lone destination without one takes everything); `mirror` copies `mirrorPercentage.value`
percent of the requests (all of them without it) to its host, and so does each entry of `mirrors`
with its `percentage`. A destination host names a Service by its short name (`web`, in the
VirtualService's namespace) or its cluster name (`web.shop` or `web.shop.svc.cluster.local`).
"""

from __future__ import annotations

from slipway_dev.controllers.client import VIRTUALSERVICES, JsonObject
from slipway_dev.traffic import ClusterView, EntryPoint, Route, RouteObjectSource, ServiceKey
from slipway_dev.traffic.matching import ANY, Match, MatchKind, NamedMatch, StringMatch

STRING_KINDS: tuple[MatchKind, ...] = ("exact", "prefix", "regex")


def _service(host: str, namespace: str) -> ServiceKey:
    name, _, rest = host.partition(".")
    return (rest.split(".")[0] if rest else namespace), name


def _host(host: str, namespace: str) -> str:
    host = host.lower()
    return host if "." in host or host == "*" else f"{host}.{namespace}.svc.cluster.local"


def _string(spec: JsonObject) -> StringMatch:
    for kind in STRING_KINDS:
        if kind in spec:
            return StringMatch(kind, str(spec[kind]))
    return StringMatch("present")


def _named(items: JsonObject, absent: bool = False) -> tuple[NamedMatch, ...]:
    return tuple(NamedMatch(str(name), _string(value or {}), absent) for name, value in items.items())


def _match(match: JsonObject) -> Match:
    method = match.get("method") or {}
    return Match(
        path=_string(match["uri"]) if match.get("uri") else None,
        method=str(method["exact"]) if "exact" in method else None,
        headers=_named(match.get("headers") or {}) + _named(match.get("withoutHeaders") or {}, absent=True),
        query=_named(match.get("queryParams") or {}),
    )


def _weights(http: JsonObject, namespace: str) -> list[tuple[ServiceKey, int]]:
    routes = [route for route in http.get("route") or [] if route.get("destination", {}).get("host")]
    default = 100 if len(routes) == 1 else 0
    return [
        (_service(route["destination"]["host"], namespace), int(route.get("weight", default)))
        for route in routes
    ]


def _mirrors(http: JsonObject, namespace: str) -> list[tuple[ServiceKey, float]]:
    found = []
    if (http.get("mirror") or {}).get("host"):
        percent = (http.get("mirrorPercentage") or {}).get("value", 100.0)
        found.append((_service(http["mirror"]["host"], namespace), float(percent)))
    for mirror in http.get("mirrors") or []:
        host = (mirror.get("destination") or {}).get("host")
        if host:
            found.append(
                (_service(host, namespace), float((mirror.get("percentage") or {}).get("value", 100.0)))
            )
    return found


class VirtualServiceSource(RouteObjectSource):
    resource = VIRTUALSERVICES
    prefix = "virtualservice"

    def entry_point(self, name: str, obj: JsonObject, view: ClusterView) -> EntryPoint:
        namespace = obj["metadata"].get("namespace", "")
        spec = obj.get("spec") or {}
        actions = []
        routes = []
        for index, http in enumerate(spec.get("http") or []):
            actions.append(view.action(_weights(http, namespace), _mirrors(http, namespace)))
            matches = [_match(match) for match in http.get("match") or []] or [ANY]
            routes += [Route(match, index) for match in matches]
        hosts = tuple(_host(str(host), namespace) for host in spec.get("hosts") or [])
        return EntryPoint(name, hosts, tuple(routes), tuple(actions))

    def services_of(self, obj: JsonObject) -> set[ServiceKey]:
        namespace = obj["metadata"].get("namespace", "")
        found = set()
        for http in (obj.get("spec") or {}).get("http") or []:
            found |= {service for service, _ in _weights(http, namespace)}
            found |= {service for service, _ in _mirrors(http, namespace)}
        return found
