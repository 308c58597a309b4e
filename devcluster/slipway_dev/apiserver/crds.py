"""CustomResourceDefinitions: the resource types a CRD declares and the status a real server gives it."""

from __future__ import annotations

from typing import Any

from slipway_dev.apiserver.errors import ApiError, field_cause, invalid
from slipway_dev.apiserver.resources import ColumnSpec, ResourceType, ScaleSpec


def check_crd(crd: dict[str, Any]) -> None:
    """Refuse a CRD whose name does not match its names, as the real server does."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = crd["metadata"]["name"]
    causes = []
    group = spec.get("group")
    plural = names.get("plural")
    if not group:
        causes.append(field_cause("spec.group", "Required value", "FieldValueRequired"))
    if not plural:
        causes.append(field_cause("spec.names.plural", "Required value", "FieldValueRequired"))
    if not names.get("kind"):
        causes.append(field_cause("spec.names.kind", "Required value", "FieldValueRequired"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(field_cause("spec.scope", 'Unsupported value: must be "Namespaced" or "Cluster"'))
    if group and plural and name != f"{plural}.{group}":
        causes.append(
            field_cause("metadata.name", f'must be spec.names.plural+"."+spec.group ({plural}.{group})')
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(field_cause("spec.versions", "Required value", "FieldValueRequired"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(field_cause("spec.versions", "must have exactly one version marked as storage version"))
    for index, version in enumerate(versions):
        causes += _version_causes(f"spec.versions[{index}]", version)
    if causes:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)


def _version_causes(where: str, version: dict[str, Any]) -> list[dict[str, str]]:
    causes = []
    if not version.get("name"):
        causes.append(field_cause(f"{where}.name", "Required value", "FieldValueRequired"))
    scale = (version.get("subresources") or {}).get("scale")
    if scale is not None:
        for key in ("specReplicasPath", "statusReplicasPath"):
            if not scale.get(key):
                causes.append(
                    field_cause(f"{where}.subresources.scale.{key}", "Required value", "FieldValueRequired")
                )
    for index, column in enumerate(version.get("additionalPrinterColumns") or []):
        for key in ("name", "jsonPath"):
            if not column.get(key):
                causes.append(
                    field_cause(
                        f"{where}.additionalPrinterColumns[{index}].{key}",
                        "Required value",
                        "FieldValueRequired",
                    )
                )
    return causes


def crd_resource_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One resource type per served version, storage version first so that it is the preferred one."""
    spec = crd["spec"]
    names = spec["names"]
    versions = sorted(spec["versions"], key=lambda v: not v.get("storage"))
    return [_version_type(spec, names, version) for version in versions if version.get("served", True)]


def _version_type(spec: dict[str, Any], names: dict[str, Any], version: dict[str, Any]) -> ResourceType:
    subresources = version.get("subresources") or {}
    scale = subresources.get("scale")
    columns = tuple(
        ColumnSpec(
            name=c["name"],
            type=c.get("type", "string"),
            json_path=c["jsonPath"],
            format=c.get("format", ""),
            description=c.get("description", ""),
            priority=c.get("priority", 0),
        )
        for c in version.get("additionalPrinterColumns") or []
    ) or (ColumnSpec("Age", "date", ".metadata.creationTimestamp"),)
    return ResourceType(
        group=spec["group"],
        version=version["name"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec["scope"] == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status_subresource="status" in subresources,
        scale=(
            ScaleSpec(scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath"))
            if scale
            else None
        ),
        custom=True,
        printer_columns=columns,
        schema=(version.get("schema") or {}).get("openAPIV3Schema"),
    )


def established_status(crd: dict[str, Any], now: str) -> dict[str, Any]:
    """The status a real server reaches a moment after creation: names accepted, established."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    stored = list((crd.get("status") or {}).get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    return {
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ],
    }


def crd_group_plural(crd: dict[str, Any]) -> tuple[str, str]:
    spec = crd["spec"]
    return spec["group"], spec["names"]["plural"]


def conflicting_names(crd: dict[str, Any], served: list[ResourceType]) -> ApiError | None:
    """A CRD may not take a plural that a built-in of the same group already serves."""
    group, plural = crd_group_plural(crd)
    for resource in served:
        if resource.group == group and resource.plural == plural and not resource.custom:
            return invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                crd["metadata"]["name"],
                [field_cause("spec.names.plural", f"{plural} is already served by a built-in resource")],
            )
    return None
