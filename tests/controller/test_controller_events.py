"""Every transition's Event is posted exactly once (issue 13, "Events are not lost"): a post the API
server refuses (409, 5xx) is tried again by the next pass, which also tells a post that went out
before its answer was lost (or before the operator died) from one that never did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from test_controller_reconciler import NAMESPACE, RecordingApi, _no_alerts, _no_measurements, release
from traced import left_allocated

from slipway.controller.events import EventLedger, _NameHashes
from slipway.controller.queue import ReleaseKey
from slipway.controller.reconciler import Reconciler
from slipway.kube.client import ApiError, KubeApi, events_path, releases_path
from slipway.manifests import Obj
from slipway.runtime.config import parse_config
from slipway.runtime.metrics import OperatorMetrics
from slipway_dev.apiserver.faults import FaultConfig
from slipway_dev.cluster import DevCluster


class Killed(BaseException):
    """The operator dies here (as with SIGKILL): nothing after it in the pass runs."""


class DiesAtEventPosts(RecordingApi):
    """The real client, until the operator dies at its next `deaths` Event posts: before the request
    is sent, or after the server stored the Event but before the answer came back."""

    def __init__(self, kubeconfig: str, deaths: int, after_sending: bool) -> None:
        super().__init__(kubeconfig)
        self.deaths = deaths
        self.after_sending = after_sending

    def create(self, path: str, body: Obj) -> Obj:
        if not path.endswith("/events") or self.deaths == 0:
            return super().create(path, body)
        self.deaths -= 1
        if self.after_sending:
            super().create(path, body)
        raise Killed()


class CountingReads(RecordingApi):
    """The real client, recording its reads."""

    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        self.reads: list[str] = []

    def get(self, path: str) -> Obj | None:
        self.reads.append(f"GET {path}")
        return super().get(path)

    def pages(
        self, path: str, limit: int, field_selector: str | None = None, label_selector: str | None = None
    ) -> Iterator[Sequence[Obj]]:
        self.reads.append(f"LIST {path}?{field_selector}")
        return super().pages(path, limit, field_selector, label_selector)


def one_pass(api: KubeApi, ledger: EventLedger | None = None) -> float | None:
    """A pass by a freshly started operator; when it asks to be called again."""
    reconciler = Reconciler(
        api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics(), events=ledger
    )
    return asyncio.run(reconciler(ReleaseKey(NAMESPACE, "web")))


def status(api: KubeApi) -> dict[str, Any]:
    body = api.get(releases_path(NAMESPACE, "web"))
    assert body is not None
    found: dict[str, Any] = body.get("status") or {}
    return found


def events(api: KubeApi) -> list[Obj]:
    return [e for e in api.list(events_path(NAMESPACE)) if e["involvedObject"]["name"] == "web"]


def passes_until_healthy_and_nothing_owed(api: KubeApi, reconciler: Reconciler | None = None) -> None:
    deadline = time.monotonic() + 30
    while True:
        if reconciler is None:
            one_pass(api)
        else:
            asyncio.run(reconciler(ReleaseKey(NAMESPACE, "web")))
        owed = {event["name"] for event in status(api).get("transitionEvents", [])}
        if status(api).get("phase") == "Healthy" and owed <= {e["metadata"]["name"] for e in events(api)}:
            return
        assert time.monotonic() < deadline, f"still {status(api).get('phase')}, {len(events(api))} Events"
        time.sleep(0.1)


def reasons(api: KubeApi) -> list[str]:
    return sorted(event["reason"] for event in events(api))


@pytest.fixture
def kubeconfig(dev_cluster: DevCluster) -> Iterator[str]:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    yield str(dev_cluster.kubeconfig)


@pytest.mark.dev_cluster(faults=FaultConfig(write_conflict_rate=0.5, resources=("events",), seed=1))
def test_event_posts_answered_409_are_posted_again_by_the_next_pass_and_only_once(kubeconfig: str) -> None:
    api = RecordingApi(kubeconfig)
    reconciler = Reconciler(api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics())
    try:
        passes_until_healthy_and_nothing_owed(api, reconciler)
        assert reasons(api) == ["FirstRelease", "Ready"]
        # The status that owed them says which they were: each is there under its own name.
        owed = {event["name"] for event in status(api)["transitionEvents"]}
        assert owed <= {event["metadata"]["name"] for event in events(api)}
        posts = [path for verb, path in api.sent if verb == "create" and path.endswith("/events")]
        assert len(posts) > 2, "no post was refused: the test would prove nothing"
    finally:
        api.close()


def test_a_failed_post_asks_for_the_next_pass_soon(kubeconfig: str) -> None:
    class EventsFail(RecordingApi):
        def create(self, path: str, body: Obj) -> Obj:
            if path.endswith("/events"):
                raise ApiError(503, "ServiceUnavailable", "try again")
            return super().create(path, body)

    failing = EventsFail(kubeconfig)
    try:
        # The first release waits for its pods and the core asks for no pass before 5 s; the Event is owed.
        requeue = one_pass(failing)
        assert requeue is not None and requeue <= 1.0
        assert [event["reason"] for event in status(failing)["transitionEvents"]] == ["FirstRelease"]
        assert events(failing) == []
    finally:
        failing.close()


@pytest.mark.parametrize("after_sending", [False, True], ids=["before-the-post", "after-the-post"])
def test_an_operator_killed_between_the_status_and_its_event_posts_it_once_after_a_restart(
    kubeconfig: str, after_sending: bool
) -> None:
    dying = DiesAtEventPosts(kubeconfig, deaths=1, after_sending=after_sending)
    try:
        with pytest.raises(Killed):
            one_pass(dying)  # the status (Progressing, FirstRelease) landed, then the operator died
        assert status(dying)["reason"] == "FirstRelease"
        passes_until_healthy_and_nothing_owed(dying)  # each pass by a restarted operator
        assert reasons(dying) == ["FirstRelease", "Ready"]
    finally:
        dying.close()


def test_after_a_restart_events_owed_from_before_it_are_looked_up_in_one_list(kubeconfig: str) -> None:
    """An idle Healthy Release keeps its last transition's Events in status (nothing writes it again):
    a restarted operator's first pass tells they were posted from one LIST of the namespace's Release
    Events, not a GET each, and writes nothing."""

    api = CountingReads(kubeconfig)
    try:
        passes_until_healthy_and_nothing_owed(api)
        assert status(api)["transitionEvents"], "nothing owed: the test would prove nothing"
        api.reads.clear()
        api.sent.clear()
        one_pass(api)  # a restarted operator's first pass
        assert [read for read in api.reads if "/events" in read] == [
            f"LIST {events_path(NAMESPACE)}?involvedObject.kind=Release"
        ]
        assert api.sent == []
        assert reasons(api) == ["FirstRelease", "Ready"]
    finally:
        api.close()


def test_events_listed_ahead_of_the_first_pass_are_not_listed_again(kubeconfig: str) -> None:
    """At a start the operator lists the Release Events while the watch shows the cluster
    (operator.py), so that the first passes do not all wait for that LIST."""
    api = CountingReads(kubeconfig)
    try:
        passes_until_healthy_and_nothing_owed(api)
        assert status(api)["transitionEvents"], "nothing owed: the test would prove nothing"
        ledger = EventLedger(api)
        api.reads.clear()
        ledger.look_ahead([NAMESPACE])
        assert api.reads == [f"LIST {events_path(NAMESPACE)}?involvedObject.kind=Release"]
        api.reads.clear()
        api.sent.clear()
        one_pass(api, ledger)
        assert [read for read in api.reads if "/events" in read] == []
        assert api.sent == []
        assert reasons(api) == ["FirstRelease", "Ready"]
    finally:
        api.close()


def test_the_event_names_listed_at_a_start_are_kept_in_8_bytes_each() -> None:
    """A namespace's Release Events as first listed are kept for the process's life, in every sharded
    replica: as their hashes, 8 bytes a name (a set of the names took ~50, each string ~75 more), and
    every name listed is found, none other."""
    listed = [f"web-{index}.{index * 7919:016x}" for index in range(10_000)]
    others = [f"web-{index}.{index * 7919 + 1:016x}" for index in range(10_000)]
    names, kept = left_allocated(lambda: _NameHashes(iter(listed)))
    assert kept / len(listed) < 10, f"{kept / len(listed):.0f} bytes a name"
    assert all(name in names for name in listed)
    assert not any(name in names for name in others)
