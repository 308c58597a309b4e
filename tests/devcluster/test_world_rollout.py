"""The deployment and replica set decisions, driven as a closed loop without a server.

A tiny in-memory 'cluster' applies each plan the way the API server and kubelet would (pods become
ready after a configurable number of passes), so the rolling-update bounds can be checked at every
step of whole rollouts.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipway_dev.controllers.workloads import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    owned_by,
    plan_deployment,
    plan_job,
    plan_replica_set,
    same_template,
    surge_and_unavailable,
    template_hash,
    timestamp,
)

JsonObject = dict[str, Any]
START = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(
    replicas: int, image: str, surge: Any = "25%", unavailable: Any = "25%", deadline: int = 600
) -> JsonObject:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "deploy-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


class FakeCluster:
    """Stores objects and makes pods ready `ready_after` passes after they are created (never if None)."""

    def __init__(self, deploy: JsonObject, ready_after: int | None = 1) -> None:
        self.deployment = deploy
        self.replica_sets: dict[str, JsonObject] = {}
        self.pods: dict[str, JsonObject] = {}
        self.pod_age: dict[str, int] = {}
        self.ready_after = ready_after
        self.names = itertools.count()
        self.now = START
        self.uids = itertools.count()

    def step(self) -> None:
        self.now += timedelta(seconds=1)
        plan = plan_deployment(self.deployment, list(self.replica_sets.values()), self.now)
        if plan.create is not None:
            created = plan.create
            created["metadata"]["uid"] = f"rs-{next(self.uids)}"
            created["metadata"]["generation"] = 1
            self.replica_sets[created["metadata"]["name"]] = created
        for name, replicas in plan.scale.items():
            self.replica_sets[name]["spec"]["replicas"] = replicas
        for gone in plan.delete:
            del self.replica_sets[gone["metadata"]["name"]]
        if plan.revision:
            self.deployment["metadata"].setdefault("annotations", {})[REVISION_ANNOTATION] = plan.revision
        self.deployment["status"] = plan.status
        for replica_set in self.replica_sets.values():
            rs_plan = plan_replica_set(replica_set, owned_by(replica_set, list(self.pods.values())), self.now)
            for body in rs_plan.create:
                name = f"{body['metadata']['generateName']}{next(self.names)}"
                body["metadata"].update(name=name, uid=f"pod-{name}", creationTimestamp=timestamp(self.now))
                self.pods[name] = body
                self.pod_age[name] = 0
            for pod in rs_plan.delete:
                del self.pods[pod["metadata"]["name"]]
            replica_set["status"] = rs_plan.status
        for name, pod in self.pods.items():
            self.pod_age[name] += 1
            ready = self.ready_after is not None and self.pod_age[name] > self.ready_after
            pod["status"] = {
                "phase": "Running",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "lastTransitionTime": timestamp(START),
                    }
                ],
            }

    def pods_of(self, image: str) -> list[JsonObject]:
        return [p for p in self.pods.values() if p["spec"]["containers"][0]["image"] == image]

    def ready_pods(self) -> int:
        return sum(1 for p in self.pods.values() if p["status"]["conditions"][0]["status"] == "True")

    def progressing(self) -> JsonObject:
        return next(c for c in self.deployment["status"]["conditions"] if c["type"] == "Progressing")


def test_first_rollout_creates_a_hashed_replica_set_and_converges_to_complete() -> None:
    cluster = FakeCluster(deployment(3, "v1"))
    for _ in range(6):
        cluster.step()
    (replica_set,) = cluster.replica_sets.values()
    pod_hash = template_hash(cluster.deployment["spec"]["template"])
    assert replica_set["metadata"]["name"] == f"web-{pod_hash}"
    assert replica_set["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: pod_hash}
    status = cluster.deployment["status"]
    assert (
        status["replicas"],
        status["updatedReplicas"],
        status["readyReplicas"],
        status["availableReplicas"],
    ) == (
        3,
        3,
        3,
        3,
    )
    assert cluster.progressing()["reason"] == "NewReplicaSetAvailable"
    assert cluster.deployment["metadata"]["annotations"][REVISION_ANNOTATION] == "1"


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"), [(4, "25%", "25%"), (10, 3, 0), (5, 0, 2), (3, 1, 0)]
)
def test_rolling_update_stays_within_surge_and_unavailability(
    replicas: int, surge: Any, unavailable: Any
) -> None:
    cluster = FakeCluster(deployment(replicas, "v1", surge, unavailable))
    for _ in range(replicas + 4):
        cluster.step()
    cluster.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    cluster.deployment["metadata"]["generation"] = 2
    max_surge, max_unavailable = surge_and_unavailable(cluster.deployment)
    for _ in range(10 * replicas):
        cluster.step()
        assert len(cluster.pods) <= replicas + max_surge
        assert cluster.ready_pods() >= replicas - max_unavailable
    assert len(cluster.pods_of("v2")) == replicas and not cluster.pods_of("v1")
    assert cluster.progressing()["reason"] == "NewReplicaSetAvailable"
    assert cluster.deployment["metadata"]["annotations"][REVISION_ANNOTATION] == "2"


def test_scaling_up_and_down_is_followed() -> None:
    cluster = FakeCluster(deployment(2, "v1"))
    for replicas in (5, 1):
        cluster.deployment["spec"]["replicas"] = replicas
        for _ in range(8):
            cluster.step()
        assert len(cluster.pods) == replicas
        assert cluster.deployment["status"]["availableReplicas"] == replicas


def test_pods_that_never_become_ready_exceed_the_progress_deadline() -> None:
    cluster = FakeCluster(deployment(2, "v1", deadline=5), ready_after=None)
    for _ in range(4):
        cluster.step()
    assert cluster.progressing()["status"] == "True"
    for _ in range(6):
        cluster.step()
    assert cluster.progressing()["status"] == "False"
    assert cluster.progressing()["reason"] == "ProgressDeadlineExceeded"
    available = next(c for c in cluster.deployment["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "False"


def test_a_new_template_after_a_timeout_progresses_again() -> None:
    cluster = FakeCluster(deployment(1, "v1", deadline=2), ready_after=None)
    for _ in range(6):
        cluster.step()
    assert cluster.progressing()["reason"] == "ProgressDeadlineExceeded"
    cluster.ready_after = 1
    cluster.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    for _ in range(8):
        cluster.step()
    assert cluster.progressing()["reason"] == "NewReplicaSetAvailable"


def test_template_hash_ignores_the_hash_label_and_changes_with_the_template() -> None:
    template = deployment(1, "v1")["spec"]["template"]
    labelled = {**template, "metadata": {"labels": {"app": "web", HASH_LABEL: "x"}}}
    assert template_hash(template) == template_hash(labelled)
    assert template_hash(template) != template_hash(deployment(1, "v2")["spec"]["template"])
    assert set(template_hash(template)) <= set("bcdfghjklmnpqrstvwxz2456789")


def job(backoff_limit: int) -> JsonObject:
    return {
        "metadata": {"name": "smoke", "namespace": "ns", "uid": "job-uid"},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t"}]}},
        },
    }


def job_pod(phase: str, index: int) -> JsonObject:
    return {
        "metadata": {"name": f"smoke-{index}", "ownerReferences": [{"uid": "job-uid", "controller": True}]},
        "status": {"phase": phase},
    }


def test_a_job_runs_one_pod_and_completes_when_it_succeeds() -> None:
    first = plan_job(job(0), [], START)
    assert len(first.create) == 1 and first.create[0]["metadata"]["labels"]["job-name"] == "smoke"
    assert plan_job(job(0), [job_pod("Running", 0)], START).create == []
    done = plan_job(job(0), [job_pod("Succeeded", 0)], START).status
    assert {c["type"] for c in done["conditions"]} == {"SuccessCriteriaMet", "Complete"}
    assert done["succeeded"] == 1 and "completionTime" in done


def test_a_job_retries_failed_pods_up_to_its_backoff_limit_then_fails() -> None:
    retry = plan_job(job(1), [job_pod("Failed", 0)], START)
    assert len(retry.create) == 1 and "conditions" not in retry.status
    failed = plan_job(job(1), [job_pod("Failed", 0), job_pod("Failed", 1)], START).status
    assert [c["reason"] for c in failed["conditions"] if c["type"] == "Failed"] == ["BackoffLimitExceeded"]


def test_a_job_past_its_active_deadline_fails_and_stops_its_pods() -> None:
    limited = job(0)
    limited["spec"]["activeDeadlineSeconds"] = 30
    running = [job_pod("Running", 0)]
    early = plan_job(limited, running, START)
    assert early.deadline_in == 30 and early.stop == []
    limited["status"] = early.status
    late = plan_job(limited, running, START + timedelta(seconds=31))
    assert [c["reason"] for c in late.status["conditions"] if c["type"] == "Failed"] == ["DeadlineExceeded"]
    assert late.stop == running and late.create == []


def test_recreate_removes_every_old_pod_before_the_new_template_starts() -> None:
    recreate = deployment(3, "v1")
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    cluster = FakeCluster(recreate)
    for _ in range(5):
        cluster.step()
    cluster.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    for _ in range(10):
        cluster.step()
        assert not (cluster.pods_of("v1") and cluster.pods_of("v2"))
    assert len(cluster.pods_of("v2")) == 3


def test_pods_count_as_available_only_after_min_ready_seconds() -> None:
    replica_set = {
        "metadata": {"name": "web-x", "uid": "rs", "generation": 1},
        "spec": {"replicas": 1, "minReadySeconds": 10, "template": {}},
    }
    ready_pod = {
        "metadata": {"name": "web-x-1", "uid": "p1", "ownerReferences": [{"uid": "rs", "controller": True}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": timestamp(START)}],
        },
    }
    early = plan_replica_set(replica_set, [ready_pod], START + timedelta(seconds=4))
    assert (early.status["readyReplicas"], early.status["availableReplicas"], early.requeue_after) == (
        1,
        0,
        6,
    )
    later = plan_replica_set(replica_set, [ready_pod], START + timedelta(seconds=10))
    assert later.status["availableReplicas"] == 1 and later.requeue_after is None


def test_templates_compare_with_empty_fields_as_absent_like_upstream() -> None:
    template = deployment(1, "v1")["spec"]["template"]
    undone = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "v1", "resources": {}}]},
    }
    replica_set = {
        "spec": {"template": {**template, "metadata": {"labels": {"app": "web", HASH_LABEL: "h"}}}}
    }
    assert same_template(replica_set, undone)
    assert template_hash(undone) == template_hash(template)
    assert not same_template(replica_set, deployment(1, "v2")["spec"]["template"])


def test_a_paused_deployment_scales_but_rolls_nothing_until_resumed() -> None:
    cluster = FakeCluster(deployment(2, "v1"))
    for _ in range(4):
        cluster.step()
    cluster.deployment["spec"]["paused"] = True
    cluster.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    cluster.deployment["spec"]["replicas"] = 3
    for _ in range(6):
        cluster.step()
    assert len(cluster.pods_of("v1")) == 3 and not cluster.pods_of("v2")
    assert (cluster.progressing()["status"], cluster.progressing()["reason"]) == (
        "Unknown",
        "DeploymentPaused",
    )
    cluster.deployment["spec"]["paused"] = False
    cluster.step()
    assert cluster.progressing()["reason"] in ("DeploymentResumed", "NewReplicaSetCreated")
    for _ in range(16):
        cluster.step()
    assert len(cluster.pods_of("v2")) == 3 and not cluster.pods_of("v1")
    assert cluster.progressing()["reason"] == "NewReplicaSetAvailable"


def test_a_finished_job_with_a_ttl_expires_after_it() -> None:
    finished = job(0)
    finished["spec"]["ttlSecondsAfterFinished"] = 5
    just_done = plan_job(finished, [job_pod("Succeeded", 0)], START)
    assert just_done.expires_in == 5
    finished["status"] = just_done.status
    assert plan_job(finished, [job_pod("Succeeded", 0)], START + timedelta(seconds=3)).expires_in == 2
    assert plan_job(finished, [job_pod("Succeeded", 0)], START + timedelta(seconds=6)).expires_in == -1
    assert plan_job(job(0), [job_pod("Succeeded", 0)], START).expires_in is None
