"""Object metadata checks every write passes, with the rules and messages of a real server."""

from __future__ import annotations

import re
from typing import Any

from slipway_dev.apiserver.errors import field_cause

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Namespaces are DNS labels and Services DNS-1035 labels; everything else is a DNS subdomain.
_LABEL_NAMED = {("", "namespaces")}
_DNS_1035_NAMED = {("", "services")}


def name_causes(group: str, plural: str, name: Any) -> list[dict[str, str]]:
    if not isinstance(name, str) or not name:
        return [
            field_cause(
                "metadata.name", "Required value: name or generateName is required", "FieldValueRequired"
            )
        ]
    if group == "rbac.authorization.k8s.io":
        # RBAC names are path segments (`system:discovery`), as kube-apiserver's ValidateRBACName checks.
        why = (
            f"may not be '{name}'"
            if name in (".", "..")
            else next((f"may not contain '{c}'" for c in ("/", "%") if c in name), None)
        )
        return [] if why is None else [field_cause("metadata.name", f'Invalid value: "{name}": {why}')]
    if (group, plural) in _LABEL_NAMED:
        ok = len(name) <= 63 and _DNS_LABEL.match(name) is not None
        rule = "a lowercase RFC 1123 label (at most 63 characters, lower case alphanumerics or '-')"
    elif (group, plural) in _DNS_1035_NAMED:
        ok = len(name) <= 63 and _DNS_1035_LABEL.match(name) is not None
        rule = "a DNS-1035 label (at most 63 characters, a letter first, lower case alphanumerics or '-')"
    else:
        ok = len(name) <= 253 and _DNS_SUBDOMAIN.match(name) is not None
        rule = "a lowercase RFC 1123 subdomain (at most 253 characters, lower case alphanumerics, '-' or '.')"
    return [] if ok else [field_cause("metadata.name", f'Invalid value: "{name}": must be {rule}')]


def _key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and _QUALIFIED_NAME.match(name) is not None


def metadata_causes(meta: Any) -> list[dict[str, str]]:
    """Type and syntax problems of labels, annotations, finalizers and ownerReferences."""
    if not isinstance(meta, dict):
        return [field_cause("metadata", "Invalid value: must be an object")]
    causes = []
    labels = meta.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            causes.append(field_cause("metadata.labels", "Invalid value: must be a map of strings"))
        else:
            for key, value in labels.items():
                if not _key_ok(key):
                    causes.append(
                        field_cause(
                            "metadata.labels", f'Invalid value: "{key}": name part must be a qualified name'
                        )
                    )
                if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                    causes.append(
                        field_cause(
                            f"metadata.labels.{key}",
                            f"Invalid value: {value!r}: a valid label "
                            "must be 63 characters or less, alphanumeric, '-', '_' or '.'",
                        )
                    )
    annotations = meta.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            causes.append(field_cause("metadata.annotations", "Invalid value: must be a map of strings"))
        elif not all(_key_ok(k) for k in annotations):
            causes.append(field_cause("metadata.annotations", "Invalid value: keys must be qualified names"))
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        causes.append(field_cause("metadata.finalizers", "Invalid value: must be a list of strings"))
    owners = meta.get("ownerReferences")
    if owners is not None:
        required = ("apiVersion", "kind", "name", "uid")
        if not isinstance(owners, list) or not all(
            isinstance(o, dict) and all(o.get(k) for k in required) for o in owners
        ):
            causes.append(
                field_cause(
                    "metadata.ownerReferences",
                    "Invalid value: each needs apiVersion, kind, name and uid",
                    "FieldValueRequired",
                )
            )
    return causes
