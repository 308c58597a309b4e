"""controller/release_watch.py against the dev cluster: the Releases of the namespaces watched, as listed
then as changed, a deletion while the watch was down shown as one, and (cluster-wide) a Release CRD
installed after the start served."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
import yaml
from polling import until
from queues import recording_queue
from test_controller_pass_errors import NAMESPACE, release

from slipway.api.crd import render_crd
from slipway.controller.echoes import OwnWrites
from slipway.controller.first_look import FirstLook
from slipway.controller.handlers import release_handler
from slipway.controller.queue import ReleaseKey
from slipway.controller.release_watch import ReleaseWatch, _ReleaseSink
from slipway.controller.upstreams import UpstreamIndex
from slipway.controller.watch_view import WatchView
from slipway.kube.client import KubeApi, Obj, connect
from slipway_dev.cluster import DevCluster


@pytest.fixture
def api(dev_cluster: DevCluster) -> Iterator[KubeApi]:
    client = connect(str(dev_cluster.kubeconfig))
    yield client
    client.close()


Shown = list[tuple[str | None, str, str]]
"""(type, namespace/name, spec.version) as the handler was shown them."""


def watching(
    api: KubeApi,
    namespaces: list[str],
    scenario: Callable[[ReleaseWatch, Shown], Awaitable[None]],
) -> Shown:
    shown: Shown = []

    def handle(type: str | None, body: Obj) -> None:
        metadata = body["metadata"]
        version = (body.get("spec") or {}).get("version", "")
        shown.append((type, f"{metadata['namespace']}/{metadata['name']}", version))

    async def main() -> None:
        watch = ReleaseWatch(api, namespaces)
        watch.start(handle)
        try:
            await scenario(watch, shown)
        finally:
            await watch.stop()

    asyncio.run(main())
    return shown


def test_it_shows_the_releases_of_the_namespaces_watched_as_listed_then_as_changed(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    for namespace in (NAMESPACE, "cafe", "elsewhere"):
        dev_cluster.kubectl("create", "namespace", namespace)
    dev_cluster.kubectl("apply", "-f", "-", input=release("web"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("menu", namespace="cafe"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("web", namespace="elsewhere"))

    async def scenario(watch: ReleaseWatch, shown: Shown) -> None:
        await until(watch.listed.is_set, "the Releases listed")
        # As listed, in both namespaces watched, before it counts as listed; not those of another.
        assert sorted(shown) == [(None, "cafe/menu", "1"), (None, "shop/web", "1")]
        await asyncio.to_thread(dev_cluster.kubectl, "apply", "-f", "-", input=release("web", version="2"))
        await asyncio.to_thread(dev_cluster.kubectl, "apply", "-f", "-", input=release("cart"))
        await asyncio.to_thread(dev_cluster.kubectl, "delete", "release", "web", "-n", NAMESPACE)
        await until(lambda: len(shown) == 5, "three changes shown")

    shown = watching(api, [NAMESPACE, "cafe", NAMESPACE], scenario)  # named twice, watched once
    assert shown[2:] == [
        ("MODIFIED", "shop/web", "2"),
        ("ADDED", "shop/cart", "1"),
        ("DELETED", "shop/web", "2"),
    ]


def test_a_release_a_list_afresh_no_longer_holds_is_forgotten() -> None:
    """Deleted while the watch was down (kube/informer.py hands it over as vanished): the handler forgets
    it as at a deletion the watch showed, and makes the last pass that forgets it in the operator."""
    key = ReleaseKey(NAMESPACE, "web")

    async def scenario() -> list[ReleaseKey]:
        queue, passes = recording_queue()
        upstreams = UpstreamIndex()
        look = FirstLook(lambda key: True)
        sink = _ReleaseSink(release_handler(queue, upstreams, OwnWrites(), look, WatchView()))
        body = yaml.safe_load(release("web"))
        body["metadata"]["resourceVersion"] = "5"
        sink.shown(None, body)
        await until(lambda: passes == [key], "the pass of the Release shown")
        assert upstreams.view_of(key) is not None
        sink.vanished(NAMESPACE, "web", None, "9")
        await until(lambda: passes == [key, key], "the last pass of the Release gone")
        assert upstreams.view_of(key) is None
        assert look.releases == 0  # its body no longer kept
        return passes

    asyncio.run(scenario())


@pytest.mark.dev_cluster(release_crd=False)
def test_cluster_wide_a_release_crd_installed_after_the_start_is_served(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    """The start does not wait for it (the 404 counts as listed), and the watch tries again until the
    CRD is served."""
    dev_cluster.kubectl("create", "namespace", NAMESPACE)

    async def scenario(watch: ReleaseWatch, shown: Shown) -> None:
        await until(watch.listed.is_set, "the start not kept waiting by the missing CRD")
        await asyncio.to_thread(dev_cluster.kubectl, "apply", "-f", "-", input=render_crd())
        await asyncio.to_thread(dev_cluster.kubectl, "apply", "-f", "-", input=release("web"))
        await until(lambda: bool(shown), "the Release shown once its CRD is served")

    [(_, name, version)] = watching(api, [], scenario)  # listed or added: when the retry came
    assert (name, version) == ("shop/web", "1")
