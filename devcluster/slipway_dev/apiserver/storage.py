"""In-memory object storage: one global resourceVersion, each object serialized once per write, and a
bounded history of events from which watches resume (older resourceVersions are answered 410 Gone)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True, frozen=True)
class Stored:
    """An object as stored: the dict (never mutated once stored) and its JSON bytes."""

    obj: dict[str, Any]
    raw: bytes

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Stored:
        return cls(obj, encode(obj))

    def copy(self) -> dict[str, Any]:
        """A private deep copy to modify (parsing the bytes is faster than copy.deepcopy)."""
        copied: dict[str, Any] = json.loads(self.raw)
        return copied

    def draft(self) -> dict[str, Any]:
        """A private top level and metadata over the stored values, for a change that only replaces
        fields (a merge patch, a status write) and never edits a nested value in place. Versions then
        share what they did not change, and a pod's status write no longer parses the whole pod."""
        return {**self.obj, "metadata": dict(self.obj["metadata"])}

    @property
    def name(self) -> str:
        name: str = self.obj["metadata"]["name"]
        return name

    @property
    def namespace(self) -> str:
        namespace: str = self.obj["metadata"].get("namespace", "")
        return namespace


class Event:
    """One change. While it is being published it holds the objects; once every watcher has been
    offered it (`settle`), the watch history keeps only its bytes and parses them again on the rare
    late read (a watch resumed with a selector, a Table stream): with a thousand pods changing, the
    history's parsed objects and ready-made lines were most of the server's memory."""

    __slots__ = (
        "_line",
        "_obj",
        "_previous",
        "_previous_raw",
        "namespace",
        "raw",
        "rv",
        "storage_key",
        "type",
    )

    def __init__(self, rv: int, storage_key: str, type_: str, stored: Stored, previous: Stored | None):
        self.rv = rv
        self.storage_key = storage_key
        self.type = type_
        self.raw = stored.raw
        self.namespace = stored.namespace
        self._obj: dict[str, Any] | None = stored.obj
        self._previous = None if previous is None else previous.obj
        self._previous_raw = None if previous is None else previous.raw
        self._line: bytes | None = None

    @property
    def stored(self) -> Stored:
        obj = self._obj
        return Stored(json.loads(self.raw) if obj is None else obj, self.raw)

    @property
    def previous(self) -> dict[str, Any] | None:
        """The object before this change (None for a creation)."""
        if self._previous is not None or self._previous_raw is None:
            return self._previous
        previous: dict[str, Any] = json.loads(self._previous_raw)
        return previous

    def line(self, type_: str | None = None) -> bytes:
        """The event as a JSON watch line; built once for the watchers it goes to while it is new."""
        type_ = type_ or self.type
        if self._line is not None and type_ == self.type:
            return self._line
        line = b'{"type":"' + type_.encode() + b'","object":' + self.raw + b"}\n"
        if type_ == self.type and self._obj is not None:  # not yet settled
            self._line = line
        return line

    def settle(self) -> None:
        """Every current watcher has been offered this event: keep only what the history needs."""
        self._obj = self._previous = self._line = None


class Subscriber(Protocol):
    def offer(self, event: Event) -> None: ...

    def close(self) -> None: ...


Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


class Store:
    def __init__(self, history_size: int) -> None:
        self.rv = 0
        self._collections: dict[str, dict[str, dict[str, Stored]]] = {}
        self._history: deque[Event] = deque(maxlen=max(1, history_size))
        # The newest resourceVersion whose event has fallen out of the history.
        self._expired_rv = 0
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}
        # (storage_key, label, value) -> (namespace, name) of the objects carrying it: a LIST selecting
        # one Release's Deployments read every Deployment's labels, and a thousand Releases' passes
        # made that most of the server's time.
        self._labelled: dict[tuple[str, str, str], set[Key]] = {}

    # -- reads

    def get(self, storage_key: str, namespace: str, name: str) -> Stored | None:
        return self._collections.get(storage_key, {}).get(namespace, {}).get(name)

    def items(self, storage_key: str, namespace: str | None) -> Iterator[Stored]:
        """Objects of one collection (in one namespace, or all), ordered by namespace and name."""
        namespaces = self._collections.get(storage_key, {})
        selected = [namespace] if namespace is not None else sorted(namespaces)
        for ns in selected:
            objects = namespaces.get(ns, {})
            for name in sorted(objects):
                yield objects[name]

    def labelled(self, storage_key: str, namespace: str | None, label: str, value: str) -> Iterator[Stored]:
        """The objects of `items` whose `label` is `value`, in the same order."""
        objects = self._collections.get(storage_key, {})
        for ns, name in sorted(self._labelled.get((storage_key, label, value), ())):
            if namespace is None or ns == namespace:
                yield objects[ns][name]

    def namespaces_of(self, storage_key: str) -> list[str]:
        """The namespaces holding objects of one collection."""
        return list(self._collections.get(storage_key, {}))

    def count(self, storage_key: str, namespace: str) -> int:
        return len(self._collections.get(storage_key, {}).get(namespace, {}))

    def collections(self) -> list[str]:
        return list(self._collections)

    def dependents(self, owner_uid: str) -> list[tuple[str, str, str]]:
        return sorted(self._dependents.get(owner_uid, ()))

    # -- writes

    def write(self, storage_key: str, obj: dict[str, Any], previous: Stored | None) -> Stored:
        """Store a created or modified object under a new resourceVersion and publish its event."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        stored = Stored.of(obj)
        namespace, name = stored.namespace, stored.name
        self._collections.setdefault(storage_key, {}).setdefault(namespace, {})[name] = stored
        self._index(storage_key, previous.obj if previous else None, obj)
        self._publish(Event(self.rv, storage_key, "MODIFIED" if previous else "ADDED", stored, previous))
        return stored

    def remove(
        self, storage_key: str, namespace: str, name: str, final: dict[str, Any] | None = None
    ) -> Stored:
        """Delete an object (as `final`, when its last write and its deletion are one step); the DELETED
        event and the returned object carry a new resourceVersion."""
        namespaces = self._collections[storage_key]
        previous = namespaces[namespace].pop(name)
        if not namespaces[namespace]:
            del namespaces[namespace]
        self.rv += 1
        obj = final if final is not None else previous.copy()
        obj["metadata"]["resourceVersion"] = str(self.rv)
        stored = Stored.of(obj)
        self._index(storage_key, previous.obj, None)
        self._publish(Event(self.rv, storage_key, "DELETED", stored, previous))
        return stored

    def _index(self, storage_key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """Keep the owner index that garbage collection walks, and the label index."""
        for obj, adding in ((old, False), (new, True)):
            if obj is None:
                continue
            meta = obj["metadata"]
            key = (storage_key, meta.get("namespace", ""), meta["name"])
            for label, value in (meta.get("labels") or {}).items():
                holders = self._labelled.setdefault((storage_key, label, str(value)), set())
                if adding:
                    holders.add(key[1:])
                else:
                    holders.discard(key[1:])
                    if not holders:
                        del self._labelled[(storage_key, label, str(value))]
            for ref in meta.get("ownerReferences") or ():
                owners = self._dependents.setdefault(ref.get("uid", ""), set())
                if adding:
                    owners.add(key)
                else:
                    owners.discard(key)
                    if not owners:
                        del self._dependents[ref.get("uid", "")]

    # -- watching

    def _publish(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._expired_rv = self._history[0].rv
        self._history.append(event)
        for subscriber in list(self._subscribers.get(event.storage_key, ())):
            subscriber.offer(event)
        event.settle()

    def subscribe(self, storage_key: str, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(storage_key, set()).add(subscriber)

    def unsubscribe(self, storage_key: str, subscriber: Subscriber) -> None:
        self._subscribers.get(storage_key, set()).discard(subscriber)

    def close_subscribers(self, storage_key: str) -> None:
        """End every watch of a collection that is no longer served (its CRD was deleted)."""
        for subscriber in self._subscribers.pop(storage_key, set()):
            subscriber.close()

    def events_after(self, rv: int, storage_key: str) -> list[Event] | None:
        """Events of one collection newer than `rv`, or None when the history no longer reaches back."""
        if rv < self._expired_rv:
            return None
        return [e for e in self._history if e.rv > rv and e.storage_key == storage_key]
