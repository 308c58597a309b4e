"""`kubectl slipway` run by the real kubectl (as a plugin found on PATH) against a dev API server.

No operator runs here: the tests write status the way the operator does (`kubectl patch
--subresource=status`, shaped by the real status model) and check what the plugin shows and writes.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.api.status import HistoryEntry, ReleaseStatus, RevisionStatus, RollbackRecord
from slipway.cli import plugin
from slipway.core.revision import revision_hash
from slipway.manifests import ReleaseRef, revision_deployment
from slipway_dev.apiserver import Credentials
from slipway_dev.apiserver.faults import FaultConfig
from slipway_dev.apiserver.kubeconfig import read_credentials, write_kubeconfig
from slipway_dev.apiserver.threaded import running_apiserver
from slipway_dev.apiserver.tls import Pki

ROOT = Path(__file__).resolve().parents[2]
CANARY = yaml.safe_load((ROOT / "examples" / "canary.yaml").read_text())
ACTIONS = ("promote", "promote-full", "pause", "resume", "abort", "retry")

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the real kubectl")


@dataclass
class Kubectl:
    kubeconfig: Path
    env: dict[str, str]

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=60
        )
        if check:
            assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done

    def apply(self, namespace: str, obj: dict[str, Any]) -> None:
        self.run("apply", "-n", namespace, "-f", "-", stdin=json.dumps(obj))

    def get(self, namespace: str, kind: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run("get", "-n", namespace, kind, name, "-o", "json").stdout)
        return result

    def set_status(self, namespace: str, name: str, status: ReleaseStatus) -> None:
        body = json.dumps({"status": status.to_api()})
        self.run(
            "patch", "-n", namespace, "release", name, "--subresource=status", "--type=merge", "-p", body
        )


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    with running_apiserver() as server:
        kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", server.credentials())
        # kubectl finds the plugin as `kubectl-slipway` on PATH: the one installed beside this Python.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        tool = Kubectl(kubeconfig, {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": path})
        tool.run("apply", "-f", str(ROOT / "crds"))
        yield tool


_namespaces = iter(range(1_000_000))


@pytest.fixture
def namespace(kube: Kubectl, request: pytest.FixtureRequest) -> str:
    name = f"t{next(_namespaces)}-{request.node.name[5:30].replace('_', '-').strip('-')}".lower()
    kube.apply("default", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def release(namespace: str, kube: Kubectl, name: str = "web") -> dict[str, Any]:
    manifest = json.loads(json.dumps(CANARY))
    manifest["metadata"]["name"] = name
    kube.apply(namespace, manifest)
    return kube.get(namespace, "release", name)


T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def canary_in_progress() -> ReleaseStatus:
    return ReleaseStatus(
        phase="Progressing",
        message="step 3/5: weight 10%, analysis 1/3 good",
        stable=RevisionStatus(revision="aaa1", version="0.9.0", replicas=4, ready_replicas=4, weight=90),
        canary=RevisionStatus(revision="bbb2", version="1.0.0", replicas=1, ready_replicas=1, weight=10),
        current_step=2,
    )


def test_each_manual_action_annotates_metadata_and_never_touches_spec(kube: Kubectl, namespace: str) -> None:
    before = release(namespace, kube)
    # No operator has written a status: every action would change nothing, and --allow-noop sends it.
    said = {
        action: kube.run("slipway", action, "web", "-n", namespace, "--allow-noop").stdout
        for action in ACTIONS
    }
    after = kube.get(namespace, "release", "web")
    for action in ACTIONS:
        value = after["metadata"]["annotations"][f"slipway.dev/{action}"]  # no operator here removes it
        assert (
            f"release {namespace}/web: {action} requested (annotation slipway.dev/{action}={value};"
            in said[action]
        )
        assert datetime.fromisoformat(value).tzinfo is not None  # RFC 3339, in UTC
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    # A second request of the same action is a new, distinct value: the operator carries it out again.
    kube.run("slipway", "promote", "web", "-n", namespace, "--allow-noop")
    again = kube.get(namespace, "release", "web")["metadata"]["annotations"]["slipway.dev/promote"]
    assert again != after["metadata"]["annotations"]["slipway.dev/promote"]


def test_missing_release_fails_with_a_message(kube: Kubectl, namespace: str) -> None:
    done = kube.run("slipway", "abort", "nope", "-n", namespace, check=False)
    assert done.returncode == 1
    assert f"Release {namespace}/nope not found" in done.stderr


def test_list_in_a_namespace_and_across_all(kube: Kubectl, namespace: str) -> None:
    release(namespace, kube)
    kube.set_status(namespace, "web", canary_in_progress())
    lines = kube.run("slipway", "list", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "PHASE", "WEIGHT", "STEP", "AGE"]
    assert lines[1].split()[:5] == ["web", "1.0.0", "Progressing", "10%", "3/5"]
    everywhere = kube.run("slipway", "list", "-A").stdout
    assert [namespace, "web", "1.0.0", "Progressing"] in [
        line.split()[:4] for line in everywhere.splitlines()
    ]


def test_namespace_defaults_to_the_contexts_and_flags_pick_the_kubeconfig(
    kube: Kubectl, namespace: str, tmp_path: Path
) -> None:
    release(namespace, kube)
    own = write_kubeconfig(tmp_path / "config", read_credentials(kube.kubeconfig), namespace=namespace)
    env = {key: value for key, value in kube.env.items() if key != "KUBECONFIG"}
    # No KUBECONFIG and no -n: the --kubeconfig file and its context's namespace decide.
    done = subprocess.run(
        ["kubectl", "slipway", "list", "--kubeconfig", str(own), "--context", "slipway-dev"],
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[0] == "web"


def test_get_marks_the_current_step(kube: Kubectl, namespace: str) -> None:
    release(namespace, kube)
    kube.set_status(namespace, "web", canary_in_progress())
    text = kube.run("slipway", "get", "web", "-n", namespace).stdout
    current = [line for line in text.splitlines() if line.startswith("▶")]
    assert len(current) == 1 and "analysis gate (3 good in a row)" in current[0]
    assert "step 3/5: weight 10%, analysis 1/3 good" in text
    assert ["canary", "bbb2", "1.0.0", "1/1", "10%"] in [line.split()[1:] for line in text.splitlines()]


def test_get_watch_shows_each_change_as_it_happens(kube: Kubectl, namespace: str) -> None:
    release(namespace, kube)
    kube.set_status(namespace, "web", canary_in_progress())
    watcher, output = _watching(kube, "get", "web", "-n", namespace, "--watch")
    try:
        seen = _read_until(output, "analysis 1/3 good", deadline=time.monotonic() + 30)
        status = canary_in_progress().model_copy(
            update={"message": "step 4/5: weight 50%", "current_step": 3}
        )
        kube.set_status(namespace, "web", status)
        seen += _read_until(output, "step 4/5: weight 50%", deadline=time.monotonic() + 30)
        assert watcher.poll() is None  # still watching
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    assert seen.index("analysis 1/3 good") < seen.index("step 4/5: weight 50%")


def test_get_watch_redraws_when_only_a_pod_changes(kube: Kubectl, namespace: str) -> None:
    """A pod started or gone often comes with no change to the Release: the view follows the pods too,
    or it shows a pod long deleted (found by a new user: the rolled-back canary's pod stayed on screen)."""
    release(namespace, kube)
    kube.set_status(namespace, "web", canary_in_progress())
    watcher, output = _watching(kube, "get", "web", "-n", namespace, "--watch")
    try:
        _read_until(output, "analysis 1/3 good", deadline=time.monotonic() + 30)
        kube.apply(namespace, _pod("web-bbb2-x1"))
        shown = _read_until(output, "web-bbb2-x1", deadline=time.monotonic() + 30)
        shown += _read_until(output, "---", deadline=time.monotonic() + 30)  # the rest of that view
        kube.run("delete", "pod", "web-bbb2-x1", "-n", namespace, "--wait=false")
        after = _read_until(output, "---", deadline=time.monotonic() + 30)
        while "web-bbb2-x1" in after:  # whole views drawn before the deletion was seen
            after = _read_until(output, "---", deadline=time.monotonic() + 30)
        assert "analysis 1/3 good" in after  # a whole view, the pod gone from it
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    assert "web-bbb2-x1" in shown


def test_get_watch_lists_the_pods_at_each_change_where_it_may_not_watch_them(
    kube: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """A user allowed to list pods but not to watch them still sees them, as listed at each change of
    the Release (the pods' own watch refused: 403)."""
    release(namespace, kube)
    kube.set_status(namespace, "web", canary_in_progress())
    kube.run("create", "serviceaccount", "viewer", "-n", namespace)
    kube.run(
        "create",
        "role",
        "viewer",
        "-n",
        namespace,
        "--verb=get,list,watch",
        "--resource=releases.slipway.dev",
    )
    kube.run("create", "role", "pods", "-n", namespace, "--verb=get,list", "--resource=pods")
    for role in ("viewer", "pods"):
        kube.run(
            "create",
            "rolebinding",
            role,
            "-n",
            namespace,
            f"--role={role}",
            f"--serviceaccount={namespace}:viewer",
        )
    token = kube.run("create", "token", "viewer", "-n", namespace).stdout.strip()
    admin = read_credentials(kube.kubeconfig)
    config = write_kubeconfig(
        tmp_path / "viewer", Credentials(admin.url, admin.ca_pem, token), namespace=namespace
    )
    viewer = Kubectl(config, {**kube.env, "KUBECONFIG": str(config)})
    watcher, output = _watching(viewer, "get", "web", "--watch")
    try:
        _read_until(output, "analysis 1/3 good", deadline=time.monotonic() + 30)
        kube.apply(namespace, _pod("web-bbb2-x2"))
        kube.set_status(namespace, "web", canary_in_progress().model_copy(update={"message": "step 4/5"}))
        view = _read_until(output, "step 4/5", deadline=time.monotonic() + 30)
        view += _read_until(output, "---", deadline=time.monotonic() + 30)
        assert "web-bbb2-x2" in view
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)


def _pod(name: str) -> dict[str, Any]:
    """A pod of the canary revision `bbb2` of the Release web."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"slipway.dev/release": "web", "slipway.dev/revision": "bbb2"}},
        "spec": {"containers": [{"name": "web", "image": "example/web:1"}]},
    }


def _read_until(output: queue.Queue[str], needle: str, deadline: float) -> str:
    """Output of the watching process up to the line holding `needle`; fails past the deadline."""
    seen = ""
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} never shown; got:\n{seen}"
        try:
            seen += output.get(timeout=remaining)
        except queue.Empty:
            continue
    return seen


def _watching(kube: Kubectl, *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """`kubectl slipway ARGS` running (a --watch), and the queue of its output lines."""
    watcher = subprocess.Popen(
        ["kubectl", "slipway", *args], env=kube.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return watcher, _lines_of(watcher)


def _lines_of(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """A queue fed with the process's output lines by a reader thread, so reads can have deadlines."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    return lines


def rolled_back(version: str, stable: tuple[str, str], failed: tuple[str, str]) -> ReleaseStatus:
    return ReleaseStatus(
        phase="Degraded",
        message=f"rolled back {failed[1]}: error-rate 0.31 above 0.001",
        stable=RevisionStatus(
            revision=stable[0], version=stable[1], replicas=4, ready_replicas=4, weight=100
        ),
        history=[
            HistoryEntry(
                revision=stable[0],
                version=stable[1],
                outcome="Promoted",
                started_at=T0,
                finished_at=T0 + timedelta(minutes=5),
            ),
            HistoryEntry(
                revision=failed[0],
                version=failed[1],
                outcome="RolledBack",
                reason="AnalysisFailed",
                started_at=T0 + timedelta(minutes=10),
                finished_at=T0 + timedelta(minutes=12),
            ),
        ],
        last_rollback=RollbackRecord(
            reason="AnalysisFailed",
            metric="error-rate",
            value="0.31",
            threshold="max 0.001",
            at=T0 + timedelta(minutes=12),
            from_version=failed[1],
            to_version=stable[1],
        ),
    )


def test_history_and_report_tell_the_rollback(kube: Kubectl, namespace: str) -> None:
    body = release(namespace, kube)
    kube.set_status(namespace, "web", rolled_back("1.0.0", ("aaa1", "0.9.0"), ("bbb2", "1.0.0")))
    event_time = (T0 + timedelta(minutes=12, seconds=1)).isoformat().replace("+00:00", "Z")
    kube.apply(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.rollback"},
            "type": "Warning",
            "reason": "RolledBack",
            "message": "error-rate 0.31 above 0.001: all traffic back on 0.9.0",
            "lastTimestamp": event_time,
            "firstTimestamp": event_time,
            "involvedObject": {
                "apiVersion": "slipway.dev/v1alpha1",
                "kind": "Release",
                "name": "web",
                "namespace": namespace,
                "uid": body["metadata"]["uid"],
            },
        },
    )
    history = kube.run("slipway", "history", "web", "-n", namespace).stdout.splitlines()
    assert [[*line.split()[:4], line.split()[-1]] for line in history[1:3]] == [
        ["1", "aaa1", "0.9.0", "Promoted", "no"],  # no Deployment of it here: undo cannot return to it
        ["2", "bbb2", "1.0.0", "RolledBack", "no"],
    ]
    report = kube.run("slipway", "report", "web", "-n", namespace).stdout
    assert (
        "rolled back 1.0.0 -> 0.9.0: AnalysisFailed (metric error-rate = 0.31, threshold max 0.001)" in report
    )
    lines = report.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if needle in line)
        for needle in (
            "1.0.0 (bbb2) started",
            "1.0.0 (bbb2) RolledBack",
            "RolledBack: error-rate 0.31 above 0.001",
        )
    ]
    assert order == sorted(order)


def test_undo_writes_the_stable_revision_back_into_spec_and_says_so(kube: Kubectl, namespace: str) -> None:
    body = release(namespace, kube)
    old_template = {**body["spec"]["template"], "metadata": {"labels": {"app": "web", "generation": "old"}}}
    old = revision_hash(old_template, "0.9.0")
    ref = ReleaseRef(namespace, "web", body["metadata"]["uid"])
    kube.apply(namespace, revision_deployment(ref, old, "0.9.0", 4, old_template))
    kube.set_status(namespace, "web", rolled_back("1.0.0", (old, "0.9.0"), ("bbb2", "1.0.0")))

    done = kube.run("slipway", "undo", "web", "-n", namespace)
    assert "CHANGED SPEC: version 1.0.0 -> 0.9.0" in done.stdout and f"revision {old}" in done.stdout
    assert "note:" not in done.stdout  # the exact template was recovered
    after = kube.get(namespace, "release", "web")
    assert after["spec"]["version"] == "0.9.0"
    assert revision_hash(after["spec"]["template"], after["spec"]["version"]) == old
    assert after["metadata"]["generation"] == body["metadata"]["generation"] + 1


def test_undo_without_the_revisions_deployment_changes_nothing(kube: Kubectl, namespace: str) -> None:
    body = release(namespace, kube)
    kube.set_status(namespace, "web", rolled_back("1.0.0", ("gone1", "0.9.0"), ("bbb2", "1.0.0")))
    done = kube.run("slipway", "undo", "web", "-n", namespace, check=False)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    said = "revision gone1 (version 0.9.0, the stable revision, now serving) has no Deployment"
    assert said in done.stderr and "manifest again (from git)" in done.stderr
    assert kube.get(namespace, "release", "web")["spec"] == body["spec"]


def test_an_unreachable_api_server_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{bound.getsockname()[1]}"
        kubeconfig = write_kubeconfig(tmp_path / "config", Credentials(url, Pki.generate().ca_pem))
        done = subprocess.run(
            [str(Path(sys.executable).parent / "kubectl-slipway"), "list", "--kubeconfig", str(kubeconfig)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach the API server") and "Traceback" not in done.stderr


def test_wait_without_an_operator_gives_up_at_the_timeout(kube: Kubectl, namespace: str) -> None:
    release(namespace, kube)
    kube.set_status(namespace, "web", canary_in_progress())  # so that pause would act
    started = time.monotonic()
    done = kube.run("slipway", "pause", "web", "-n", namespace, "--wait", "--timeout", "2", check=False)
    assert done.returncode == 1
    assert "did not carry out pause within 2s (is it running?)" in done.stderr
    assert 2 <= time.monotonic() - started < 30
    # A duration, as status's --timeout and kubectl's take.
    done = kube.run("slipway", "pause", "web", "-n", namespace, "--wait", "--timeout", "1s500ms", check=False)
    assert done.returncode == 1 and "did not carry out pause within 1.5s" in done.stderr
    bad = kube.run("slipway", "pause", "web", "-n", namespace, "--wait", "--timeout", "soon", check=False)
    assert bad.returncode == 2 and "'soon' is not a duration such as 30s" in bad.stderr


def test_approve_unapprove_and_skip_gate_name_the_version_and_who(kube: Kubectl, namespace: str) -> None:
    before = release(namespace, kube)
    version = before["spec"]["version"]
    for args in (["approve"], ["unapprove", "--version", "0.9.0"], ["approve", "--skip-gate"]):
        kube.run("slipway", *args, "web", "-n", namespace, "--allow-noop")  # no spec.promotion here
    after = kube.get(namespace, "release", "web")
    annotations = after["metadata"]["annotations"]
    # Who: the API server's answer to a SelfSubjectReview, here the dev cluster's admin.
    assert annotations["slipway.dev/approve"].startswith(f"{version} by ")
    assert " by unknown " not in annotations["slipway.dev/approve"]
    assert annotations["slipway.dev/unapprove"].startswith("0.9.0 by ")
    assert annotations["slipway.dev/skip-gate"].startswith(f"{version} by ")
    assert after["spec"] == before["spec"]


def test_pipeline_watch_draws_the_chain_again_at_each_change(kube: Kubectl, namespace: str) -> None:
    upstream = f"{namespace}-up"
    kube.apply("default", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": upstream}})
    release(upstream, kube)
    kube.set_status(upstream, "web", ReleaseStatus(phase="Healthy", stable=canary_in_progress().canary))
    down = json.loads(json.dumps(CANARY))
    down["spec"]["promotion"] = {"from": {"namespace": upstream}}
    kube.apply(namespace, down)
    waiting = ReleaseStatus.model_validate(
        {
            "phase": "Paused",
            "stable": {"revision": "aaa1", "version": "0.9.0"},
            "promotion": {"gate": "Closed", "reason": "WaitingForApproval", "version": "1.0.0"},
        }
    )
    kube.set_status(namespace, "web", waiting)
    watcher, output = _watching(kube, "pipeline", "web", "-n", namespace, "--watch")
    try:
        first = f"{upstream} 1.0.0 Healthy → {namespace} 0.9.0 (1.0.0 waiting: needs approval)"
        seen = _read_until(output, first, deadline=time.monotonic() + 30)
        started = waiting.model_copy(update={"phase": "Progressing", "canary": canary_in_progress().canary})
        kube.set_status(namespace, "web", started)
        second = f"{upstream} 1.0.0 Healthy → {namespace} 1.0.0 Progressing 10% (from 0.9.0)"
        seen += _read_until(output, second, deadline=time.monotonic() + 30)
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    assert seen.index(first) < seen.index(second)


def healthy_on(version: str) -> ReleaseStatus:
    stable = RevisionStatus(revision="aaa1", version=version, replicas=4, ready_replicas=4, weight=100)
    return ReleaseStatus(phase="Healthy", message=f"version {version} serves all traffic", stable=stable)


def test_status_exits_0_healthy_1_degraded_2_under_way(kube: Kubectl, namespace: str) -> None:
    release(namespace, kube)
    kube.set_status(namespace, "web", healthy_on("1.0.0"))
    done = kube.run("slipway", "status", "web", "-n", namespace)
    assert done.stdout == f"release {namespace}/web: Healthy on version 1.0.0\n"
    kube.set_status(namespace, "web", canary_in_progress())
    under_way = kube.run("slipway", "status", "web", "-n", namespace, check=False)
    assert under_way.returncode == 2 and "Progressing: step 3/5" in under_way.stdout
    started = time.monotonic()
    watch = ("slipway", "status", "web", "-n", namespace, "--watch", "--timeout", "2s")
    timed_out = kube.run(*watch, check=False)
    assert timed_out.returncode == 2 and "timed out after 2s" in timed_out.stderr
    assert 2 <= time.monotonic() - started < 30
    # A duration, as status's --timeout and kubectl's take.
    done = kube.run("slipway", "pause", "web", "-n", namespace, "--wait", "--timeout", "1s500ms", check=False)
    assert done.returncode == 1 and "did not carry out pause within 1.5s" in done.stderr
    bad = kube.run("slipway", "pause", "web", "-n", namespace, "--wait", "--timeout", "soon", check=False)
    assert bad.returncode == 2 and "'soon' is not a duration such as 30s" in bad.stderr
    kube.set_status(namespace, "web", rolled_back("1.0.0", ("aaa1", "0.9.0"), ("bbb2", "1.0.0")))
    failed = kube.run("slipway", "status", "web", "-n", namespace, check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"release {namespace}/web: Degraded: rolled back")
    missing = kube.run("slipway", "status", "nope", "-n", namespace, check=False)
    assert missing.returncode == 1
    assert missing.stderr == f"error: Release {namespace}/nope not found\n"


def test_an_action_that_would_change_nothing_is_not_sent_and_exits_1(kube: Kubectl, namespace: str) -> None:
    release(namespace, kube)
    kube.set_status(namespace, "web", healthy_on("1.0.0"))
    for action in ACTIONS:
        done = kube.run("slipway", action, "web", "-n", namespace, check=False)
        assert done.returncode == 1, action
        assert len(done.stderr.splitlines()) == 1 and "would change nothing (" in done.stderr
    promoted = kube.run("slipway", "promote", "web", "-n", namespace, check=False)
    assert "(no rollout in progress)" in promoted.stderr
    annotations = kube.get(namespace, "release", "web")["metadata"].get("annotations") or {}
    assert not any(key.startswith("slipway.dev/") for key in annotations)
    # A paused canary: pause would change nothing, resume acts.
    kube.set_status(namespace, "web", canary_in_progress().model_copy(update={"phase": "Paused"}))
    assert "(already paused)" in kube.run("slipway", "pause", "web", "-n", namespace, check=False).stderr
    assert "resume requested" in kube.run("slipway", "resume", "web", "-n", namespace).stdout


def test_set_image_and_restart_change_the_spec_and_say_so(kube: Kubectl, namespace: str) -> None:
    before = release(namespace, kube)
    done = kube.run("slipway", "set", "image", "web", "web=example/web:1.0.1", "-n", namespace)
    assert "CHANGED SPEC: container web image example/web:1.0.0 -> example/web:1.0.1" in done.stdout
    after = kube.get(namespace, "release", "web")
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "example/web:1.0.1"
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    unknown = kube.run("slipway", "set", "image", "web", "api=example/api:2", "-n", namespace, check=False)
    assert unknown.returncode == 1 and len(unknown.stderr.splitlines()) == 1
    assert "no container 'api' in spec.template (containers: web)" in unknown.stderr
    # The image it already runs: no new revision, so nothing is written and, as for the actions, exit 1.
    again = ("slipway", "set", "image", "web", "web=example/web:1.0.1", "-n", namespace)
    same = kube.run(*again, check=False)
    assert same.returncode == 1
    assert "would change nothing (container web already runs example/web:1.0.1)" in same.stderr
    accepted = kube.run(*again, "--allow-noop")
    assert "not sent" in accepted.stdout and "CHANGED SPEC" not in accepted.stdout
    assert kube.get(namespace, "release", "web")["metadata"]["generation"] == after["metadata"]["generation"]
    assert kube.get(namespace, "release", "web")["spec"] == after["spec"]

    restarted = kube.run("slipway", "restart", "web", "-n", namespace).stdout
    assert "CHANGED SPEC" in restarted and "a new revision of version 1.0.0" in restarted
    spec = kube.get(namespace, "release", "web")["spec"]
    assert spec["version"] == after["spec"]["version"]
    assert "slipway.dev/restartedAt" in spec["template"]["metadata"]["annotations"]
    old_revision = revision_hash(after["spec"]["template"], after["spec"]["version"])
    assert revision_hash(spec["template"], spec["version"]) != old_revision


def test_outputs_names_and_list_watch(kube: Kubectl, namespace: str) -> None:
    release(namespace, kube)
    release(namespace, kube, name="api")
    kube.set_status(namespace, "web", rolled_back("1.0.0", ("aaa1", "0.9.0"), ("bbb2", "1.0.0")))
    listed = json.loads(kube.run("slipway", "list", "-n", namespace, "-o", "json").stdout)
    assert listed["kind"] == "List" and {r["metadata"]["name"] for r in listed["items"]} == {"web", "api"}
    named = yaml.safe_load(kube.run("slipway", "list", "-n", namespace, "--name", "api", "-o", "yaml").stdout)
    assert [r["metadata"]["name"] for r in named["items"]] == ["api"]
    missing = kube.run("slipway", "list", "-n", namespace, "--name", "nope", check=False)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == f"No Release nope found in namespace {namespace}.\n"
    wide = kube.run("slipway", "list", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-4:] == ["STRATEGY", "STABLE", "CANARY", "MESSAGE"]
    got = json.loads(kube.run("slipway", "get", "web", "-n", namespace, "-o", "json").stdout)
    assert got["status"]["phase"] == "Degraded"
    history = yaml.safe_load(kube.run("slipway", "history", "web", "-n", namespace, "-o", "yaml").stdout)
    assert [(entry["no"], entry["outcome"]) for entry in history] == [(1, "Promoted"), (2, "RolledBack")]
    bad = kube.run("slipway", "list", "-n", namespace, "-o", "xml", check=False)
    assert bad.returncode == 2 and "'xml': use one of json, yaml, wide" in bad.stderr

    watcher, output = _watching(kube, "list", "-n", namespace, "--name", "api", "--watch")
    try:
        _read_until(output, "api", deadline=time.monotonic() + 30)
        kube.set_status(namespace, "api", canary_in_progress())
        _read_until(output, "Progressing", deadline=time.monotonic() + 30)
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)


def test_lint_version_completion_and_help(kube: Kubectl, tmp_path: Path) -> None:
    assert "valid" in kube.run("slipway", "lint", str(ROOT / "examples" / "canary.yaml")).stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({**CANARY, "spec": {**CANARY["spec"], "replicas": -1}}))
    linted = kube.run("slipway", "lint", str(broken), check=False)
    assert linted.returncode == 1 and "replicas" in linted.stdout
    assert kube.run("slipway", "version").stdout.startswith("kubectl-slipway ")
    assert kube.run("slipway", "--version").stdout == kube.run("slipway", "version").stdout
    for shell in ("bash", "zsh", "fish"):
        assert "_KUBECTL_SLIPWAY_COMPLETE" in kube.run("slipway", "completion", shell).stdout
    commands = ["list", "get", "status", "history", "set image", "restart", "lint", "completion", *ACTIONS]
    for command in commands:
        helped = kube.run("slipway", *command.split(), "-h").stdout
        assert helped.startswith("Usage: kubectl slipway") and "<bool>" not in helped, command


def test_undo_to_a_revision_that_never_existed_is_one_line_and_exit_1(kube: Kubectl, namespace: str) -> None:
    body = release(namespace, kube)
    kube.set_status(namespace, "web", rolled_back("1.0.0", ("aaa1", "0.9.0"), ("bbb2", "1.0.0")))
    for target, why in (("9", "no history entry 9: history has 2 entries"), ("zzz9", "revision zzz9 is not")):
        done = kube.run("slipway", "undo", "web", "-n", namespace, "--to-revision", target, check=False)
        assert done.returncode == 1 and len(done.stderr.splitlines()) == 1 and why in done.stderr
    assert kube.get(namespace, "release", "web")["spec"] == body["spec"]


def test_watches_that_end_at_once_are_opened_again_after_a_growing_wait(tmp_path: Path) -> None:
    """A watch that ends at once (behind a proxy ignoring timeoutSeconds; here the server's injected
    drop after 10 ms) is opened again after 0.5, 1, 2 ... s, not in a busy loop, for the Release
    (`status --watch`, `get --watch`) as for its pods."""
    with running_apiserver(faults=FaultConfig(watch_drop_seconds=0.01)) as server:
        kubeconfig = write_kubeconfig(tmp_path / "config", server.credentials())
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        kube = Kubectl(kubeconfig, {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": path})
        kube.run("apply", "-f", str(ROOT / "crds"))
        release("default", kube)
        cluster = plugin.connect(str(kubeconfig), None, "default")
        opened: list[str] = []
        real_watch = cluster.api.watch

        def counted(path: str, *args: Any, **options: Any) -> Iterator[dict[str, Any]]:
            opened.append(path.rsplit("/", 1)[-1])
            return real_watch(path, *args, **options)

        object.__setattr__(cluster.api, "watch", counted)
        list(plugin._follow(cluster, "web", deadline=time.monotonic() + 2.5))
        views = plugin._follow_with_pods(cluster, "web")
        next(views)
        time.sleep(2.5)
        views.close()
    # 0.5 + 1 + 2 s of waiting fit in 2.5 s: at most 3-4 watches each, thousands without the wait
    assert 2 <= opened.count("releases") <= 8 and 2 <= opened.count("pods") <= 5, opened
