"""ingress-nginx: Ingresses by host and path, and a canary Ingress's header, cookie and weight rules.

Ingresses are grouped by namespace and host (entry point `ingress/<namespace>/<host>`; no host: every
host). The one without the annotation `nginx.ingress.kubernetes.io/canary: "true"` is the main
Ingress and its paths are the routes: `Exact` before prefixes, longer prefixes first (`Prefix`
element by element, `ImplementationSpecific` as a string prefix, as nginx's locations do). A canary
Ingress for the same host takes, on the paths it shares with the main one, what ingress-nginx gives
it, in ingress-nginx's order (its balancer.lua):

1. `canary-by-header`: with `canary-by-header-value`, a request whose header has that value goes to
   the canary; else with `canary-by-header-pattern`, one whose header the regular expression finds
   in; else the header's value `always` sends to the canary and `never` to the main Ingress. Any
   other value (or no header) goes on to
2. `canary-by-cookie`: the cookie's value `always` or `never`, likewise; else
3. `canary-weight` out of `canary-weight-total` (default 100) to the canary, the rest to the main one.

Each path's backend is its Service (a default backend serves every path the rules leave out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from slipway_dev.controllers.client import INGRESSES, JsonObject, Resource
from slipway_dev.traffic import Action, ClusterView, EntryPoint, Route, ServiceKey
from slipway_dev.traffic.matching import Match, MatchKind, NamedMatch, StringMatch

PREFIX = "nginx.ingress.kubernetes.io/"
CANARY = PREFIX + "canary"
CANARY_WEIGHT = PREFIX + "canary-weight"
CANARY_WEIGHT_TOTAL = PREFIX + "canary-weight-total"
CANARY_BY_HEADER = PREFIX + "canary-by-header"
CANARY_BY_HEADER_VALUE = PREFIX + "canary-by-header-value"
CANARY_BY_HEADER_PATTERN = PREFIX + "canary-by-header-pattern"
CANARY_BY_COOKIE = PREFIX + "canary-by-cookie"
PATH_KINDS: dict[str, MatchKind] = {
    "Exact": "exact",
    "Prefix": "path_prefix",
    "ImplementationSpecific": "prefix",
}

Paths = dict[tuple[str, str], ServiceKey]  # (pathType, path) -> Service


def _annotations(ingress: JsonObject) -> dict[str, str]:
    return {str(key): str(value) for key, value in (ingress["metadata"].get("annotations") or {}).items()}


def _is_canary(ingress: JsonObject) -> bool:
    return _annotations(ingress).get(CANARY, "").lower() == "true"


def _annotation_number(ingress: JsonObject, key: str, default: int) -> int:
    text = _annotations(ingress).get(key, "")
    return int(text) if text.strip().isdigit() else default


def _paths_by_host(ingress: JsonObject) -> dict[str, Paths]:
    """Each host's paths and their Services; the default backend answers every path as `Prefix /`."""
    namespace = ingress["metadata"].get("namespace", "")
    spec = ingress.get("spec") or {}
    hosts: dict[str, Paths] = {}
    for rule in spec.get("rules") or []:
        paths = hosts.setdefault(str(rule.get("host", "")).lower(), {})
        for path in (rule.get("http") or {}).get("paths") or []:
            service = (path.get("backend") or {}).get("service") or {}
            kind = str(path.get("pathType", "ImplementationSpecific"))
            if service.get("name") and kind in PATH_KINDS:
                paths.setdefault((kind, str(path.get("path", "/"))), (namespace, str(service["name"])))
    default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    if default:
        for paths in hosts.values() or [hosts.setdefault("", {})]:
            paths.setdefault(("Prefix", "/"), (namespace, str(default)))
    return hosts


def _canary_rules(canary: JsonObject) -> list[tuple[Match, bool]]:
    """The canary's request rules in ingress-nginx's order: (condition, to the canary or not)."""
    annotations = _annotations(canary)
    rules = []
    header = annotations.get(CANARY_BY_HEADER, "").lower()
    if header:
        if annotations.get(CANARY_BY_HEADER_VALUE):
            value = StringMatch("exact", annotations[CANARY_BY_HEADER_VALUE])
            rules.append((Match(headers=(NamedMatch(header, value),)), True))
        elif annotations.get(CANARY_BY_HEADER_PATTERN):
            pattern = StringMatch("search", annotations[CANARY_BY_HEADER_PATTERN])
            rules.append((Match(headers=(NamedMatch(header, pattern),)), True))
        else:
            rules += [
                (Match(headers=(NamedMatch(header, StringMatch("exact", value)),)), value == "always")
                for value in ("always", "never")
            ]
    cookie = annotations.get(CANARY_BY_COOKIE, "")
    if cookie:
        rules += [
            (Match(cookies=(NamedMatch(cookie, StringMatch("exact", value)),)), value == "always")
            for value in ("always", "never")
        ]
    return rules


def _path_order(path: tuple[str, str]) -> tuple[int, int]:
    kind, value = path
    return (0 if kind == "Exact" else 1, -len(value))


class CanaryIngressSource:
    resource: Resource = INGRESSES

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]:
        groups: dict[tuple[str, str], dict[bool, tuple[JsonObject, Paths]]] = {}
        for ingress in sorted(objects, key=lambda obj: str(obj["metadata"]["name"])):
            for host, paths in _paths_by_host(ingress).items():
                group = groups.setdefault((ingress["metadata"].get("namespace", ""), host), {})
                group.setdefault(_is_canary(ingress), (ingress, paths))
        entry_points = []
        for (namespace, host), group in sorted(groups.items()):
            if False not in group:
                continue  # ingress-nginx ignores a canary without a main Ingress for its host
            entry_points.append(self._entry_point(f"ingress/{namespace}/{host or '*'}", host, group, view))
        return entry_points

    def _entry_point(
        self, name: str, host: str, group: dict[bool, tuple[JsonObject, Paths]], view: ClusterView
    ) -> EntryPoint:
        main_paths = group[False][1]
        canary, canary_paths = group.get(True, ({"metadata": {}}, {}))
        total = _annotation_number(canary, CANARY_WEIGHT_TOTAL, 100)
        weight = min(_annotation_number(canary, CANARY_WEIGHT, 0), total)
        actions: list[Action] = []
        routes: list[Route] = []
        for path in sorted(main_paths, key=_path_order):
            main = main_paths[path]
            path_match = StringMatch(PATH_KINDS[path[0]], path[1])
            canary_service = canary_paths.get(path)
            if canary_service is None:
                routes.append(Route(Match(path=path_match), len(actions)))
                actions.append(view.action([(main, 1)]))
                continue
            to_main, to_canary = len(actions), len(actions) + 1
            actions += [view.action([(main, 1)]), view.action([(canary_service, 1)])]
            routes += [
                Route(replace(condition, path=path_match), to_canary if to_the_canary else to_main)
                for condition, to_the_canary in _canary_rules(canary)
            ]
            routes.append(Route(Match(path=path_match), len(actions)))
            actions.append(view.action([(main, total - weight), (canary_service, weight)]))
        return EntryPoint(name, (host,) if host else (), tuple(routes), tuple(actions))

    def services_of(self, obj: JsonObject) -> set[ServiceKey]:
        return {service for paths in _paths_by_host(obj).values() for service in paths.values()}
