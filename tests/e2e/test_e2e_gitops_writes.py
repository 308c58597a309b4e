"""Issue 9, item 5: writes that GitOps tools never fight.

Two Releases go through a whole canary while git's copy of each is applied again every couple of
seconds, one as Flux's kustomize-controller does it (server-side apply under its own field manager),
one as Argo CD does it (client-side apply, with the last-applied annotation). Neither re-apply may
change anything: no conflict, an empty `kubectl diff --server-side` (the status left out), no new
generation, no restarted step, no new revision; and the operator's own entries in the Release's
managedFields hold status fields only. A promote requested with `kubectl slipway` mid-way is
acknowledged (its annotation removed) without either tool putting it back or seeing drift.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from e2e_support import E2E, WARM_UP_MEASUREMENTS, Cluster, Operator, release_manifest, wait_for

pytestmark = E2E

STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "8s"}},  # long enough for several syncs at one step
    {"analysis": {"successfulMeasurements": 2}},
    # A third step long enough to be synced at: the first step's start is written once its pods are
    # ready, together with the step after (docs/operator.md, "A status that waits for pods").
    {"pause": {"duration": "8s"}},
    {"pause": {}},  # a person promotes with `kubectl slipway promote`
    {"setWeight": 50},
    {"analysis": {"successfulMeasurements": 1}},
]
METRICS = [{"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": WARM_UP_MEASUREMENTS}]
REAPPLY_SECONDS = 1.0


def flux_apply(cluster: Cluster, manifest: str) -> None:
    """kustomize-controller's apply: server-side, its own field manager, no --force-conflicts (a field
    the operator had taken would fail the apply, as it would fail Flux's reconciliation)."""
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=kustomize-controller", "-f", "-", input=manifest
    )


def flux_diff(cluster: Cluster, manifest: str) -> str:
    return diff(cluster, manifest, "--server-side", "--field-manager=kustomize-controller")


def argo_apply(cluster: Cluster, manifest: str) -> None:
    """Argo CD's default sync: client-side `kubectl apply`, which keeps the last-applied annotation."""
    cluster.kubectl("apply", "-f", "-", input=manifest)


def argo_diff(cluster: Cluster, manifest: str) -> str:
    return diff(cluster, manifest, "--server-side")


DIFF_WITHOUT_STATUS = Path(__file__).parents[1] / "support" / "diff_without_status.py"


@cache
def external_diff() -> str:
    """A command for KUBECTL_EXTERNAL_DIFF running diff_without_status.py: kubectl passes on no
    argument of that variable but flags, so the script and its interpreter go in a wrapper (in a
    directory of this process's own)."""
    wrapper = Path(tempfile.mkdtemp(prefix="slipway-diff-")) / "diff-without-status"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{DIFF_WITHOUT_STATUS}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def diff(cluster: Cluster, manifest: str, *options: str) -> str:
    """What `kubectl diff` would change, the status left out (the operator may write it between the
    two reads kubectl diff makes); exit 0 is no difference, 1 a difference, more an error."""
    env = {"KUBECTL_EXTERNAL_DIFF": external_diff()}
    done = cluster.kubectl("diff", *options, "-f", "-", input=manifest, check=False, env=env)
    # Exit 1 without a diff printed is the diff command failing, not a difference.
    assert done.returncode == 0 or (done.returncode == 1 and done.stdout), done.stderr
    return done.stdout


def kubectl_slipway(cluster: Cluster, *args: str) -> None:
    plugin = Path(sys.executable).parent / "kubectl-slipway"
    env = {**os.environ, "KUBECONFIG": str(cluster.dev.kubeconfig)}
    subprocess.run([str(plugin), *args], env=env, check=True, capture_output=True, timeout=60)


def slipway_entries(release: dict[str, Any]) -> list[dict[str, Any]]:
    managed = release["metadata"].get("managedFields") or []
    return [entry for entry in managed if entry["manager"] == "slipway"]


class Story:
    """One Release kept in sync from "git" by one tool, with what was seen after each re-apply."""

    def __init__(
        self,
        cluster: Cluster,
        name: str,
        apply: Callable[[Cluster, str], None],
        diff: Callable[[Cluster, str], str],
    ) -> None:
        self.cluster, self.name, self.apply, self.diff = cluster, name, apply, diff
        self.manifest = ""
        self.generation = 0
        self.steps: list[tuple[str, int]] = []  # (canary revision, currentStep) as each read saw it
        self.reapplied = 0

    def release(self) -> dict[str, Any]:
        found: dict[str, Any] = self.cluster.dev.kubectl_json(
            "get", "release", self.name, "--show-managed-fields"
        )
        return found

    def commit(self, version: str) -> None:
        """A new commit in git, synced: the tool applies it."""
        body = release_manifest(version, name=self.name, steps=STEPS, metrics=METRICS)
        body["metadata"]["namespace"] = "default"
        body["metadata"]["annotations"] = {"team": "shop", "git-commit": f"c{version}"}
        self.manifest = yaml.safe_dump(body)
        self.apply(self.cluster, self.manifest)
        self.generation = self.release()["metadata"]["generation"]

    def resync(self) -> None:
        """The tool's periodic sync of the same commit: nothing may change, nothing may conflict."""
        self.apply(self.cluster, self.manifest)
        self.reapplied += 1
        assert self.diff(self.cluster, self.manifest) == ""
        release = self.release()
        assert release["metadata"]["generation"] == self.generation  # the spec was not written
        assert release["metadata"]["annotations"]["git-commit"] == f"c{release['spec']['version']}"
        for entry in slipway_entries(release):
            assert (entry["operation"], entry.get("subresource"), list(entry["fieldsV1"])) == (
                "Update",
                "status",
                ["f:status"],
            ), entry
        self.note_step(release)

    def note_step(self, release: dict[str, Any]) -> None:
        """Record the canary's step as this read of the Release shows it."""
        status = release.get("status") or {}
        canary = (status.get("canary") or {}).get("revision")
        if canary and status.get("currentStep") is not None:
            self.steps.append((canary, status["currentStep"]))

    def phase(self) -> tuple[str | None, str | None]:
        status = self.release().get("status") or {}
        return status.get("phase"), (status.get("stable") or {}).get("version")


def test_flux_and_argo_cd_reapplying_git_during_a_whole_canary_change_nothing(
    cluster: Cluster, operator: Operator
) -> None:
    stories = [
        Story(cluster, "flux", flux_apply, flux_diff),
        Story(cluster, "argo", argo_apply, argo_diff),
    ]
    for story in stories:
        story.commit("1")
    for story in stories:
        wait_for(lambda s=story: s.phase() == ("Healthy", "1"), 60, f"{story.name} v1 Healthy")
        story.resync()
    revisions_before = {d["metadata"]["name"] for d in cluster.deployments()}

    for story in stories:
        story.commit("2")
    promoted: set[str] = set()
    deadline = time.monotonic() + 150
    while any(story.phase() != ("Healthy", "2") for story in stories):
        assert time.monotonic() < deadline, [(story.name, story.release().get("status")) for story in stories]
        for story in stories:
            story.resync()
            release = story.release()
            # The manual pause waits for this loop, so its step is always seen, however slow a sync is.
            story.note_step(release)
            status = release.get("status") or {}
            waiting = (status.get("phase"), status.get("currentStep")) == ("Paused", 4)
            if waiting and story.name not in promoted:
                kubectl_slipway(cluster, "promote", story.name)  # annotation set by a person, not by git
                promoted.add(story.name)
        time.sleep(REAPPLY_SECONDS)
    for story in stories:
        story.resync()  # after promotion too

    assert promoted == {"flux", "argo"}
    for story in stories:
        release = story.release()
        # Synced again and again through the rollout: at several of its steps, not once at the end.
        assert len({step for _, step in story.steps}) >= 3, story.steps
        # Each step was taken once, in order, by one canary revision: no step restarted, no new revision.
        revisions = {revision for revision, _ in story.steps}
        assert len(revisions) == 1, story.steps
        steps = [step for _, step in story.steps]
        assert steps == sorted(steps), story.steps
        (canary,) = revisions
        history = [e["outcome"] for e in release["status"].get("history", []) if e["revision"] == canary]
        assert history == ["Promoted"], history
        assert "slipway.dev/promote" not in release["metadata"]["annotations"]  # acknowledged, not re-added
    after = {d["metadata"]["name"] for d in cluster.deployments()}
    assert len(after - revisions_before) == 2, after  # one new revision per Release: version 2's

    # Who owns what on the Release: git's tool the spec and its annotations, slipway only status.
    managers = {
        story.name: {entry["manager"]: entry for entry in story.release()["metadata"]["managedFields"]}
        for story in stories
    }
    assert "f:spec" in managers["flux"]["kustomize-controller"]["fieldsV1"]
    assert "f:spec" in managers["argo"]["kubectl-client-side-apply"]["fieldsV1"]
    for story in stories:
        for entry in managers[story.name].values():
            if entry["manager"] == "slipway":
                assert list(entry["fieldsV1"]) == ["f:status"]
            else:
                assert "f:status" not in entry["fieldsV1"], entry
    for story in stories:
        for revision in after:
            deployment = cluster.dev.kubectl_json("get", "deployment", revision, "--show-managed-fields")
            if deployment["metadata"]["labels"]["slipway.dev/release"] == story.name:
                applied = [e for e in deployment["metadata"]["managedFields"] if e["manager"] == "slipway"]
                assert [e["operation"] for e in applied] == ["Apply"], applied


def test_the_diff_leaves_out_only_what_the_apply_would_not_change(cluster: Cluster, tmp_path: Path) -> None:
    """kubectl runs diff_without_status.py: a changed annotation is a difference, a status is not."""
    body = release_manifest("1", name="plain", steps=STEPS, metrics=METRICS)
    body["metadata"]["namespace"] = "default"
    body["metadata"]["annotations"] = {"git-commit": "c1"}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    assert argo_diff(cluster, yaml.safe_dump(body)) == ""
    body["metadata"]["annotations"] = {"git-commit": "c2"}
    changed = argo_diff(cluster, yaml.safe_dump(body))
    # Our script's unified diff, not diff(1)'s (which starts with the `diff -u -N` line).
    assert (
        changed.startswith("--- ")
        and "-    git-commit: c1\n" in changed
        and "+    git-commit: c2\n" in changed
    ), changed

    live, merged = tmp_path / "LIVE", tmp_path / "MERGED"
    for directory, phase in ((live, "Healthy"), (merged, "Progressing")):
        directory.mkdir()
        written = {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": phase},
            "status": {"phase": phase},
        }
        (directory / "release").write_text(yaml.safe_dump(written))
    same = subprocess.run([external_diff(), str(live), str(merged)], capture_output=True, text=True)
    assert (same.returncode, same.stdout) == (0, "")
