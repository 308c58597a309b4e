"""How the simulated gateway routes traffic: one small protocol, one module per kind of routing object.

A `RoutingSource` turns the routing objects of one resource (HTTPRoute, VirtualService, canary
Ingress ...) into entry points: named streams of requests split by weight between Services. Every
Service that no routing object mentions is an entry point of its own, spreading its traffic over the
ready pods it selects, so a cluster without any routing objects still gets load. Splits whose
Service has no ready pod get no traffic (the weights of the others are renormalised).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter
from typing import Protocol

from slipway_dev.controllers.client import JsonObject, Resource
from slipway_dev.pods import SIM_PORT_ANNOTATION

ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Backend:
    """A ready pod and the loopback port its simulated server listens on."""

    namespace: str
    pod: str
    port: int


@dataclass(frozen=True)
class Split:
    """A share of an entry point's traffic, sent to one Service's ready pods."""

    service: ServiceKey
    weight: int
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class EntryPoint:
    name: str
    splits: tuple[Split, ...]


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


@dataclass(frozen=True)
class ClusterView:
    """What routing reads: Services by key and the ready pods (the gateway keeps those up to date pod
    by pod: with a thousand pods, reading every pod's conditions again at each change was the cost)."""

    services: Mapping[ServiceKey, JsonObject]
    ready: Sequence[ReadyPod]

    @classmethod
    def of(cls, services: Mapping[ServiceKey, JsonObject], pods: Sequence[JsonObject]) -> ClusterView:
        return cls(services, [ready for pod in pods if (ready := ready_pod(pod)) is not None])

    @cached_property
    def _by_label(self) -> dict[tuple[str, str, str], list[ReadyPod]]:
        """Ready pods by (namespace, label, value): a Service's candidates are those carrying one of
        its selector's labels, not every pod (a thousand Services over two thousand pods otherwise)."""
        index: dict[tuple[str, str, str], list[ReadyPod]] = {}
        for ready in self.ready:
            for label, value in ready.labels.items():
                index.setdefault((ready.backend.namespace, label, value), []).append(ready)
        return index

    def backends(self, service: ServiceKey) -> tuple[Backend, ...]:
        found = self.services.get(service)
        selector = (found or {}).get("spec", {}).get("selector") or {}
        if not selector:
            return ()  # a Service without a selector has no endpoints we could know
        wanted = selector.items()
        label, value = next(iter(wanted))
        candidates = self._by_label.get((service[0], label, value), ())
        chosen = [ready.backend for ready in candidates if wanted <= ready.labels.items()]
        return tuple(sorted(chosen, key=attrgetter("pod")))

    def split(self, service: ServiceKey, weight: int) -> Split | None:
        """A split for `service`, or None when it has no weight or no ready pod."""
        backends = self.backends(service)
        return Split(service, weight, backends) if weight > 0 and backends else None


def weighted_entry_point(
    name: str, weights: Sequence[tuple[ServiceKey, int]], view: ClusterView
) -> EntryPoint | None:
    """An entry point over the Services that can take traffic, or None when none can."""
    splits = tuple(split for service, weight in weights if (split := view.split(service, weight)) is not None)
    return EntryPoint(name, splits) if splits else None


class RoutingSource(Protocol):
    """Entry points from one resource's routing objects; `services_of` names every Service they mention."""

    resource: Resource

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]: ...

    def services_of(self, obj: JsonObject) -> set[ServiceKey]: ...


class WeightedRouteSource(ABC):
    """Routing objects that each name their Services with weights (HTTPRoute, VirtualService): one
    entry point per object, named `<prefix>/<namespace>/<name>`."""

    resource: Resource
    prefix: str

    @abstractmethod
    def weighted_services(self, obj: JsonObject) -> list[tuple[ServiceKey, int]]: ...

    def entry_points(self, objects: Sequence[JsonObject], view: ClusterView) -> list[EntryPoint]:
        found = []
        for obj in objects:
            meta = obj["metadata"]
            name = f"{self.prefix}/{meta.get('namespace', '')}/{meta['name']}"
            entry = weighted_entry_point(name, self.weighted_services(obj), view)
            if entry is not None:
                found.append(entry)
        return found

    def services_of(self, obj: JsonObject) -> set[ServiceKey]:
        return {service for service, _ in self.weighted_services(obj)}


def plan_entry_points(
    view: ClusterView, sources: Mapping[RoutingSource, Sequence[JsonObject]]
) -> list[EntryPoint]:
    """All entry points: those of routing objects, then one per Service no routing object mentions."""
    entry_points: list[EntryPoint] = []
    routed: set[ServiceKey] = set()
    for source, objects in sources.items():
        entry_points += source.entry_points(objects, view)
        for obj in objects:
            routed |= source.services_of(obj)
    for key in sorted(view.services):
        if key in routed:
            continue
        split = view.split(key, 1)
        if split is not None:
            entry_points.append(EntryPoint(f"service/{key[0]}/{key[1]}", (split,)))
    return entry_points
