"""Job metrics: a Kubernetes Job run as a smoke test; 1.0 when it completes, 0.0 when it fails.

The Job runs in the Release's namespace, labelled with the release, revision and metric, and is deleted
(with its pods) as soon as it has finished or run out of time; finished Jobs an operator left behind
when it stopped mid-measurement are deleted before the next one starts. Its containers get SLIPWAY_* variables
naming what is being tested, so one image can test any revision.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, ClassVar

import structlog
from pydantic import Field, WithJsonSchema, field_validator

from slipway.api.models import (
    POD_TEMPLATE_SCHEMA,
    ApiModel,
    Metric,
    ThresholdRange,
    check_pod_template,
    embedded_object,
    field_error,
)
from slipway.core.measurement import RawMeasurement
from slipway.kube.client import ApiError, KubeApi, jobs_path
from slipway.manifests import job_finished, job_pod_template
from slipway.providers.base import MeasurementContext, ProviderPlugin, failed, measured
from slipway.rbac import Rule
from slipway.runtime.config import PluginSection

MANAGED_BY = "app.kubernetes.io/managed-by"
RELEASE_LABEL = "slipway.dev/release"
REVISION_LABEL = "slipway.dev/revision"
METRIC_LABEL = "slipway.dev/metric"
# The API server appends 5 characters to generateName; Job names must stay DNS labels (63).
_NAME_PREFIX_LIMIT = 57

_log = structlog.get_logger("slipway.providers.job")

JOB_SPEC_SCHEMA = embedded_object(
    "A JobSpec (batch/v1); its pod template runs the check, success means the metric passed.",
    properties={"template": POD_TEMPLATE_SCHEMA},
    required=["template"],
)
JobSpec = Annotated[dict[str, Any], WithJsonSchema(JOB_SPEC_SCHEMA)]
JOB_SUCCEEDED = ThresholdRange(min=1.0)
"""A job metric's range: the provider reports 1 when the Job succeeded, 0 when it failed."""


class JobConfig(PluginSection):
    """How long a job metric may run, and how often its Job is looked at."""

    key: ClassVar[str] = "job"

    timeout_seconds: float = Field(300.0, gt=0, description="Longest run of a job metric.")
    poll_seconds: float = Field(1.0, gt=0, description="How often the Job's status is read.")


class JobMetric(ApiModel):
    """A Kubernetes Job run as a smoke test: it passes when the Job succeeds."""

    template: JobSpec = Field(description="The JobSpec to run (its pod template is required).")

    @field_validator("template")
    @classmethod
    def _has_pod_template(cls, template: dict[str, Any]) -> dict[str, Any]:
        if "template" not in template:
            raise field_error("required: a JobSpec needs a pod template", ".template")
        check_pod_template(template["template"], ".template")
        return template


def job_manifest(metric: Metric, context: MeasurementContext) -> dict[str, Any]:
    """The Job to create for one measurement of `metric`."""
    labels = {
        MANAGED_BY: "slipway",
        RELEASE_LABEL: context.release,
        REVISION_LABEL: context.revision,
        METRIC_LABEL: metric.name,
    }
    spec = dict(metric.spec_of(JobMetric).template)
    identity = {
        "SLIPWAY_NAMESPACE": context.namespace,
        "SLIPWAY_RELEASE": context.release,
        "SLIPWAY_REVISION": context.revision,
        "SLIPWAY_VERSION": context.version,
    }
    spec["template"] = job_pod_template(spec["template"], labels, identity)
    prefix = f"{context.release}-{metric.name}"[: _NAME_PREFIX_LIMIT - 1].rstrip("-")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": f"{prefix}-", "namespace": context.namespace, "labels": labels},
        "spec": spec,
    }


def job_outcome(job: dict[str, Any]) -> float | None:
    """1.0 for a Complete Job, 0.0 for a Failed one, None while it runs."""
    finished = job_finished(job)
    return None if finished is None else float(finished[0])


class JobProvider:
    def __init__(self, api: KubeApi, settings: JobConfig) -> None:
        self._api = api
        self._settings = settings

    async def measure(self, metric: Metric, context: MeasurementContext) -> RawMeasurement:
        manifest = job_manifest(metric, context)
        try:
            await asyncio.to_thread(self._delete_finished, context.namespace, manifest["metadata"]["labels"])
            created = await asyncio.to_thread(self._api.create, jobs_path(context.namespace), manifest)
        except ApiError as refused:
            return failed(metric, context, f"could not start the Job: {refused}")
        name = created["metadata"]["name"]
        try:
            outcome = await self._outcome(context.namespace, name)
        except ApiError as unreadable:
            return failed(metric, context, f"could not read Job {name}: {unreadable}")
        finally:
            await asyncio.to_thread(self._delete_quietly, context.namespace, name)
        if outcome is None:
            return failed(
                metric, context, f"Job {name} did not finish within {self._settings.timeout_seconds:g}s"
            )
        return measured(metric, context, (outcome,))

    async def _outcome(self, namespace: str, name: str) -> float | None:
        settings = self._settings
        deadline = time.monotonic() + settings.timeout_seconds
        while True:
            job = await asyncio.to_thread(self._api.get, jobs_path(namespace, name))
            if job is None:
                raise ApiError(404, "NotFound", f"Job {name} was deleted before it finished")
            outcome = job_outcome(job)
            if outcome is not None or time.monotonic() >= deadline:
                return outcome
            await asyncio.sleep(min(settings.poll_seconds, max(0.0, deadline - time.monotonic())))

    def _delete_finished(self, namespace: str, labels: dict[str, str]) -> None:
        """Finished Jobs of this metric left by an operator that stopped before it could delete them."""
        selector = {key: labels[key] for key in (MANAGED_BY, RELEASE_LABEL, METRIC_LABEL)}
        for job in self._api.list(jobs_path(namespace), label_selector=selector):
            if job_outcome(job) is not None:
                self._delete_quietly(namespace, job["metadata"]["name"])

    def _delete_quietly(self, namespace: str, name: str) -> None:
        # A Job left behind is only clutter (it is labelled); the measurement must not fail for it.
        try:
            self._api.delete(jobs_path(namespace, name))
        except ApiError as refused:
            _log.warning("finished Job not deleted", namespace=namespace, job=name, error=str(refused))


PLUGIN = ProviderPlugin(
    key="job",
    spec=JobMetric,
    default_threshold=lambda _: JOB_SUCCEEDED,
    config=(JobConfig,),
    # Only with the Kubernetes API: without it a job metric fails with a clear error.
    build=lambda lent, config: (
        JobProvider(lent.kube_api, config.section(JobConfig)) if lent.kube_api is not None else None
    ),
    rules=(Rule("batch", "jobs", ("get", "list", "create", "delete")),),
    pod_templates=lambda metric: ((".template.template", metric.spec_of(JobMetric).template["template"]),),
)
