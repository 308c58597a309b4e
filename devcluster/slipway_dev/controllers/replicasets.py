"""The replica set controller: keeps the number of a ReplicaSet's pods at spec.replicas, reports status."""

from __future__ import annotations

from slipway_dev.controllers.client import PODS, REPLICASETS
from slipway_dev.controllers.runtime import (
    Controller,
    Informers,
    Key,
    create_all,
    enqueue_owner,
    key_of,
    now,
    write_status,
)
from slipway_dev.controllers.workloads import is_deleting, plan_replica_set

# Pods change one by one; a replica set is recounted at most this often during a burst.
GATHER_SECONDS = 0.05


class ReplicaSetController:
    def __init__(self, informers: Informers) -> None:
        self.client = informers.client
        self.replica_sets = informers.get(REPLICASETS)
        self.pods = informers.get(PODS)
        self.controller: Controller[Key] = Controller(
            "replicasets", self.reconcile, workers=4, gather_seconds=GATHER_SECONDS
        )
        self.replica_sets.subscribe(lambda _kind, obj: self.controller.enqueue(key_of(obj)))
        self.pods.subscribe(enqueue_owner(self.controller, "ReplicaSet"))

    async def reconcile(self, key: Key) -> float | None:
        replica_set = self.replica_sets.cache.get(key)
        if replica_set is None or is_deleting(replica_set):
            return None
        namespace = key[0]
        pods = self.pods.controlled_by(replica_set["metadata"]["uid"])
        plan = plan_replica_set(replica_set, pods, now())
        await create_all(self.pods, namespace, plan.create)
        for pod in plan.delete:
            # graceful: the pod is Terminating until its kubelet has stopped it
            answer = await self.client.delete(
                PODS, namespace, pod["metadata"]["name"], pod["metadata"]["uid"]
            )
            self.pods.record_deletion(pod, answer)
        await write_status(self.replica_sets, replica_set, plan.status)
        return plan.requeue_after
