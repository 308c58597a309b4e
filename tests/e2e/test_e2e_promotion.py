"""Issue 10 end to end: dev -> staging -> prod, one Release per namespace, with the real kubectl.

v2 is committed to all three at once: dev rolls out first, staging starts only once dev has been Healthy
on v2 for its soak, prod waits for an approval. v3 fails analysis in staging and is rolled back there,
so prod never starts v3 although its spec says v3 (it keeps serving v2 and says why). v4 passes
everywhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from e2e_support import E2E, Cluster, Operator, release_manifest, wait_for

pytestmark = E2E

ENVIRONMENTS = ("dev", "staging", "prod")
SOAK = "2s"
GATES: dict[str, dict[str, Any]] = {
    "staging": {"from": {"namespace": "dev"}, "soak": SOAK},
    "prod": {"from": {"namespace": "staging"}, "soak": SOAK, "approval": "manual"},
}


def manifest(namespace: str, version: str, error_rate: float = 0.0) -> dict[str, Any]:
    release = release_manifest(version, error_rate=error_rate)
    release["metadata"]["namespace"] = namespace
    if namespace in GATES:
        release["spec"]["promotion"] = GATES[namespace]
    return release


def status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    release = cluster.dev.kubectl_json("get", "release", "web", "-n", namespace)
    found: dict[str, Any] = release.get("status") or {}
    return found


def wait_status(
    cluster: Cluster, namespace: str, what: str, check: Any, timeout: float = 60
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        current = status(cluster, namespace)
        return current if check(current) else None

    return wait_for(probe, timeout, f"{namespace}/web: {what}")


def healthy_on(version: str) -> Any:
    return lambda s: s.get("phase") == "Healthy" and (s.get("stable") or {}).get("version") == version


def waiting(reason: str) -> Any:
    return lambda s: (s.get("phase"), s.get("reason")) == ("Paused", reason)


@pytest.fixture
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl finds `kubectl-slipway` on PATH: the one installed beside this Python."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def slipway(cluster: Cluster, *args: str) -> str:
    return cluster.kubectl("slipway", *args).stdout


def approve(cluster: Cluster, version: str) -> None:
    slipway(cluster, "approve", "web", "-n", "prod", "--version", version, "--wait")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def healthy_since(cluster: Cluster, namespace: str, version: str) -> datetime:
    entries = {e["version"]: e for e in status(cluster, namespace).get("healthyVersions", [])}
    return at(entries[version]["since"])


def events(cluster: Cluster, namespace: str) -> list[str]:
    items = cluster.dev.kubectl_json("get", "events", "-n", namespace)["items"]
    return [item["reason"] for item in items]


def test_a_version_moves_dev_staging_prod_only_once_verified(
    cluster: Cluster, operator: Operator, plugin_on_path: None
) -> None:
    for namespace in ENVIRONMENTS:
        cluster.write("create", "namespace", namespace)
    # The first release waits like any version: staging for dev, prod for staging and a person.
    for namespace in ENVIRONMENTS:
        cluster.apply(manifest(namespace, "1"))
    wait_status(cluster, "prod", "waiting for approval of 1", waiting("WaitingForApproval"))
    approve(cluster, "1")
    wait_status(cluster, "prod", "Healthy on 1", healthy_on("1"))

    # v2 committed to all three at once.
    for namespace in ENVIRONMENTS:
        cluster.apply(manifest(namespace, "2"))
    prod = wait_status(cluster, "prod", "waiting for approval of 2", waiting("WaitingForApproval"), 90)
    assert (prod["stable"]["version"], prod.get("canary")) == ("1", None)
    promotion = {c["type"]: c for c in prod["conditions"]}["Promotion"]
    assert (promotion["status"], promotion["reason"]) == ("False", "WaitingForApproval")
    staging = status(cluster, "staging")
    started = at(staging["history"][-1]["startedAt"])
    assert staging["history"][-1]["version"] == "2"
    assert (started - healthy_since(cluster, "dev", "2")).total_seconds() >= 2
    pipeline = slipway(cluster, "pipeline", "web", "-n", "staging")
    assert pipeline.strip() == "dev 2 Healthy → staging 2 Healthy → prod 1 (2 waiting: needs approval)"
    slipway(cluster, "approve", "web", "-n", "prod", "--wait")  # the version spec.version names
    wait_status(cluster, "prod", "Healthy on 2", healthy_on("2"))
    approvals = status(cluster, "prod")["promotion"]["approvals"]
    assert [a["version"] for a in approvals] == ["1", "2"] and approvals[-1]["by"] not in ("", "unknown")
    # Approving again would change nothing: the plugin says so, sends nothing and exits 1.
    again = cluster.kubectl("slipway", "approve", "web", "-n", "prod", "--version", "2", check=False)
    assert again.returncode == 1 and "would change nothing (2 already approved by " in again.stderr
    forced = slipway(cluster, "approve", "web", "-n", "prod", "--version", "2", "--wait", "--allow-noop")
    assert "no effect: 2 already approved" in forced
    assert {"WaitingForApproval", "PromotionGateOpened"} <= set(events(cluster, "prod"))

    # v3 fails analysis in staging: rolled back there, so prod never starts it.
    cluster.apply(manifest("dev", "3"))
    wait_status(cluster, "dev", "Healthy on 3", healthy_on("3"))
    cluster.apply(manifest("staging", "3", error_rate=1.0))
    cluster.apply(manifest("prod", "3"))
    staging = wait_status(cluster, "staging", "v3 rolled back", lambda s: s.get("phase") == "Degraded", 90)
    assert staging["lastRollback"]["fromVersion"] == "3"
    approve(cluster, "3")  # even approved, an unverified version does not start
    prod = wait_status(
        cluster,
        "prod",
        "saying v3 was rolled back upstream",
        lambda s: "3 was rolled back in staging/web" in s.get("message", ""),
    )
    assert (prod["phase"], prod["reason"], prod["stable"]["version"]) == ("Paused", "WaitingForUpstream", "2")
    assert prod.get("canary") is None
    revisions = cluster.dev.kubectl_json("get", "deployments", "-n", "prod")["items"]
    version = "app.kubernetes.io/version"
    replicas = {r["metadata"]["labels"][version]: r["spec"]["replicas"] for r in revisions}
    assert replicas["1"] == 0 and "3" not in replicas  # 1 kept for undo at zero; 3 never made

    # v4 passes everywhere.
    for namespace in ENVIRONMENTS:
        cluster.apply(manifest(namespace, "4"))
    wait_status(cluster, "prod", "waiting for approval of 4", waiting("WaitingForApproval"), 120)
    approve(cluster, "4")
    wait_status(cluster, "prod", "Healthy on 4", healthy_on("4"))


def test_namespaced_mode_refuses_an_upstream_in_another_namespace(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    """Watching `default` only (the chart's Role there), the operator can neither read nor watch
    `staging`: it refuses the Release with a reason, rather than waiting for ever, and never 403s."""
    operator_factory(namespaces=["default"])
    release = release_manifest("1")
    release["spec"]["promotion"] = {"from": {"namespace": "staging"}}
    cluster.apply(release)
    refused = wait_status(cluster, "default", "refused", lambda s: s.get("phase") == "Degraded")
    assert refused["reason"] == "InvalidPromotion"
    assert "spec.promotion.from.namespace: the operator watches only default" in refused["message"]
    assert {c["type"]: c["status"] for c in refused["conditions"]}["Stalled"] == "True"
    assert cluster.deployments() == []
