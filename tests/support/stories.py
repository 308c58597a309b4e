"""Stories told both to an operator process (tests/e2e) and to the operator pod the chart installs
(tests/chart/test_chart_install.py): one body each, whatever runs the operator."""

from __future__ import annotations

from typing import Any

from e2e_support import Cluster, first_release, release_manifest, wait_for

SELECTOR_REVISION = "slipway.dev/revision"

# A gate that waits for a person, then a long timed pause a person can pause and resume.
MANUAL_STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10m"}}]


def with_strategy(version: str, strategy: dict[str, Any], **options: Any) -> dict[str, Any]:
    manifest = release_manifest(version, **options)
    manifest["spec"]["strategy"] = strategy
    return manifest


def annotate(cluster: Cluster, action: str, value: str) -> None:
    """A manual action as `kubectl slipway` and a person write it: an annotation on the Release."""
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


def manual_actions(cluster: Cluster) -> None:
    """Promote, pause, resume, promote-full, abort and retry by `kubectl annotate`, each carried out
    exactly once and none of them touching the spec."""
    first_release(cluster)
    generation = cluster.release()["metadata"]["generation"]
    cluster.apply(release_manifest("2", steps=MANUAL_STEPS))
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

    cluster.apply(release_manifest("3", steps=MANUAL_STEPS))
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


def blue_green(cluster: Cluster) -> None:
    """Green previewed behind the canary Service, analysed, then switched to at once; blue scaled down."""
    strategy = {
        "blueGreen": {
            "autoPromotion": True,
            "autoPromotionSeconds": 2,
            "scaleDownDelaySeconds": 1,
            "prePromotionAnalysis": True,
        }
    }
    blue = first_release(cluster, "1")["stable"]["revision"]
    # No client calls the preview Service: testers do, or its analysis has no data (and pauses).
    cluster.dev.set_test_load([(cluster.namespace or "default", "web-canary")])
    cluster.apply(with_strategy("2", strategy))

    def previewing() -> dict[str, Any] | None:
        status = cluster.status()
        canary = status.get("canary") or {}
        return status if canary.get("readyReplicas") == 2 and canary.get("weight") == 0 else None

    green = wait_for(previewing, 30, "green ready behind the preview Service")["canary"]["revision"]
    assert cluster.service("web-canary")["spec"]["selector"][SELECTOR_REVISION] == green
    assert cluster.service("web")["spec"]["selector"][SELECTOR_REVISION] == blue

    cluster.wait_phase("Healthy", "2", timeout=60)
    assert cluster.service("web")["spec"]["selector"][SELECTOR_REVISION] == green

    def blue_gone() -> bool:
        old = cluster.deployment_of(blue)
        return old is None or old["spec"]["replicas"] == 0

    wait_for(blue_gone, 30, "blue scaled down after scaleDownDelaySeconds")
