"""User story 7 of issue 4: manual actions by plain `kubectl annotate`, each carried out exactly once."""

from __future__ import annotations

from typing import Any

from e2e_support import E2E, Cluster, Operator, first_release, release_manifest, wait_for

pytestmark = E2E

# A gate that waits for a person, then a long timed pause a person can pause and resume.
STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10m"}}]


def annotate(cluster: Cluster, action: str, value: str) -> None:
    cluster.write("annotate", "release", "web", f"slipway.dev/{action}={value}", "--overwrite")


def carried_out(cluster: Cluster, action: str, value: str) -> dict[str, Any]:
    """Wait until status records `action=value` and its annotation is gone; return the status."""

    def acknowledged() -> dict[str, Any] | None:
        release = cluster.release()
        records = {r["action"]: r["value"] for r in (release.get("status") or {}).get("manualActions", [])}
        annotations = release["metadata"].get("annotations") or {}
        done = records.get(action) == value and f"slipway.dev/{action}" not in annotations
        return release["status"] if done else None

    return wait_for(acknowledged, 20, f"{action}={value} carried out and acknowledged")


def wait_step(cluster: Cluster, step: int, phase: str = "Paused") -> dict[str, Any]:
    """Wait for a step; by default a `pause: {}` step, where the release is Paused until promoted."""

    def at_step() -> dict[str, Any] | None:
        status = cluster.status()
        return status if (status.get("currentStep"), status.get("phase")) == (step, phase) else None

    try:
        return wait_for(at_step, 30, f"step index {step} in phase {phase}")
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}; status: {cluster.status()}") from None


def test_promote_pause_resume_promote_full_abort_and_retry(cluster: Cluster, operator: Operator) -> None:
    first_release(cluster)
    generation = cluster.release()["metadata"]["generation"]
    cluster.apply(release_manifest("2", steps=STEPS))
    generation += 1
    assert wait_step(cluster, 1)["reason"] == "WaitingForPromote"

    annotate(cluster, "promote", "a")
    assert carried_out(cluster, "promote", "a")["currentStep"] >= 2
    wait_step(cluster, 3, "Progressing")
    # The same value again is the same request and is not carried out again: the pass that handles
    # the next action sees it too, and the rollout is still at the timed pause after that pass.
    annotate(cluster, "promote", "a")
    annotate(cluster, "pause", "b")
    paused = carried_out(cluster, "pause", "b")
    assert (paused["phase"], paused["currentStep"]) == ("Paused", 3)
    assert cluster.condition("Paused")["status"] == "True"
    annotate(cluster, "resume", "c")
    carried_out(cluster, "resume", "c")
    # Resuming a person's pause returns to the step it interrupted.
    wait_step(cluster, 3, "Progressing")
    annotate(cluster, "promote-full", "d")
    carried_out(cluster, "promote-full", "d")
    cluster.wait_phase("Healthy", "2", timeout=30)

    cluster.apply(release_manifest("3", steps=STEPS))
    generation += 1
    wait_step(cluster, 1)
    annotate(cluster, "abort", "e")
    carried_out(cluster, "abort", "e")
    degraded = cluster.wait_phase("Degraded", "2", timeout=30)
    assert degraded["lastRollback"]["reason"] == "Aborted"

    annotate(cluster, "retry", "f")
    carried_out(cluster, "retry", "f")
    wait_step(cluster, 1)
    assert cluster.status()["canary"]["version"] == "3"
    annotate(cluster, "promote-full", "g")
    cluster.wait_phase("Healthy", "3", timeout=30)

    # Not one of the manual actions touched the spec (no GitOps drift).
    assert cluster.release()["metadata"]["generation"] == generation
    outcomes = [(entry["version"], entry["outcome"]) for entry in cluster.status()["history"]]
    assert outcomes[-3:] == [("2", "Promoted"), ("3", "Aborted"), ("3", "Promoted")]
