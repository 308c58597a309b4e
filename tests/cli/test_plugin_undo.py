"""`kubectl slipway undo`: choosing the revision and recovering the user's template from its Deployment
(pure), and undo against the real operator on a dev cluster: back to revision 1 after two rollouts, and
a revision pruned by spec.revisionHistoryLimit refused in one line."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_support import operator_identity, plugin, plugin_run, wait_release_phase

from slipway.api.status import HistoryEntry, OldRevision, ReleaseStatus, RevisionStatus
from slipway.cli._plugin_undo import (
    UndoError,
    UndoTarget,
    already_desired,
    choose_target,
    pruned,
    recover_template,
    restorable,
    template_from_deployment,
    undo_patch,
)
from slipway.core.revision import revision_hash
from slipway.manifests import ReleaseRef, revision_deployment
from slipway_dev.cluster import DevCluster

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def entry(revision: str, version: str, outcome: str, minutes: int) -> HistoryEntry:
    return HistoryEntry(
        revision=revision,
        version=version,
        outcome=outcome,  # type: ignore[arg-type]
        started_at=T0 + timedelta(minutes=minutes),
        finished_at=T0 + timedelta(minutes=minutes + 5),
    )


def release(spec_version: str, stable: tuple[str, str], history: list[HistoryEntry]) -> dict[str, Any]:
    status = ReleaseStatus(
        phase="Healthy",
        stable=RevisionStatus(
            revision=stable[0], version=stable[1], replicas=2, ready_replicas=2, weight=100
        ),
        history=history,
    )
    return {
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "17"},
        "spec": {"version": spec_version},
        "status": status.to_api(),
    }


HISTORY = [
    entry("r1", "1.0", "Promoted", 0),
    entry("r2", "2.0", "Promoted", 10),
    entry("r3", "3.0", "RolledBack", 20),
]


def test_default_after_a_rollback_is_the_stable_revision_now_serving() -> None:
    target = choose_target(release("3.0", ("r2", "2.0"), HISTORY), None)
    assert (target.revision, target.version) == ("r2", "2.0")


def test_default_when_healthy_is_the_previous_promoted_revision() -> None:
    target = choose_target(release("2.0", ("r2", "2.0"), HISTORY), None)
    assert (target.revision, target.version) == ("r1", "1.0")


def test_to_revision_by_history_number_or_hash() -> None:
    body = release("2.0", ("r2", "2.0"), HISTORY)
    assert choose_target(body, "3").revision == "r3"
    assert choose_target(body, "r1").version == "1.0"


@pytest.mark.parametrize(
    ("to_revision", "message"),
    [("4", "history has 3 entries"), ("0", "no history"), ("zz9", "not in the history")],
)
def test_unknown_revision_is_refused_with_a_reason(to_revision: str, message: str) -> None:
    with pytest.raises(UndoError, match=message):
        choose_target(release("2.0", ("r2", "2.0"), HISTORY), to_revision)


def test_to_revision_by_hash_of_a_revision_kept_beyond_the_history() -> None:
    body = release("2.0", ("r2", "2.0"), HISTORY[1:])
    body["status"]["oldRevisions"] = [
        OldRevision(revision="r1", version="1.0", replaced_at=T0).model_dump(mode="json", by_alias=True)
    ]
    assert (choose_target(body, "r1").revision, choose_target(body, "r1").version) == ("r1", "1.0")


def test_restorable_revisions_are_those_whose_deployment_the_release_owns() -> None:
    body = {**release("2.0", ("r2", "2.0"), HISTORY), "metadata": {"name": "web", "uid": "uid-1"}}
    template = {"spec": {"containers": [{"name": "web", "image": "shop/web"}]}}
    ours = [
        revision_deployment(ReleaseRef("shop", "web", "uid-1"), r, "1.0", 0, template) for r in ("r1", "r2")
    ]
    theirs = revision_deployment(ReleaseRef("shop", "web", "uid-9"), "r3", "3.0", 0, template)
    assert restorable(body, [*ours, theirs]) == {"r1", "r2"}


def test_a_pruned_revision_is_said_in_one_line_with_what_to_do() -> None:
    body = release("3.0", ("r3", "3.0"), HISTORY)
    body["spec"]["revisionHistoryLimit"] = 1
    message = str(pruned(body, UndoTarget("r1", "1.0", "history entry 1")))
    assert "\n" not in message
    assert message.startswith("revision r1 (version 1.0, history entry 1) was pruned")
    assert "last 1 replaced revisions (spec.revisionHistoryLimit)" in message
    assert "apply version 1.0's manifest again (from git)" in message


def test_nothing_to_go_back_to() -> None:
    with pytest.raises(UndoError, match="no earlier promoted revision"):
        choose_target(release("1.0", ("r1", "1.0"), HISTORY[:1]), None)


def test_undo_to_the_revision_spec_already_describes_would_change_nothing() -> None:
    """It said 'CHANGED SPEC: version 3.0 -> 3.0' and exited 0 while nothing was written."""
    template = {"spec": {"containers": [{"name": "web", "image": "example/web:3.0"}]}}
    current = release("3.0", ("r3", "3.0"), HISTORY)
    current["spec"]["template"] = template
    assert already_desired(current, UndoTarget(revision_hash(template, "3.0"), "3.0", "history entry 3"))
    assert not already_desired(current, UndoTarget(revision_hash(template, "2.0"), "2.0", "history entry 2"))
    del current["spec"]["template"]
    assert not already_desired(current, UndoTarget(revision_hash(template, "3.0"), "3.0", "history entry 3"))


def test_template_round_trips_through_the_operators_deployment() -> None:
    user_template = {
        "metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"team": "shop"}},
        "spec": {
            "containers": [{"name": "web", "image": "shop/web:2.0", "env": [{"name": "A", "value": "1"}]}]
        },
    }
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), "r2", "2.0", 3, user_template)
    assert deployment["spec"]["template"] != user_template  # the operator did add its labels
    assert template_from_deployment(deployment) == user_template


def test_template_without_user_labels_drops_the_empty_metadata() -> None:
    user_template = {"spec": {"containers": [{"name": "web", "image": "shop/web:2.0"}]}}
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), "r2", "2.0", 3, user_template)
    assert template_from_deployment(deployment) == user_template


USER_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "shop/web:2.0", "ports": [{"containerPort": 8080}]}]},
}


def as_a_real_api_server_returns_it(deployment: dict[str, Any]) -> dict[str, Any]:
    """A real API server fills the pod template's defaults in; the dev cluster does not."""
    pod = deployment["spec"]["template"]["spec"]
    pod.update(
        restartPolicy="Always",
        terminationGracePeriodSeconds=30,
        dnsPolicy="ClusterFirst",
        securityContext={},
        schedulerName="default-scheduler",
    )
    for container in pod["containers"]:
        container.update(
            terminationMessagePath="/dev/termination-log",
            terminationMessagePolicy="File",
            imagePullPolicy="IfNotPresent",
            resources={},
        )
        for port in container["ports"]:
            port["protocol"] = "TCP"
    return deployment


@pytest.mark.parametrize("defaulted", [False, True], ids=["as-written", "server-defaulted"])
def test_recovered_template_hashes_to_the_revision_it_came_from(defaulted: bool) -> None:
    revision = revision_hash(USER_TEMPLATE, "2.0")
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), revision, "2.0", 3, USER_TEMPLATE)
    if defaulted:
        deployment = as_a_real_api_server_returns_it(deployment)
    template, exact = recover_template(deployment, UndoTarget(revision, "2.0", "test"))
    assert exact and template == USER_TEMPLATE


def test_a_template_that_wrote_some_defaults_is_recovered_without_them_and_flagged() -> None:
    written = copy.deepcopy(USER_TEMPLATE)
    written["spec"]["dnsPolicy"] = "ClusterFirst"  # the user wrote one default, the server added the rest
    revision = revision_hash(written, "2.0")
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), revision, "2.0", 3, written)
    template, exact = recover_template(
        as_a_real_api_server_returns_it(deployment), UndoTarget(revision, "2.0", "")
    )
    assert not exact and template == USER_TEMPLATE


def test_patch_replaces_version_and_template_only_if_unchanged_since_read() -> None:
    patch = undo_patch(release("3.0", ("r2", "2.0"), HISTORY), "2.0", {"spec": {}})
    assert patch == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "17"},
        {"op": "replace", "path": "/spec/version", "value": "2.0"},
        {"op": "replace", "path": "/spec/template", "value": {"spec": {}}},
    ]


# -- against the operator on a dev cluster ---------------------------------------------------------------

RELEASE: dict[str, Any] = {
    "apiVersion": "slipway.dev/v1alpha1",
    "kind": "Release",
    "metadata": {"name": "web"},
    "spec": {
        "version": "1",
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "web", "image": "example/web"}]}},
        "service": {"port": 80, "targetPort": 8080},
        "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
    },
}


def roll_out(cluster: DevCluster, name: str, *versions: str) -> list[str]:
    """Apply each version in turn and wait until it serves; the revisions of the history, oldest first."""
    for version in versions:
        patch = json.dumps({"spec": {"version": version}})
        cluster.kubectl("patch", "release", name, "--type=merge", "-p", patch)
        # The phase reads Healthy until the operator takes the new version up: wait for it to serve.
        serving = f"--for=jsonpath={{.status.stable.version}}={version}"
        cluster.kubectl("wait", f"release/{name}", serving, "--timeout=90s", timeout=120)
        wait_release_phase(cluster, "Healthy", version, name)
    history = cluster.kubectl_json("get", "release", name)["status"]["history"]
    return [entry["revision"] for entry in history]


def restorable_column(cluster: DevCluster, name: str, *options: str) -> list[str]:
    return [line.split()[-1] for line in plugin(cluster, "history", name, *options).splitlines()[1:]]


def release_reader(cluster: DevCluster, kubeconfig: Path) -> Path:
    """A person (ServiceAccount `reader` in `default`) who may read Releases there and nothing else."""
    meta = {"name": "reader", "namespace": "default"}
    rules = [{"apiGroups": ["slipway.dev"], "resources": ["releases"], "verbs": ["get"]}]
    rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", **meta}],
        },
    ]
    return operator_identity(cluster, kubeconfig, rbac, namespace="default")


def scaled_to_zero(cluster: DevCluster, name: str, revision: str) -> None:
    """Until the revision's Deployment asks for no pod and none of its pods is left."""
    deployment = f"deployment/{name}-{revision}"
    cluster.kubectl("wait", deployment, "--for=jsonpath={.spec.replicas}=0", "--timeout=60s", timeout=90)
    selector = f"slipway.dev/revision={revision}"
    cluster.kubectl("wait", "pods", "-l", selector, "--for=delete", "--timeout=60s", timeout=90)


@pytest.mark.e2e
# Room for two revisions of 2 pods, no more: kept revisions at zero replicas must not count.
@pytest.mark.dev_cluster(operator=True, max_pods=4)
def test_undo_to_revision_1_after_two_rollouts_reuses_its_kept_deployment(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(RELEASE))
    wait_release_phase(dev_cluster, "Healthy", "1")
    first = roll_out(dev_cluster, "web", "2", "3")[0]
    scaled_to_zero(dev_cluster, "web", first)
    kept = dev_cluster.kubectl_json("get", "deployment", f"web-{first}")
    assert restorable_column(dev_cluster, "web") == ["yes", "yes", "yes"]
    # Kept at zero, it is no endpoint of the Service: only version 3's pods serve.
    endpoints = dev_cluster.kubectl_json("get", "endpoints", "web")
    served = {a["targetRef"]["name"] for s in endpoints.get("subsets", []) for a in s.get("addresses", [])}
    assert served and not any(first in pod for pod in served)

    said = plugin(dev_cluster, "undo", "web", "--to-revision", "1")
    assert "CHANGED SPEC: version 3 -> 1" in said and f"revision {first}" in said and "note:" not in said
    serving = "--for=jsonpath={.status.stable.version}=1"
    dev_cluster.kubectl("wait", "release/web", serving, "--timeout=90s", timeout=120)
    wait_release_phase(dev_cluster, "Healthy", "1")
    status = dev_cluster.kubectl_json("get", "release", "web")["status"]
    assert status["stable"]["revision"] == first
    assert first not in {old["revision"] for old in status["oldRevisions"]}
    again = dev_cluster.kubectl_json("get", "deployment", f"web-{first}")
    assert again["metadata"]["uid"] == kept["metadata"]["uid"]  # the very Deployment kept, scaled up
    assert again["spec"]["replicas"] == 2


@pytest.mark.e2e
@pytest.mark.dev_cluster(operator=True)
def test_a_revision_beyond_the_history_limit_is_pruned_and_undo_says_what_to_do(
    dev_cluster: DevCluster, tmp_path: Path
) -> None:
    limited = copy.deepcopy(RELEASE)
    limited["spec"]["revisionHistoryLimit"] = 1
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(limited))
    wait_release_phase(dev_cluster, "Healthy", "1")
    first, second, _ = roll_out(dev_cluster, "web", "2", "3")
    dev_cluster.kubectl("wait", f"deployment/web-{first}", "--for=delete", "--timeout=60s", timeout=90)
    scaled_to_zero(dev_cluster, "web", second)
    assert restorable_column(dev_cluster, "web") == ["no", "yes", "yes"]
    # Who may read the Release but not list Deployments sees the history, restorable not known.
    reader = str(release_reader(dev_cluster, tmp_path / "reader.kubeconfig"))
    assert restorable_column(dev_cluster, "web", "-n", "default", "--kubeconfig", reader) == ["?", "?", "?"]
    status = dev_cluster.kubectl_json("get", "release", "web")["status"]
    assert [old["revision"] for old in status["oldRevisions"]] == [second]

    spec = dev_cluster.kubectl_json("get", "release", "web")["spec"]
    refused = plugin_run(dev_cluster, "undo", "web", "--to-revision", "1")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert f"revision {first} (version 1, history entry 1) was pruned" in refused.stderr
    assert "spec.revisionHistoryLimit" in refused.stderr and "from git" in refused.stderr
    unknown = plugin_run(dev_cluster, "undo", "web", "--to-revision", "7")
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    assert "no history entry 7: history has 3 entries" in unknown.stderr
    assert dev_cluster.kubectl_json("get", "release", "web")["spec"] == spec  # nothing written

    said = plugin(dev_cluster, "undo", "web", "--to-revision", "2")
    assert "CHANGED SPEC: version 3 -> 2" in said
    serving = f"--for=jsonpath={{.status.stable.revision}}={second}"
    dev_cluster.kubectl("wait", "release/web", serving, "--timeout=90s", timeout=120)
