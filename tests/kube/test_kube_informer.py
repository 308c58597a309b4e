"""kube/informer.py against the dev cluster: a LIST then a WATCH per collection, taken up again after
dropped watches and 410 Gone, listed afresh under a new selector, with what left the view handed over
as vanished; a kind that is not served, and a stop while a watch is open."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from polling import until

from slipway.kube.client import KubeApi, Obj, connect
from slipway.kube.informer import Informer
from slipway.kube.listing import PAGE
from slipway_dev.apiserver import FaultConfig
from slipway_dev.cluster import DevCluster

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


class Recorder:
    """A sink that keeps what it was shown as the informer's view of the collection."""

    def __init__(self) -> None:
        self.view: dict[str, str] = {}  # name -> data "k"
        self.events: list[tuple[str | None, str]] = []
        self.vanished: list[tuple[str, Any, str]] = []
        self.listed = 0

    def shown(self, type: str | None, obj: Obj) -> Any:
        name = obj["metadata"]["name"]
        self.events.append((type, name))
        if type == "DELETED":
            self.view.pop(name, None)
        else:
            self.view[name] = (obj.get("data") or {}).get("k", "")
        return f"kept {name}"

    def vanished_from_view(self, namespace: str, name: str, kept: Any, resource_version: str) -> None:
        self.vanished.append((name, kept, resource_version))
        self.view.pop(name, None)

    def on_listed(self) -> None:
        self.listed += 1


class RecorderSink:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def shown(self, type: str | None, obj: Obj) -> Any:
        return self._recorder.shown(type, obj)

    def vanished(self, namespace: str, name: str, kept: Any, resource_version: str) -> None:
        self._recorder.vanished_from_view(namespace, name, kept, resource_version)


@pytest.fixture
def api(dev_cluster: DevCluster) -> Iterator[KubeApi]:
    client = connect(str(dev_cluster.kubeconfig))
    yield client
    client.close()


def configmap(name: str, value: str, **labels: str) -> Obj:
    metadata = {"name": name, "labels": {"made-by": "test", **labels}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": value}}


def run_with(
    api: KubeApi,
    collections: list[str],
    selector: str | None,
    scenario: Callable[[Informer, Recorder], Awaitable[None]],
    sink: Callable[[Recorder], RecorderSink] = RecorderSink,
) -> Recorder:
    recorder = Recorder()
    informer = Informer(api, collections, sink(recorder), selector)

    async def main() -> None:
        informer.start(asyncio.get_running_loop(), recorder.on_listed)
        try:
            await scenario(informer, recorder)
        finally:
            await asyncio.to_thread(informer.stop)

    asyncio.run(main())
    return recorder


def cluster_view(api: KubeApi, selector: str) -> dict[str, str]:
    return {
        obj["metadata"]["name"]: obj["data"]["k"]
        for obj in api.list(CONFIGMAPS, dict(part.split("=") for part in selector.split(",")))
    }


def test_it_shows_what_was_there_then_every_change(api: KubeApi) -> None:
    api.create(CONFIGMAPS, configmap("a", "1"))
    api.create(CONFIGMAPS, configmap("b", "1"))
    api.create(CONFIGMAPS, {**configmap("theirs", "1"), "metadata": {"name": "theirs"}})

    async def scenario(informer: Informer, recorder: Recorder) -> None:
        await until(lambda: informer.current, "the first LIST")
        assert sorted(recorder.events) == [(None, "a"), (None, "b")]  # listed, as Kopf's type None
        assert recorder.listed == 1 and informer.tried
        await asyncio.to_thread(api.create, CONFIGMAPS, configmap("c", "1"))
        await asyncio.to_thread(api.patch, f"{CONFIGMAPS}/a", {"data": {"k": "2"}})
        await asyncio.to_thread(api.delete, f"{CONFIGMAPS}/b")
        await until(lambda: len(recorder.events) == 5, "three watch events")
        assert recorder.events[2:] == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]
        assert recorder.view == {"a": "2", "c": "1"}

    run_with(api, [CONFIGMAPS], "made-by=test", scenario)


def test_a_new_selector_is_listed_afresh_and_what_left_the_view_is_handed_over(api: KubeApi) -> None:
    for name, group in (("one", "1"), ("two", "2"), ("three", "3")):
        api.create(CONFIGMAPS, configmap(name, group, group=group))

    async def scenario(informer: Informer, recorder: Recorder) -> None:
        await until(lambda: informer.current, "the first LIST")
        assert recorder.view == {"one": "1", "two": "2"}
        listed_first = len(recorder.events)
        informer.select("made-by=test,group in (2,3)")
        assert not informer.current  # until listed under the new selector
        await until(lambda: informer.current, "the LIST under the new selector")
        assert recorder.view == {"two": "2", "three": "3"}
        # "two", listed again as last shown, is not shown again: nothing new (a pass each, else).
        assert recorder.events[listed_first:] == [(None, "three")]
        [(name, kept, version)] = recorder.vanished
        assert (name, kept) == ("one", "kept one") and int(version) > 0
        assert recorder.listed == 2
        # Watched under the new selector: a change to one it no longer matches is not shown.
        events = len(recorder.events)
        await asyncio.to_thread(api.patch, f"{CONFIGMAPS}/one", {"data": {"k": "x"}})
        await asyncio.to_thread(api.patch, f"{CONFIGMAPS}/three", {"data": {"k": "y"}})
        await until(lambda: recorder.view.get("three") == "y", "the change to three")
        assert [name for _, name in recorder.events[events:]] == ["three"]

    run_with(api, [CONFIGMAPS], "made-by=test,group in (1,2)", scenario)


@pytest.mark.dev_cluster(faults=FaultConfig(watch_drop_seconds=0.5, watch_history_size=3))
def test_after_410_gone_it_lists_afresh_and_hands_over_what_was_deleted_meanwhile(api: KubeApi) -> None:
    """Watches end every 0.5 s and the server keeps 3 events of history. The loop is held while the
    changes are made, one every 0.3 s: the informer waits to hand over the first event it gets, its
    watch ends meanwhile, and more than 3 changes follow, so taking the watch up again is answered
    410 Gone; the LIST afresh tells the deletions it missed."""
    for index in range(4):
        api.create(CONFIGMAPS, configmap(f"old-{index}", "1"))

    def changes() -> None:
        for index in range(4):
            time.sleep(0.3)
            api.delete(f"{CONFIGMAPS}/old-{index}")
            time.sleep(0.3)
            api.create(CONFIGMAPS, configmap(f"new-{index}", "1"))

    async def scenario(informer: Informer, recorder: Recorder) -> None:
        await until(lambda: informer.current, "the first LIST")
        writer = threading.Thread(target=changes)
        writer.start()
        time.sleep(2.6)  # holds the loop: the informer cannot hand anything over
        await asyncio.to_thread(writer.join)
        wanted = await asyncio.to_thread(cluster_view, api, "made-by=test")
        await until(lambda: recorder.view == wanted, "the view to equal the cluster")
        assert recorder.listed >= 2, "no LIST afresh: no 410 Gone met, the test would prove nothing"
        vanished = {name for name, _, _ in recorder.vanished}
        deleted = {name for type, name in recorder.events if type == "DELETED"}
        assert vanished, "every deletion came as an event: the test would prove nothing"
        assert vanished | deleted == {f"old-{index}" for index in range(4)}
        assert not vanished & deleted

    run_with(api, [CONFIGMAPS], "made-by=test", scenario)


def test_a_kind_not_served_shows_nothing_and_counts_as_listed(api: KubeApi) -> None:
    """As with no PrometheusRule CRD: the operator's start must not wait for it."""

    async def scenario(informer: Informer, recorder: Recorder) -> None:
        await until(lambda: informer.tried and informer.current, "the 404 to count as listed")
        assert recorder.events == []

    things = "/apis/nothing.example/v1/namespaces/default/things"
    run_with(api, [things, CONFIGMAPS], "made-by=test", scenario)


def test_stop_ends_an_open_watch_at_once(api: KubeApi) -> None:
    async def scenario(informer: Informer, recorder: Recorder) -> None:
        await until(lambda: informer.current, "the first LIST")
        await asyncio.sleep(0.2)  # the watch is open now, for 60 s unless ended
        started = time.monotonic()
        await asyncio.to_thread(informer.stop)
        assert time.monotonic() - started < 2.0

    run_with(api, [CONFIGMAPS], None, scenario)


def test_a_long_list_is_handed_over_a_page_at_a_time(dev_cluster: DevCluster, api: KubeApi) -> None:
    """The next page is asked for only once the sink has taken the last: at most one page of bodies is
    alive per collection, which bounds a start's peak (kube/listing.py)."""
    count = PAGE * 2 + PAGE // 2
    for index in range(count):
        api.create(CONFIGMAPS, configmap(f"paged-{index:03d}", "v", paged="yes"))
    answered: list[str] = []
    counting = connect(str(dev_cluster.kubeconfig), on_response=lambda verb, *_: answered.append(verb))
    lists_when_shown: list[int] = []

    class CountingSink(RecorderSink):
        def shown(self, type: str | None, obj: Obj) -> Any:
            if type is None:
                lists_when_shown.append(answered.count("LIST"))
            return super().shown(type, obj)

    async def listed(informer: Informer, recorder: Recorder) -> None:
        await until(lambda: recorder.listed, "the LIST", 30)

    recorder = run_with(counting, [CONFIGMAPS], "paged=yes", listed, sink=CountingSink)
    counting.close()
    assert lists_when_shown == [index // PAGE + 1 for index in range(count)]
    assert len(recorder.view) == count
