"""One kind of object in some collections: listed, then watched, under a label selector that may change.

Kopf reads a watch's label selector once, when the watch starts, keeps its own state for every object
it shows, and hands listed objects to its workers without waiting for them. The Releases
(controller/release_watch.py) and the objects they own are watched here instead: a sharded replica
watches only the owned objects of the buckets it owns (controller/owned_watch.py), and that selector
changes whenever a replica joins or leaves.

Each collection has a thread of its own: a paged LIST, then a WATCH from the LIST's resourceVersion,
taken up again where it ended (from the last event or bookmark), listed afresh after 410 Gone and after
each change of selector. What it shows goes to the sink on the event loop, a page at a time, and the
thread waits for each page to be handled: at most one page of bodies is in memory, however far the
loop lags. A LIST afresh tells what the watch can no longer show: each object the thread knew and the
LIST no longer holds (deleted meanwhile, or out of the selector now) is handed to the sink as vanished.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog

from slipway.kube.client import ApiError, KubeApi, Obj
from slipway.kube.listing import PAGE

_log = structlog.get_logger("slipway.informer")

WATCH_SECONDS = 60
"""Each watch ends after this (server-side), and is taken up again from where it was."""
_FIRST_RETRY_SECONDS = 0.5
_MOST_RETRY_SECONDS = 30.0
_T = TypeVar("_T")


def collection_paths(base: str, plural: str, namespaces: Sequence[str]) -> list[str]:
    """The collections of a kind (`base`: its API group's path) in `namespaces`, each once (none: the
    cluster-wide collection). A namespace named twice would be watched twice, each event shown twice."""
    return [f"{base}/namespaces/{namespace}/{plural}" for namespace in dict.fromkeys(namespaces)] or [
        f"{base}/{plural}"
    ]


class Sink(Protocol):
    """Where an informer's objects go: called on the event loop, one object at a time."""

    def shown(self, type: str | None, obj: Obj) -> Any:
        """An object as listed (`type` None) or as a watch event (ADDED, MODIFIED, DELETED). Returns
        what to keep of it, handed back to `vanished` if a later LIST no longer holds it."""

    def vanished(self, namespace: str, name: str, kept: Any, resource_version: str) -> None:
        """An object shown before that a LIST afresh (at `resource_version`) no longer holds."""


@dataclass
class _Stream:
    collection: str
    api: KubeApi
    """Its own client: ending its watch from another thread touches no other request's connection."""
    known: dict[tuple[str, str], tuple[str, Any]] = field(default_factory=dict)
    """(namespace, name) -> the resourceVersion last shown and what the sink kept of it."""
    resource_version: str | None = None
    """Where the watch takes up again; None: list afresh."""
    listed: int = -1
    """The selector generation of its last whole LIST."""
    tried: bool = False
    """Listed whole once, or failed to be."""


class Informer:
    def __init__(
        self,
        api: KubeApi,
        collections: Sequence[str],
        sink: Sink,
        selector: str | None,
        served_later: bool = False,
    ) -> None:
        """`served_later`: a collection not served (its CRD not installed) is tried again, backing off,
        until it is; else it shows nothing until the selector changes."""
        self._sink = sink
        self._served_later = served_later
        self._streams = [_Stream(collection, api.another()) for collection in collections]
        self._selector = selector
        self._generation = 0
        self._stopped = False
        self._changed = threading.Condition()
        self._ends: dict[str, Callable[[], None]] = {}  # collection -> what ends its watch in flight
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_listed: Callable[[], None] = lambda: None

    def start(self, loop: asyncio.AbstractEventLoop, on_listed: Callable[[], None]) -> None:
        """Start a thread per collection; `on_listed` is called on the loop after each whole LIST of a
        collection, and after the first failed one."""
        self._loop, self._on_listed = loop, on_listed
        for stream in self._streams:
            thread = threading.Thread(target=self._run, args=(stream,), name="informer", daemon=True)
            thread.start()
            self._threads.append(thread)

    def select(self, selector: str | None) -> None:
        """Watch what `selector` matches from now on: every collection is listed afresh."""
        with self._changed:
            if selector == self._selector:
                return
            self._selector, self._generation = selector, self._generation + 1
            self._end_watches()

    @property
    def tried(self) -> bool:
        """Every collection was listed whole once, or failed to be (then the passes read)."""
        return all(stream.tried for stream in self._streams)

    @property
    def current(self) -> bool:
        """Every collection was listed whole under the current selector (and watched since)."""
        return all(stream.listed == self._generation for stream in self._streams)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop: nothing more reaches the sink once this is called (a LIST in flight ends unheard)."""
        with self._changed:
            self._stopped = True
            self._end_watches()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        for stream in self._streams:
            stream.api.close()

    def _end_watches(self) -> None:
        """Under the lock (so that no watch is taken up meanwhile): end the watches in flight."""
        self._changed.notify_all()
        for end in self._ends.values():
            with contextlib.suppress(RuntimeError, ValueError, OSError):  # it had just ended by itself
                end()
        self._ends.clear()

    def _run(self, stream: _Stream) -> None:
        retry = _FIRST_RETRY_SECONDS
        try:
            while not self._stopped:
                with self._changed:
                    selector, generation = self._selector, self._generation
                try:
                    if stream.resource_version is None or stream.listed != generation:
                        self._list(stream, selector, generation)
                    self._watch(stream, selector, generation)
                    retry = _FIRST_RETRY_SECONDS
                    continue
                except ApiError as error:
                    if not self._failed(stream, generation, error):
                        continue
                except _Stopped:
                    raise
                except Exception:  # a thread that died would leave its kind unwatched for good
                    if self._stopped:
                        return  # its client closed under it
                    _log.exception("watch failed; listing afresh shortly", collection=stream.collection)
                    stream.resource_version = None
                if not stream.tried:
                    self._tried(stream)
                self._wait(generation, retry)
                retry = min(retry * 2, _MOST_RETRY_SECONDS)
        except _Stopped:
            return

    def _failed(self, stream: _Stream, generation: int, error: ApiError) -> bool:
        """What an ApiError means; True: wait before trying again."""
        if error.status == 410:
            stream.resource_version = None  # its place in the history expired: list afresh
            return False
        if self._stopped or generation != self._generation:
            return False  # ended on purpose: the new selector is listed next
        if error.not_found and self._served_later:
            _log.info("not served yet; trying again", collection=stream.collection)
            return True
        if error.not_found:
            # Not served (no PrometheusRule CRD): nothing to show until the selector changes, as
            # Kopf watches only the kinds served at its start.
            _log.info("not served: not watched", collection=stream.collection)
            self._listed(stream, generation)
            self._wait(generation, None)
            return False
        _log.warning("watch failed; again shortly", collection=stream.collection, error=str(error))
        return True

    def _list(self, stream: _Stream, selector: str | None, generation: int) -> None:
        seen: set[tuple[str, str]] = set()
        resource_version = ""
        for answer in stream.api.list_answers(stream.collection, PAGE, label_selector=selector):
            resource_version = str((answer.get("metadata") or {}).get("resourceVersion", ""))
            self._deliver(stream, ((None, obj) for obj in answer.get("items") or []), seen)
        gone = [(key, kept) for key, (_, kept) in stream.known.items() if key not in seen]
        if gone:
            self._on_loop(lambda: self._vanished(gone, resource_version))
            for key, _ in gone:
                del stream.known[key]
        stream.resource_version = resource_version
        self._listed(stream, generation)

    def _vanished(self, gone: Iterable[tuple[tuple[str, str], Any]], resource_version: str) -> None:
        for (namespace, name), kept in gone:
            try:
                self._sink.vanished(namespace, name, kept, resource_version)
            except Exception:  # one object's trouble must not end the watch of the others
                _log.exception("handling an object gone from view failed", name=name)

    def _watch(self, stream: _Stream, selector: str | None, generation: int) -> None:
        events = stream.api.watch(
            stream.collection,
            WATCH_SECONDS,
            label_selector=selector,
            resource_version=stream.resource_version,
            opened=lambda end: self._opened(stream.collection, generation, end),
        )
        try:
            for event in events:
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if event.get("type") != "BOOKMARK":
                    self._deliver(stream, [(event.get("type"), obj)], None)
                if version:
                    stream.resource_version = str(version)
        finally:
            with self._changed:
                self._ends.pop(stream.collection, None)

    def _opened(self, collection: str, generation: int, end: Callable[[], None]) -> None:
        with self._changed:
            current = not self._stopped and generation == self._generation
            if current:
                self._ends[collection] = end
        if not current:
            end()

    def _deliver(
        self, stream: _Stream, events: Iterable[tuple[str | None, Obj]], seen: set[tuple[str, str]] | None
    ) -> None:
        batch = []
        for type, obj in events:
            meta = obj.get("metadata") or {}
            # One string per namespace, not one per object kept (each came from the object's own JSON).
            key = (sys.intern(meta.get("namespace", "")), meta.get("name", ""))
            if seen is not None:
                seen.add(key)
            known = stream.known.get(key)
            # Listed again as last shown (a LIST afresh at a change of selector, after 410 Gone):
            # nothing new to tell, and a pass for each would be a pass for every Release kept.
            if type is None and known is not None and known[0] == str(meta.get("resourceVersion")):
                continue
            batch.append((key, type, obj))
        if not batch:
            return
        kept = self._on_loop(lambda: [self._shown(type, obj) for _, type, obj in batch])
        for (key, type, obj), keep in zip(batch, kept, strict=True):
            if type == "DELETED":
                stream.known.pop(key, None)
            else:
                stream.known[key] = (str(obj["metadata"].get("resourceVersion")), keep)

    def _shown(self, type: str | None, obj: Obj) -> Any:
        try:
            return self._sink.shown(type, obj)
        except Exception:  # one object's trouble must not end the watch of the others
            _log.exception("handling a watch event failed", kind=obj.get("kind"))
            return None

    def _listed(self, stream: _Stream, generation: int) -> None:
        stream.listed = generation
        self._tried(stream)

    def _tried(self, stream: _Stream) -> None:
        stream.tried = True
        self._on_loop(self._on_listed)

    def _on_loop(self, call: Callable[[], _T]) -> _T:
        """Run `call` on the event loop and wait for its result (the loop's handlers own the state).
        Once stopped, nothing more is run."""
        loop = self._loop
        if self._stopped or loop is None or loop.is_closed():
            raise _Stopped()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            if self._stopped:
                future.set_exception(_Stopped())
                return
            try:
                future.set_result(call())
            except BaseException as error:
                future.set_exception(error)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError as error:  # the loop closed
            raise _Stopped() from error
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if self._stopped or loop.is_closed():
                    raise _Stopped() from None

    def _wait(self, generation: int, seconds: float | None) -> None:
        """Until `seconds` pass (None: for good), the selector changes or the informer stops."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or self._generation != generation, seconds)
        if self._stopped:
            raise _Stopped()


class _Stopped(Exception):
    """The informer, or the loop it hands objects to, stopped."""
