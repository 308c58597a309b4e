"""ClusterWriter against the real dev cluster: every write is preceded by a comparison, so a second
identical request writes nothing (invariant 4); it never touches what the Release does not own; the
status is written only at the resourceVersion read, and an acknowledgement only removes the value
that was carried out. The objects it owns are server-side applied as `slipway` (with force: an edit of
an owned field is taken back, fields others added stay); on the Release it owns status fields only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from slipway.kube.client import (
    KubeApi,
    connect,
    deployments_path,
    jobs_path,
    load_credentials,
    object_path,
    releases_path,
)
from slipway.kube.cluster import (
    ClusterState,
    ClusterWriter,
    NotOwnedError,
    StaleViewError,
    find_unlabelled,
    observe,
)
from slipway.kube.watched import WatchedObjects
from slipway.manifests import (
    LABEL_BUCKET,
    Obj,
    ReleaseRef,
    applied_config,
    hook_job,
    hook_job_name,
    own_fields_only,
    release_bucket,
    release_ref,
)
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.replicas import ReplicaRouter
from slipway_dev.cluster import DevCluster

NAMESPACE = "shop"
TEMPLATE: Obj = {"spec": {"containers": [{"name": "web", "image": "example/web:1"}]}}
RELEASE = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: slipway.dev/v1alpha1
kind: Release
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  version: "1"
  replicas: 2
  template: {{spec: {{containers: [{{name: web, image: example/web:1}}]}}}}
  service: {{port: 80}}
  strategy: {{canary: {{steps: [{{setWeight: 50}}]}}}}
"""


@pytest.fixture
def api(dev_cluster: DevCluster) -> Iterator[KubeApi]:
    dev_cluster.kubectl("apply", "-f", "-", input=RELEASE)
    client = connect(str(dev_cluster.kubeconfig), field_manager="slipway")
    yield client
    client.close()


def release_body(api: KubeApi) -> Obj:
    body = api.get(releases_path(NAMESPACE, "web"))
    assert body is not None
    return body


def writer(api: KubeApi) -> tuple[ClusterWriter, ReleaseRef]:
    """A writer over a fresh observation, as each pass makes one."""
    release = release_ref(release_body(api))
    return ClusterWriter(api, release, observe(api, release)), release


def routing(release: ReleaseRef, split: TrafficSplit) -> tuple[dict[str, Any], ...]:
    return ReplicaRouter().plan(release, split, ServicePorts(80, 80))


def test_a_revision_is_created_once_and_scaled_only_when_it_differs(api: KubeApi) -> None:
    first, _ = writer(api)
    first.ensure_revision("aaa", "1", 2, TEMPLATE)
    first.ensure_revision("aaa", "1", 2, TEMPLATE)
    assert first.writes == 1

    again, _ = writer(api)
    again.ensure_revision("aaa", "1", 2, TEMPLATE)
    again.scale_revision("aaa", 2)
    assert again.writes == 0
    again.scale_revision("aaa", 3)
    assert again.writes == 1
    deployment = api.get(deployments_path(NAMESPACE, "web-aaa"))
    assert deployment is not None and deployment["spec"]["replicas"] == 3

    last, _ = writer(api)
    last.delete_revision("aaa")
    last.delete_revision("aaa")
    assert last.writes == 1
    assert api.get(deployments_path(NAMESPACE, "web-aaa")) is None


def test_routing_is_written_only_where_it_differs_and_someones_edit_is_put_back(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    first, release = writer(api)
    for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
        first.ensure_routing_object(routing_object)
    assert first.writes == 2  # the two Services

    unchanged, _ = writer(api)
    for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
        unchanged.ensure_routing_object(routing_object)
    assert unchanged.writes == 0

    dev_cluster.kubectl(
        "patch", "service", "web", "-n", NAMESPACE, "--type=merge",
        "-p", '{"spec": {"selector": {"slipway.dev/revision": "zzz"}}}',
    )  # fmt: skip
    restated, _ = writer(api)
    for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
        restated.ensure_routing_object(routing_object)
    assert restated.writes == 1
    service = api.get(object_path("Service", NAMESPACE, "web"))
    assert service is not None and service["spec"]["selector"]["slipway.dev/revision"] == "aaa"


class CountingGets(KubeApi):
    """The real client, counting the GETs it sends by path."""

    def __init__(self, kubeconfig: str) -> None:
        super().__init__(load_credentials(kubeconfig), field_manager="slipway")
        self.gets: list[str] = []

    def get(self, path: str) -> Obj | None:
        self.gets.append(path)
        return super().get(path)


def test_routing_the_watch_shows_as_last_left_is_not_read_again_and_a_change_someone_made_is(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    """What the operator's Service watch tells (kube/watched.py): a steady pass reads no Service."""
    gets, watched = CountingGets(str(dev_cluster.kubeconfig)), WatchedObjects()
    release = release_ref(release_body(api))

    def restate() -> ClusterWriter:
        writer = ClusterWriter(gets, release, observe(gets, release), watched=watched)
        for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
            writer.ensure_routing_object(routing_object)
        return writer

    def the_watch_shows_them() -> None:
        for name in ("web", "web-canary"):
            path = object_path("Service", NAMESPACE, name)
            found = api.get(path)
            assert found is not None
            watched.shown(found, path)

    assert restate().writes == 2  # created
    assert restate().writes == 0 and len(gets.gets) == 4  # the watch has not shown them yet: read
    the_watch_shows_them()
    gets.gets.clear()
    assert restate().writes == 0 and gets.gets == []  # as last left, and wanted the same: not read
    watched = WatchedObjects()  # a restart: no pass of this process has met them
    the_watch_shows_them()
    assert restate().writes == 0 and gets.gets == []  # compared with what the watch showed: not read

    dev_cluster.kubectl(
        "patch", "service", "web", "-n", NAMESPACE, "--type=merge",
        "-p", '{"spec": {"selector": {"slipway.dev/revision": "zzz"}}}',
    )  # fmt: skip
    the_watch_shows_them()
    assert restate().writes == 1 and gets.gets == [object_path("Service", NAMESPACE, "web")]
    service = api.get(object_path("Service", NAMESPACE, "web"))
    assert service is not None and service["spec"]["selector"]["slipway.dev/revision"] == "aaa"
    the_watch_shows_them()
    gets.gets.clear()
    assert restate().writes == 0 and gets.gets == []
    # Wanting another routing reads the Service again before writing it.
    writer = ClusterWriter(gets, release, observe(gets, release), watched=watched)
    writer.ensure_routing_object(routing(release, TrafficSplit("bbb", None, 0))[0])
    assert writer.writes == 1 and gets.gets == [object_path("Service", NAMESPACE, "web")]
    gets.close()


def test_the_check_before_writes_reads_no_service_the_watch_shows_as_the_releases_own(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    """A Release with no Deployment (none made yet, or all deleted) has its Services checked before
    every pass's writes: what the watch shows as the Release's, as wanted, is not read again (at a
    restart those reads were 1.8 of 3.8 requests per Release). Anyone else's is read and refused."""
    release = release_ref(release_body(api))
    planned = list(routing(release, TrafficSplit("aaa", None, 0)))
    creator = ClusterWriter(api, release, observe(api, release))
    for routing_object in planned:
        creator.ensure_routing_object(routing_object)
    watched = WatchedObjects()  # a restart
    for routing_object in planned:
        path = object_path("Service", NAMESPACE, routing_object["metadata"]["name"])
        shown = api.get(path)
        assert shown is not None
        watched.shown(shown, path)
    gets = CountingGets(str(dev_cluster.kubeconfig))
    try:
        impostor = ReleaseRef(NAMESPACE, "web", "another-uid")  # a Release of that name made anew
        with pytest.raises(NotOwnedError):
            ClusterWriter(gets, impostor, observe(gets, impostor), watched=watched).check_owned(planned)
        assert gets.gets == [object_path("Service", NAMESPACE, planned[0]["metadata"]["name"])]
        gets.gets.clear()
        ClusterWriter(gets, release, observe(gets, release), watched=watched).check_owned(planned)
        assert gets.gets == []
    finally:
        gets.close()


def test_the_objects_a_release_owns_carry_its_bucket_and_its_pods_do_not(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    """A sharded replica watches them by that label (controller/owned_watch.py); on the pod template it
    would be a change that restarts the pods."""
    release = release_ref(release_body(api))
    creator = ClusterWriter(api, release, observe(api, release))
    creator.ensure_revision("aaa", "1", 0, TEMPLATE)
    for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
        creator.ensure_routing_object(routing_object)
    bucket = str(release_bucket(NAMESPACE, "web"))
    selector = f"{LABEL_BUCKET}={bucket}"
    services = dev_cluster.kubectl("get", "services", "-n", NAMESPACE, "-l", selector, "-o", "name")
    assert sorted(services.stdout.split()) == ["service/web", "service/web-canary"]
    [deployment] = dev_cluster.kubectl_json("get", "deployments", "-n", NAMESPACE, "-l", selector)["items"]
    assert deployment["metadata"]["name"] == "web-aaa"
    assert LABEL_BUCKET not in deployment["spec"]["template"]["metadata"]["labels"]


def test_an_object_someone_else_owns_is_left_alone(api: KubeApi, dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("create", "service", "clusterip", "web", "-n", NAMESPACE, "--tcp=80:8080")
    theirs, release = writer(api)
    with pytest.raises(NotOwnedError):
        for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
            theirs.ensure_routing_object(routing_object)
    assert theirs.writes == 0
    service = api.get(object_path("Service", NAMESPACE, "web"))
    assert service is not None and "slipway.dev/revision" not in (service["spec"].get("selector") or {})


def test_status_is_written_only_when_it_differs_and_only_at_the_version_read(api: KubeApi) -> None:
    body = release_body(api)
    status_writer, _ = writer(api)
    status = {"phase": "Healthy", "observedGeneration": 1}
    assert status_writer.write_status(body["metadata"]["resourceVersion"], None, status)
    assert not status_writer.write_status("whatever", status, status)  # equal: nothing sent
    assert status_writer.writes == 1
    with pytest.raises(StaleViewError):  # a decision made on the body read before that write
        status_writer.write_status(body["metadata"]["resourceVersion"], status, {"phase": "Degraded"})
    assert release_body(api)["status"]["phase"] == "Healthy"


def test_an_acknowledgement_removes_only_the_value_carried_out(api: KubeApi, dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/promote=2")
    ack, _ = writer(api)
    ack.acknowledge("slipway.dev/promote", "1")  # a newer value was set meanwhile: a new request
    assert release_body(api)["metadata"]["annotations"]["slipway.dev/promote"] == "2"
    ack.acknowledge("slipway.dev/promote", "2")
    assert "slipway.dev/promote" not in (release_body(api)["metadata"].get("annotations") or {})
    assert release_body(api)["spec"]["version"] == "1"  # only metadata is ever patched


def test_every_write_to_the_release_tells_its_response_so_the_next_pass_decides_on_it(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    """The status and an acknowledgement: the next pass decides on what they returned (watch_view.py),
    not on an older event still showing the annotation."""
    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/promote=1")
    responses: list[Obj] = []
    release = release_ref(release_body(api))
    told = ClusterWriter(
        api, release, observe(api, release), lambda path, response: responses.append(response)
    )
    body = release_body(api)
    told.write_status(body["metadata"]["resourceVersion"], None, {"phase": "Healthy"})
    told.acknowledge("slipway.dev/promote", "1")
    assert [
        (r["status"]["phase"], "slipway.dev/promote" in r["metadata"]["annotations"]) for r in responses
    ] == [
        ("Healthy", True),
        ("Healthy", False),
    ]
    assert responses[-1]["metadata"]["resourceVersion"] == release_body(api)["metadata"]["resourceVersion"]


def managers(obj: Obj) -> dict[tuple[str, str, str], Obj]:
    """(manager, operation, subresource) -> the fields it owns."""
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
        for e in obj["metadata"].get("managedFields") or []
    }


def test_a_revision_whose_release_label_someone_removed_is_found_by_name_and_labelled_again(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    """The Release lists its Deployments by that label: a revision the status names that the listing
    misses is looked up by name, kept the Release's by its ownerReference, and labelled again with
    what `slipway` applied before: its template untouched (no rollout of its pods), its count kept."""
    first, _ = writer(api)
    first.ensure_revision("aaa", "1", 2, TEMPLATE)
    first.ensure_revision("bbb", "2", 1, TEMPLATE)
    dev_cluster.kubectl("label", "deployment", "web-aaa", "-n", NAMESPACE, "slipway.dev/release-")
    before = api.get(deployments_path(NAMESPACE, "web-aaa"))
    assert before is not None
    dev_cluster.kubectl("delete", "deployment", "web-bbb", "-n", NAMESPACE)

    again, release = writer(api)
    assert "aaa" not in again.state.deployments  # not listed any more
    find_unlabelled(api, release, again.state, {"aaa", "bbb", "ccc"})
    assert again.state.deployments.keys() == {"aaa"}  # the gone ones stay missing
    assert again.state.deployments["aaa"]["metadata"]["uid"] == before["metadata"]["uid"]
    again.relabel()
    assert again.writes == 1
    after = api.get(deployments_path(NAMESPACE, "web-aaa"))
    assert after is not None
    assert after["metadata"]["labels"] == before["metadata"]["labels"] | {"slipway.dev/release": "web"}
    assert after["metadata"]["generation"] == before["metadata"]["generation"]  # the template as it was
    assert after["spec"]["replicas"] == 2

    # Labelled, but missing from what a pass was shown (a view lagging behind): taken, not written.
    lagging = ClusterWriter(api, release, ClusterState())
    find_unlabelled(api, release, lagging.state, {"aaa"})
    assert "aaa" in lagging.state.deployments
    lagging.relabel()
    assert lagging.writes == 0
    # Taken from the Release (its ownerReference removed too): not the Release's to label again.
    dev_cluster.kubectl(
        "patch", "deployment", "web-aaa", "-n", NAMESPACE, "--type=json",
        "-p", '[{"op": "remove", "path": "/metadata/ownerReferences"},'
        ' {"op": "remove", "path": "/metadata/labels/slipway.dev~1release"}]',
    )  # fmt: skip
    taken, release = writer(api)
    find_unlabelled(api, release, taken.state, {"aaa"})
    assert not taken.state.deployments


def test_owned_objects_are_applied_as_slipway_and_a_scale_keeps_what_was_applied(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    first, release = writer(api)
    first.ensure_revision("aaa", "1", 2, TEMPLATE)
    for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
        first.ensure_routing_object(routing_object)
    deployment = api.get(deployments_path(NAMESPACE, "web-aaa"))
    assert deployment is not None
    owned = managers(deployment)[("slipway", "Apply", "")]
    assert {"f:replicas", "f:selector", "f:template"} <= owned["f:spec"].keys()
    for name in ("web", "web-canary"):
        service = api.get(object_path("Service", NAMESPACE, name))
        assert service is not None and ("slipway", "Apply", "") in managers(service)

    # Someone labels it (a field Slipway never set) and scales it (a field Slipway owns).
    dev_cluster.kubectl("label", "deployment", "web-aaa", "-n", NAMESPACE, "team=shop")
    dev_cluster.kubectl("scale", "deployment", "web-aaa", "-n", NAMESPACE, "--replicas=5")
    again, _ = writer(api)
    again.ensure_revision("aaa", "1", 2, TEMPLATE)
    assert again.writes == 1  # the count is taken back, with force
    deployment = api.get(deployments_path(NAMESPACE, "web-aaa"))
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"]["team"] == "shop"  # theirs, left alone
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example/web:1"
    assert applied_config(deployment)["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "example/web:1"}
    ]
    # The scale applied what was applied before: no field of the first apply was dropped.
    assert managers(deployment)[("slipway", "Apply", "")] == owned
    # What the operator keeps of it at a start (controller/first_look.py) drops the other writers'
    # entries (kubectl's, the controller's status) and nothing the comparisons read.
    kept = own_fields_only(deployment)
    assert len(deployment["metadata"]["managedFields"]) > len(kept["metadata"]["managedFields"]) == 1
    assert applied_config(kept) == applied_config(deployment)
    assert {**kept, "metadata": {}} == {**deployment, "metadata": {}}


def test_a_port_someone_added_stays_and_causes_no_write(api: KubeApi, dev_cluster: DevCluster) -> None:
    first, release = writer(api)
    for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
        first.ensure_routing_object(routing_object)
    dev_cluster.kubectl(
        "patch", "service", "web", "-n", NAMESPACE, "--type=json",
        "-p", '[{"op": "add", "path": "/spec/ports/-", "value": {"name": "debug", "port": 9090}}]',
    )  # fmt: skip
    again, _ = writer(api)
    for routing_object in routing(release, TrafficSplit("aaa", None, 0)):
        again.ensure_routing_object(routing_object)
    assert again.writes == 0  # an apply would leave it too: no difference, no write (invariant 4)


def test_a_deployment_of_that_name_someone_else_owns_is_left_alone(
    api: KubeApi, dev_cluster: DevCluster
) -> None:
    dev_cluster.kubectl("create", "deployment", "web-aaa", "-n", NAMESPACE, "--image=theirs:1")
    theirs, _ = writer(api)
    with pytest.raises(NotOwnedError):
        theirs.ensure_revision("aaa", "1", 2, TEMPLATE)
    assert theirs.writes == 0
    deployment = api.get(deployments_path(NAMESPACE, "web-aaa"))
    assert deployment is not None and "ownerReferences" not in deployment["metadata"]


def test_on_the_release_slipway_owns_status_fields_only(api: KubeApi, dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/promote=1")
    body = release_body(api)
    status_writer, _ = writer(api)
    assert status_writer.write_status(body["metadata"]["resourceVersion"], None, {"phase": "Healthy"})
    status_writer.acknowledge("slipway.dev/promote", "1")
    body = release_body(api)
    assert "slipway.dev/promote" not in (body["metadata"].get("annotations") or {})
    slipways = {key: fields for key, fields in managers(body).items() if key[0] == "slipway"}
    assert list(slipways) == [("slipway", "Update", "status")]  # no Apply, no write of spec or metadata
    assert list(slipways["slipway", "Update", "status"]) == ["f:status"]


def hook_job_for(release: ReleaseRef, hook: str = "migrate", attempt: int = 1) -> Obj:
    return hook_job(release, "preDeploy", hook, "aaa", "1", attempt, TEMPLATE, 0, 60)


def test_a_hook_job_is_created_once_even_when_the_pass_did_not_see_it(api: KubeApi) -> None:
    first, release = writer(api)
    first.run_hook(hook_job_for(release))
    first.run_hook(hook_job_for(release))
    assert first.writes == 1
    # A pass that listed before the Job existed (the operator died after creating it): no second Job.
    stale = ClusterWriter(api, release, observe(api, release))  # hooks not listed: it sees no Job
    stale.run_hook(hook_job_for(release))
    jobs = api.list(jobs_path(NAMESPACE), {"slipway.dev/release": "web"})
    assert [job["metadata"]["name"] for job in jobs] == ["web-aaa-pre-migrate-1"]
    seen = observe(api, release, hooks=True)
    assert list(seen.hook_jobs) == ["web-aaa-pre-migrate-1"]
    job = seen.hook_jobs["web-aaa-pre-migrate-1"]
    assert job["spec"]["activeDeadlineSeconds"] == 60 and job["spec"]["backoffLimit"] == 0
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert "slipway.dev/revision" not in pod_labels  # no revision Service selects a hook's pods
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"

    last = ClusterWriter(api, release, seen)
    last.delete_hook_jobs("bbb")
    assert last.writes == 0
    last.delete_hook_jobs("aaa")
    assert last.writes == 1 and api.get(jobs_path(NAMESPACE, "web-aaa-pre-migrate-1")) is None


def test_a_hook_job_name_is_a_dns_label_that_keeps_revision_hook_and_attempt() -> None:
    short = ReleaseRef("shop", "web", "uid")
    assert hook_job_name(short, "abcdef1234", "postRollback", "page-cleanup", 2) == (
        "web-abcdef1234-rb-page-cleanup-2"
    )
    long = ReleaseRef("shop", "a-very-long-release-name-" * 8 + "x", "uid")
    names = {hook_job_name(long, "abcdef1234", "preDeploy", "m" * 63, attempt) for attempt in (1, 2, 10)}
    assert len(names) == 3
    for name in names:
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
        assert "-abcdef1234-pre-mmm" in name
