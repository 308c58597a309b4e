"""What a real cluster keeps in every namespace, and how a pod comes to run as a ServiceAccount.

kube-controller-manager's serviceaccount controller makes a `default` ServiceAccount in every active
namespace and makes it again when it is deleted; its root-CA publisher keeps a `kube-root-ca.crt`
ConfigMap holding the cluster's CA (and its one annotation) in every active namespace, recreating it
when deleted and rewriting it when changed. The ServiceAccount admission plugin gives a pod without
`spec.serviceAccountName` the `default` one and refuses a pod whose ServiceAccount does not exist.
The dev API server plays the two controllers itself, at the moment of the write that concerns them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slipway_dev.apiserver.errors import ApiError

DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
_DESCRIPTION_ANNOTATION = "kubernetes.io/description"
_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)
_MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def default_service_account() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_SERVICE_ACCOUNT}}


def root_ca_config_map(ca_pem: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ROOT_CA_CONFIG_MAP, "annotations": {_DESCRIPTION_ANNOTATION: _DESCRIPTION}},
        "data": {"ca.crt": ca_pem},
    }


def republished_root_ca(config_map: dict[str, Any], ca_pem: str) -> dict[str, Any] | None:
    """The ConfigMap as the publisher rewrites it when its data or its annotation was changed, else None."""
    annotations = config_map["metadata"].get("annotations") or {}
    if config_map.get("data") == {"ca.crt": ca_pem} and annotations.get(_DESCRIPTION_ANNOTATION):
        return None
    meta = {**config_map["metadata"], "annotations": {**annotations, _DESCRIPTION_ANNOTATION: _DESCRIPTION}}
    return {**config_map, "metadata": meta, "data": {"ca.crt": ca_pem}}


def admit_pod(pod: dict[str, Any], namespace: str, exists: Callable[[str], bool]) -> None:
    """The ServiceAccount admission plugin on a new pod: `default` when it names none (the deprecated
    `spec.serviceAccount` is read when `serviceAccountName` is empty and always mirrors it, as the v1
    conversion does), and 403 when the ServiceAccount does not exist. Mirror pods are left alone."""
    meta = pod["metadata"]
    if _MIRROR_POD_ANNOTATION in (meta.get("annotations") or {}):
        return
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
    spec["serviceAccountName"] = spec["serviceAccount"] = name
    if not exists(str(name)):
        raise ApiError(
            403,
            "Forbidden",
            f'pods "{meta.get("name", "")}" is forbidden: error looking up service account '
            f'{namespace}/{name}: serviceaccount "{name}" not found',
            {"name": str(meta.get("name", "")), "kind": "pods"},
        )
