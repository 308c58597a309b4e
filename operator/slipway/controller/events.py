"""Transition Events, each posted exactly once, however the posts fail or the operator dies.

The Events a pass decides are named (`named`) and written into the status they describe
(`status.transitionEvents`), in the same write, so they are owed the moment the transition lands:
- the pass posts them right after that write; a post that fails (a 409 Conflict, a 5xx once the
  client's retries are spent, a dropped connection) is logged and tried again in the next pass, soon;
  it never ends the pass, which has recorded its transition already;
- a pass that finds in status Events this process has not seen posted (a failed post, or a restart
  between the status write and the post) posts them before anything else, after a look: they may
  have gone out before a crash. Those owed from before this process started are looked up in one
  paged LIST of the namespace's Release Events, made once: an idle Release keeps its last transition's
  Events in status until its next status write, so after a restart nearly every Release owes some, and
  a GET each was a sixth of a restart's requests. Those owed since are looked up with a GET;
- the name is the Release's uid and the resourceVersion the transition was decided on, hashed: a
  transition lands at most once per resourceVersion (the status write is guarded by it), so every
  transition's Events have names of their own, and a second post of one is answered AlreadyExists,
  which means it was posted.
The next status write (whatever it is for) drops the Events seen posted, so owing costs no write of its
own. Events older than Kubernetes' default Event TTL are not posted again: they would be gone anyway.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog

from slipway.api.status import TransitionEvent
from slipway.core.actions import EmitEvent
from slipway.core.machine import PLAN_REASONS
from slipway.kube.client import ApiError, KubeApi, events_path
from slipway.kube.cluster import post_event
from slipway.kube.listing import PAGE
from slipway.manifests import ReleaseRef

_log = structlog.get_logger("slipway.events")

RETRY_SECONDS = (1.0, 300.0)
"""A Release whose Event posts failed is passed again after the first, doubling up to the second (a
cluster that refuses every post, such as one without the grant, gets no tight loop)."""
EVENT_TTL = timedelta(hours=1)
"""kube-apiserver's default --event-ttl: an owed Event older than this is not posted again."""


def named(
    release: ReleaseRef, resource_version: str, events: Sequence[EmitEvent], at: datetime
) -> list[TransitionEvent]:
    """The Events of one transition, decided on the Release at `resource_version`, with their names.
    Those of the same type and reason are one Event (their messages joined), and so are those telling
    how far the plan moved (named after the first): a status that waited for pods is written with the
    next pass's, and each pass may have moved the plan, but together they are one transition."""
    joined: dict[tuple[str, str], EmitEvent] = {}
    for event in events:
        key = (event.type, "plan" if event.reason in PLAN_REASONS else event.reason)
        first = joined.get(key)
        joined[key] = event if first is None else replace(first, message=f"{first.message}; {event.message}")
    return [
        TransitionEvent(
            name=f"{release.name}.{_digest(release.uid, resource_version, index)}",
            type=event.type,
            reason=event.reason,
            message=event.message,
            at=at,
        )
        for index, event in enumerate(joined.values())
    ]


def _digest(uid: str, resource_version: str, index: int) -> str:
    return hashlib.sha256(f"{uid}/{resource_version}/{index}".encode()).hexdigest()[:16]


class _NameHashes:
    """Names, kept as their sorted hashes: 8 bytes a name, where a set of the names took ~50 and each
    name's string ~75 more. A namespace's Release Events as first listed are kept for the process's
    life, by every sharded replica whatever it owns (for the first pass after a gain): over 3,000
    Releases the set alone was 0.5 MB (tracemalloc). Python's string hash has 64 bits: two Event names
    of one namespace sharing one (odds ~1e-15 a lookup among 10,000 Events) would count an owed Event
    as posted."""

    def __init__(self, names: Iterable[str]) -> None:
        self._hashes = array("q", sorted({hash(name) for name in names}))

    def __contains__(self, name: str) -> bool:
        wanted = hash(name)
        at = bisect_left(self._hashes, wanted)
        return at < len(self._hashes) and self._hashes[at] == wanted


class EventLedger:
    """Which owed Events this process has seen posted, per Release (names in its latest status only).
    Called from the passes' worker threads."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self._posted: dict[tuple[str, str], set[str]] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._started = datetime.now(UTC)
        # Per namespace, the names of the Release Events there when first looked at (None: the LIST
        # failed, so GETs tell); one LIST at a time, the passes needing it wait for it.
        self._before_start: dict[str, _NameHashes | None] = {}
        self._listing = threading.Lock()

    def post(
        self, release: ReleaseRef, owed: Sequence[TransitionEvent], now: datetime, look_first: bool
    ) -> tuple[list[TransitionEvent], int]:
        """Post the owed Events not seen posted yet: the ones still unposted, and the posts sent.
        `look_first`: they were owed before this pass (posted, perhaps, before a crash), so a GET,
        not a write, tells first."""
        key = (release.namespace, release.name)
        with self._lock:
            posted = set(self._posted.get(key, ()))
        left, sent = [], 0
        for event in owed:
            if event.name in posted or now - event.at > EVENT_TTL:
                continue
            if look_first and self._exists(release, event):
                posted.add(event.name)
                continue
            sent += 1
            try:
                post_event(self._api, release, event.type, event.reason, event.message, event.name, event.at)
            except ApiError as error:
                if error.status == 409 and error.reason == "AlreadyExists":
                    posted.add(event.name)
                    continue
                _log.warning(
                    "an Event is not posted yet; it is tried again", reason=event.reason, error=str(error)
                )
                left.append(event)
                continue
            posted.add(event.name)
        with self._lock:
            self._posted[key] = posted
            if left:
                self._failures[key] = self._failures.get(key, 0) + 1
            elif sent:
                self._failures.pop(key, None)
        return left, sent

    def retry_after(self, release: ReleaseRef) -> float:
        """How soon to pass the Release again for the Events it still owes."""
        with self._lock:
            failures = self._failures.get((release.namespace, release.name), 1)
        first, most = RETRY_SECONDS
        return min(most, first * float(1 << min(failures - 1, 16)))

    def _exists(self, release: ReleaseRef, event: TransitionEvent) -> bool:
        """Whether the Event is there; when that cannot be known, a post will tell. One owed from
        before this process started was posted before it started, or never: the namespace's Events
        as first listed tell (a clock ahead of ours only makes it a GET, one behind a post answered
        AlreadyExists)."""
        if event.at < self._started:
            names = self._named_before_start(release.namespace)
            if names is not None:
                return event.name in names
        try:
            return self._api.get(events_path(release.namespace, event.name)) is not None
        except ApiError as error:
            _log.warning("an owed Event could not be looked up; it is posted", error=str(error))
            return False

    def look_ahead(self, namespaces: Iterable[str]) -> None:
        """List the Release Events of `namespaces` now, before the passes: at a restart over 10,000
        Releases, the first passes all waited 5 s for that LIST."""
        for namespace in namespaces:
            self._named_before_start(namespace)

    def _named_before_start(self, namespace: str) -> _NameHashes | None:
        with self._listing:
            if namespace not in self._before_start:
                try:
                    pages = self._api.pages(
                        events_path(namespace), PAGE, field_selector="involvedObject.kind=Release"
                    )
                    names = _NameHashes(item["metadata"]["name"] for page in pages for item in page)
                except ApiError as error:
                    _log.warning("Release Events not listed; owed ones are read", error=str(error))
                    names = None
                self._before_start[namespace] = names
            return self._before_start[namespace]

    def keep(self, release: ReleaseRef, written: Sequence[TransitionEvent]) -> None:
        """The status now owes `written`: remember only those names."""
        key = (release.namespace, release.name)
        names = {event.name for event in written}
        with self._lock:
            self._posted[key] = self._posted.get(key, set()) & names

    def forget(self, namespace: str, name: str) -> None:
        """The Release is gone."""
        with self._lock:
            self._posted.pop((namespace, name), None)
            self._failures.pop((namespace, name), None)
