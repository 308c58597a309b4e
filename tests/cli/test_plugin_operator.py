"""`kubectl slipway` steering the real operator on a dev cluster: each action does what the plugin said.

promote past a manual pause, abort a canary, retry the Degraded release, report the rollback, and undo
it back to the serving version; status and its exit codes, actions that would change nothing, --wait
for the effect, set image and restart; every wait is `kubectl wait` or the plugin's own, with a deadline.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from e2e_support import plugin, plugin_env, plugin_run, wait_release_phase

from slipway_dev.cluster import DevCluster

pytestmark = [pytest.mark.e2e, pytest.mark.dev_cluster(operator=True)]

RELEASE: dict[str, Any] = {
    "apiVersion": "slipway.dev/v1alpha1",
    "kind": "Release",
    "metadata": {"name": "web"},
    "spec": {
        "version": "1",
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "web", "image": "example/web"}]}},
        "service": {"port": 80, "targetPort": 8080},
        "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
    },
}


def set_version(cluster: DevCluster, version: str) -> None:
    cluster.kubectl(
        "patch", "release", "web", "--type=merge", "-p", json.dumps({"spec": {"version": version}})
    )


def test_promote_abort_retry_report_and_undo_against_the_operator(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(RELEASE))
    wait_release_phase(dev_cluster, "Healthy", "1")

    set_version(dev_cluster, "2")
    wait_release_phase(dev_cluster, "Paused", "2")
    assert "▶  2  pause until promoted" in plugin(dev_cluster, "get", "web")
    said = plugin(dev_cluster, "promote", "web", "--wait")
    assert "promote requested" in said and "promote carried out: promoted past step 2/2" in said
    wait_release_phase(dev_cluster, "Healthy", "2")
    stable = dev_cluster.kubectl_json("get", "release", "web")["status"]["stable"]
    assert stable["version"] == "2"
    history = plugin(dev_cluster, "history", "web").splitlines()
    assert [line.split()[2:4] for line in history[1:]] == [["1", "Promoted"], ["2", "Promoted"]]

    set_version(dev_cluster, "3")
    wait_release_phase(dev_cluster, "Paused", "3")
    plugin(dev_cluster, "abort", "web")
    wait_release_phase(dev_cluster, "Degraded", "3")
    report = plugin(dev_cluster, "report", "web")
    assert "rolled back 3 -> 2" in report.splitlines()[0]
    assert "Degraded" in report.splitlines()[-1]

    plugin(dev_cluster, "retry", "web")
    wait_release_phase(dev_cluster, "Paused", "3")  # the same spec, attempted again
    plugin(dev_cluster, "abort", "web")  # a new value: carried out again
    wait_release_phase(dev_cluster, "Degraded", "3")

    said = plugin(dev_cluster, "undo", "web")
    assert "CHANGED SPEC: version 3 -> 2" in said and "note:" not in said
    wait_release_phase(dev_cluster, "Healthy", "2")
    after = dev_cluster.kubectl_json("get", "release", "web")
    assert after["status"]["stable"]["revision"] == stable["revision"]  # back on the very same revision
    actions = {record["action"] for record in after["status"]["manualActions"]}
    assert actions == {"promote", "abort", "retry"}


def weight_column(cluster: DevCluster) -> str:
    """The WEIGHT column of `kubectl get rel web`, as the CRD's printer columns make the server print it."""
    header, row = cluster.kubectl("get", "rel", "web").stdout.splitlines()[:2]
    return row.split()[header.split().index("WEIGHT")]


def test_status_noop_exits_wait_set_image_restart_and_the_weight_column(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(RELEASE))
    wait_release_phase(dev_cluster, "Healthy", "1")
    assert plugin(dev_cluster, "status", "web") == "release default/web: Healthy on version 1\n"
    assert weight_column(dev_cluster) == "0"
    noop = plugin_run(dev_cluster, "promote", "web")
    assert noop.returncode == 1 and "promote would change nothing (no rollout in progress)" in noop.stderr

    said = plugin(dev_cluster, "set", "image", "web", "web=example/web:2")
    assert "CHANGED SPEC: container web image example/web -> example/web:2" in said
    wait_release_phase(dev_cluster, "Paused", "1")  # a new revision of the same version
    assert weight_column(dev_cluster) == "50"
    assert plugin_run(dev_cluster, "status", "web").returncode == 2
    assert "already paused" in plugin_run(dev_cluster, "pause", "web").stderr

    watcher = subprocess.Popen(
        ["kubectl", "slipway", "status", "web", "--watch", "--timeout", "90s"],
        env=plugin_env(dev_cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        promoted = plugin(dev_cluster, "promote-full", "web", "--wait", "--timeout", "90")
        assert "promote-full carried out: promoting fully" in promoted
        assert promoted.splitlines()[-1] == "release default/web: Healthy on version 1"
        out, _ = watcher.communicate(timeout=90)
    finally:
        watcher.kill()
    assert watcher.returncode == 0 and out.splitlines()[-1] == "release default/web: Healthy on version 1"
    assert weight_column(dev_cluster) == "0"

    said = plugin(dev_cluster, "restart", "web")
    assert "a new revision of version 1" in said
    wait_release_phase(dev_cluster, "Paused", "1")
    aborted = plugin(dev_cluster, "abort", "web", "--wait", "--timeout", "90")
    assert aborted.splitlines()[-1].startswith("release default/web: Degraded: ")
    failed = plugin_run(dev_cluster, "status", "web")
    assert failed.returncode == 1 and "Degraded" in failed.stderr
