"""What a fresh cluster holds and protects: its initial namespaces, the ones that may never be deleted
(the NamespaceLifecycle admission plugin's "immortal" namespaces), and the `kubernetes` Service."""

from __future__ import annotations

from typing import Any

from slipway_dev.apiserver.errors import ApiError

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
# The first address of the service range belongs to the `kubernetes` Service, as on a real cluster.
KUBERNETES_SERVICE_IP = "10.96.0.1"


def check_deletable(name: str) -> None:
    """403 for a namespace a real server refuses to delete (even in a dry run: admission still runs)."""
    if name in IMMORTAL_NAMESPACES:
        raise ApiError(
            403,
            "Forbidden",
            f'namespaces "{name}" is forbidden: this namespace may not be deleted',
            {"name": name, "kind": "namespaces"},
        )


def kubernetes_service() -> dict[str, Any]:
    """The Service in `default` through which pods reach the API server (only a record here)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": KUBERNETES_SERVICE_IP,
            "clusterIPs": [KUBERNETES_SERVICE_IP],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
    }
