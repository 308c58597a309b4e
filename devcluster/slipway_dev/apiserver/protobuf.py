"""Kubernetes protobuf request bodies, for the typed `kubectl create <kind>` commands that send them.

A body is "k8s\\0" + runtime.Unknown{typeMeta, raw}; `raw` is the object's own message. Only the
fields those commands set are mapped to their JSON names. Fields the table does not know are accepted
only when they carry a zero value (Go's protobuf encoder writes every non-pointer field, zero or not,
where JSON would omit it); anything else is refused with 415, so nothing is ever stored half-read.
Zero values are dropped as JSON's `omitempty` does, except on pointer fields (such as `replicas`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slipway_dev.apiserver.errors import ApiError

MAGIC = b"k8s\x00"


@dataclass(frozen=True)
class _F:
    name: str
    kind: str = "string"  # string | bytes | int | bool | message | map | intorstr | quantity
    message: str = ""  # the message of a `message` field, or the value kind of a `map` field
    repeated: bool = False
    pointer: bool = False  # a zero value is meaningful (Go pointer field)
    inline: bool = False  # the message's fields belong to the parent in JSON


def _msg(name: str, message: str, repeated: bool = False, inline: bool = False) -> _F:
    return _F(name, "message", message, repeated, inline=inline)


def _int(name: str, pointer: bool = False) -> _F:
    return _F(name, "int", pointer=pointer)


_STATUS = "Unread"  # the statuses typed creates send are empty; anything in them is refused

_SCHEMA: dict[str, dict[int, _F]] = {
    _STATUS: {},
    "ObjectMeta": {
        1: _F("name"),
        2: _F("generateName"),
        3: _F("namespace"),
        11: _F("labels", "map", "string"),
        12: _F("annotations", "map", "string"),
        13: _msg("ownerReferences", "OwnerReference", repeated=True),
        14: _F("finalizers", repeated=True),
    },
    "OwnerReference": {
        1: _F("kind"),
        3: _F("name"),
        4: _F("uid"),
        5: _F("apiVersion"),
        6: _F("controller", "bool", pointer=True),
        7: _F("blockOwnerDeletion", "bool", pointer=True),
    },
    "LabelSelector": {
        1: _F("matchLabels", "map", "string"),
        2: _msg("matchExpressions", "LabelSelectorRequirement", repeated=True),
    },
    "LabelSelectorRequirement": {1: _F("key"), 2: _F("operator"), 3: _F("values", repeated=True)},
    "LocalObjectReference": {1: _F("name")},
    "Namespace": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "NamespaceSpec"),
        3: _msg("status", _STATUS),
    },
    "NamespaceSpec": {1: _F("finalizers", repeated=True)},
    "ConfigMap": {
        1: _msg("metadata", "ObjectMeta"),
        2: _F("data", "map", "string"),
        3: _F("binaryData", "map", "bytes"),
        4: _F("immutable", "bool", pointer=True),
    },
    "Secret": {
        1: _msg("metadata", "ObjectMeta"),
        2: _F("data", "map", "bytes"),
        3: _F("type"),
        4: _F("stringData", "map", "string"),
        5: _F("immutable", "bool", pointer=True),
    },
    "ServiceAccount": {
        1: _msg("metadata", "ObjectMeta"),
        3: _msg("imagePullSecrets", "LocalObjectReference", repeated=True),
        4: _F("automountServiceAccountToken", "bool", pointer=True),
    },
    "Service": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "ServiceSpec"),
        3: _msg("status", _STATUS),
    },
    "ServiceSpec": {
        1: _msg("ports", "ServicePort", repeated=True),
        2: _F("selector", "map", "string"),
        3: _F("clusterIP"),
        4: _F("type"),
        5: _F("externalIPs", repeated=True),
        7: _F("sessionAffinity"),
        10: _F("externalName"),
    },
    "ServicePort": {
        1: _F("name"),
        2: _F("protocol"),
        3: _int("port"),
        4: _F("targetPort", "intorstr"),
        5: _int("nodePort"),
        6: _F("appProtocol", pointer=True),
    },
    "Deployment": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "DeploymentSpec"),
        3: _msg("status", _STATUS),
    },
    "DeploymentSpec": {
        1: _int("replicas", pointer=True),
        2: _msg("selector", "LabelSelector"),
        3: _msg("template", "PodTemplateSpec"),
        4: _msg("strategy", "DeploymentStrategy"),
        5: _int("minReadySeconds"),
        6: _int("revisionHistoryLimit", pointer=True),
        9: _int("progressDeadlineSeconds", pointer=True),
    },
    "DeploymentStrategy": {1: _F("type"), 2: _msg("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: _F("maxUnavailable", "intorstr"), 2: _F("maxSurge", "intorstr")},
    "Job": {1: _msg("metadata", "ObjectMeta"), 2: _msg("spec", "JobSpec"), 3: _msg("status", _STATUS)},
    "JobSpec": {
        1: _int("parallelism", pointer=True),
        2: _int("completions", pointer=True),
        3: _int("activeDeadlineSeconds", pointer=True),
        6: _msg("template", "PodTemplateSpec"),
        7: _int("backoffLimit", pointer=True),
        8: _int("ttlSecondsAfterFinished", pointer=True),
    },
    "CronJob": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "CronJobSpec"),
        3: _msg("status", _STATUS),
    },
    "CronJobSpec": {
        1: _F("schedule"),
        2: _int("startingDeadlineSeconds", pointer=True),
        3: _F("concurrencyPolicy"),
        4: _F("suspend", "bool", pointer=True),
        5: _msg("jobTemplate", "JobTemplateSpec"),
        6: _int("successfulJobsHistoryLimit", pointer=True),
        7: _int("failedJobsHistoryLimit", pointer=True),
        8: _F("timeZone", pointer=True),
    },
    "JobTemplateSpec": {1: _msg("metadata", "ObjectMeta"), 2: _msg("spec", "JobSpec")},
    "PodTemplateSpec": {1: _msg("metadata", "ObjectMeta"), 2: _msg("spec", "PodSpec")},
    "PodSpec": {
        2: _msg("containers", "Container", repeated=True),
        3: _F("restartPolicy"),
        6: _F("dnsPolicy"),
        8: _F("serviceAccountName"),
    },
    "Container": {
        1: _F("name"),
        2: _F("image"),
        3: _F("command", repeated=True),
        4: _F("args", repeated=True),
        5: _F("workingDir"),
        6: _msg("ports", "ContainerPort", repeated=True),
        7: _msg("env", "EnvVar", repeated=True),
        8: _msg("resources", "ResourceRequirements"),
        13: _F("terminationMessagePath"),
        14: _F("imagePullPolicy"),
        16: _F("stdin", "bool"),
        17: _F("stdinOnce", "bool"),
        18: _F("tty", "bool"),
        20: _F("terminationMessagePolicy"),
    },
    "ContainerPort": {1: _F("name"), 2: _int("hostPort"), 3: _int("containerPort"), 4: _F("protocol")},
    "EnvVar": {1: _F("name"), 2: _F("value")},
    "ResourceRequirements": {1: _F("limits", "map", "quantity"), 2: _F("requests", "map", "quantity")},
    "Ingress": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "IngressSpec"),
        3: _msg("status", _STATUS),
    },
    "IngressSpec": {
        1: _msg("defaultBackend", "IngressBackend"),
        2: _msg("tls", "IngressTLS", repeated=True),
        3: _msg("rules", "IngressRule", repeated=True),
        4: _F("ingressClassName", pointer=True),
    },
    "IngressRule": {1: _F("host"), 2: _msg("", "IngressRuleValue", inline=True)},
    "IngressRuleValue": {1: _msg("http", "HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: _msg("paths", "HTTPIngressPath", repeated=True)},
    "HTTPIngressPath": {1: _F("path"), 2: _msg("backend", "IngressBackend"), 3: _F("pathType", pointer=True)},
    "IngressBackend": {4: _msg("service", "IngressServiceBackend")},
    "IngressServiceBackend": {1: _F("name"), 2: _msg("port", "ServiceBackendPort")},
    "ServiceBackendPort": {1: _F("name"), 2: _int("number")},
    "IngressTLS": {1: _F("hosts", repeated=True), 2: _F("secretName")},
    # rbac.authorization.k8s.io/v1 (`kubectl create role|clusterrole|rolebinding|clusterrolebinding`)
    "Role": {1: _msg("metadata", "ObjectMeta"), 2: _msg("rules", "PolicyRule", repeated=True)},
    "ClusterRole": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("rules", "PolicyRule", repeated=True),
        3: _msg("aggregationRule", "AggregationRule"),
    },
    "AggregationRule": {1: _msg("clusterRoleSelectors", "LabelSelector", repeated=True)},
    "PolicyRule": {
        1: _F("verbs", repeated=True),
        2: _F("apiGroups", repeated=True),
        3: _F("resources", repeated=True),
        4: _F("resourceNames", repeated=True),
        5: _F("nonResourceURLs", repeated=True),
    },
    "RoleBinding": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("subjects", "Subject", repeated=True),
        3: _msg("roleRef", "RoleRef"),
    },
    "Subject": {1: _F("kind"), 2: _F("apiGroup"), 3: _F("name"), 4: _F("namespace")},
    "RoleRef": {1: _F("apiGroup"), 2: _F("kind"), 3: _F("name")},
    # authentication.k8s.io/v1 and authorization.k8s.io/v1 (`kubectl create token`, `kubectl auth ...`)
    "TokenRequest": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "TokenRequestSpec"),
        3: _msg("status", _STATUS),
    },
    "TokenRequestSpec": {
        1: _F("audiences", repeated=True),
        3: _msg("boundObjectRef", "BoundObjectReference"),
        4: _int("expirationSeconds", pointer=True),
    },
    "BoundObjectReference": {1: _F("kind"), 2: _F("apiVersion"), 3: _F("name"), 4: _F("uid")},
    "SelfSubjectReview": {1: _msg("metadata", "ObjectMeta"), 2: _msg("status", "SelfSubjectReviewStatus")},
    "SelfSubjectReviewStatus": {1: _msg("userInfo", "UserInfo")},
    "UserInfo": {1: _F("username"), 2: _F("uid"), 3: _F("groups", repeated=True)},
    "TokenReview": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "TokenReviewSpec"),
        3: _msg("status", _STATUS),
    },
    "TokenReviewSpec": {1: _F("token"), 2: _F("audiences", repeated=True)},
    "SelfSubjectAccessReview": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "SelfSubjectAccessReviewSpec"),
        3: _msg("status", _STATUS),
    },
    "SelfSubjectAccessReviewSpec": {
        1: _msg("resourceAttributes", "ResourceAttributes"),
        2: _msg("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: _F("namespace"),
        2: _F("verb"),
        3: _F("group"),
        4: _F("version"),
        5: _F("resource"),
        6: _F("subresource"),
        7: _F("name"),
    },
    "NonResourceAttributes": {1: _F("path"), 2: _F("verb")},
    "SubjectAccessReview": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "SubjectAccessReviewSpec"),
        3: _msg("status", _STATUS),
    },
    "SubjectAccessReviewSpec": {
        1: _msg("resourceAttributes", "ResourceAttributes"),
        2: _msg("nonResourceAttributes", "NonResourceAttributes"),
        3: _F("user"),
        4: _F("groups", repeated=True),
        6: _F("uid"),
    },
    "SelfSubjectRulesReview": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "SelfSubjectRulesReviewSpec"),
        3: _msg("status", _STATUS),
    },
    "SelfSubjectRulesReviewSpec": {1: _F("namespace")},
    "Unknown": {1: _msg("typeMeta", "TypeMeta"), 2: _F("raw", "bytes")},
    "TypeMeta": {1: _F("apiVersion"), 2: _F("kind")},
    # The body of a typed client's DELETE (Helm's uninstall purges its release Secrets with one).
    "DeleteOptions": {
        1: _int("gracePeriodSeconds", pointer=True),
        2: _msg("preconditions", "Preconditions"),
        3: _F("orphanDependents", "bool", pointer=True),
        4: _F("propagationPolicy"),
        5: _F("dryRun", repeated=True),
    },
    "Preconditions": {1: _F("uid"), 2: _F("resourceVersion")},
}

_ROOTS = {
    ("v1", "DeleteOptions"): "DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",  # the same fields
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "TokenReview"): "TokenReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
}


class _Unsupported(Exception):
    pass


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise _Unsupported("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise _Unsupported("truncated field")
            yield number, data[position : position + length]
            position += length
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            yield number, data[position : position + width]
            position += width
        else:
            raise _Unsupported(f"wire type {wire_type}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise _Unsupported("expected bytes")
    return value.decode()


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        return _text(value)
    if kind == "bytes":
        if not isinstance(value, bytes):
            raise _Unsupported("expected bytes")
        return base64.b64encode(value).decode()
    if kind in ("int", "bool"):
        if not isinstance(value, int):
            raise _Unsupported("expected a varint")
        return bool(value) if kind == "bool" else _signed(value)
    if not isinstance(value, bytes):
        raise _Unsupported("expected a message")
    fields = {number: raw for number, raw in _fields(value)}
    if kind == "quantity":
        return _text(fields.get(1, b""))
    if kind == "intorstr":
        if fields.get(1, 0) == 1:
            return _text(fields.get(3, b""))
        number = fields.get(2, 0)
        return _signed(number) if isinstance(number, int) else 0
    raise _Unsupported(f"unknown field kind {kind}")


def _is_zero(value: Any) -> bool:
    return value in ("", 0, False, None) or value == {} or value == []


def _decode(data: bytes, message: str) -> dict[str, Any]:
    schema = _SCHEMA[message]
    result: dict[str, Any] = {}
    pointers: set[str] = set()
    for number, value in _fields(data):
        field = schema.get(number)
        if field is None:
            if value in (0, b""):
                continue
            raise _Unsupported(f"{message} field {number}")
        if field.kind == "message":
            if not isinstance(value, bytes):
                raise _Unsupported(f"{message} field {number} is not a message")
            decoded: Any = _decode(value, field.message)
            if field.inline:
                result.update(decoded)
                continue
        elif field.kind == "map":
            if not isinstance(value, bytes):
                raise _Unsupported(f"{message} field {number} is not a map entry")
            entry = {n: raw for n, raw in _fields(value)}
            key = _text(entry.get(1, b""))
            result.setdefault(field.name, {})[key] = _scalar(field.message, entry.get(2, b""))
            continue
        else:
            decoded = _scalar(field.kind, value)
        if field.repeated:
            result.setdefault(field.name, []).append(decoded)
        else:
            result[field.name] = decoded
        if field.pointer:
            pointers.add(field.name)
    return {k: v for k, v in result.items() if k in pointers or not _is_zero(v)}


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object; 415 for whatever this table cannot read faithfully."""
    try:
        if not body.startswith(MAGIC):
            raise _Unsupported("no k8s protobuf envelope")
        envelope = _decode(body[len(MAGIC) :], "Unknown")
        type_meta = envelope.get("typeMeta", {})
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        root = _ROOTS.get((api_version, kind))
        if root is None:
            raise _Unsupported(f"{api_version} {kind}")
        obj = _decode(base64.b64decode(envelope.get("raw", "")), root)
    except (_Unsupported, UnicodeDecodeError) as error:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the dev cluster cannot read this protobuf body ({error}): use `kubectl apply -f` "
            "(or `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`)",
        ) from error
    return {"apiVersion": api_version, "kind": kind, **obj}
