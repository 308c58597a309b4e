"""Server-side defaulting of built-in kinds, as much as clients and the simulated controllers read."""

from __future__ import annotations

import base64
from typing import Any


def _pod_spec(spec: object) -> None:
    """Container ports default to TCP, as a real server's pod defaulting does. The protocol is half of
    a port's key in managedFields: left out, a manager's applied configuration read back from them
    (client-go's Extract) lost its ports, and re-applying it restarted every pod."""
    if not isinstance(spec, dict):
        return
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            for port in (container.get("ports") or []) if isinstance(container, dict) else []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _template(obj: dict[str, Any]) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        _pod_spec(template.get("spec"))


def _pod(obj: dict[str, Any]) -> None:
    _pod_spec(obj.get("spec"))


def _deployment(obj: dict[str, Any]) -> None:
    _template(obj)
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})


def _replica_set(obj: dict[str, Any]) -> None:
    _template(obj)
    obj.setdefault("spec", {}).setdefault("replicas", 1)


def _job(obj: dict[str, Any]) -> None:
    _template(obj)
    # The selector a real server generates from the uid, and the labels it puts on the template to match.
    meta, spec = obj["metadata"], obj.setdefault("spec", {})
    if spec.get("manualSelector") or not meta.get("uid"):
        return
    generated = {
        "batch.kubernetes.io/controller-uid": meta["uid"],
        "batch.kubernetes.io/job-name": meta["name"],
        "controller-uid": meta["uid"],
        "job-name": meta["name"],
    }
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": meta["uid"]}})
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **generated}


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
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
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
