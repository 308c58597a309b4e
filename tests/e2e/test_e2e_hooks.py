"""Deploy hooks (issue 11, part 1) on the dev cluster: real Jobs, real kubectl, the operator a process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e_support import E2E, ChangeLog, Cluster, Operator, first_release, release_manifest, wait_for

pytestmark = E2E

JOBS = "/apis/batch/v1/namespaces/default/jobs"
COLLECTIONS = {
    "Job": JOBS,
    "Deployment": "/apis/apps/v1/namespaces/default/deployments",
    "Service": "/api/v1/namespaces/default/services",
}


def hook(name: str, seconds: float = 0.2, exit_code: int = 0, timeout: str = "1m") -> dict[str, Any]:
    """A hook whose simulated pod runs `seconds` and exits with `exit_code`."""
    env = [
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": str(seconds)},
        {"name": "SLIPWAY_DEMO_EXIT_CODE", "value": str(exit_code)},
    ]
    template = {"spec": {"containers": [{"name": name, "image": f"demo/{name}", "env": env}]}}
    return {"name": name, "template": template, "timeout": timeout}


def with_hooks(version: str, **stages: list[dict[str, Any]]) -> dict[str, Any]:
    manifest = release_manifest(version, steps=[{"setWeight": 50}], metrics=None)
    del manifest["spec"]["analysis"]
    manifest["spec"]["hooks"] = stages
    return manifest


def hook_jobs(cluster: Cluster) -> dict[str, dict[str, Any]]:
    items = cluster.json("get", "jobs", "-l", "slipway.dev/release=web")["items"]
    return {job["metadata"]["name"]: job for job in items}


def finished(job: dict[str, Any]) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition["status"] == "True" and condition["type"] in ("Complete", "Failed"):
            return str(condition["type"])
    return None


def test_a_migration_runs_before_the_new_revision_gets_a_pod_or_traffic(
    cluster: Cluster, operator: Operator
) -> None:
    first_release(cluster, steps=[{"setWeight": 50}])
    with ChangeLog(cluster.dev.credentials, COLLECTIONS) as log:
        cluster.apply(with_hooks("2", preDeploy=[hook("migrate", seconds=2)], postDeploy=[hook("smoke")]))
        healthy = cluster.wait_phase("Healthy", "2", timeout=60)
    v2 = healthy["stable"]["revision"]
    results = {(entry["stage"], entry["name"]): entry for entry in healthy["hooks"]}
    assert results[("preDeploy", "migrate")]["result"] == "Succeeded"
    assert results[("postDeploy", "smoke")]["result"] == "Succeeded"
    migrate = results[("preDeploy", "migrate")]["job"]
    assert migrate == f"web-{v2}-pre-migrate-1" and len(migrate) <= 63
    changes = log.changes()
    done = next(i for i, c in enumerate(changes) if c.name == migrate and finished(c.after) == "Complete")
    created = next(i for i, c in enumerate(changes) if c.kind == "Deployment" and c.name == f"web-{v2}")
    assert done < created, "the new revision's Deployment came before its migration finished"
    routed = next(
        i
        for i, c in enumerate(changes)
        if c.kind == "Service" and c.name == "web" and v2 in str(c.after["spec"].get("selector"))
    )
    assert done < routed
    job = hook_jobs(cluster)[migrate]
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("Release", "web")
    # The smoke test ran after the migration, and only once the new revision was ready.
    smoke = results[("postDeploy", "smoke")]["job"]
    started = next(i for i, c in enumerate(changes) if c.name == smoke)
    assert started > created


def test_a_failing_migration_leaves_stable_serving_and_the_release_degraded(
    cluster: Cluster, operator: Operator
) -> None:
    v1 = first_release(cluster, steps=[{"setWeight": 50}])["stable"]["revision"]
    cluster.apply(with_hooks("2", preDeploy=[hook("migrate", exit_code=3)]))
    degraded = cluster.wait_phase("Degraded", "1", timeout=60)
    assert degraded["reason"] == "HookFailed"
    job = degraded["hooks"][0]["job"]
    assert "preDeploy hook migrate" in degraded["message"] and job in degraded["message"]
    assert cluster.condition("Stalled")["status"] == "True"
    v2 = degraded["canary"]["revision"]
    assert cluster.deployment_of(v2) is None, "a revision whose migration failed got a Deployment"
    assert cluster.service("web")["spec"]["selector"]["slipway.dev/revision"] == v1


def test_a_hanging_hook_fails_at_its_timeout(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster, steps=[{"setWeight": 50}])
    cluster.apply(with_hooks("2", preDeploy=[hook("migrate", seconds=3600, timeout="3s")]))
    degraded = cluster.wait_phase("Degraded", "1", timeout=60)
    assert degraded["reason"] == "HookFailed"
    assert "did not finish within 3s" in degraded["message"] or "deadline" in degraded["message"]


def test_a_failing_smoke_test_after_promotion_rolls_back(cluster: Cluster, operator: Operator) -> None:
    v1 = first_release(cluster, steps=[{"setWeight": 50}])["stable"]["revision"]
    cluster.apply(
        with_hooks("2", postDeploy=[hook("smoke", exit_code=1)], postRollback=[hook("page-cleanup")])
    )
    degraded = cluster.wait_phase("Degraded", "1", timeout=60)
    assert degraded["reason"] == "HookFailed"
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == ("HookFailed", "smoke")
    assert cluster.service("web")["spec"]["selector"]["slipway.dev/revision"] == v1

    def cleaned_up() -> bool:
        entries = {(e["stage"], e["name"]): e["result"] for e in cluster.status().get("hooks", [])}
        return entries.get(("postRollback", "page-cleanup")) == "Succeeded"

    wait_for(cleaned_up, 30, "the postRollback hook to succeed")


def test_an_operator_killed_mid_hook_neither_reruns_a_finished_hook_nor_skips_one(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    operator = operator_factory()
    first_release(cluster, steps=[{"setWeight": 50}])
    cluster.apply(with_hooks("2", preDeploy=[hook("migrate", seconds=0.2), hook("seed", seconds=3)]))

    def seeding() -> dict[str, Any] | None:
        jobs = hook_jobs(cluster)
        migrate = [job for name, job in jobs.items() if "-pre-migrate-" in name]
        seed = [name for name in jobs if "-pre-seed-" in name]
        return jobs if migrate and finished(migrate[0]) == "Complete" and seed else None

    wait_for(seeding, 30, "migrate done and seed running")
    operator.kill()
    operator_factory()
    healthy = cluster.wait_phase("Healthy", "2", timeout=60)
    jobs = hook_jobs(cluster)
    assert sorted(name.split("-pre-")[1] for name in jobs) == ["migrate-1", "seed-1"]
    assert all(finished(job) == "Complete" for job in jobs.values())
    assert {entry["name"]: entry["result"] for entry in healthy["hooks"]} == {
        "migrate": "Succeeded",
        "seed": "Succeeded",
    }
