"""Server-side defaulting of built-in kinds, as much as clients and the simulated controllers read."""

from __future__ import annotations

import base64
from typing import Any


def _deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})


def _replica_set(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)


def _service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])


def _namespace(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])


def _secret(obj: dict[str, Any]) -> None:
    obj.setdefault("type", "Opaque")
    # stringData is write-only: merged into data, base64-encoded, as a real server does.
    plain = obj.pop("stringData", None) or {}
    if plain:
        data = obj.setdefault("data", {})
        data.update({key: base64.b64encode(value.encode()).decode() for key, value in plain.items()})


_DEFAULTERS = {
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replica_set,
    ("", "Service"): _service,
    ("", "Namespace"): _namespace,
    ("", "Secret"): _secret,
}


def apply_defaults(group: str, kind: str, obj: dict[str, Any]) -> None:
    defaulter = _DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(obj)


def initial_status(group: str, kind: str) -> dict[str, Any] | None:
    """The status a new object starts with when its kind has a status subresource."""
    if (group, kind) == ("", "Pod"):
        return {"phase": "Pending"}
    if (group, kind) == ("", "Namespace"):
        return {"phase": "Active"}
    return None
