"""The deployment controller: Deployments -> ReplicaSets, with upstream's rolling update and status."""

from __future__ import annotations

import logging
from datetime import datetime

from slipway_dev.controllers.client import DEPLOYMENTS, EVENTS, REPLICASETS, ApiError, JsonObject
from slipway_dev.controllers.runtime import (
    BUSY_WORKERS,
    Controller,
    Informers,
    Key,
    enqueue_owner,
    key_of,
    now,
    write_status,
)
from slipway_dev.controllers.workloads import (
    REVISION_ANNOTATION,
    controller_uid,
    is_deleting,
    plan_deployment,
    same_template,
    scaling_event,
)

log = logging.getLogger(__name__)


class DeploymentController:
    def __init__(self, informers: Informers) -> None:
        self.client = informers.client
        self.deployments = informers.get(DEPLOYMENTS)
        self.replica_sets = informers.get(REPLICASETS)
        self.controller: Controller[Key] = Controller("deployments", self.reconcile, workers=BUSY_WORKERS)
        self.deployments.subscribe(lambda _kind, obj: self.controller.enqueue(key_of(obj)))
        self.replica_sets.subscribe(enqueue_owner(self.controller, "Deployment"))

    async def reconcile(self, key: Key) -> float | None:
        deployment = self.deployments.cache.get(key)
        if deployment is None or is_deleting(deployment):
            return None
        namespace = key[0]
        # Its own ReplicaSets by the owner index: scanning the namespace's thousands at every
        # reconcile was a fifth of the dev cluster's loop with a thousand Deployments rolling (py-spy).
        sets = [
            rs
            for rs in self.replica_sets.controlled_by(deployment["metadata"]["uid"])
            if rs["metadata"].get("namespace") == namespace  # an owner in another namespace is none
        ]
        moment = now()
        plan = plan_deployment(deployment, sets, moment)
        if plan.create is not None:
            try:
                created = await self.client.create(REPLICASETS, namespace, plan.create)
            except ApiError as error:
                if error.reason != "AlreadyExists":
                    raise
                await self._resolve_name_taken(deployment, plan.create)
                return 0.0
            self.replica_sets.record_write(created)
            await self._post_scaling(
                deployment, created["metadata"]["name"], 0, created["spec"]["replicas"], moment
            )
        current = {rs["metadata"]["name"]: int(rs["spec"].get("replicas", 1)) for rs in sets}
        for name, replicas in plan.scale.items():
            scaled = await self.client.patch(REPLICASETS, namespace, name, {"spec": {"replicas": replicas}})
            if scaled is not None:
                self.replica_sets.record_write(scaled)
                await self._post_scaling(deployment, name, current.get(name, 0), replicas, moment)
        for replica_set in plan.delete:
            await self.client.delete(
                REPLICASETS, namespace, replica_set["metadata"]["name"], replica_set["metadata"]["uid"]
            )
            self.replica_sets.record_delete(replica_set)
        if plan.renumber is not None:
            renumbered_name, annotations = plan.renumber
            renumbered = await self.client.patch(
                REPLICASETS, namespace, renumbered_name, {"metadata": {"annotations": annotations}}
            )
            if renumbered is not None:
                self.replica_sets.record_write(renumbered)
        if plan.revision is not None:
            annotated = await self.client.patch(
                DEPLOYMENTS,
                namespace,
                key[1],
                {"metadata": {"annotations": {REVISION_ANNOTATION: plan.revision}}},
            )
            if annotated is None:
                return None
            self.deployments.record_write(annotated)
            deployment = annotated
        await write_status(self.deployments, deployment, plan.status)
        return plan.requeue_after

    async def _post_scaling(
        self, deployment: JsonObject, replica_set: str, before: int, after: int, moment: datetime
    ) -> None:
        # Events are informative: losing one to an API error must not hold the rollout up.
        if before == after:
            return
        try:
            await self.client.create(
                EVENTS,
                deployment["metadata"]["namespace"],
                scaling_event(deployment, replica_set, before, after, moment),
            )
        except ApiError as error:
            log.debug("event for %s not posted: %s", replica_set, error)

    async def _resolve_name_taken(self, deployment: JsonObject, wanted: JsonObject) -> None:
        """Ours with the same template: the cache lagged. Anything else is a hash collision: rehash."""
        namespace, name = wanted["metadata"]["namespace"], wanted["metadata"]["name"]
        existing = await self.client.get(REPLICASETS, namespace, name)
        if (
            existing is not None
            and controller_uid(existing) == deployment["metadata"]["uid"]
            and same_template(existing, deployment["spec"]["template"])
        ):
            self.replica_sets.record_write(existing)
            return
        collisions = int(deployment.get("status", {}).get("collisionCount") or 0) + 1
        await write_status(self.deployments, deployment, {"collisionCount": collisions})
