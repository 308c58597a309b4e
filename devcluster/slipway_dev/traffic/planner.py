"""Entry points kept up to date change by change, as `plan_entry_points` would give them afresh.

With a thousand Services rolling at once, something changes many times a second (a pod turns ready,
a Service's selector moves), and planning every entry point again at each change was a sixth of the
dev cluster's loop. Here a change marks only the Services it can affect: a Service's own change, or a
pod change for the Services whose selectors name one of the pod's labels. The entry points of routing
objects are all planned again when any routing object changes, or any Service one of them mentions: a
cost that grows with their number, fine for a few hundred, to be split per object if a benchmark routes
thousands of Releases through their own HTTPRoutes (bench_load routes by Service selector).
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway_dev.controllers.client import JsonObject
from slipway_dev.controllers.runtime import Key, key_of
from slipway_dev.traffic import (
    ClusterView,
    EntryPoint,
    LabelKey,
    PodKey,
    ReadyPod,
    RoutingSource,
    ServiceKey,
    add_by_label,
    drop_by_label,
    ready_pod,
    routed_entry_points,
    service_entry_point,
)


def _selector(service: JsonObject | None) -> dict[str, str]:
    return ((service or {}).get("spec") or {}).get("selector") or {}


class EntryPlanner:
    """Takes the watch events of Services, pods and routing objects; `entry_points()` equals
    `plan_entry_points` over what they showed, doing only the work the changes since the last call ask."""

    def __init__(self, sources: Sequence[RoutingSource]) -> None:
        self._services: dict[ServiceKey, JsonObject] = {}
        self._pods: dict[PodKey, ReadyPod] = {}
        self._by_label: dict[LabelKey, dict[PodKey, ReadyPod]] = {}
        # (namespace, label, value) -> the Services whose selectors begin with it: whom a pod can concern.
        self._selecting: dict[LabelKey, set[ServiceKey]] = {}
        self._objects: dict[RoutingSource, dict[Key, JsonObject]] = {source: {} for source in sources}
        self._view = ClusterView(self._services, self._by_label)
        self._routes_stale = True
        self._routed: set[ServiceKey] = set()
        self._routed_entries: list[EntryPoint] = []
        self._own_entries: dict[ServiceKey, EntryPoint] = {}
        self._dirty: set[ServiceKey] = set()
        self._planned: list[EntryPoint] | None = None

    def service_changed(self, kind: str, service: JsonObject) -> None:
        key = key_of(service)
        old = self._services.pop(key, None)
        self._selecting_index(key, old, add=False)
        if kind != "DELETED":
            self._services[key] = service
            self._selecting_index(key, service, add=True)
        self._touch({key})

    def pod_changed(self, kind: str, pod: JsonObject) -> None:
        key = key_of(pod)
        ready = None if kind == "DELETED" else ready_pod(pod)
        known = self._pods.get(key)
        if ready == known:
            return  # a new status of a pod that stays ready changes no route
        if known is not None:
            drop_by_label(self._by_label, known)
            del self._pods[key]
        if ready is not None:
            add_by_label(self._by_label, ready)
            self._pods[key] = ready
        self._touch({*self._concerned(known), *self._concerned(ready)})

    def route_object_changed(self, source: RoutingSource, kind: str, obj: JsonObject) -> None:
        objects = self._objects[source]
        # Re-inserted at the end, as an informer's cache orders it.
        objects.pop(key_of(obj), None)
        if kind != "DELETED":
            objects[key_of(obj)] = obj
        self._routes_stale = True
        self._planned = None

    def entry_points(self) -> list[EntryPoint]:
        if self._planned is not None:
            return self._planned
        if self._routes_stale or not self._dirty.isdisjoint(self._routed):
            entries, routed = routed_entry_points(
                self._view, {source: list(objects.values()) for source, objects in self._objects.items()}
            )
            self._dirty |= routed ^ self._routed  # Services that gained or lost their own entry point
            self._routed_entries, self._routed, self._routes_stale = entries, routed, False
        for key in self._dirty:
            entry = None
            if key in self._services:
                entry = service_entry_point(self._view, key, self._routed)
            if entry is None:
                self._own_entries.pop(key, None)
            else:
                self._own_entries[key] = entry
        self._dirty.clear()
        self._planned = self._routed_entries + [self._own_entries[key] for key in sorted(self._own_entries)]
        return self._planned

    def _touch(self, services: set[ServiceKey]) -> None:
        if services:
            self._dirty |= services
            self._planned = None

    def _concerned(self, pod: ReadyPod | None) -> set[ServiceKey]:
        """The Services whose selectors the pod matches."""
        if pod is None:
            return set()
        namespace, labels = pod.backend.namespace, pod.labels.items()
        return {
            service
            for label, value in pod.labels.items()
            for service in self._selecting.get((namespace, label, value), ())
            if _selector(self._services.get(service)).items() <= labels
        }

    def _selecting_index(self, key: ServiceKey, service: JsonObject | None, add: bool) -> None:
        # A pod a selector matches carries every label of it, so its first one is enough to find it by.
        selector = _selector(service)
        if not selector:
            return
        first, value = next(iter(selector.items()))
        label = (key[0], first, value)
        if add:
            self._selecting.setdefault(label, set()).add(key)
        elif (found := self._selecting.get(label)) is not None:
            found.discard(key)
            if not found:
                del self._selecting[label]
