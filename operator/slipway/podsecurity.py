"""The Pod Security Standards, checked on every pod template the operator would create for a Release.

The operator creates Deployments, hook Jobs and job-metric Jobs with its own rights: without this
check, a person allowed to write Releases but not privileged pods would get them through it (a
confused deputy). Each template is held to the level the operator config sets (`podSecurity.level`:
`privileged` checks nothing, `baseline` by default, `restricted`) before anything is created, and a
violation is an obstacle naming the field, with the words Kubernetes' PodSecurity admission uses
(`violates PodSecurity "baseline": privileged (container "app" must not set
securityContext.privileged=true)`). The ServiceAccount a template names is checked too: only the
namespace's `default` and the names the config lists (`podSecurity.serviceAccounts`).

Pure functions over the templates as written (plain dicts, whatever their shape: a value of the wrong
type is treated as unset here, the models and the API server judge types).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from slipway.core.obstacles import Obstacle
from slipway.runtime.config import PodSecurityConfig

POD_SECURITY: Final = "PodSecurity"
SERVICE_ACCOUNT_NOT_ALLOWED: Final = "ServiceAccountNotAllowed"

# The capabilities a container runtime grants by default: baseline lets a container add these only.
_DEFAULT_CAPABILITIES = frozenset(
    [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ]
)
_SAFE_SYSCTLS = frozenset(
    [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    ]
)
_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
_RESTRICTED_VOLUME_TYPES = frozenset(
    [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ]
)
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _plural(word: str, names: list[str]) -> str:
    return f"{word}{'s' if len(names) > 1 else ''} {_quoted(names)}"


@dataclass(frozen=True)
class _Container:
    name: str
    at: str  # e.g. spec.template.spec.containers[0]
    security: dict[str, Any]
    raw: dict[str, Any]


@dataclass(frozen=True)
class _Pod:
    template_at: str  # e.g. spec.template
    spec: dict[str, Any]
    annotations: dict[str, Any]
    containers: tuple[_Container, ...]

    @property
    def at(self) -> str:
        return f"{self.template_at}.spec"

    @property
    def security(self) -> dict[str, Any]:
        return _obj(self.spec.get("securityContext"))


@dataclass(frozen=True)
class _Violation:
    reason: str  # the check's name, as the PodSecurity admission says it
    field: str  # the first field at fault
    detail: str


def _pod(template: dict[str, Any], at: str) -> _Pod:
    spec = _obj(template.get("spec"))
    containers = tuple(
        _Container(
            str(container.get("name", "")),
            f"{at}.spec.{kind}[{index}]",
            _obj(container.get("securityContext")),
            container,
        )
        for kind in ("initContainers", "containers", "ephemeralContainers")
        for index, container in enumerate(_list(spec.get(kind)))
        if isinstance(container, dict)
    )
    return _Pod(at, spec, _obj(_obj(template.get("metadata")).get("annotations")), containers)


def _per_container(
    pod: _Pod, bad: Callable[[_Container], str | None], reason: str, detail: Callable[[str], str]
) -> Iterator[_Violation]:
    """One violation for the containers where `bad` gives a field (relative to the container)."""
    found = [(container, field) for container in pod.containers if (field := bad(container)) is not None]
    if found:
        first, field = found[0]
        yield _Violation(
            reason, f"{first.at}.{field}", detail(_plural("container", [c.name for c, _ in found]))
        )


def _host_namespaces(pod: _Pod) -> Iterator[_Violation]:
    shared = [key for key in ("hostNetwork", "hostPID", "hostIPC") if pod.spec.get(key) is True]
    if shared:
        detail = ", ".join(f"{key}=true" for key in shared)
        yield _Violation("host namespaces", f"{pod.at}.{shared[0]}", detail)


def _privileged(pod: _Pod) -> Iterator[_Violation]:
    yield from _per_container(
        pod,
        lambda c: "securityContext.privileged" if c.security.get("privileged") is True else None,
        "privileged",
        lambda who: f"{who} must not set securityContext.privileged=true",
    )


def _added_capabilities(container: _Container) -> list[str]:
    return [str(cap) for cap in _list(_obj(container.security.get("capabilities")).get("add"))]


def _baseline_capabilities(pod: _Pod) -> Iterator[_Violation]:
    for container in pod.containers:
        extra = [cap for cap in _added_capabilities(container) if cap not in _DEFAULT_CAPABILITIES]
        if extra:
            yield _Violation(
                "non-default capabilities",
                f"{container.at}.securityContext.capabilities.add",
                f'container "{container.name}" must not include {_quoted(extra)} in '
                "securityContext.capabilities.add",
            )


def _host_path_volumes(pod: _Pod) -> Iterator[_Violation]:
    volumes = [(i, _obj(v)) for i, v in enumerate(_list(pod.spec.get("volumes"))) if "hostPath" in _obj(v)]
    if volumes:
        names = [str(volume.get("name", "")) for _, volume in volumes]
        yield _Violation(
            "hostPath volumes", f"{pod.at}.volumes[{volumes[0][0]}].hostPath", _plural("volume", names)
        )


def _host_ports(pod: _Pod) -> Iterator[_Violation]:
    for container in pod.containers:
        ports = [
            (index, port["hostPort"])
            for index, port in enumerate(_list(container.raw.get("ports")))
            if isinstance(port, dict) and port.get("hostPort") not in (None, 0)
        ]
        if ports:
            used = ", ".join(str(port) for _, port in ports)
            yield _Violation(
                "hostPort",
                f"{container.at}.ports[{ports[0][0]}].hostPort",
                f'container "{container.name}" uses hostPort {used}',
            )


def _app_armor(pod: _Pod) -> Iterator[_Violation]:
    for key, value in pod.annotations.items():
        if key.startswith(_APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            yield _Violation(
                "forbidden AppArmor profile",
                f"{pod.template_at}.metadata.annotations[{key}]",
                f'{key}="{value}"',
            )
    for where, security in ((pod.at, pod.security), *((c.at, c.security) for c in pod.containers)):
        if _obj(security.get("appArmorProfile")).get("type") == "Unconfined":
            yield _Violation(
                "forbidden AppArmor profile",
                f"{where}.securityContext.appArmorProfile.type",
                'securityContext.appArmorProfile.type="Unconfined"',
            )


def _security_contexts(pod: _Pod) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(who, field, securityContext) of the pod and of each container."""
    yield "pod", f"{pod.at}.securityContext", pod.security
    for container in pod.containers:
        yield f'container "{container.name}"', f"{container.at}.securityContext", container.security


def _se_linux(pod: _Pod) -> Iterator[_Violation]:
    for who, at, security in _security_contexts(pod):
        options = _obj(security.get("seLinuxOptions"))
        wrong = [
            f'{key}="{options[key]}"'
            for key in ("type", "user", "role")
            if key in options and (options[key] not in _SELINUX_TYPES if key == "type" else options[key])
        ]
        if wrong:
            yield _Violation(
                "seLinuxOptions", f"{at}.seLinuxOptions", f"{who} set forbidden {', '.join(wrong)}"
            )


def _proc_mount(pod: _Pod) -> Iterator[_Violation]:
    yield from _per_container(
        pod,
        lambda c: (
            "securityContext.procMount" if c.security.get("procMount", "Default") != "Default" else None
        ),
        "procMount",
        lambda who: f"{who} must not set securityContext.procMount to a value other than Default",
    )


def _seccomp_unconfined(pod: _Pod) -> Iterator[_Violation]:
    for who, at, security in _security_contexts(pod):
        if _obj(security.get("seccompProfile")).get("type") == "Unconfined":
            yield _Violation(
                "seccompProfile",
                f"{at}.seccompProfile.type",
                f'{who} must not set seccompProfile.type "Unconfined"',
            )


def _sysctls(pod: _Pod) -> Iterator[_Violation]:
    sysctls = _list(pod.security.get("sysctls"))
    forbidden = [str(_obj(s).get("name")) for s in sysctls if _obj(s).get("name") not in _SAFE_SYSCTLS]
    if forbidden:
        yield _Violation("forbidden sysctls", f"{pod.at}.securityContext.sysctls", ", ".join(forbidden))


def _host_process(pod: _Pod) -> Iterator[_Violation]:
    for who, at, security in _security_contexts(pod):
        if _obj(security.get("windowsOptions")).get("hostProcess") is True:
            yield _Violation(
                "hostProcess", f"{at}.windowsOptions.hostProcess", f"{who} must not set hostProcess"
            )


def _volume_types(pod: _Pod) -> Iterator[_Violation]:
    for index, volume in enumerate(_list(pod.spec.get("volumes"))):
        kinds = [key for key in _obj(volume) if key != "name" and key not in _RESTRICTED_VOLUME_TYPES]
        # hostPath is baseline's own check: told once.
        if kinds and kinds != ["hostPath"]:
            yield _Violation(
                "restricted volume types",
                f"{pod.at}.volumes[{index}].{kinds[0]}",
                f'volume "{_obj(volume).get("name", "")}" uses restricted volume type "{kinds[0]}"',
            )


def _privilege_escalation(pod: _Pod) -> Iterator[_Violation]:
    yield from _per_container(
        pod,
        lambda c: (
            None
            if c.security.get("allowPrivilegeEscalation") is False
            else "securityContext.allowPrivilegeEscalation"
        ),
        "allowPrivilegeEscalation != false",
        lambda who: f"{who} must set securityContext.allowPrivilegeEscalation=false",
    )


def _pod_or_containers(pod: _Pod, key: str, good: Callable[[Any], bool]) -> list[_Container]:
    """The containers whose own `key` (or the pod's, where the container sets none) is not `good`."""
    pod_value = pod.security.get(key)
    return [c for c in pod.containers if not good(c.security.get(key, pod_value))]


def _names(containers: list[_Container]) -> str:
    return _plural("container", [container.name for container in containers])


def _run_as_non_root(pod: _Pod) -> Iterator[_Violation]:
    bad = _pod_or_containers(pod, "runAsNonRoot", lambda value: value is True)
    if bad:
        yield _Violation(
            "runAsNonRoot != true",
            f"{bad[0].at}.securityContext.runAsNonRoot",
            f"pod or {_names(bad)} must set securityContext.runAsNonRoot=true",
        )


def _run_as_root_user(pod: _Pod) -> Iterator[_Violation]:
    for who, at, security in _security_contexts(pod):
        if security.get("runAsUser") == 0:
            yield _Violation("runAsUser=0", f"{at}.runAsUser", f"{who} must not set runAsUser=0")


def _seccomp_required(pod: _Pod) -> Iterator[_Violation]:
    def confined(profile: Any) -> bool:
        return _obj(profile).get("type") in ("RuntimeDefault", "Localhost")

    bad = _pod_or_containers(pod, "seccompProfile", confined)
    if bad:
        yield _Violation(
            "seccompProfile",
            f"{bad[0].at}.securityContext.seccompProfile.type",
            f"pod or {_names(bad)} must set securityContext.seccompProfile.type "
            'to "RuntimeDefault" or "Localhost"',
        )


def _restricted_capabilities(pod: _Pod) -> Iterator[_Violation]:
    yield from _per_container(
        pod,
        lambda c: (
            None
            if "ALL" in _list(_obj(c.security.get("capabilities")).get("drop"))
            else "securityContext.capabilities.drop"
        ),
        "unrestricted capabilities",
        lambda who: f'{who} must set securityContext.capabilities.drop=["ALL"]',
    )
    for container in pod.containers:
        extra = [cap for cap in _added_capabilities(container) if cap != "NET_BIND_SERVICE"]
        if extra:
            yield _Violation(
                "unrestricted capabilities",
                f"{container.at}.securityContext.capabilities.add",
                f'container "{container.name}" must not include {_quoted(extra)} in '
                "securityContext.capabilities.add",
            )


_Check = Callable[[_Pod], Iterator[_Violation]]
_BASELINE: tuple[_Check, ...] = (
    _host_namespaces,
    _privileged,
    _host_path_volumes,
    _host_ports,
    _app_armor,
    _se_linux,
    _proc_mount,
    _seccomp_unconfined,
    _sysctls,
    _host_process,
)
# Restricted's capability check replaces baseline's (it is the stricter of the two).
_RESTRICTED: tuple[_Check, ...] = (
    *_BASELINE,
    _volume_types,
    _privilege_escalation,
    _run_as_non_root,
    _run_as_root_user,
    _seccomp_required,
    _restricted_capabilities,
)
CHECKS: Final[dict[str, tuple[_Check, ...]]] = {
    "privileged": (),
    "baseline": (*_BASELINE, _baseline_capabilities),
    "restricted": _RESTRICTED,
}


def check_template(template: Any, at: str, config: PodSecurityConfig) -> tuple[Obstacle, ...]:
    """What keeps the pod template at `at` (API server notation) from running under `config`: a
    violation of its Pod Security Standard level, each naming the field, and a ServiceAccount it may
    not use."""
    pod = _pod(_obj(template), at)
    violations = [violation for check in CHECKS[config.level] for violation in check(pod)]
    obstacles = [
        Obstacle(
            POD_SECURITY,
            violation.field,
            f'violates PodSecurity "{config.level}": {violation.reason} ({violation.detail})',
        )
        for violation in violations
    ]
    account = pod.spec.get("serviceAccountName") or pod.spec.get("serviceAccount")
    if account and not config.allows_service_account(str(account)):
        listed = ", ".join(config.service_accounts) or "none"
        key = "serviceAccountName" if "serviceAccountName" in pod.spec else "serviceAccount"
        obstacles.append(
            Obstacle(
                SERVICE_ACCOUNT_NOT_ALLOWED,
                f"{pod.at}.{key}",
                f'ServiceAccount "{account}" is not in the operator config\'s podSecurity.serviceAccounts '
                f"({listed}); the operator runs pods only as the namespace's default ServiceAccount or a "
                "listed one",
            )
        )
    return tuple(obstacles)
