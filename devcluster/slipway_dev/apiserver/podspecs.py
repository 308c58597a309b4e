"""Validation and defaulting of the pod specs inside built-in kinds (Pods and every pod template), with
the field paths and messages of a real server. Only what clients meet on day one: container names
(required, DNS labels, unique), and volumes with no source defaulted to `emptyDir: {}`."""

from __future__ import annotations

import re
from typing import Any

from slipway_dev.apiserver.errors import field_cause

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
# Where each kind keeps its pod spec.
_POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
# A volume with none of these has no source; the real defaulting makes it an emptyDir.
_VOLUME_SOURCES = frozenset(
    {
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "image",
    }
)


def _pod_spec(group: str, kind: str, obj: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    path = _POD_SPEC_PATHS.get((group, kind))
    if path is None:
        return None
    found: Any = obj
    for step in path:
        found = found.get(step) if isinstance(found, dict) else None
    return (".".join(path), found) if isinstance(found, dict) else None


def default_pod_spec(group: str, kind: str, obj: dict[str, Any]) -> None:
    located = _pod_spec(group, kind, obj)
    if located is None:
        return
    for volume in located[1].get("volumes") or ():
        if isinstance(volume, dict) and not _VOLUME_SOURCES & volume.keys():
            volume["emptyDir"] = {}


def pod_spec_causes(group: str, kind: str, obj: dict[str, Any]) -> list[dict[str, str]]:
    located = _pod_spec(group, kind, obj)
    if located is None:
        return []
    where, spec = located
    causes: list[dict[str, str]] = []
    for list_name in ("initContainers", "containers"):
        seen: set[str] = set()
        for index, container in enumerate(spec.get(list_name) or ()):
            if not isinstance(container, dict):
                continue
            field = f"{where}.{list_name}[{index}].name"
            name = container.get("name")
            if not name:
                causes.append(field_cause(field, "Required value", "FieldValueRequired"))
            elif not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.match(name):
                causes.append(field_cause(field, f'Invalid value: "{name}": {_DNS_LABEL_MESSAGE}'))
            elif name in seen:
                causes.append(field_cause(field, f'Duplicate value: "{name}"', "FieldValueDuplicate"))
            else:
                seen.add(name)
    return causes
