"""The job controller: a Job gets pods until enough succeed, or fails after backoffLimit failures."""

from __future__ import annotations

from slipway_dev.controllers.client import JOBS, PODS
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
from slipway_dev.controllers.workloads import is_deleting, plan_job


class JobController:
    def __init__(self, informers: Informers) -> None:
        self.jobs = informers.get(JOBS)
        self.pods = informers.get(PODS)
        self.controller: Controller[Key] = Controller("jobs", self.reconcile, workers=2)
        self.jobs.subscribe(lambda _kind, obj: self.controller.enqueue(key_of(obj)))
        self.pods.subscribe(enqueue_owner(self.controller, "Job"))

    async def reconcile(self, key: Key) -> float | None:
        job = self.jobs.cache.get(key)
        if job is None or is_deleting(job):
            return None
        pods = self.pods.controlled_by(job["metadata"]["uid"])
        plan = plan_job(job, pods, now())
        await create_all(self.pods, key[0], plan.create)
        for pod in plan.stop:  # activeDeadlineSeconds passed: the Job's running pods are terminated
            await self.pods.client.delete(PODS, key[0], pod["metadata"]["name"], pod["metadata"].get("uid"))
        await write_status(self.jobs, job, plan.status)
        if plan.expires_in is not None and plan.expires_in <= 0:
            # ttlSecondsAfterFinished: the Job goes once its outcome is written; the server collects its pods.
            await self.jobs.client.delete(JOBS, key[0], key[1], job["metadata"]["uid"])
            return None
        return plan.expires_in if plan.expires_in is not None else plan.deadline_in
