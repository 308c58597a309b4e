"""`kubectl get` output: Tables with the printer columns of a real server, ages relative to now."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slipway_dev.apiserver.jsonpath import JsonPathError, evaluate
from slipway_dev.apiserver.resources import ResourceType

Cell = Callable[[dict[str, Any], float], Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    cell: Cell
    priority: int = 0
    format: str = ""
    description: str = ""

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def human_duration(seconds: float) -> str:
    """Kubernetes' HumanDuration: 45s, 5m30s, 3h, 2d4h, 400d, 3y12d."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{hours // (24 * 365)}y"


def _timestamp_seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def age(timestamp: Any, now: float) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    moment = _timestamp_seconds(timestamp)
    return "<invalid>" if moment is None else human_duration(now - moment)


def _get(obj: dict[str, Any], *path: str) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _field(*path: str, default: Any = "<none>") -> Cell:
    def cell(obj: dict[str, Any], now: float) -> Any:
        value = _get(obj, *path)
        return default if value is None else value

    return cell


def _count(*path: str) -> Cell:
    return lambda obj, now: int(_get(obj, *path) or 0)


def _ready_of(ready_path: tuple[str, ...], total_path: tuple[str, ...]) -> Cell:
    return lambda obj, now: f"{_get(obj, *ready_path) or 0}/{_get(obj, *total_path) or 0}"


def _joined(values: list[Any]) -> str:
    return ",".join(str(v) for v in values) if values else "<none>"


def _containers(key: str, *spec: str) -> Cell:
    return lambda obj, now: _joined(
        [c.get(key) for c in _get(obj, *spec, "containers") or [] if isinstance(c, dict)]
    )


def _selector(*path: str) -> Cell:
    def cell(obj: dict[str, Any], now: float) -> str:
        selector = _get(obj, *path) or {}
        labels = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
        return _joined([f"{k}={v}" for k, v in labels.items() if isinstance(v, str)])

    return cell


@dataclass(frozen=True)
class PodSummary:
    ready: str
    status: str
    restarts: str


def pod_summary(pod: dict[str, Any], now: float) -> PodSummary:
    """READY, STATUS and RESTARTS as the real server's pod printer derives them: the phase, overridden
    by the last container's waiting or terminated reason; Terminating once deleted unless finished."""
    status = _get(pod, "status") or {}
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    ready = restarts = 0
    last_restart: float | None = None
    has_running = False
    for container in reversed(status.get("containerStatuses") or []):
        restarts += int(container.get("restartCount") or 0)
        finished = _timestamp_seconds(_get(container, "lastState", "terminated", "finishedAt"))
        if finished is not None and (last_restart is None or finished > last_restart):
            last_restart = finished
        waiting = _get(container, "state", "waiting") or {}
        terminated = _get(container, "state", "terminated")
        if waiting.get("reason"):
            reason = str(waiting["reason"])
        elif isinstance(terminated, dict) and terminated.get("reason"):
            reason = str(terminated["reason"])
        elif isinstance(terminated, dict):
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif container.get("ready") and _get(container, "state", "running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        pod_ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        reason = "Running" if pod_ready else "NotReady"
    if _get(pod, "metadata", "deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    total = len(_get(pod, "spec", "containers") or [])
    return PodSummary(f"{ready}/{total}", reason, restarts_text)


def _service_ports(obj: dict[str, Any], now: float) -> str:
    ports = []
    for port in _get(obj, "spec", "ports") or []:
        if isinstance(port, dict):
            node = f":{port['nodePort']}" if port.get("nodePort") else ""
            ports.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    return _joined(ports)


def _external_ip(obj: dict[str, Any], now: float) -> str:
    ingress = _get(obj, "status", "loadBalancer", "ingress") or []
    addresses = [i.get("ip") or i.get("hostname") for i in ingress if isinstance(i, dict)]
    addresses += _get(obj, "spec", "externalIPs") or []
    return _joined(addresses)


def _endpoints(obj: dict[str, Any], now: float) -> str:
    addresses = []
    for subset in obj.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for address in subset.get("addresses") or []:
            addresses += [f"{address.get('ip')}:{p}" if p else str(address.get("ip")) for p in ports]
    return _first_three(addresses) if addresses else "<none>"


def _slice_ports(obj: dict[str, Any], now: float) -> str:
    ports = [p.get("port", "<unset>") for p in obj.get("ports") or [] if isinstance(p, dict)]
    return _first_three(ports) if ports else "<unset>"


def _slice_endpoints(obj: dict[str, Any], now: float) -> str:
    addresses = [
        a for e in obj.get("endpoints") or [] if isinstance(e, dict) for a in e.get("addresses") or []
    ]
    return _first_three(addresses) if addresses else "<unset>"


def _first_three(values: list[Any]) -> str:
    shown = ",".join(str(v) for v in values[:3])
    return f"{shown} + {len(values) - 3} more..." if len(values) > 3 else shown


def _job_status(obj: dict[str, Any], now: float) -> str:
    for condition in _get(obj, "status", "conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed", "Suspended"):
            return str(condition["type"])
    return "Running"


def _job_duration(obj: dict[str, Any], now: float) -> str:
    start = _timestamp_seconds(_get(obj, "status", "startTime"))
    if start is None:
        return ""
    end = _timestamp_seconds(_get(obj, "status", "completionTime"))
    return human_duration((now if end is None else end) - start)


def _event_object(obj: dict[str, Any], now: float) -> str:
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last_seen(obj: dict[str, Any], now: float) -> str:
    seen = obj.get("lastTimestamp") or obj.get("eventTime") or _get(obj, "metadata", "creationTimestamp")
    return age(seen, now)


_NAME = Column(
    "Name",
    "string",
    lambda obj, now: obj["metadata"]["name"],
    format="name",
    description="Name must be unique within a namespace.",
)
_AGE = Column(
    "Age",
    "string",
    lambda obj, now: age(_get(obj, "metadata", "creationTimestamp"), now),
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)

_CREATED_AT = Column("Created At", "date", _field("metadata", "creationTimestamp"))
_ROLE = Column(
    "Role", "string", lambda obj, now: f"{_get(obj, 'roleRef', 'kind')}/{_get(obj, 'roleRef', 'name')}"
)


def _subjects(kind: str) -> Cell:
    def cell(obj: dict[str, Any], now: float) -> str:
        subjects = [s for s in obj.get("subjects") or [] if isinstance(s, dict) and s.get("kind") == kind]
        if kind == "ServiceAccount":
            return _joined([f"{s.get('namespace', '')}/{s.get('name')}" for s in subjects])
        return _joined([s.get("name") for s in subjects])

    return cell


_SUBJECTS = [
    Column("Users", "string", _subjects("User"), 1),
    Column("Groups", "string", _subjects("Group"), 1),
    Column("ServiceAccounts", "string", _subjects("ServiceAccount"), 1),
]

# The wide columns of every kind that runs pods from a template.
_POD_TEMPLATE_WIDE = [
    Column("Containers", "string", _containers("name", "spec", "template", "spec"), 1),
    Column("Images", "string", _containers("image", "spec", "template", "spec"), 1),
    Column("Selector", "string", _selector("spec", "selector"), 1),
]

_BUILTIN_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("apps", "Deployment"): [
        _NAME,
        Column("Ready", "string", _ready_of(("status", "readyReplicas"), ("spec", "replicas"))),
        Column("Up-to-date", "integer", _count("status", "updatedReplicas")),
        Column("Available", "integer", _count("status", "availableReplicas")),
        _AGE,
        *_POD_TEMPLATE_WIDE,
    ],
    ("apps", "ReplicaSet"): [
        _NAME,
        Column("Desired", "integer", _count("spec", "replicas")),
        Column("Current", "integer", _count("status", "replicas")),
        Column("Ready", "integer", _count("status", "readyReplicas")),
        _AGE,
        *_POD_TEMPLATE_WIDE,
    ],
    ("", "Pod"): [
        _NAME,
        Column("Ready", "string", lambda obj, now: pod_summary(obj, now).ready),
        Column("Status", "string", lambda obj, now: pod_summary(obj, now).status),
        Column("Restarts", "string", lambda obj, now: pod_summary(obj, now).restarts),
        _AGE,
        Column("IP", "string", _field("status", "podIP"), 1),
        Column("Node", "string", _field("spec", "nodeName"), 1),
        Column("Nominated Node", "string", _field("status", "nominatedNodeName"), 1),
        Column("Readiness Gates", "string", lambda obj, now: "<none>", 1),
    ],
    ("", "Service"): [
        _NAME,
        Column("Type", "string", _field("spec", "type")),
        Column("Cluster-IP", "string", _field("spec", "clusterIP")),
        Column("External-IP", "string", _external_ip),
        Column("Port(s)", "string", _service_ports),
        _AGE,
        Column("Selector", "string", _selector("spec", "selector"), 1),
    ],
    ("", "Namespace"): [_NAME, Column("Status", "string", _field("status", "phase")), _AGE],
    ("", "ConfigMap"): [
        _NAME,
        Column(
            "Data", "integer", lambda obj, now: len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
        ),
        _AGE,
    ],
    ("", "Secret"): [
        _NAME,
        Column("Type", "string", _field("type")),
        Column("Data", "integer", lambda obj, now: len(obj.get("data") or {})),
        _AGE,
    ],
    ("", "Endpoints"): [_NAME, Column("Endpoints", "string", _endpoints), _AGE],
    ("discovery.k8s.io", "EndpointSlice"): [
        _NAME,
        Column("AddressType", "string", _field("addressType")),
        Column("Ports", "string", _slice_ports),
        Column("Endpoints", "string", _slice_endpoints),
        _AGE,
    ],
    ("", "ServiceAccount"): [
        _NAME,
        Column("Secrets", "integer", lambda obj, now: len(obj.get("secrets") or [])),
        _AGE,
    ],
    ("", "Event"): [
        Column("Last Seen", "string", _event_last_seen),
        Column("Type", "string", _field("type")),
        Column("Reason", "string", _field("reason")),
        Column("Object", "string", _event_object),
        Column("Message", "string", _field("message")),
    ],
    ("events.k8s.io", "Event"): [
        Column("Last Seen", "string", _event_last_seen),
        Column("Type", "string", _field("type")),
        Column("Reason", "string", _field("reason")),
        Column("Object", "string", _event_object),
        Column("Message", "string", _field("note")),
    ],
    ("batch", "Job"): [
        _NAME,
        Column("Status", "string", _job_status),
        Column(
            "Completions",
            "string",
            lambda obj, now: (
                f"{_get(obj, 'status', 'succeeded') or 0}/{_get(obj, 'spec', 'completions') or 1}"
            ),
        ),
        Column("Duration", "string", _job_duration),
        _AGE,
        *_POD_TEMPLATE_WIDE,
    ],
    ("coordination.k8s.io", "Lease"): [
        _NAME,
        Column("Holder", "string", _field("spec", "holderIdentity", default="")),
        _AGE,
    ],
    ("networking.k8s.io", "Ingress"): [
        _NAME,
        Column("Class", "string", _field("spec", "ingressClassName")),
        Column(
            "Hosts",
            "string",
            lambda obj, now: (
                _joined([r.get("host") for r in _get(obj, "spec", "rules") or [] if r.get("host")])
                if _get(obj, "spec", "rules")
                else "*"
            ),
        ),
        Column("Address", "string", lambda obj, now: ""),
        Column("Ports", "string", lambda obj, now: "443, 80" if _get(obj, "spec", "tls") else "80"),
        _AGE,
    ],
    ("rbac.authorization.k8s.io", "Role"): [_NAME, _CREATED_AT],
    ("rbac.authorization.k8s.io", "ClusterRole"): [_NAME, _CREATED_AT],
    ("rbac.authorization.k8s.io", "RoleBinding"): [_NAME, _ROLE, _AGE, *_SUBJECTS],
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): [_NAME, _ROLE, _AGE, *_SUBJECTS],
    ("apiextensions.k8s.io", "CustomResourceDefinition"): [_NAME, _CREATED_AT],
}


def _json_cell(column_type: str, values: list[Any], now: float) -> Any:
    """A printer-column value as the real server renders it: dates as ages, absent values as None."""
    if not values:
        return None
    value = values[0]
    if column_type == "date":
        return age(value, now)
    if column_type == "string" and isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if column_type == "string" and not isinstance(value, str):
        return json.dumps(value)
    return value


def _custom_column(spec_type: str, path: str) -> Cell:
    def cell(obj: dict[str, Any], now: float) -> Any:
        try:
            return _json_cell(spec_type, evaluate(obj, path), now)
        except JsonPathError:
            return "<invalid>"

    return cell


def columns_for(resource: ResourceType) -> list[Column]:
    if resource.custom:
        return [_NAME] + [
            Column(c.name, c.type, _custom_column(c.type, c.json_path), c.priority, c.format, c.description)
            for c in resource.printer_columns
        ]
    return _BUILTIN_COLUMNS.get((resource.group, resource.kind), [_NAME, _AGE])


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def _safe_cell(column: Column, obj: dict[str, Any], now: float) -> Any:
    """A cell, or "<invalid>" for a value of an unexpected shape: one odd object never breaks `get`."""
    try:
        return column.cell(obj, now)
    except (TypeError, ValueError, AttributeError, KeyError):
        return "<invalid>"


def table(
    resource: ResourceType,
    objects: list[dict[str, Any]],
    now: float,
    include_object: str,
    list_meta: dict[str, Any],
    headers: bool = True,
) -> dict[str, Any]:
    columns = columns_for(resource)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [_safe_cell(column, obj, now) for column in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [c.definition() for c in columns] if headers else [],
        "rows": rows,
    }
