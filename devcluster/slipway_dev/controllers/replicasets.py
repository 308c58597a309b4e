"""The replica set controller: keeps the number of a ReplicaSet's pods at spec.replicas, reports status."""

from __future__ import annotations

from collections.abc import Callable

from slipway_dev.controllers.client import PODS, REPLICASETS, JsonObject
from slipway_dev.controllers.runtime import (
    BUSY_WORKERS,
    Controller,
    Informers,
    Key,
    create_all,
    enqueue_owner,
    key_of,
    now,
    write_status,
)
from slipway_dev.controllers.workloads import PodStanding, is_deleting, plan_replica_set, pod_standing

# Pods change one by one; a replica set is recounted at most this often during a burst.
GATHER_SECONDS = 0.05


class ReplicaSetController:
    def __init__(self, informers: Informers) -> None:
        self.client = informers.client
        self.replica_sets = informers.get(REPLICASETS)
        self.pods = informers.get(PODS)
        self.controller: Controller[Key] = Controller(
            "replicasets", self.reconcile, workers=BUSY_WORKERS, gather_seconds=GATHER_SECONDS
        )
        self.replica_sets.subscribe(lambda _kind, obj: self.controller.enqueue(key_of(obj)))
        self.pods.subscribe(enqueue_owner(self.controller, "ReplicaSet"))
        # Per replica set, each pod's standing as last read, by object identity: the cache replaces a
        # changed pod and never edits one, so a pass re-reads only the pods that changed since the last.
        self._standings: dict[Key, dict[int, tuple[JsonObject, PodStanding]]] = {}

    async def reconcile(self, key: Key) -> float | None:
        replica_set = self.replica_sets.cache.get(key)
        if replica_set is None or is_deleting(replica_set):
            self._standings.pop(key, None)
            return None
        namespace = key[0]
        pods = self.pods.controlled_by(replica_set["metadata"]["uid"])
        plan = plan_replica_set(replica_set, pods, now(), self._remembering(key))
        await create_all(self.pods, namespace, plan.create)
        for pod in plan.delete:
            # graceful: the pod is Terminating until its kubelet has stopped it
            answer = await self.client.delete(
                PODS, namespace, pod["metadata"]["name"], pod["metadata"]["uid"]
            )
            self.pods.record_deletion(pod, answer)
        await write_status(self.replica_sets, replica_set, plan.status)
        return plan.requeue_after

    def _remembering(self, key: Key) -> Callable[[JsonObject], PodStanding]:
        """pod_standing, answered from the last pass for a pod object seen then; what this pass does
        not read is forgotten."""
        before = self._standings.get(key, {})
        seen = self._standings[key] = {}

        def standing(pod: JsonObject) -> PodStanding:
            known = before.get(id(pod))
            if known is None or known[0] is not pod:
                known = (pod, pod_standing(pod))
            seen[id(pod)] = known
            return known[1]

        return standing
