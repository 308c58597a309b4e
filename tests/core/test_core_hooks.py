"""Deploy hooks (spec.hooks) in the state machine: preDeploy before any pod or traffic of the new
revision, postDeploy before promotion with a rollback on failure, postRollback best effort."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core_support import T0, healthy_on, of_type, phase_is, release_spec, run_until, stable_simulation

from slipway.api.models import ReleaseSpec
from slipway.core.actions import DeleteHookJobs, EmitEvent, EnsureRevision, RunHook, SetWeights
from slipway.core.revision import revision_hash
from slipway.core.simulation import SimulatedMetrics, Simulation

HOOK_TEMPLATE = {"spec": {"containers": [{"name": "job", "image": "example/migrate"}]}}


def with_hooks(version: str, **stages: list[str]) -> ReleaseSpec:
    spec = release_spec(version, strategy={"canary": {"steps": [{"setWeight": 50}]}}, metrics=None)
    hooks: dict[str, Any] = {
        stage: [{"name": name, "template": HOOK_TEMPLATE, "timeout": "5m"} for name in names]
        for stage, names in stages.items()
    }
    return ReleaseSpec.model_validate({**spec.model_dump(by_alias=True, exclude_none=True), "hooks": hooks})


def start(sim: Simulation, spec: ReleaseSpec) -> str:
    sim.change_spec(spec)
    return revision_hash(spec.template, spec.version)


def test_pre_deploy_hooks_run_in_order_before_the_revision_exists() -> None:
    sim = stable_simulation(with_hooks("1.0.0"))
    revision = start(sim, with_hooks("2.0.0", preDeploy=["migrate", "seed"]))
    decisions = run_until(sim, healthy_on("2.0.0"))
    ordered = [
        a for d in decisions for a in d.actions if isinstance(a, RunHook | EnsureRevision | SetWeights)
    ]
    assert ordered[0] == RunHook("preDeploy", "migrate", revision, "2.0.0", 1)
    assert ordered[1] == RunHook("preDeploy", "seed", revision, "2.0.0", 1)
    assert isinstance(ordered[2], EnsureRevision)  # the Deployment comes only after both succeeded
    assert sim.status is not None
    assert [(h.name, h.result) for h in sim.status.hooks] == [("migrate", "Succeeded"), ("seed", "Succeeded")]


def test_a_failing_pre_deploy_hook_leaves_stable_serving_degraded() -> None:
    sim = stable_simulation(with_hooks("1.0.0"))
    sim.cluster.failing_hooks.add("migrate")
    revision = start(sim, with_hooks("2.0.0", preDeploy=["migrate"]))
    decisions = run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.stable is not None
    assert sim.status.reason == "HookFailed"
    assert "preDeploy hook migrate (Job " in sim.status.message
    assert sim.status.stable.version == "1.0.0" and sim.status.stable.weight == 100
    assert not [a for a in of_type(decisions, EnsureRevision) if a.revision == revision]
    # retry runs the failed hook again, as a new attempt (a new Job)
    sim.cluster.failing_hooks.clear()
    sim.cluster.annotate("retry", "1")
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert RunHook("preDeploy", "migrate", revision, "2.0.0", 2) in of_type(decisions, RunHook)


def test_a_hook_that_hangs_fails_at_its_timeout() -> None:
    sim = stable_simulation(with_hooks("1.0.0"))
    sim.cluster.hanging_hooks.add("migrate")
    start(sim, with_hooks("2.0.0", preDeploy=["migrate"]))
    run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.reason == "HookFailed"
    assert "did not finish within 5m" in sim.status.message
    entry = sim.status.hooks[0]
    assert entry.started_at is not None and entry.finished_at is not None
    assert entry.finished_at - entry.started_at >= timedelta(minutes=5)


def test_a_succeeded_hook_never_runs_again_after_a_lost_status_write() -> None:
    sim = stable_simulation(with_hooks("1.0.0"))
    start(sim, with_hooks("2.0.0", preDeploy=["migrate"]))
    sim.tick()  # asks for the Job
    before = sim.status
    sim.cluster.settle()  # the Job succeeds; then the operator dies before its next status lands
    sim.tick()
    sim.status = before
    decisions = run_until(sim, healthy_on("2.0.0"))
    assert of_type(decisions, RunHook) == []


def test_a_failing_post_deploy_hook_rolls_back_with_all_traffic_on_the_new_revision_first() -> None:
    sim = stable_simulation(with_hooks("1.0.0"))
    sim.cluster.failing_hooks.add("smoke")
    revision = start(sim, with_hooks("2.0.0", postDeploy=["smoke"], postRollback=["cleanup"]))
    decisions = run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.stable is not None
    assert sim.status.reason == "HookFailed" and sim.status.stable.version == "1.0.0"
    assert sim.status.last_rollback is not None and sim.status.last_rollback.metric == "smoke"
    weights = of_type(decisions, SetWeights)
    assert SetWeights(sim.status.stable.revision, revision, 100) in weights
    assert weights[-1] == SetWeights(sim.status.stable.revision, revision, 0)
    # postRollback runs once, best effort, while the Release stays Degraded
    decisions += run_until(sim, lambda status: any(h.result == "Succeeded" for h in status.hooks[-1:]))
    for _ in range(5):
        decisions += sim.tick()
    cleanup = RunHook("postRollback", "cleanup", revision, "2.0.0", 1)
    assert of_type(decisions, RunHook).count(cleanup) == 1
    assert sim.status.phase == "Degraded"


def test_post_deploy_success_promotes_and_a_new_version_collects_old_hook_jobs() -> None:
    sim = stable_simulation(with_hooks("1.0.0"))
    first = start(sim, with_hooks("2.0.0", preDeploy=["migrate"], postDeploy=["smoke"]))
    run_until(sim, healthy_on("2.0.0"))
    start(sim, with_hooks("3.0.0", preDeploy=["migrate"]))
    decisions = run_until(sim, healthy_on("3.0.0"))
    decisions += sim.tick()  # the pass after the promotion deletes what it stopped naming
    assert DeleteHookJobs(first) in of_type(decisions, DeleteHookJobs)


def test_first_release_runs_pre_deploy_first_and_a_failure_is_degraded() -> None:
    sim = Simulation(spec=with_hooks("1.0.0", preDeploy=["migrate"]), now=T0)
    sim.cluster.failing_hooks.add("migrate")
    decisions = run_until(sim, phase_is("Degraded"))
    assert sim.status is not None and sim.status.reason == "HookFailed"
    assert of_type(decisions, EnsureRevision) == []
    assert any(isinstance(a, EmitEvent) and a.reason == "HookFailed" for d in decisions for a in d.actions)


def test_post_rollback_hooks_run_again_at_each_rollback_of_the_same_revision() -> None:
    sim = stable_simulation(with_hooks("1.0.0"))
    sim.cluster.failing_hooks.add("migrate")
    revision = start(sim, with_hooks("2.0.0", preDeploy=["migrate"], postRollback=["cleanup"]))
    cleaned = lambda status: any(  # noqa: E731
        (h.stage, h.result) == ("postRollback", "Succeeded") for h in status.hooks
    )
    decisions = run_until(sim, cleaned)
    sim.cluster.annotate("retry", "1")  # the migration fails again: a second rollback of the revision
    decisions += run_until(sim, lambda status: phase_is("Degraded")(status) and cleaned(status))
    runs = [a for a in of_type(decisions, RunHook) if a.stage == "postRollback"]
    assert runs == [
        RunHook("postRollback", "cleanup", revision, "2.0.0", 1),
        RunHook("postRollback", "cleanup", revision, "2.0.0", 2),
    ]


def test_a_first_release_waiting_for_its_migration_says_so() -> None:
    sim = Simulation(spec=with_hooks("1.0.0", preDeploy=["migrate"]), now=T0)
    sim.cluster.hanging_hooks.add("migrate")
    sim.tick()  # asks for the Job
    sim.tick()  # sees it running
    assert sim.status is not None and sim.status.phase == "Progressing"
    assert sim.status.message.startswith("first release of version 1.0.0: waiting for preDeploy hook migrate")


def test_a_post_deploy_hook_failing_while_measurements_turn_bad_still_rolls_back() -> None:
    """The promotion began on a good measurement: its hooks' failure rolls back even when the
    measurements since have had no data (the promotion's wait for a good one no longer holds it)."""
    sim = stable_simulation(with_hooks("1.0.0"))
    sim.cluster.hanging_hooks.add("smoke")
    start(sim, with_hooks("2.0.0", postDeploy=["smoke"]))
    run_until(sim, lambda status: any(hook.stage == "postDeploy" for hook in status.hooks))
    sim.metrics = SimulatedMetrics("nodata")
    run_until(sim, lambda status: status.analysis is not None and status.analysis.inconclusive == 1)
    sim.cluster.hanging_hooks.clear()
    sim.cluster.failing_hooks.add("smoke")  # it ends now, failed
    run_until(sim, phase_is("Degraded", "Paused"))
    assert sim.status is not None and (sim.status.phase, sim.status.reason) == ("Degraded", "HookFailed")
