"""How the simulated gateway routes traffic: one small protocol, one module per kind of routing object.

A `RoutingSource` turns the routing objects of one resource (HTTPRoute, VirtualService, canary
Ingress ...) into entry points: the hosts they serve and their routes, each a `Match` and an
`Action` (weighted splits between Services, and mirrors). Every Service that no routing object
mentions is an entry point of its own, by its cluster host names, spreading its traffic over the
ready pods it selects, so a cluster without any routing objects still gets load; so is a Release's
canary Service whatever routes it, for testers only (the generated load calls it only as test load).
Splits whose Service has no ready pod get no traffic (the weights of the others are renormalised).

Both the generated load and the front door (real requests on a local port) route through here:
`EntryPoint.route` picks the route a request takes, `resolve` the entry point a Host header names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol

from slipway.manifests import LABEL_SERVICE_ROLE
from slipway_dev.apiserver.validation import name_causes
from slipway_dev.controllers.client import JsonObject, Resource
from slipway_dev.pods import SIM_PORT_ANNOTATION
from slipway_dev.traffic.matching import ANY, Match, Request, host_rank

ServiceKey = tuple[str, str]  # (namespace, name)
TESTERS_ONLY_ROLE = "canary"
"""The operator's role label (LABEL_SERVICE_ROLE) on a Release's `<name>-canary` Service (a blue-green's
preview too): on a real cluster no client calls it, only routing objects, mirrors and testers reach
it, by name whether or not a routing object names it."""


@dataclass(frozen=True)
class Backend:
    """A ready pod and the loopback port its simulated server listens on."""

    namespace: str
    pod: str
    port: int


@dataclass(frozen=True)
class Split:
    """A share of a route's traffic, sent to one Service's ready pods."""

    service: ServiceKey
    weight: int
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class Mirror:
    """A copy of `percent` of a route's requests, sent to one Service's ready pods; answers dropped."""

    service: ServiceKey
    percent: float
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class Action:
    """What a matched route does. No split: nothing can take the request (the gateway answers 503)."""

    splits: tuple[Split, ...]
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class Route:
    """A match and the index of its action in the entry point (the matches of one rule share its
    action, so its weights hold over all of them). Lower `precedence` wins across entry points."""

    match: Match
    action: int
    precedence: tuple[int, ...] = ()


@dataclass(frozen=True)
class EntryPoint:
    """Named for its routing object; `hosts` are host patterns (none: every host); the first route
    that matches a request is taken."""

    name: str
    hosts: tuple[str, ...]
    routes: tuple[Route, ...]
    actions: tuple[Action, ...]
    testers_only: bool = False
    """A Service's own entry point that only testers call: the generated load goes elsewhere unless
    asked for it (TESTERS_ONLY_ROLE)."""

    def route(self, request: Request) -> Route | None:
        return next((route for route in self.routes if route.match.test(request)), None)

    @property
    def load_host(self) -> str:
        """The Host the generated load sends: its first host, a wildcard made concrete ("" for any)."""
        host = self.hosts[0] if self.hosts else ""
        return "" if host == "*" else host.replace("*", "load", 1)


def resolve(entries: Sequence[EntryPoint], request: Request) -> tuple[EntryPoint, Route] | None:
    """The entry point and route a request takes: among the entry points naming its host most
    specifically, the matching route of least precedence (the earlier entry point on a tie)."""
    best: tuple[tuple[int, int], tuple[int, ...], int] | None = None
    found = None
    for order, entry in enumerate(entries):
        ranks = [rank for pattern in entry.hosts or ("",) if (rank := host_rank(pattern, request.host))]
        if not ranks:
            continue
        route = entry.route(request)
        if route is None:
            continue
        key = ((-max(ranks)[0], -max(ranks)[1]), route.precedence, order)
        if best is None or key < best:
            best, found = key, (entry, route)
    return found


@dataclass(frozen=True)
class ReadyPod:
    """A pod that can take traffic: its labels (what Services select) and where it listens."""

    labels: Mapping[str, str]
    backend: Backend


def ready_pod(pod: JsonObject) -> ReadyPod | None:
    """The pod as a backend when it is Ready, not terminating and has published its port, else None."""
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return None
    if not any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    ):
        return None
    port = (meta.get("annotations") or {}).get(SIM_PORT_ANNOTATION)
    if not (port and port.isdigit()):
        return None
    return ReadyPod(meta.get("labels") or {}, Backend(meta.get("namespace", ""), meta["name"], int(port)))


LabelKey = tuple[str, str, str]  # (namespace, label, value)
PodKey = tuple[str, str]  # (namespace, name)


def index_by_label(ready: Iterable[ReadyPod]) -> dict[LabelKey, dict[PodKey, ReadyPod]]:
    """Ready pods by (namespace, label, value): a Service's candidates are those carrying one of its
    selector's labels, not every pod (a thousand Services over two thousand pods otherwise)."""
    index: dict[LabelKey, dict[PodKey, ReadyPod]] = {}
    for pod in ready:
        add_by_label(index, pod)
    return index


def add_by_label(index: dict[LabelKey, dict[PodKey, ReadyPod]], pod: ReadyPod) -> None:
    key = (pod.backend.namespace, pod.backend.pod)
    for label, value in pod.labels.items():
        index.setdefault((pod.backend.namespace, label, value), {})[key] = pod


def drop_by_label(index: dict[LabelKey, dict[PodKey, ReadyPod]], pod: ReadyPod) -> None:
    key = (pod.backend.namespace, pod.backend.pod)
    for label, value in pod.labels.items():
        found = index.get((pod.backend.namespace, label, value))
        if found is not None:
            found.pop(key, None)
            if not found:
                del index[(pod.backend.namespace, label, value)]


@dataclass(frozen=True)
class ClusterView:
    """What routing reads: Services by key and the ready pods by label (see index_by_label)."""

    services: Mapping[ServiceKey, JsonObject]
    by_label: Mapping[LabelKey, Mapping[PodKey, ReadyPod]]

    @classmethod
    def of(cls, services: Mapping[ServiceKey, JsonObject], pods: Sequence[JsonObject]) -> ClusterView:
        return cls(services, index_by_label(ready for pod in pods if (ready := ready_pod(pod)) is not None))

    def backends(self, service: ServiceKey) -> tuple[Backend, ...]:
        found = self.services.get(service)
        selector = (found or {}).get("spec", {}).get("selector") or {}
        if not selector:
            return ()  # a Service without a selector has no endpoints we could know
        wanted = selector.items()
        label, value = next(iter(wanted))
        candidates = self.by_label.get((service[0], label, value), {}).values()
        chosen = [ready.backend for ready in candidates if wanted <= ready.labels.items()]
        return tuple(sorted(chosen, key=attrgetter("pod")))

    def action(
        self, weights: Iterable[tuple[ServiceKey, int]], mirrors: Iterable[tuple[ServiceKey, float]] = ()
    ) -> Action:
        """Splits over the weighted Services that can take traffic; mirrors to those with ready pods."""
        splits = tuple(
            Split(service, weight, backends)
            for service, weight in weights
            if weight > 0 and (backends := self.backends(service))
        )
        copies = tuple(
            Mirror(service, percent, backends)
            for service, percent in mirrors
            if percent > 0 and (backends := self.backends(service))
        )
        return Action(splits, copies)


class RoutingSource(Protocol):
    """Entry points from one resource's routing objects; `services_of` names every Service they mention."""

    resource: Resource

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]: ...

    def services_of(self, obj: JsonObject) -> set[ServiceKey]: ...


class RouteObjectSource(ABC):
    """Routing objects that are each an entry point of their own (HTTPRoute, VirtualService), named
    `<prefix>/<namespace>/<name>`, oldest first (Gateway API's order between routes)."""

    resource: Resource
    prefix: str

    @abstractmethod
    def entry_point(self, name: str, obj: JsonObject, view: ClusterView) -> EntryPoint: ...

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]:
        def age(obj: JsonObject) -> tuple[str, str, str]:
            meta = obj["metadata"]
            return str(meta.get("creationTimestamp", "")), str(meta.get("namespace", "")), str(meta["name"])

        return [
            self.entry_point(
                f"{self.prefix}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}", obj, view
            )
            for obj in sorted(objects, key=age)
        ]


def service_key(text: str) -> ServiceKey:
    """`NAMESPACE/NAME`, or `NAME` in namespace `default`, as a Service's key; ValueError with the API
    server's own message when either could not be a namespace's or a Service's name."""
    namespace, slash, name = text.rpartition("/")
    if "/" in namespace:
        raise ValueError(f"{text!r}: one '/' at most ([NAMESPACE/]NAME)")
    if slash and not namespace:
        raise ValueError(f"{text!r}: no namespace before '/' ([NAMESPACE/]NAME)")
    namespace = namespace or "default"
    if not name:
        raise ValueError(f"{text!r}: no Service name ([NAMESPACE/]NAME)")
    for plural, part in (("namespaces", namespace), ("services", name)):
        if causes := name_causes("", plural, part):
            raise ValueError(f"{text!r}: the {plural[:-1]}'s name: {causes[0]['message']}")
    return namespace, name


def service_entry_name(service: ServiceKey) -> str:
    """The name of a Service's own entry point (and of its gateway stats)."""
    return f"service/{service[0]}/{service[1]}"


def service_hosts(service: ServiceKey) -> tuple[str, ...]:
    """The names a client in the cluster reaches a Service by, longest first."""
    namespace, name = service
    return (f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}.svc", f"{name}.{namespace}")


def plan_entry_points(
    view: ClusterView, sources: Mapping[RoutingSource, Sequence[JsonObject]]
) -> list[EntryPoint]:
    """All entry points: those of routing objects, then the Services' own (`service_entry_point`).

    Planned afresh; the gateway keeps the same up to date change by change (traffic/planner.py), and
    this is what its property test compares it with."""
    entry_points, routed = routed_entry_points(view, sources)
    for key in sorted(view.services):
        if (entry := service_entry_point(view, key, routed)) is not None:
            entry_points.append(entry)
    return entry_points


def routed_entry_points(
    view: ClusterView, sources: Mapping[RoutingSource, Sequence[JsonObject]]
) -> tuple[list[EntryPoint], set[ServiceKey]]:
    """The entry points of the routing objects, and every Service they mention."""
    entry_points: list[EntryPoint] = []
    routed: set[ServiceKey] = set()
    for source, objects in sources.items():
        entry_points += source.entry_points(objects, view)
        for obj in objects:
            routed |= source.services_of(obj)
    return entry_points, routed


def service_entry_point(
    view: ClusterView, key: ServiceKey, routed: Collection[ServiceKey]
) -> EntryPoint | None:
    """A Service's own entry point, by its cluster host names: one that no routing object in `routed`
    names (else the load through both would count twice), or one only testers call; None otherwise,
    and while it has no ready pod."""
    labels = view.services[key]["metadata"].get("labels") or {}
    testers_only = labels.get(LABEL_SERVICE_ROLE) == TESTERS_ONLY_ROLE
    if key in routed and not testers_only:
        return None
    action = view.action([(key, 1)])
    if not action.splits:
        return None
    return EntryPoint(service_entry_name(key), service_hosts(key), (Route(ANY, 0),), (action,), testers_only)
