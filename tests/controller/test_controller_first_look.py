"""What the watch showed while the queue was closed at start, taken once by each Release's first pass
(controller/first_look.py): never less than the watch has shown; with sharding, kept all along and taken
by the first pass after each gain."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml
from queues import recording_queue
from settled_release import bytes_kept_per_release
from test_controller_events import CountingReads, passes_until_healthy_and_nothing_owed
from test_controller_reconciler import NAMESPACE, _no_alerts, _no_measurements, release

from slipway.controller.events import EventLedger
from slipway.controller.first_look import FirstLook, FirstView
from slipway.controller.operator import _open_at_start
from slipway.controller.owned_watch import OwnedWatch
from slipway.controller.queue import ReleaseKey
from slipway.controller.reconciler import Reconciler
from slipway.controller.release_watch import ReleaseWatch
from slipway.kube.client import KubeApi, connect, deployments_path, releases_path
from slipway.manifests import LABEL_RELEASE, Obj
from slipway.runtime.config import parse_config
from slipway.runtime.metrics import OperatorMetrics
from slipway_dev.cluster import DevCluster

WEB = ReleaseKey("shop", "web")
API = ReleaseKey("shop", "api")
DEPLOYMENTS = "/apis/apps/v1/namespaces/shop/deployments"


def everything(key: ReleaseKey) -> bool:
    """The watch of owned objects covers every Release (listed whole, watched since)."""
    return True


def nothing(key: ReleaseKey) -> bool:
    """It covers none (not listed yet, or its listing failed)."""
    return False


def body(name: str, resource_version: str, phase: str = "Healthy") -> Obj:
    """An object as the watch shows it; as a Release, settled on its generation unless `phase` says not."""
    return {
        "apiVersion": "v1",
        "kind": "Thing",
        "metadata": {"name": name, "resourceVersion": resource_version, "generation": 2},
        "status": {"phase": phase, "observedGeneration": 2},
    }


def test_the_first_pass_takes_the_release_and_its_deployments_once() -> None:
    look = FirstLook(everything)
    look.release(WEB, body("web", "1"))
    look.release(WEB, body("web", "2"))  # a newer event replaces the older
    look.deployment(WEB, "web-a", body("web-a", "3"))
    look.deployment(WEB, "web-b", body("web-b", "4"))
    look.deployment(WEB, "web-b", None)  # deleted
    look.stop_keeping()
    first = look.take(WEB)
    assert first.body == body("web", "2")
    assert first.deployments == [body("web-a", "3")]
    again = look.take(WEB)
    assert again.body is None and again.deployments is None


def test_what_is_kept_holds_only_the_operators_own_managed_fields() -> None:
    look = FirstLook(everything)
    applied = {"manager": "slipway", "operation": "Apply", "fieldsV1": {"f:spec": {}}}
    written = {**body("web", "1"), "spec": {"version": "1"}}
    written["metadata"]["managedFields"] = [
        {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:spec": {}}},
        applied,
        {"manager": "slipway", "operation": "Update", "subresource": "status", "fieldsV1": {}},
    ]
    look.release(WEB, written)
    look.deployment(WEB, "web-a", written)
    look.stop_keeping()
    first = look.take(WEB)
    trimmed = {**written, "metadata": {**written["metadata"], "managedFields": [applied]}}
    assert first.body == trimmed
    assert first.deployments == [trimmed]


def test_deployments_are_listed_when_the_watch_of_owned_objects_does_not_cover_the_release() -> None:
    """Its bucket not listed whole yet (or the listing failed): a Deployment may not be shown yet."""
    look = FirstLook(lambda key: key == API)
    look.release(WEB, body("web", "1"))
    look.deployment(WEB, "web-a", body("web-a", "3"))
    look.release(API, body("api", "1"))
    look.deployment(API, "api-a", body("api-a", "4"))
    look.stop_keeping()
    assert look.take(WEB) == FirstView(body("web", "1"), None)
    assert look.take(API) == FirstView(body("api", "1"), [body("api-a", "4")])


def test_an_event_after_the_queue_opened_drops_what_was_kept() -> None:
    look = FirstLook(everything)
    look.release(WEB, body("web", "1"))
    look.release(API, body("api", "1"))
    look.deployment(API, "api-a", body("api-a", "2"))
    look.stop_keeping()
    look.release(WEB, body("web", "5"))  # the Release changed: its pass reads it
    look.deployment(API, "api-a", body("api-a", "6"))  # its Deployment changed: both read
    look.release(ReleaseKey("shop", "new"), body("new", "7"))  # nothing kept after the start
    for key in (WEB, API, ReleaseKey("shop", "new")):
        first = look.take(key)
        assert first.body is None and first.deployments is None


def test_a_release_deleted_while_the_queue_was_closed_is_not_kept() -> None:
    look = FirstLook(everything)
    look.release(WEB, body("web", "1"))
    look.release(WEB, None)
    look.stop_keeping()
    assert look.take(WEB).body is None


def test_with_sharding_the_first_pass_after_each_gain_takes_what_the_watch_showed_last() -> None:
    """Kept all along, whoever owns the Release: only a pass after a gain takes it, once per gain, and
    it holds the latest the watch showed, events after the queue opened included."""
    look = FirstLook(everything, all_along=True)
    look.release(WEB, body("web", "1"))
    look.deployment(WEB, "web-a", body("web-a", "2"))
    look.stop_keeping()
    assert look.take(WEB) == FirstView(None, None)  # not gained: another replica's, or read as usual
    look.release(WEB, body("web", "3"))  # another replica wrote it
    look.deployment(WEB, "web-b", body("web-b", "4"))  # and created a Deployment
    look.gained(WEB)  # it died: WEB is this replica's now
    first = look.take(WEB)
    assert first.body == body("web", "3")
    assert first.deployments == [body("web-a", "2"), body("web-b", "4")]
    assert look.take(WEB) == FirstView(None, None)  # later passes read
    look.deployment(WEB, "web-a", None)
    look.gained(WEB)  # lost and gained again
    assert look.take(WEB) == FirstView(body("web", "3"), [body("web-b", "4")])


def test_with_sharding_what_is_kept_all_along_of_a_release_is_a_few_hundred_bytes() -> None:
    """Every replica keeps every Release's body all along, so this part of its memory does not divide
    by the replicas: a settled Release's 2.1 KB of JSON, ~770 bytes by zlib alone, ~160 packed against
    the first kept (with its entry ~250 bytes kept per Release; ~1,000 by zlib alone, ~370 with a record
    per Release beside the body)."""
    look = FirstLook(everything, all_along=True)
    look.stop_keeping()
    keys, bodies, kept = bytes_kept_per_release(look.release)
    look.gained(keys[-1])
    assert look.take(keys[-1]).body == bodies[-1]
    assert kept < 300, f"{kept:.0f} bytes kept per Release"


def test_a_pass_decides_on_what_the_watch_showed_only_of_a_release_shown_settled() -> None:
    """What the queue asks before giving a pass one of the fewer slots of such passes."""
    look = FirstLook(everything)
    look.release(WEB, body("web", "1"))
    look.release(API, body("api", "2", phase="Progressing"))
    assert look.decides_on_shown(WEB) and not look.decides_on_shown(API)
    look.release(API, body("api", "3", phase="Degraded"))
    assert look.decides_on_shown(API)
    look.stop_keeping()
    look.release(API, body("api", "4"))  # an event after the queue opened: the pass reads
    assert not look.decides_on_shown(API)
    assert look.take(WEB).body == body("web", "1")
    assert not look.decides_on_shown(WEB)  # taken
    in_flight = FirstLook(everything)  # shown Progressing: its pass reads, as it would write anyway
    in_flight.release(API, body("api", "5", phase="Progressing"))
    assert in_flight.take(API) == FirstView(None, None)
    unlisted = FirstLook(nothing)  # its Deployments not listed whole: the pass lists them
    unlisted.release(WEB, body("web", "1"))
    assert not unlisted.decides_on_shown(WEB)


def test_with_sharding_a_pass_decides_on_what_the_watch_showed_only_after_a_gain() -> None:
    look = FirstLook(everything, all_along=True)
    look.release(WEB, body("web", "1"))
    look.stop_keeping()
    assert not look.decides_on_shown(WEB)  # another replica's, or this one's already passed over
    look.gained(WEB)
    assert look.decides_on_shown(WEB)
    look.release(WEB, body("web", "2", phase="Progressing"))  # another replica moved it on
    assert not look.decides_on_shown(WEB)
    look.take(WEB)
    look.release(WEB, body("web", "3"))
    assert not look.decides_on_shown(WEB)  # taken, until the next gain


def test_with_sharding_deployments_are_listed_when_the_release_is_not_covered() -> None:
    """Gained, but its bucket not listed yet by this replica's watch of owned objects."""
    look = FirstLook(nothing, all_along=True)
    look.release(WEB, body("web", "1"))
    look.stop_keeping()
    look.deployment(WEB, "web-a", body("web-a", "2"))
    look.gained(WEB)
    assert look.take(WEB) == FirstView(body("web", "1"), None)


def test_with_sharding_a_deleted_release_is_not_kept_nor_due() -> None:
    look = FirstLook(everything, all_along=True)
    look.stop_keeping()
    look.release(WEB, body("web", "1"))
    look.gained(WEB)
    look.release(WEB, None)
    look.release(WEB, body("web", "5"))  # created again under the same name, another replica's
    assert look.take(WEB) == FirstView(None, None)


def test_with_sharding_a_deleted_release_and_its_deployments_leave_nothing_kept() -> None:
    look = FirstLook(everything, all_along=True)
    look.stop_keeping()
    look.release(WEB, body("web", "1"))
    look.deployment(WEB, "web-a", body("web-a", "2"))
    look.release(WEB, None)
    look.deployment(WEB, "web-a", None)  # the garbage collector deletes it after its Release
    look.deployment(API, "api-a", None)  # never kept
    assert look._bodies == {} and look._deployments == {}


def test_with_sharding_a_deployment_shown_before_its_release_was_deleted_and_created_again_is_kept() -> None:
    """Two watch streams: the new Release's Deployment may be shown before the old Release's deletion."""
    look = FirstLook(everything, all_along=True)
    look.stop_keeping()
    look.release(WEB, body("web", "1"))
    look.deployment(WEB, "web-b", body("web-b", "3"))  # the Release created again made it
    look.release(WEB, None)  # the old one's deletion
    look.release(WEB, body("web", "4"))
    look.gained(WEB)
    assert look.take(WEB) == FirstView(body("web", "4"), [body("web-b", "3")])


class LookAheadRecorder(EventLedger):
    """Records each look-ahead: the namespaces, and whether the Releases were listed by then."""

    def __init__(self, api: KubeApi, releases: ReleaseWatch) -> None:
        super().__init__(api)
        self.calls: list[tuple[list[str], bool]] = []
        self._releases = releases

    def look_ahead(self, namespaces: Iterable[str]) -> None:
        self.calls.append((list(namespaces), self._releases.listed.is_set()))


def opened_after(
    tmp_path: Path,
    look: FirstLook,
    releases_listed: float | None,
    owned_listed: float | None,
    most: float,
    namespaces: Sequence[str] = (),
) -> tuple[float, list[tuple[list[str], bool]]]:
    """Seconds until the operator's start (`_open_at_start`) opened the queue, the watch of the Releases
    and that of the objects they own each done listing after its seconds (None: never); and the
    look-aheads of Release Events it made."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(unreachable_kubeconfig()))
    api = connect(str(kubeconfig))  # nothing is sent: the watches are not started

    async def scenario() -> tuple[float, list[tuple[list[str], bool]]]:
        releases, owned = ReleaseWatch(api, namespaces), OwnedWatch(api, namespaces, None)
        events = LookAheadRecorder(api, releases)
        queue, _ = recording_queue(opened=False)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for event, after in ((releases.listed, releases_listed), (owned.listed, owned_listed)):
            if after is not None:
                loop.call_later(after, event.set)
        async with asyncio.timeout(10):
            await _open_at_start(releases, owned, look, events, queue, namespaces, most_seconds=most)
        return loop.time() - started, events.calls

    try:
        return asyncio.run(scenario())
    finally:
        api.close()


def unreachable_kubeconfig() -> Obj:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }


def test_the_queue_opens_once_both_watches_have_listed(tmp_path: Path) -> None:
    """The Releases' watch, then the watch of the objects they own."""
    look = FirstLook(everything)
    look.release(WEB, body("web", "1"))
    waited, _ = opened_after(tmp_path, look, releases_listed=0.1, owned_listed=0.6, most=5)
    assert 0.6 <= waited < 1.5
    assert look.take(WEB).deployments == []  # covered: the kept Deployments (none) are used


def test_the_queue_opens_at_one_deadline_for_both_waits(tmp_path: Path) -> None:
    """The Releases listed after 1 s, the owned objects never: the queue opens at the 2 s deadline, not
    2 s after the Releases were listed."""
    waited, _ = opened_after(tmp_path, FirstLook(everything), releases_listed=1.0, owned_listed=None, most=2)
    assert 2.0 <= waited < 2.8


def test_watching_every_namespace_the_events_of_those_holding_releases_are_listed_once_they_are_known(
    tmp_path: Path,
) -> None:
    look = FirstLook(everything)
    look.release(WEB, body("web", "1"))
    look.release(ReleaseKey("cafe", "menu"), body("menu", "1"))
    _, look_aheads = opened_after(tmp_path, look, releases_listed=0.3, owned_listed=0.1, most=5)
    assert look_aheads == [(["cafe", "shop"], True)]


def test_watching_given_namespaces_their_events_are_listed_at_once(tmp_path: Path) -> None:
    """Beside the Releases' LIST, not after it: the first passes wait for that look-ahead."""
    _, look_aheads = opened_after(
        tmp_path,
        FirstLook(everything),
        releases_listed=0.5,
        owned_listed=0.1,
        most=5,
        namespaces=["shop", "cafe"],
    )
    assert look_aheads == [(["shop", "cafe"], False)]


def test_the_namespaces_of_the_releases_shown_are_those_whose_events_are_listed_ahead() -> None:
    look = FirstLook(everything)
    look.release(WEB, body("web", "1"))
    look.release(ReleaseKey("cafe", "menu"), body("menu", "1"))
    look.release(ReleaseKey("gone", "old"), body("old", "1"))
    look.release(ReleaseKey("gone", "old"), None)
    look.deployment(ReleaseKey("orphans", "x"), "x-a", body("x-a", "1"))  # its Release not shown
    look.release(ReleaseKey("moving", "cart"), body("cart", "1", phase="Progressing"))  # no body kept
    assert look.namespaces() == frozenset({"shop", "cafe", "moving"})
    assert look.releases == 2


def test_with_sharding_the_first_pass_after_a_gain_sends_no_read_of_the_release_or_its_deployments(
    dev_cluster: DevCluster,
) -> None:
    """A takeover: another replica made the Release Healthy; this one kept what its watch showed and
    gains the Release. Its first pass reads neither the Release nor its Deployments (at a takeover of
    973 Releases each such read was one of the requests every pass waited for); its next pass does."""
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    api = ListsToo(str(dev_cluster.kubeconfig))
    try:
        passes_until_healthy_and_nothing_owed(api)  # the other replica
        key = ReleaseKey(NAMESPACE, "web")
        shown = api.get(releases_path(NAMESPACE, "web"))
        assert shown is not None
        deployments = api.list(deployments_path(NAMESPACE), {LABEL_RELEASE: "web"})
        assert deployments, "no Deployment: the test would prove nothing"
        look = FirstLook(everything, all_along=True)
        look.release(key, shown)
        for deployment in deployments:
            look.deployment(key, deployment["metadata"]["name"], deployment)
        look.stop_keeping()
        survivor = Reconciler(
            api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics(), first_look=look
        )
        look.gained(key)
        api.reads.clear()
        api.sent.clear()
        asyncio.run(survivor(key))
        assert not [read for read in api.reads if "/releases/" in read or "/deployments" in read], api.reads
        assert api.sent == []  # nothing changed: nothing written
        asyncio.run(survivor(key))
        assert f"GET {releases_path(NAMESPACE, 'web')}" in api.reads
        assert f"LIST {deployments_path(NAMESPACE)}" in api.reads
    finally:
        api.close()


def test_a_pass_on_what_the_watch_showed_that_would_write_decides_again_on_a_read(
    dev_cluster: DevCluster,
) -> None:
    """What the watch showed may lag behind the last writes of the replica that owned the Release: a
    pass deciding on it writes nothing. Here the watch had shown the Release's Deployment as it was
    before its scale-up (as if it lagged): the pass would scale it, so it reads the Release and lists
    its Deployments instead, finds everything in place, and writes nothing."""
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    api = ListsToo(str(dev_cluster.kubeconfig))
    try:
        passes_until_healthy_and_nothing_owed(api)
        key = ReleaseKey(NAMESPACE, "web")
        shown = api.get(releases_path(NAMESPACE, "web"))
        assert shown is not None
        look = FirstLook(everything, all_along=True)
        look.release(key, shown)
        for deployment in api.list(deployments_path(NAMESPACE), {LABEL_RELEASE: "web"}):
            before_scale_up = {**deployment, "spec": {**deployment["spec"], "replicas": 0}}
            look.deployment(key, deployment["metadata"]["name"], before_scale_up)
        look.stop_keeping()
        look.gained(key)
        survivor = Reconciler(
            api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics(), first_look=look
        )
        api.reads.clear()
        api.sent.clear()
        asyncio.run(survivor(key))
        assert f"GET {releases_path(NAMESPACE, 'web')}" in api.reads
        assert f"LIST {deployments_path(NAMESPACE)}" in api.reads
        assert api.sent == []
    finally:
        api.close()


def look_at(type: str | None, obj: Obj) -> tuple[None, None]:
    return None, None


class ListsToo(CountingReads):
    def list(self, path: str, label_selector: Mapping[str, str] | None = None) -> list[Obj]:
        self.reads.append(f"LIST {path}")
        return super().list(path, label_selector)


def test_with_no_answer_to_the_lists_at_start_the_queue_opens_once_they_give_up(
    dev_cluster: DevCluster, tmp_path: Path
) -> None:
    """The API server does not answer the watches' LISTs at start (controller/operator.py): once the
    client's retries give up, the queue opens; what was kept of a Release's Deployments is not trusted,
    since nothing says it was all of them."""
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    api = connect(str(tmp_path / "kubeconfig"))

    async def scenario() -> list[ReleaseKey]:
        owned = OwnedWatch(api, ["shop"], None)
        releases = ReleaseWatch(api, ["shop"])
        look = FirstLook(owned.covers)
        queue, passes = recording_queue(opened=False)
        releases.start(lambda type, body: None)
        owned.start({"deployments": look_at, "services": look_at, "prometheusrules": look_at})
        look.release(WEB, body("web", "1"))
        look.deployment(WEB, "web-a", body("web-a", "2"))
        queue.notify(WEB)
        try:
            async with asyncio.timeout(30):
                await _open_at_start(releases, owned, look, EventLedger(api), queue, ["shop"])
                while not passes:
                    await asyncio.sleep(0.01)
        finally:
            await asyncio.gather(releases.stop(), owned.stop())
        assert look.take(WEB) == FirstView(body("web", "1"), None)
        return passes

    try:
        assert asyncio.run(scenario()) == [WEB]
    finally:
        api.close()
