"""controller/release_watch.py against the dev cluster: the Releases of the namespaces watched, as listed
then as changed, a deletion while the watch was down shown as one, and (cluster-wide) a Release CRD
installed after the start served."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
from polling import until

from slipway.api.crd import render_crd
from slipway.controller.release_watch import ReleaseWatch, _ReleaseSink
from slipway.kube.client import KubeApi, Obj, connect
from slipway_dev.cluster import DevCluster

NAMESPACE = "shop"


def release(name: str, namespace: str = NAMESPACE, version: str = "1") -> str:
    return f"""
apiVersion: slipway.dev/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  version: "{version}"
  template: {{spec: {{containers: [{{name: app, image: example/app:1}}]}}}}
  service: {{port: 80}}
  strategy: {{canary: {{steps: [{{setWeight: 50}}]}}}}
"""


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
    served_later: bool,
    scenario: Callable[[ReleaseWatch, Shown], Awaitable[None]],
) -> Shown:
    shown: Shown = []

    def handle(type: str | None, body: Obj) -> None:
        metadata = body["metadata"]
        version = (body.get("spec") or {}).get("version", "")
        shown.append((type, f"{metadata['namespace']}/{metadata['name']}", version))

    async def main() -> None:
        watch = ReleaseWatch(api, namespaces, served_later)
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
    for namespace in (NAMESPACE, "elsewhere"):
        dev_cluster.kubectl("create", "namespace", namespace)
    dev_cluster.kubectl("apply", "-f", "-", input=release("web"))
    dev_cluster.kubectl("apply", "-f", "-", input=release("web", namespace="elsewhere"))

    async def scenario(watch: ReleaseWatch, shown: Shown) -> None:
        await until(watch.listed.is_set, "the Releases listed")
        assert shown == [(None, "shop/web", "1")]  # as listed; not the one of another namespace
        await asyncio.to_thread(dev_cluster.kubectl, "apply", "-f", "-", input=release("web", version="2"))
        await asyncio.to_thread(dev_cluster.kubectl, "apply", "-f", "-", input=release("cart"))
        await asyncio.to_thread(dev_cluster.kubectl, "delete", "release", "web", "-n", NAMESPACE)
        await until(lambda: len(shown) == 4, "three changes shown")

    shown = watching(api, [NAMESPACE], False, scenario)
    assert shown[1:] == [
        ("MODIFIED", "shop/web", "2"),
        ("ADDED", "shop/cart", "1"),
        ("DELETED", "shop/web", "2"),
    ]


def test_a_release_a_list_afresh_no_longer_holds_is_shown_deleted() -> None:
    """Deleted while the watch was down (kube/informer.py hands it over as vanished): its Release is
    forgotten, as at a deletion the watch showed."""
    shown: list[tuple[str | None, Obj]] = []
    _ReleaseSink(lambda type, body: shown.append((type, body))).vanished(NAMESPACE, "web", None, "42")
    [(type, body)] = shown
    assert type == "DELETED"
    assert body["metadata"] == {"namespace": NAMESPACE, "name": "web", "resourceVersion": "42"}
    assert (body["apiVersion"], body["kind"]) == ("slipway.dev/v1alpha1", "Release")


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

    [(_, name, version)] = watching(api, [], True, scenario)  # listed or added: when the retry came
    assert (name, version) == ("shop/web", "1")
