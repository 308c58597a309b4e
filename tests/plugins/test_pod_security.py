"""Pod security (issue 13): every pod template a Release makes the operator create (its revisions', its
hooks', its job metrics') is held to the config's Pod Security Standard level, and its ServiceAccount to
the config's list, before anything is created; each violation names the field, in the words of
Kubernetes' PodSecurity admission."""

from __future__ import annotations

from typing import Any

import pytest
from core_support import release_spec

from slipway.api.models import ReleaseSpec
from slipway.plugins import readiness
from slipway.podsecurity import check_template
from slipway.runtime.config import ConfigError, PodSecurityConfig, parse_config

BASELINE = PodSecurityConfig()
RESTRICTED = PodSecurityConfig(level="restricted")
HARDENED = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
}


def pod(spec: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", "image": "x", **container}], **(spec or {})}}


def found(template: dict[str, Any], config: PodSecurityConfig = BASELINE) -> list[tuple[str, str]]:
    return [
        (obstacle.field, obstacle.message) for obstacle in check_template(template, "spec.template", config)
    ]


def test_a_plain_pod_meets_baseline_and_a_hardened_one_restricted() -> None:
    assert found(pod()) == []
    assert found(pod(securityContext=HARDENED), RESTRICTED) == []
    assert (
        found(
            pod({"hostNetwork": True}, securityContext={"privileged": True}),
            PodSecurityConfig(level="privileged"),
        )
        == []
    )


@pytest.mark.parametrize(
    ("template", "field", "message"),
    [
        (
            pod({"hostNetwork": True, "hostPID": True}),
            "spec.template.spec.hostNetwork",
            'violates PodSecurity "baseline": host namespaces (hostNetwork=true, hostPID=true)',
        ),
        (
            pod(securityContext={"privileged": True}),
            "spec.template.spec.containers[0].securityContext.privileged",
            'violates PodSecurity "baseline": privileged (container "app" must not set '
            "securityContext.privileged=true)",
        ),
        (
            pod({"volumes": [{"name": "data", "emptyDir": {}}, {"name": "root", "hostPath": {"path": "/"}}]}),
            "spec.template.spec.volumes[1].hostPath",
            'violates PodSecurity "baseline": hostPath volumes (volume "root")',
        ),
        (
            pod(ports=[{"containerPort": 8080}, {"containerPort": 80, "hostPort": 80}]),
            "spec.template.spec.containers[0].ports[1].hostPort",
            'violates PodSecurity "baseline": hostPort (container "app" uses hostPort 80)',
        ),
        (
            pod(securityContext={"capabilities": {"add": ["CHOWN", "SYS_ADMIN"]}}),
            "spec.template.spec.containers[0].securityContext.capabilities.add",
            'violates PodSecurity "baseline": non-default capabilities (container "app" must not include '
            '"SYS_ADMIN" in securityContext.capabilities.add)',
        ),
        (
            pod({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
            "spec.template.spec.securityContext.seccompProfile.type",
            'violates PodSecurity "baseline": seccompProfile (pod must not set seccompProfile.type '
            '"Unconfined")',
        ),
        (
            pod({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}),
            "spec.template.spec.securityContext.sysctls",
            'violates PodSecurity "baseline": forbidden sysctls (kernel.msgmax)',
        ),
        (
            pod(securityContext={"procMount": "Unmasked"}),
            "spec.template.spec.containers[0].securityContext.procMount",
            'violates PodSecurity "baseline": procMount (container "app" must not set '
            "securityContext.procMount to a value other than Default)",
        ),
    ],
)
def test_baseline_refuses_each_check_naming_the_field(
    template: dict[str, Any], field: str, message: str
) -> None:
    assert found(template) == [(field, message)]


def test_restricted_asks_for_a_hardened_security_context() -> None:
    fields = [field for field, _ in found(pod(), RESTRICTED)]
    assert fields == [
        "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation",
        "spec.template.spec.containers[0].securityContext.runAsNonRoot",
        "spec.template.spec.containers[0].securityContext.seccompProfile.type",
        "spec.template.spec.containers[0].securityContext.capabilities.drop",
    ]
    # The pod's own settings count for every container that sets none.
    at_pod = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}
    container = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert found(pod(at_pod, securityContext=container), RESTRICTED) == []
    nfs = pod(
        {"volumes": [{"name": "shared", "nfs": {"server": "x", "path": "/"}}]}, securityContext=HARDENED
    )
    assert found(nfs, RESTRICTED) == [
        (
            "spec.template.spec.volumes[0].nfs",
            'violates PodSecurity "restricted": restricted volume types (volume "shared" uses '
            'restricted volume type "nfs")',
        )
    ]


def test_a_template_of_the_wrong_shape_is_no_crash() -> None:
    odd: dict[str, Any] = {
        "spec": {"containers": ["x", {"securityContext": "y", "ports": "z"}], "volumes": 3}
    }
    assert found(odd) == []
    assert found({"spec": None}) == []


def test_a_service_account_is_refused_unless_the_config_lists_it() -> None:
    named = pod({"serviceAccountName": "deployer"})
    assert found(pod({"serviceAccountName": "default"})) == []
    assert found(named) == [
        (
            "spec.template.spec.serviceAccountName",
            'ServiceAccount "deployer" is not in the operator config\'s podSecurity.serviceAccounts '
            "(none); the operator runs pods only as the namespace's default ServiceAccount or a listed one",
        )
    ]
    assert found(named, PodSecurityConfig(service_accounts=["deployer"])) == []
    assert found(named, PodSecurityConfig(service_accounts=["*"])) == []


def test_every_pod_template_of_a_release_is_checked() -> None:
    privileged = {"securityContext": {"privileged": True}}
    body = release_spec().model_dump(by_alias=True, mode="json", exclude_none=True)
    body["template"] = pod(**privileged)
    body["hooks"] = {"postDeploy": [{"name": "smoke", "template": pod({"hostPID": True})}]}
    job = {"template": {"template": pod({"volumes": [{"name": "r", "hostPath": {"path": "/"}}]})}}
    body["analysis"]["metrics"] = [{"name": "smoke", "job": job}]
    obstacles = readiness(ReleaseSpec.model_validate(body), parse_config({}))
    assert [(obstacle.reason, obstacle.field) for obstacle in obstacles] == [
        ("PodSecurity", "spec.template.spec.containers[0].securityContext.privileged"),
        ("PodSecurity", "spec.hooks.postDeploy[0].template.spec.hostPID"),
        ("PodSecurity", "spec.analysis.metrics[0].job.template.template.spec.volumes[0].hostPath"),
    ]


def test_the_level_is_one_of_three() -> None:
    assert parse_config({"podSecurity": {"level": "Restricted"}}).pod_security.level == "restricted"
    with pytest.raises(ConfigError, match=r"podSecurity\.level"):
        parse_config({"podSecurity": {"level": "strict"}})
