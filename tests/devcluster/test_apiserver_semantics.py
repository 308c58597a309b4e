"""Object semantics at the REST level: bookkeeping, no-op writes, conflicts, subresources, finalizers,
garbage collection, CRDs, lists and watches."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import yaml
from apiserver_support import RELEASE_CRD, ROOT_CA, Http, names, plain_deployment, wait_for

from slipway_dev.apiserver import ApiServer, Credentials
from slipway_dev.apiserver.paging import INCONSISTENT, KEPT_LISTS

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
RELEASES = "/apis/slipway.dev/v1alpha1/namespaces/default/releases"


def _release(http: Http) -> dict[str, Any]:
    crd = yaml.safe_load(RELEASE_CRD.read_text())
    assert http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status == 201
    release = {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web"},
        "spec": {
            "version": "1",
            "template": {"spec": {"containers": [{"name": "web", "image": "example/web:1"}]}},
            "service": {"port": 80},
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        },
    }
    created = http("POST", RELEASES, release)
    assert created.status == 201, created.body
    body: dict[str, Any] = created.body
    return body


def watch_events(
    credentials: Credentials, path: str, count: int | None = None, events: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Read a watch stream into `events`: `count` events, or until the server ends it (use timeoutSeconds)."""
    events = [] if events is None else events
    with credentials.urlopen(path, timeout=30) as stream:
        while count is None or len(events) < count:
            line = stream.readline()
            if not line:
                break
            events.append(json.loads(line))
    return events


def test_create_sets_the_bookkeeping_and_drops_status(http: Http) -> None:
    created = http("POST", DEPLOYS, plain_deployment())
    assert created.status == 201
    meta = created.body["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert "status" not in created.body
    assert created.body["spec"]["strategy"]["type"] == "RollingUpdate"
    again = http("POST", DEPLOYS, plain_deployment())
    assert (again.status, again.body["reason"]) == (409, "AlreadyExists")
    generated = http("POST", CMS, {"metadata": {"generateName": "cm-"}})
    assert generated.status == 201
    assert generated.body["metadata"]["name"].startswith("cm-")
    assert len(generated.body["metadata"]["name"]) == len("cm-") + 5


def test_generation_counts_spec_changes_and_status_is_kept(http: Http) -> None:
    http("POST", DEPLOYS, plain_deployment())
    status = http(
        "PATCH", f"{DEPLOYS}/web/status", {"status": {"replicas": 1}}, "application/merge-patch+json"
    )
    assert status.body["metadata"]["generation"] == 1
    annotated = http(
        "PATCH", f"{DEPLOYS}/web", {"metadata": {"annotations": {"a": "b"}}}, "application/merge-patch+json"
    )
    assert annotated.body["metadata"]["generation"] == 1
    assert int(annotated.body["metadata"]["resourceVersion"]) > int(
        status.body["metadata"]["resourceVersion"]
    )
    scaled = http(
        "PATCH",
        f"{DEPLOYS}/web",
        {"spec": {"replicas": 3}, "status": {"replicas": 7}},
        "application/strategic-merge-patch+json",
    )
    assert scaled.body["metadata"]["generation"] == 2
    assert scaled.body["status"] == {"replicas": 1}
    put = dict(scaled.body, status={"replicas": 5})
    replaced = http("PUT", f"{DEPLOYS}/web/status", dict(put, spec={"replicas": 100}))
    assert replaced.body["status"] == {"replicas": 5}
    assert replaced.body["spec"]["replicas"] == 3


def test_a_pod_status_write_may_carry_labels_and_annotations_as_on_a_real_server(http: Http) -> None:
    # kube-apiserver's pod status strategy resets only spec, deletionTimestamp and ownerReferences;
    # other kinds' status writes keep none of the metadata sent.
    pods = "/api/v1/namespaces/default/pods"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    assert http("POST", pods, pod).status == 201
    patch = {
        "metadata": {"annotations": {"a": "b"}, "labels": {"l": "v"}, "ownerReferences": []},
        "spec": {"containers": [{"name": "c", "image": "y"}]},
        "status": {"phase": "Running"},
    }
    written = http("PATCH", f"{pods}/p/status", patch, "application/merge-patch+json").body
    assert written["metadata"]["annotations"] == {"a": "b"}
    assert written["metadata"]["labels"] == {"l": "v"}
    assert (written["status"]["phase"], written["spec"]["containers"][0]["image"]) == ("Running", "x")
    bad = {"metadata": {"labels": {"l": "not a label value!"}}}
    rejected = http("PATCH", f"{pods}/p/status", bad, "application/merge-patch+json")
    assert (rejected.status, rejected.body["reason"]) == (422, "Invalid")
    http("POST", DEPLOYS, plain_deployment())
    status = http(
        "PATCH",
        f"{DEPLOYS}/web/status",
        {"metadata": {"annotations": {"a": "b"}}, "status": {"replicas": 1}},
        "application/merge-patch+json",
    )
    assert "annotations" not in status.body["metadata"]


def test_a_no_op_write_keeps_the_resource_version_and_emits_no_event(
    apiserver: ApiServer, http: Http
) -> None:
    created = http("POST", CMS, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    rv = created.body["metadata"]["resourceVersion"]
    same = http("PATCH", f"{CMS}/c", {"data": {"k": "v"}}, "application/merge-patch+json")
    assert same.body["metadata"]["resourceVersion"] == rv
    put = http("PUT", f"{CMS}/c", created.body)
    assert put.body["metadata"]["resourceVersion"] == rv
    assert (
        watch_events(apiserver.credentials(), f"{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=1") == []
    )


def test_stale_put_conflicts_and_every_write_emits_its_resource_version(
    apiserver: ApiServer, http: Http
) -> None:
    created = http("POST", CMS, {"metadata": {"name": "c"}, "data": {"k": "1"}})
    first = http("PUT", f"{CMS}/c", dict(created.body, data={"k": "2"}))
    assert first.status == 200
    stale = http("PUT", f"{CMS}/c", dict(created.body, data={"k": "3"}))
    assert (stale.status, stale.body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in stale.body["message"]
    start = created.body["metadata"]["resourceVersion"]
    events = watch_events(apiserver.credentials(), f"{CMS}?watch=true&resourceVersion={start}", count=1)
    assert events[0]["type"] == "MODIFIED"
    assert events[0]["object"]["metadata"]["resourceVersion"] == first.body["metadata"]["resourceVersion"]
    assert events[0]["object"]["data"] == {"k": "2"}


def test_json_patch_test_failure_is_422_and_strategic_merge_on_custom_resources_415(http: Http) -> None:
    release = _release(http)
    rv = release["metadata"]["resourceVersion"]
    stale = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x.dev/f"]},
    ]
    failed = http("PATCH", f"{RELEASES}/web", stale, "application/json-patch+json")
    assert failed.status == 422
    fresh = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x.dev/f"]},
    ]
    assert http("PATCH", f"{RELEASES}/web", fresh, "application/json-patch+json").status == 200
    strategic = http("PATCH", f"{RELEASES}/web", {"spec": {}}, "application/strategic-merge-patch+json")
    assert (strategic.status, strategic.body["reason"]) == (415, "UnsupportedMediaType")
    assert http("GET", f"{RELEASES}/web").body["metadata"]["finalizers"] == ["x.dev/f"]


def test_finalizers_hold_deletion_until_the_last_is_removed(apiserver: ApiServer, http: Http) -> None:
    created = http("POST", CMS, {"metadata": {"name": "c", "finalizers": ["a.dev/x", "b.dev/y"]}})
    deleting = http("DELETE", f"{CMS}/c")
    assert deleting.status == 200
    stamp = deleting.body["metadata"]["deletionTimestamp"]
    assert http("DELETE", f"{CMS}/c").body["metadata"]["deletionTimestamp"] == stamp
    more = http(
        "PATCH",
        f"{CMS}/c",
        {"metadata": {"finalizers": ["a.dev/x", "b.dev/y", "c.dev/z"]}},
        "application/merge-patch+json",
    )
    assert more.status == 422
    one = http("PATCH", f"{CMS}/c", {"metadata": {"finalizers": ["b.dev/y"]}}, "application/merge-patch+json")
    assert one.body["metadata"]["finalizers"] == ["b.dev/y"]
    last = http(
        "PATCH", f"{CMS}/c", [{"op": "remove", "path": "/metadata/finalizers"}], "application/json-patch+json"
    )
    assert last.status == 200
    assert http("GET", f"{CMS}/c").status == 404
    since = created.body["metadata"]["resourceVersion"]
    events = watch_events(apiserver.credentials(), f"{CMS}?watch=true&resourceVersion={since}", count=3)
    assert [e["type"] for e in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert events[-1]["object"]["metadata"]["resourceVersion"] == last.body["metadata"]["resourceVersion"]


def _owned(http: Http, name: str, owner: dict[str, Any]) -> None:
    ref = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    assert http("POST", CMS, {"metadata": {"name": name, "ownerReferences": [ref]}}).status == 201


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_deleting_an_owner_deletes_its_dependents(http: Http, policy: str) -> None:
    owner = http("POST", DEPLOYS, plain_deployment()).body
    _owned(http, "dependent", owner)
    http("DELETE", f"{DEPLOYS}/web", {"propagationPolicy": policy})
    wait_for(lambda: http("GET", f"{CMS}/dependent").status == 404)


def test_orphan_deletion_keeps_dependents_without_the_reference(http: Http) -> None:
    owner = http("POST", DEPLOYS, plain_deployment()).body
    _owned(http, "dependent", owner)
    http("DELETE", f"{DEPLOYS}/web?propagationPolicy=Orphan")
    left = http("GET", f"{CMS}/dependent")
    assert left.status == 200
    assert "ownerReferences" not in left.body["metadata"]


def _reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner["metadata"]["uid"]}


def test_an_object_made_for_an_owner_already_gone_is_collected_after_its_create(
    apiserver: ApiServer, http: Http
) -> None:
    """As kube-controller-manager's garbage collector: the create succeeds, then the dependent goes."""
    owner = http("POST", DEPLOYS, plain_deployment()).body
    assert http("DELETE", f"{DEPLOYS}/web").status == 200
    created = http("POST", CMS, {"metadata": {"name": "late", "ownerReferences": [_reference(owner)]}})
    assert created.status == 201
    wait_for(lambda: http("GET", f"{CMS}/late").status == 404)
    since = created.body["metadata"]["resourceVersion"]
    events = watch_events(apiserver.credentials(), f"{CMS}?watch=true&resourceVersion={since}", count=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "late")]


def test_an_update_leaving_only_absent_owners_gets_the_object_collected(http: Http) -> None:
    owner = http("POST", DEPLOYS, plain_deployment()).body
    assert (
        http("POST", CMS, {"metadata": {"name": "kept", "ownerReferences": [_reference(owner)]}}).status
        == 201
    )
    gone = {**_reference(owner), "uid": "0d5c6a4e-0000-4000-8000-000000000000"}
    both = {"metadata": {"ownerReferences": [_reference(owner), gone]}}
    assert http("PATCH", f"{CMS}/kept", both, "application/merge-patch+json").status == 200
    only_gone = {"metadata": {"ownerReferences": [gone]}}
    assert http("PATCH", f"{CMS}/kept", only_gone, "application/merge-patch+json").status == 200
    wait_for(lambda: http("GET", f"{CMS}/kept").status == 404)


def test_an_owner_in_another_namespace_counts_as_absent_and_a_cluster_scoped_dependent_is_kept(
    http: Http,
) -> None:
    """Namespaced owners count only in their dependent's namespace; a cluster-scoped object naming a
    namespaced owner cannot be resolved, so the collector leaves it (OwnerRefInvalidNamespace)."""
    owner = http("POST", DEPLOYS, plain_deployment()).body
    roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    unresolvable = {"metadata": {"name": "unresolvable", "ownerReferences": [_reference(owner)]}, "rules": []}
    assert http("POST", roles, unresolvable).status == 201
    elsewhere = "/api/v1/namespaces/kube-public/configmaps"
    assert (
        http("POST", elsewhere, {"metadata": {"name": "x", "ownerReferences": [_reference(owner)]}}).status
        == 201
    )
    # the collector's pass for the later write has run once the ConfigMap is gone: the role outlived it
    wait_for(lambda: http("GET", f"{elsewhere}/x").status == 404)
    assert http("GET", f"{roles}/unresolvable").status == 200
    # and it outlives its owner's deletion too (which deletes the owner's own dependents at once)
    _owned(http, "dependent", owner)
    assert http("DELETE", f"{DEPLOYS}/web").status == 200
    wait_for(lambda: http("GET", f"{CMS}/dependent").status == 404)
    assert http("GET", f"{roles}/unresolvable").status == 200


def test_a_dependent_with_an_owner_left_loses_only_the_reference_to_the_owner_gone(
    apiserver: ApiServer, http: Http
) -> None:
    """As kube-controller-manager's collector: a dependent one of whose owners is deleted stays, its
    reference to that owner removed by a write of the collector's own, which its watchers see."""
    owner = http("POST", DEPLOYS, plain_deployment()).body
    other = http("POST", DEPLOYS, {**plain_deployment(), "metadata": {"name": "api"}}).body
    api_ref = {**_reference(other), "name": "api"}
    created = http(
        "POST", CMS, {"metadata": {"name": "shared", "ownerReferences": [_reference(owner), api_ref]}}
    )
    assert created.status == 201
    assert http("DELETE", f"{DEPLOYS}/web").status == 200
    wait_for(lambda: len(http("GET", f"{CMS}/shared").body["metadata"]["ownerReferences"]) == 1)
    left = http("GET", f"{CMS}/shared").body["metadata"]
    assert left["ownerReferences"] == [api_ref]
    since = created.body["metadata"]["resourceVersion"]
    events = watch_events(apiserver.credentials(), f"{CMS}?watch=true&resourceVersion={since}", count=1)
    assert [(e["type"], e["object"]["metadata"]["ownerReferences"]) for e in events] == [
        ("MODIFIED", [api_ref])
    ]
    # no field left to the collector, none of the writer's names the reference removed
    managed = json.dumps(left["managedFields"])
    assert [entry["manager"] for entry in left["managedFields"]] == ["Python-urllib"]
    assert other["metadata"]["uid"] in managed and owner["metadata"]["uid"] not in managed
    # written with a reference to an owner already gone beside a present one: the same, after the write
    gone = {**_reference(owner), "uid": "0d5c6a4e-0000-4000-8000-000000000000"}
    late = {"metadata": {"name": "late", "ownerReferences": [api_ref, gone]}}
    assert http("POST", CMS, late).status == 201
    wait_for(lambda: http("GET", f"{CMS}/late").body["metadata"]["ownerReferences"] == [api_ref])


def test_the_collector_leaves_a_dependent_being_deleted_and_a_foreground_deletion_one_with_another_owner(
    http: Http,
) -> None:
    """As kube-controller-manager's collector: a dependent already being deleted is not touched (its
    finalizers run their course), and an owner deleted in the foreground takes along only the dependents
    it alone owns; one with another owner present loses its reference to it."""
    owner = http("POST", DEPLOYS, plain_deployment()).body
    other = http("POST", DEPLOYS, {**plain_deployment(), "metadata": {"name": "api"}}).body
    api_ref = {**_reference(other), "name": "api"}
    shared = {"metadata": {"name": "shared", "ownerReferences": [_reference(owner), api_ref]}}
    assert http("POST", CMS, shared).status == 201
    _owned(http, "alone", owner)
    held = {
        "metadata": {
            "name": "held",
            "finalizers": ["example.dev/hold"],
            "ownerReferences": [_reference(owner), api_ref],
        }
    }
    assert http("POST", CMS, held).status == 201
    assert http("DELETE", f"{CMS}/held").status == 200  # Terminating until its finalizer goes
    before = http("GET", f"{CMS}/held").body["metadata"]["resourceVersion"]
    assert http("DELETE", f"{DEPLOYS}/web", {"propagationPolicy": "Foreground"}).status == 200
    wait_for(lambda: http("GET", f"{CMS}/alone").status == 404)
    assert http("GET", f"{CMS}/shared").body["metadata"]["ownerReferences"] == [api_ref]
    assert http("GET", f"{CMS}/held").body["metadata"]["resourceVersion"] == before


def test_a_reference_to_an_owner_in_another_namespace_is_reported_on_the_dependent(http: Http) -> None:
    """OwnerRefInvalidNamespace, as the collector posts it: a Warning Event on the dependent naming an
    owner whose uid lives in another namespace, and on a cluster-scoped one naming a namespaced kind."""
    owner = http("POST", DEPLOYS, plain_deployment()).body
    elsewhere = "/api/v1/namespaces/kube-public/configmaps"
    kept_by = http("POST", CMS, {"metadata": {"name": "keeper"}}).body
    keeper = {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": kept_by["metadata"]["uid"]}
    body = {"metadata": {"name": "x", "ownerReferences": [_reference(owner)]}}
    assert http("POST", elsewhere, body).status == 201
    roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    role = {"metadata": {"name": "unresolvable", "ownerReferences": [_reference(owner)]}, "rules": []}
    assert http("POST", roles, role).status == 201

    def reported(namespace: str) -> list[dict[str, Any]]:
        listed = http(
            "GET", f"/api/v1/namespaces/{namespace}/events?fieldSelector=reason%3DOwnerRefInvalidNamespace"
        )
        return list(listed.body["items"])

    wait_for(lambda: reported("kube-public") and reported("default"))
    (event,) = reported("kube-public")
    uid = owner["metadata"]["uid"]
    assert event["type"] == "Warning"
    assert event["involvedObject"]["kind"] == "ConfigMap" and event["involvedObject"]["name"] == "x"
    assert event["message"] == (
        f"ownerRef [apps/v1/Deployment, namespace: kube-public, name: web, uid: {uid}]"
        ' does not exist in namespace "kube-public"'
    )
    (on_role,) = reported("default")
    assert (
        on_role["involvedObject"]["kind"] == "ClusterRole"
        and on_role["involvedObject"]["name"] == "unresolvable"
    )
    assert (
        on_role["message"]
        == f'ownerRef [apps/v1/Deployment, namespace: , name: web, uid: {uid}] does not exist in namespace ""'
    )
    # the dependent in the other namespace had no owner there: collected; one with an owner present keeps it
    wait_for(lambda: http("GET", f"{elsewhere}/x").status == 404)
    both = {"metadata": {"name": "both", "ownerReferences": [keeper, _reference(owner)]}}
    assert http("POST", CMS, both).status == 201  # its owner in its own namespace: no report
    # reported once, as the reference is added: not at the dependent's other writes
    for value in ("a", "b", "c"):
        relabel = {"metadata": {"labels": {"touched": value}}}
        assert http("PATCH", f"{roles}/unresolvable", relabel, "application/merge-patch+json").status == 200
    # a cluster-scoped object naming a namespaced owner no namespace has: unresolvable, no report
    made_up = {**_reference(owner), "uid": "0d5c6a4e-0000-4000-8000-000000000000"}
    nowhere = {"metadata": {"name": "nowhere", "ownerReferences": [made_up]}, "rules": []}
    assert http("POST", roles, nowhere).status == 201
    probe = {"metadata": {"name": "probe", "ownerReferences": [{**keeper, "uid": made_up["uid"]}]}}
    assert http("POST", CMS, probe).status == 201
    wait_for(lambda: http("GET", f"{CMS}/probe").status == 404)  # the collector has been by since
    assert http("GET", f"{CMS}/both").body["metadata"]["ownerReferences"][1]["uid"] == uid
    assert len(reported("default")) == 1
    assert http("GET", f"{roles}/nowhere").status == 200


def test_an_owner_reference_needs_the_owners_kind_name_and_uid(http: Http) -> None:
    """The collector finds an owner by kind and name, and counts it only with the uid referenced; a
    kind no server serves cannot be resolved, and its dependents are left alone."""
    owner = http("POST", DEPLOYS, plain_deployment()).body
    unknown = {
        "apiVersion": "example.dev/v1",
        "kind": "Widget",
        "name": "w",
        "uid": "1d6f0000-0000-4000-8000-000000000001",
    }
    assert (
        http("POST", CMS, {"metadata": {"name": "unknown-kind", "ownerReferences": [unknown]}}).status == 201
    )
    misnamed = {**_reference(owner), "name": "other"}
    assert http("POST", CMS, {"metadata": {"name": "misnamed", "ownerReferences": [misnamed]}}).status == 201
    wait_for(lambda: http("GET", f"{CMS}/misnamed").status == 404)
    assert http("GET", f"{CMS}/unknown-kind").status == 200


def test_a_crd_serves_its_resources_at_once_and_takes_them_along_when_deleted(http: Http) -> None:
    _release(http)
    crd = http("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/releases.slipway.dev").body
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["storedVersions"] == ["v1alpha1"]
    resources = http("GET", "/apis/slipway.dev/v1alpha1").body["resources"]
    entries = {r["name"]: r for r in resources}
    assert entries["releases"]["singularName"] == "release"
    assert entries["releases"]["shortNames"] == ["rel"]
    assert "releases/status" in entries
    assert (
        http("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/releases.slipway.dev").status
        == 200
    )
    assert http("GET", RELEASES).status == 404
    assert http("GET", "/apis/slipway.dev/v1alpha1").status == 404


def test_list_pages_with_limit_and_continue(http: Http) -> None:
    for i in range(5):
        http("POST", CMS, {"metadata": {"name": f"c{i}"}})
    first = http("GET", f"{CMS}?limit=2").body
    assert first["kind"] == "ConfigMapList"
    assert [i["metadata"]["name"] for i in first["items"]] == ["c0", "c1"]
    second = http("GET", f"{CMS}?limit=2&continue={first['metadata']['continue']}").body
    third = http("GET", f"{CMS}?limit=2&continue={second['metadata']['continue']}").body
    # The page after c4 also holds the root-CA publisher's ConfigMap, as on a real cluster.
    assert names(second["items"] + third["items"]) == ["c2", "c3", "c4", ROOT_CA]
    assert "continue" not in third["metadata"]


def test_every_page_of_a_list_shows_the_collection_as_at_its_first_page(
    apiserver: ApiServer, http: Http
) -> None:
    """As a real server reads each page from etcd at the first page's revision: a client that lists in
    pages and watches from the list's resourceVersion (Kopf with chunk_size, client-go's reflector)
    sees a change made between two pages in the watch, not lost."""
    for i in range(5):
        http("POST", CMS, {"metadata": {"name": f"c{i}"}, "data": {"v": "1"}})
    first = http("GET", f"{CMS}?limit=2").body
    listed_at = first["metadata"]["resourceVersion"]
    before = http("GET", f"{CMS}/c3").body["metadata"]["resourceVersion"]
    http("PATCH", f"{CMS}/c3", {"data": {"v": "2"}}, "application/merge-patch+json")
    assert http("DELETE", f"{CMS}/c4").status == 200
    http("POST", CMS, {"metadata": {"name": "c5"}})
    rest = http("GET", f"{CMS}?limit=10&continue={first['metadata']['continue']}").body
    assert rest["metadata"]["resourceVersion"] == listed_at
    assert "continue" not in rest["metadata"]
    assert names(rest["items"]) == ["c2", "c3", "c4", ROOT_CA]
    (c3,) = [item for item in rest["items"] if item["metadata"]["name"] == "c3"]
    assert (c3["data"], c3["metadata"]["resourceVersion"]) == ({"v": "1"}, before)
    since = watch_events(apiserver.credentials(), f"{CMS}?watch=1&resourceVersion={listed_at}", 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in since] == [
        ("MODIFIED", "c3"),
        ("DELETED", "c4"),
        ("ADDED", "c5"),
    ]
    # A token continues only the collection it was given for, with the same selectors, and carries
    # the list's version itself.
    token = first["metadata"]["continue"]
    for refused in (
        f"{DEPLOYS}?limit=2&continue={token}",
        f"{CMS}?limit=2&labelSelector=a%3Db&continue={token}",
        f"{CMS}?limit=2&resourceVersion={listed_at}&continue={token}",
    ):
        answer = http("GET", refused)
        assert (answer.status, answer.body["reason"]) == (400, "BadRequest"), refused
    assert "specifying resource version is not allowed when using continue" in answer.body["message"]
    assert http("GET", f"{CMS}?limit=2&resourceVersion=0&continue={token}").status == 200


def test_a_continue_token_expires_as_after_a_compaction(http: Http) -> None:
    """The 410 says what a real one says and offers, as it does, a token to go on with the rest as the
    collection is now (an inconsistent list)."""
    for i in range(3):
        http("POST", CMS, {"metadata": {"name": f"c{i}"}})
    first = http("GET", f"{CMS}?limit=1").body["metadata"]
    for _ in range(KEPT_LISTS):
        assert "continue" in http("GET", f"{CMS}?limit=1").body["metadata"]
    expired = http("GET", f"{CMS}?limit=1&continue={first['continue']}")
    assert (expired.status, expired.body["reason"], expired.body["message"]) == (410, "Expired", INCONSISTENT)
    offered = expired.body["metadata"]["continue"]
    http("POST", CMS, {"metadata": {"name": "c0a"}})
    http("DELETE", f"{CMS}/c2")
    rest = http("GET", f"{CMS}?limit=2&continue={offered}").body
    assert names(rest["items"]) == ["c0a", "c1"]
    last = http("GET", f"{CMS}?limit=2&continue={rest['metadata']['continue']}").body
    assert names(last["items"]) == [ROOT_CA] and "continue" not in last["metadata"]
    assert rest["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"]
    assert int(rest["metadata"]["resourceVersion"]) > int(first["resourceVersion"])


def test_watch_without_resource_version_lists_first_then_streams(apiserver: ApiServer, http: Http) -> None:
    http("POST", CMS, {"metadata": {"name": "before", "labels": {"app": "x"}}})
    http("POST", CMS, {"metadata": {"name": "unselected"}})
    events: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=watch_events,
        args=(apiserver.credentials(), f"{CMS}?watch=1&labelSelector=app%3Dx", 3, events),
        daemon=True,
    )
    reader.start()
    wait_for(lambda: events or None, timeout=10)
    http("POST", CMS, {"metadata": {"name": "after", "labels": {"app": "x"}}})
    http("PATCH", f"{CMS}/before", {"metadata": {"labels": {"app": "y"}}}, "application/merge-patch+json")
    reader.join(timeout=10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "before"),
        ("ADDED", "after"),
        ("DELETED", "before"),
    ]


def test_events_and_leases_can_be_created(http: Http) -> None:
    core = {
        "metadata": {"generateName": "web."},
        "involvedObject": {"kind": "Pod", "name": "web"},
        "reason": "Started",
        "message": "hello",
        "type": "Normal",
    }
    assert http("POST", "/api/v1/namespaces/default/events", core).status == 201
    modern = {
        "metadata": {"name": "e1"},
        "regarding": {"kind": "Pod", "name": "web"},
        "reason": "Started",
        "note": "hello",
        "type": "Normal",
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "action": "Start",
        "reportingController": "x",
        "reportingInstance": "y",
    }
    assert http("POST", "/apis/events.k8s.io/v1/namespaces/default/events", modern).status == 201
    lease = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}
    assert http("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", lease).status == 201


def test_a_watcher_that_stops_reading_neither_blocks_writers_nor_loses_events(
    apiserver: ApiServer, http: Http
) -> None:
    # Events are written straight to each watcher's connection while it keeps up; once a client stops
    # reading and its connection's buffers fill, they queue for the watch's own task instead.
    rv = http("GET", CMS).body["metadata"]["resourceVersion"]
    big = "x" * 100_000
    with apiserver.credentials().urlopen(f"{CMS}?watch=1&resourceVersion={rv}", timeout=30) as stream:
        http("POST", CMS, {"metadata": {"name": "first"}})
        assert json.loads(stream.readline())["object"]["metadata"]["name"] == "first"
        names = [f"big{i}" for i in range(300)]  # 30 MB: far more than the socket buffers hold
        for name in names:
            assert http("POST", CMS, {"metadata": {"name": name}, "data": {"k": big}}).status == 201
        http("DELETE", f"{CMS}/first")
        events = [json.loads(stream.readline()) for _ in range(len(names) + 1)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        *(("ADDED", name) for name in names),
        ("DELETED", "first"),
    ]


def test_watch_list_sends_initial_events_then_a_marked_bookmark(apiserver: ApiServer, http: Http) -> None:
    http("POST", CMS, {"metadata": {"name": "a"}})
    rv = http("GET", CMS).body["metadata"]["resourceVersion"]
    query = "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    events = watch_events(apiserver.credentials(), f"{CMS}?{query}", count=3)
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", ROOT_CA),
        ("BOOKMARK", None),
    ]
    assert events[2]["object"]["metadata"] == {
        "resourceVersion": rv,
        "annotations": {"k8s.io/initial-events-end": "true"},
    }


def test_watch_ends_after_timeout_seconds(apiserver: ApiServer, http: Http) -> None:
    rv = http("GET", CMS).body["metadata"]["resourceVersion"]
    started = time.monotonic()
    assert watch_events(apiserver.credentials(), f"{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=1") == []
    assert 0.9 < time.monotonic() - started < 10


def test_deleting_a_crd_ends_the_watches_of_its_resources(apiserver: ApiServer, http: Http) -> None:
    _release(http)
    events: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=watch_events, args=(apiserver.credentials(), f"{RELEASES}?watch=1", None, events)
    )
    reader.start()
    wait_for(lambda: events, timeout=10)
    http("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/releases.slipway.dev")
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]
