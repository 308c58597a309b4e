"""controller/owned_watch.py: a sharded replica watches only the objects of its buckets (a label selector
the dev cluster applies, as a real API server does), and when its buckets change, what it lost leaves
its view as deleted and what it gained counts as shown once listed."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterator

import pytest
from polling import until
from queues import recording_queue
from test_controller_pass_errors import release

from slipway.controller.echoes import OwnWrites
from slipway.controller.first_look import FirstLook
from slipway.controller.handlers import owned_handlers
from slipway.controller.owned_watch import OWNED_KINDS, OwnedWatch, bucket_selector, skeleton
from slipway.controller.queue import ReconcileQueue, ReleaseKey
from slipway.controller.upstreams import UpstreamIndex
from slipway.controller.watch_view import WatchView
from slipway.kube.client import KubeApi, Obj, connect, releases_path
from slipway.kube.cluster import ClusterWriter, observe
from slipway.kube.watched import WatchedObjects
from slipway.manifests import LABEL_BUCKET, LABEL_RELEASE, owning_release, release_bucket, release_ref
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.replicas import ReplicaRouter
from slipway_dev.cluster import DevCluster

NAMESPACE = "shop"
TEMPLATE: Obj = {"spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}
# Two Releases in different buckets (asserted below).
WEB, CART = ReleaseKey(NAMESPACE, "web"), ReleaseKey(NAMESPACE, "cart")


@pytest.fixture
def api(dev_cluster: DevCluster) -> Iterator[KubeApi]:
    dev_cluster.kubectl("create", "namespace", NAMESPACE)
    client = connect(str(dev_cluster.kubeconfig), field_manager="slipway")
    for key in (WEB, CART):
        dev_cluster.kubectl("apply", "-f", "-", input=release(key.name))
        body = client.get(releases_path(NAMESPACE, key.name))
        assert body is not None
        ref = release_ref(body)
        writer = ClusterWriter(client, ref, observe(client, ref))
        writer.ensure_revision("aaa", "1", 0, TEMPLATE)
        for routing_object in ReplicaRouter().plan(ref, TrafficSplit("aaa", None, 0), ServicePorts(80, 80)):
            writer.ensure_routing_object(routing_object)
    # Someone else's, with no bucket label: seen only by a watch with no selector.
    dev_cluster.kubectl("create", "service", "clusterip", "theirs", "-n", NAMESPACE, "--tcp=80:8080")
    yield client
    client.close()


def test_the_selector_names_the_buckets_or_nothing() -> None:
    assert bucket_selector(None) is None
    assert bucket_selector(frozenset({12, 3})) == f"{LABEL_BUCKET} in (3,12)"
    assert bucket_selector(frozenset()) == f"{LABEL_BUCKET} in (none)"  # an empty set is not valid


def test_what_left_the_view_is_shown_deleted_with_what_names_its_release() -> None:
    deployments = OWNED_KINDS[0]
    gone = skeleton(deployments, NAMESPACE, "web-aaa", "42", ("web", "web"))
    assert (gone["kind"], gone["metadata"]["resourceVersion"]) == ("Deployment", "42")
    assert owning_release(gone) == "web" and gone["metadata"]["labels"] == {LABEL_RELEASE: "web"}
    unlabelled = skeleton(deployments, NAMESPACE, "web-aaa", "42", (None, "web"))
    assert owning_release(unlabelled) == "web" and "labels" not in unlabelled["metadata"]
    assert owning_release(skeleton(OWNED_KINDS[1], NAMESPACE, "theirs", "42", (None, None))) is None


Shown = list[tuple[str | None, str, str | None]]


def recording(shown: Shown) -> Callable[[str | None, Obj], tuple[str | None, str | None]]:
    def handle(type: str | None, obj: Obj) -> tuple[str | None, str | None]:
        owner = owning_release(obj)
        shown.append((type, f"{obj['kind']}/{obj['metadata']['name']}", owner))
        return (obj["metadata"].get("labels") or {}).get(LABEL_RELEASE), owner

    return handle


WEBS = {"Deployment/web-aaa", "Service/web", "Service/web-canary"}
CARTS = {"Deployment/cart-aaa", "Service/cart", "Service/cart-canary"}


def test_a_replica_sees_only_its_buckets_and_hands_over_what_it_loses(api: KubeApi) -> None:
    web, cart = release_bucket(NAMESPACE, "web"), release_bucket(NAMESPACE, "cart")
    assert web != cart
    shown: Shown = []
    handle = recording(shown)

    def names(types: set[str | None]) -> set[str]:
        return {name for type, name, _ in shown if type in types}

    async def scenario() -> None:
        owned = OwnedWatch(api, [NAMESPACE], frozenset({web}))
        assert not owned.covers(WEB)  # nothing listed yet
        owned.start({"deployments": handle, "services": handle, "prometheusrules": handle})
        try:
            await asyncio.wait_for(owned.listed.wait(), 15)
            assert names({None}) == WEBS  # neither the other bucket's nor the unlabelled Service
            assert owned.covers(WEB) and not owned.covers(CART)
            shown.clear()
            owned.select(frozenset({cart}))
            assert not owned.covers(WEB) and not owned.covers(CART)  # cart's not listed yet
            await until(lambda: owned.covers(CART), "the other bucket to be listed")
            assert names({None}) == CARTS
            gone = [(name, owner) for type, name, owner in shown if type == "DELETED"]
            assert sorted(gone) == sorted((name, "web") for name in WEBS)
            assert not owned.covers(WEB)
            # A takeover: the gained bucket is listed before the replica acts on it (runtime/shards.py).
            shown.clear()
            await owned.listed_under(frozenset({web, cart}), 10)
            assert owned.covers(WEB) and owned.covers(CART)
            assert names({None}) == WEBS  # cart's, listed again as last shown, are not shown again
        finally:
            await owned.stop()

    asyncio.run(scenario())


def test_alone_it_sees_every_object_labelled_or_not(api: KubeApi) -> None:
    shown: Shown = []
    handle = recording(shown)

    async def scenario() -> None:
        owned = OwnedWatch(api, [], None)  # every namespace
        owned.start({"deployments": handle, "services": handle, "prometheusrules": handle})
        try:
            await asyncio.wait_for(owned.listed.wait(), 15)
            assert owned.covers(WEB) and owned.covers(CART)
        finally:
            await owned.stop()

    asyncio.run(scenario())
    assert WEBS | CARTS | {"Service/theirs"} <= {name for _, name, _ in shown}


def test_an_owned_object_deleted_makes_the_next_pass_read_the_release() -> None:
    """The garbage collector deletes a Release's objects after it, and the Release's own deletion event
    may come later (another watch): a pass deciding on the view would make them again."""

    async def unused(key: ReleaseKey) -> float | None:
        return None

    for kind, plural in (("Deployment", "deployments"), ("Service", "services")):
        view = WatchView()
        view.reading(WEB)
        body: Obj = {
            "metadata": {"name": "web", "namespace": NAMESPACE, "resourceVersion": "5", "generation": 1}
        }
        view.read(WEB, body, [])
        assert view.take(WEB) is not None
        handlers = owned_handlers(
            ReconcileQueue(unused, opened=False),
            UpstreamIndex(),
            OwnWrites(),
            WatchedObjects(),
            FirstLook(lambda key: True),
            view,
        )
        labels = {LABEL_RELEASE: "web", "app.kubernetes.io/managed-by": "slipway"}
        gone = {
            "kind": kind,
            "metadata": {"name": "web-a", "namespace": NAMESPACE, "resourceVersion": "9", "labels": labels},
        }
        handlers[plural]("DELETED", gone)
        assert view.take(WEB) is None, kind


def test_a_deployment_event_wakes_its_release_only_when_it_changes_what_a_pass_reads() -> None:
    """A pass reads a Deployment's metadata, spec and status.readyReplicas; the controller's other status
    writes (three or four per rollout step) wake nothing."""

    async def scenario() -> None:
        queue, passes = recording_queue()
        upstreams = UpstreamIndex()
        upstreams.seen(WEB, {"metadata": {"name": "web", "namespace": NAMESPACE}, "spec": {}})
        handlers = owned_handlers(
            queue, upstreams, OwnWrites(), WatchedObjects(), FirstLook(lambda key: True), WatchView()
        )
        version = 10

        def shown(change: Callable[[Obj], None], type: str = "MODIFIED") -> bool:
            """Show the Deployment changed by `change`; whether that woke the Release."""
            nonlocal version
            version += 1
            change(deployment)
            deployment["metadata"]["resourceVersion"] = str(version)
            handlers["deployments"](type, copy.deepcopy(deployment))
            return queue.busy == 1

        deployment: Obj = {
            "kind": "Deployment",
            "metadata": {"name": "web-a", "namespace": NAMESPACE, "labels": {LABEL_RELEASE: "web"}},
            "spec": {"replicas": 2},
        }
        status_entry = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status"}

        def status(**fields: object) -> Callable[[Obj], None]:
            def change(obj: Obj) -> None:
                obj.setdefault("status", {}).update(fields)
                obj["metadata"]["managedFields"] = [{**status_entry, "time": f"t{version}"}]

            return change

        assert shown(lambda obj: None, "ADDED")
        await until(lambda: queue.busy == 0, "the pass the Deployment woke")
        unread = (
            status(observedGeneration=1),
            status(replicas=2, updatedReplicas=2),
            status(availableReplicas=0),
        )
        assert not any(shown(change) for change in unread)
        read: list[Callable[[Obj], None]] = [
            status(readyReplicas=1),
            lambda obj: obj["metadata"]["labels"].update(team="shop"),
            lambda obj: obj["spec"].update(replicas=3),
        ]
        for change in read:
            assert shown(change)
            await until(lambda: queue.busy == 0, "the pass the change woke")
        assert shown(lambda obj: None, "DELETED")
        await until(lambda: queue.busy == 0, "the pass the deletion woke")
        assert passes == [WEB] * 5

    asyncio.run(scenario())
