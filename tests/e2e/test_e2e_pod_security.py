"""Issue 13: the operator is no confused deputy. A Release whose pod templates ask for what the
config's Pod Security level forbids (a privileged container, a job metric mounting the host's `/`), or
for a ServiceAccount the config does not list, is refused before anything is created, each field
named; the config can allow it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e_support import E2E, Cluster, Operator, job_metric, release_manifest, wait_for

pytestmark = E2E


def privileged_release() -> dict[str, Any]:
    manifest = release_manifest("1", metrics=[job_metric()])
    pod = manifest["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"] = {"privileged": True}
    pod["serviceAccountName"] = "deployer"
    job_pod = manifest["spec"]["analysis"]["metrics"][0]["job"]["template"]["template"]["spec"]
    job_pod["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    return manifest


def test_a_privileged_release_is_refused_before_anything_is_created(
    cluster: Cluster, operator: Operator
) -> None:
    cluster.apply(privileged_release())
    cluster.kubectl("wait", "--for=condition=Stalled", "release/web", "--timeout=30s")
    status = cluster.status()
    assert (status["phase"], status["reason"]) == ("Degraded", "PodSecurity")
    for said in (
        'spec.template.spec.containers[0].securityContext.privileged: violates PodSecurity "baseline": '
        'privileged (container "app" must not set securityContext.privileged=true)',
        'spec.template.spec.serviceAccountName: ServiceAccount "deployer" is not in the operator config\'s '
        "podSecurity.serviceAccounts",
        "spec.analysis.metrics[0].job.template.template.spec.volumes[0].hostPath: violates PodSecurity "
        '"baseline": hostPath volumes (volume "root")',
    ):
        assert said in status["message"]
    wait_for(
        lambda: [e for e in cluster.events() if (e["type"], e["reason"]) == ("Warning", "PodSecurity")],
        10,
        "a Warning Event",
    )
    assert cluster.deployments() == []
    assert cluster.json("get", "jobs")["items"] == []
    assert cluster.kubectl("get", "service", "web", check=False).returncode != 0


def test_the_config_can_allow_what_baseline_refuses(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    operator_factory(podSecurity={"level": "privileged", "serviceAccounts": ["deployer"]})
    cluster.kubectl("create", "serviceaccount", "deployer")
    manifest = privileged_release()
    manifest["spec"]["analysis"]["metrics"] = release_manifest("1")["spec"]["analysis"]["metrics"]
    cluster.apply(manifest)
    cluster.wait_phase("Healthy", "1", timeout=30)
    (deployment,) = cluster.deployments()
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "deployer"
