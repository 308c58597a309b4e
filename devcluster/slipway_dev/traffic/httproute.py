"""Gateway API HTTPRoutes (gateway.networking.k8s.io/v1): hostnames, rules, matches, weights, mirrors.

Each HTTPRoute is an entry point for its `hostnames` (none: every host; the Gateways of `parentRefs`
and their listeners are not simulated). A rule's `matches` (none: `PathPrefix /`) are ORed, the
conditions of one match ANDed: `path` (`PathPrefix` by default, `Exact`, `RegularExpression`),
`method`, `headers` and `queryParams` (`Exact` by default, `RegularExpression`; header names are
case-insensitive, and a cookie is a header match on `Cookie`). Between matches the API's precedence
holds: an exact path, then the longest prefix, then a method, then the most headers, then the most
query parameters; then the oldest route, then rule order. The rule's `backendRefs` to Services split
by `weight` (default 1); its `RequestMirror` filters copy `percent` (or `fraction`
numerator/denominator, default 100) of the requests to their `backendRef`.
"""

from __future__ import annotations

from slipway_dev.controllers.client import HTTPROUTES, JsonObject
from slipway_dev.traffic import ClusterView, EntryPoint, Route, RouteObjectSource, ServiceKey
from slipway_dev.traffic.matching import Match, MatchKind, NamedMatch, StringMatch

PATH_KINDS: dict[str, MatchKind] = {
    "PathPrefix": "path_prefix",
    "Exact": "exact",
    "RegularExpression": "regex",
}
VALUE_KINDS: dict[str, MatchKind] = {"Exact": "exact", "RegularExpression": "regex"}


def _is_service(ref: JsonObject) -> bool:
    return ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", "core")


def _service(ref: JsonObject, namespace: str) -> ServiceKey:
    return str(ref.get("namespace", namespace)), str(ref["name"])


def _mirror_percent(mirror: JsonObject) -> float:
    if "percent" in mirror:
        return float(mirror["percent"])
    fraction = mirror.get("fraction")
    if fraction:
        return 100.0 * float(fraction.get("numerator", 0)) / float(fraction.get("denominator", 100) or 100)
    return 100.0


def _mirrors(rule: JsonObject, namespace: str) -> list[tuple[ServiceKey, float]]:
    found = []
    for item in rule.get("filters") or []:
        mirror = item.get("requestMirror") or {}
        ref = mirror.get("backendRef") or {}
        if item.get("type") == "RequestMirror" and ref.get("name") and _is_service(ref):
            found.append((_service(ref, namespace), _mirror_percent(mirror)))
    return found


def _named(items: list[JsonObject], lower: bool) -> tuple[NamedMatch, ...]:
    found: dict[str, NamedMatch] = {}
    for item in items:
        name = str(item.get("name", ""))
        name = name.lower() if lower else name
        kind = VALUE_KINDS.get(item.get("type", "Exact"))
        if name and kind and name not in found:  # a repeated name: the first one counts, as the API says
            found[name] = NamedMatch(name, StringMatch(kind, str(item.get("value", ""))))
    return tuple(found.values())


def _match(match: JsonObject) -> tuple[Match, tuple[int, ...]]:
    """The match and its precedence key (lower first)."""
    path = match.get("path") or {}
    kind: MatchKind = PATH_KINDS.get(path.get("type", "PathPrefix"), "path_prefix")
    value = str(path.get("value", "/"))
    headers = _named(match.get("headers") or [], lower=True)
    query = _named(match.get("queryParams") or [], lower=False)
    method = match.get("method")
    built = Match(StringMatch(kind, value), method, headers, query)
    path_rank = {"exact": 0, "path_prefix": 1}.get(kind, 2)
    length = len(value) if kind == "path_prefix" else 0
    return built, (path_rank, -length, 0 if method else 1, -len(headers), -len(query))


class HTTPRouteSource(RouteObjectSource):
    resource = HTTPROUTES
    prefix = "httproute"

    def entry_point(self, name: str, obj: JsonObject, view: ClusterView) -> EntryPoint:
        namespace = obj["metadata"].get("namespace", "")
        spec = obj.get("spec") or {}
        actions = []
        routes = []
        for index, rule in enumerate(spec.get("rules") or []):
            weights = [
                (_service(ref, namespace), int(ref.get("weight", 1)))
                for ref in rule.get("backendRefs") or []
                if _is_service(ref)
            ]
            actions.append(view.action(weights, _mirrors(rule, namespace)))
            for match in rule.get("matches") or [{}]:
                built, precedence = _match(match)
                routes.append(Route(built, index, precedence))
        routes.sort(key=lambda route: route.precedence)  # stable: rule order on a tie
        hosts = tuple(str(host).lower() for host in spec.get("hostnames") or [])
        return EntryPoint(name, hosts, tuple(routes), tuple(actions))

    def services_of(self, obj: JsonObject) -> set[ServiceKey]:
        namespace = obj["metadata"].get("namespace", "")
        found = set()
        for rule in (obj.get("spec") or {}).get("rules") or []:
            found |= {_service(ref, namespace) for ref in rule.get("backendRefs") or [] if _is_service(ref)}
            found |= {service for service, _ in _mirrors(rule, namespace)}
        return found
