"""The dev cluster protects itself (issue 13): a write that would make it run more pods than its limit
is refused 403 in the words of an exceeded ResourceQuota, naming the limit and how to raise it, and
nothing is stored; within the limit everything runs. Shrinking is always allowed."""

from __future__ import annotations

import json

import pytest
from apiserver_support import plain_deployment

from slipway_dev.apiserver.podbudget import declared_pods
from slipway_dev.cluster import DevCluster

LIMIT = 6


@pytest.mark.dev_cluster(max_pods=LIMIT, rps=0)
def test_a_write_declaring_more_pods_than_the_limit_is_refused(dev_cluster: DevCluster) -> None:
    kubectl = dev_cluster.kubectl
    too_many = json.dumps(plain_deployment("huge", 1_000_000_000_000))
    huge = kubectl("apply", "-f", "-", input=too_many, check=False)
    assert huge.returncode != 0
    assert (
        'deployments.apps "huge" is forbidden: exceeded quota: dev-cluster-pods, requested: '
        f"pods=1000000000000, used: pods=0, limited: pods={LIMIT}"
    ) in huge.stderr
    assert "--max-pods" in huge.stderr
    assert kubectl("get", "deployments", "-o", "name").stdout == ""

    kubectl("apply", "-f", "-", input=json.dumps(plain_deployment("web", 4)))
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    more = kubectl("scale", "deployment/web", "--replicas=7", check=False)
    assert more.returncode != 0 and "requested: pods=3, used: pods=4, limited: pods=6" in more.stderr
    job = kubectl("create", "job", "smoke", "--image=demo/smoke", check=False)
    assert job.returncode == 0, "one more pod fits"
    pod = kubectl("run", "extra", "--image=demo/web", check=False)
    assert pod.returncode == 0
    full = kubectl("run", "one-too-many", "--image=demo/web", check=False)
    assert full.returncode != 0 and 'pods "one-too-many" is forbidden: exceeded quota' in full.stderr
    kubectl("scale", "deployment/web", "--replicas=1")
    kubectl("run", "fits-again", "--image=demo/web")


def test_pods_a_controller_makes_are_counted_at_their_owner() -> None:
    owned = {"ownerReferences": [{"kind": "ReplicaSet", "controller": True, "uid": "u"}]}
    released = {"ownerReferences": [{"kind": "Release", "controller": True, "uid": "u"}]}
    assert declared_pods("pods", {"metadata": owned}) == 0
    assert declared_pods("pods", {"metadata": {}}) == 1
    assert (
        declared_pods(
            "replicasets.apps",
            {
                "metadata": {**owned, "ownerReferences": [{"kind": "Deployment", "controller": True}]},
                "spec": {"replicas": 9},
            },
        )
        == 0
    )
    assert declared_pods("deployments.apps", {"metadata": released, "spec": {"replicas": 3}}) == 3
    assert declared_pods("deployments.apps", {"metadata": {}, "spec": {}}) == 1
    assert (
        declared_pods("jobs.batch", {"metadata": released, "spec": {"parallelism": 5, "completions": 2}}) == 2
    )
    assert declared_pods("services", {"metadata": {}}) == 0
    finished = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert declared_pods("jobs.batch", {"metadata": {}, "spec": {}, "status": finished}) == 0
    assert declared_pods("pods", {"metadata": {}, "status": {"phase": "Succeeded"}}) == 0
