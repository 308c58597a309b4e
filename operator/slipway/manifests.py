"""The Kubernetes objects a Release owns, built as plain dicts, and the patches that bring them in line.

Pure functions only: no API calls. The executor decides when to call the API; this module decides what
the objects must look like (the configurations the operator server-side applies as `slipway`) and
whether what is observed differs from them, so that a pass over objects that already match writes
nothing (invariant 4).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

GROUP = "slipway.dev"
VERSION = "v1alpha1"
PLURAL = "releases"
KIND = "Release"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RELEASE = "slipway.dev/release"
LABEL_REVISION = "slipway.dev/revision"
LABEL_POD_OF = "slipway.dev/pod-of"
"""Set by the operator on its revision Deployments' pods and nothing else: Services select by it. The
release label is not enough: Job pods (hooks, job metrics) carry it, and so may anyone's pods."""
LABEL_SERVICE_ROLE = "slipway.dev/service-role"
"""On the two Services a Release owns: `stable` on `<name>`, the address its clients call, and `canary` on
`<name>-canary` (the preview of a blue-green), which only routing objects, mirrors and testers reach.
What tells them apart to a person (`kubectl get svc -l slipway.dev/service-role=canary`), a network
policy, or the dev cluster's generated load, which stands for the clients and so calls only the first."""
LABEL_BUCKET = "slipway.dev/bucket"
"""On the Deployments, Services, routes and rules a Release owns (not on pods nor Jobs): its Release's
bucket, so that a sharded replica can watch only the objects of the buckets it owns, by label selector
(docs/operator.md, "Sharding")."""
BUCKETS = 256
"""How many buckets the Releases hash into. Fixed for good: the label on existing objects depends on it.
Many against a few replicas, so that buckets share the Releases out evenly (256 over 3: each replica's
share within about 9 % of a third)."""
MANAGER = "slipway"
ANNOTATION_APPLIED_SPEC = "slipway.dev/applied-spec"
"""Digest of the spec `slipway` last applied to a route or rule: what tells a field it stopped wanting
(a mirror stopped) from one the API server defaulted, which managedFields cannot within an atomic list."""

Obj = dict[str, Any]


@dataclass(frozen=True)
class ReleaseRef:
    """Who owns an object: the identity of one Release."""

    namespace: str
    name: str
    uid: str

    @property
    def stable_service(self) -> str:
        return self.name

    @property
    def canary_service(self) -> str:
        return f"{self.name}-canary"

    def deployment_name(self, revision: str) -> str:
        return f"{self.name}-{revision}"


def release_bucket(namespace: str, name: str) -> int:
    """The bucket of the Release `namespace/name`: stable across processes and versions."""
    digest = hashlib.blake2b(f"{namespace}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def bucket_label(release: ReleaseRef) -> dict[str, str]:
    return {LABEL_BUCKET: str(release_bucket(release.namespace, release.name))}


def release_ref(body: Obj) -> ReleaseRef:
    meta = body["metadata"]
    return ReleaseRef(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])


def owner_reference(release: ReleaseRef) -> Obj:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": release.name,
        "uid": release.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: Obj, release: ReleaseRef) -> bool:
    return has_owner(obj, release.uid)


def has_owner(obj: Obj, uid: str) -> bool:
    """Whether an ownerReference of `obj` names the object of this uid."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def owning_release(obj: Mapping[str, Any]) -> str | None:
    """The name of the Release (in the object's namespace) whose object this is, by its controller
    ownerReference or, failing that, by the labels the operator sets: either alone still names it after
    someone removed the other. None: no Release's."""
    meta = obj.get("metadata", {})
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and (ref.get("apiVersion"), ref.get("kind")) == (f"{GROUP}/{VERSION}", KIND):
            return str(ref["name"])
    labels = meta.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) == MANAGER and LABEL_RELEASE in labels:
        return str(labels[LABEL_RELEASE])
    return None


def _labels_differ(desired: Obj, observed: Obj) -> bool:
    """Whether a label `desired` sets is missing or different in `observed` (its owner's and manager's
    labels removed is drift to repair like any other: they are how people, and the watch, find it)."""
    have = observed["metadata"].get("labels") or {}
    return any(have.get(key) != value for key, value in (desired["metadata"].get("labels") or {}).items())


def revision_of(deployment: Obj) -> str | None:
    labels: dict[str, str] = deployment.get("metadata", {}).get("labels") or {}
    return labels.get(LABEL_REVISION)


def revision_labels(release: str, revision: str, version: str) -> dict[str, str]:
    """The labels a revision's Deployment and pods carry, of the Release named `release`."""
    return {
        LABEL_NAME: release,
        LABEL_VERSION: version,
        LABEL_MANAGED_BY: MANAGER,
        LABEL_RELEASE: release,
        LABEL_REVISION: revision,
        LABEL_POD_OF: release,
    }


REVISION_LABELS = frozenset(revision_labels("", "", ""))
"""The keys of `revision_labels`."""


def revision_selector(release: ReleaseRef, revision: str) -> dict[str, str]:
    """A revision Deployment's selector (immutable: the one every Deployment was created with)."""
    return {LABEL_RELEASE: release.name, LABEL_REVISION: revision}


def release_selector(release: ReleaseRef) -> dict[str, str]:
    """Everything labelled as the Release's: its Deployments, Jobs and routing objects, for listing."""
    return {LABEL_RELEASE: release.name}


def serving_selector(release: ReleaseRef, revision: str | None, *, legacy: bool = False) -> dict[str, str]:
    """What a Service selects to reach the pods of `revision` (of every revision when None): the
    operator's own pod label, or, when `legacy`, the release label that pods of Deployments created
    before that label existed carry instead (docs/operator.md, "Which pods get traffic")."""
    selector = {LABEL_RELEASE if legacy else LABEL_POD_OF: release.name}
    return selector if revision is None else {**selector, LABEL_REVISION: revision}


def legacy_revisions(deployments: Mapping[str, Obj]) -> frozenset[str]:
    """The revisions (of revision -> Deployment) whose pods lack LABEL_POD_OF: made by an operator
    before that label existed. Their templates are never rewritten, which would restart their pods."""
    return frozenset(
        revision
        for revision, deployment in deployments.items()
        if LABEL_POD_OF not in _pod_labels(deployment)
    )


def _pod_labels(deployment: Obj) -> dict[str, str]:
    template = (deployment.get("spec") or {}).get("template") or {}
    labels: dict[str, str] = (template.get("metadata") or {}).get("labels") or {}
    return labels


def revision_deployment(
    release: ReleaseRef, revision: str, version: str, replicas: int, template: Obj
) -> Obj:
    """The Deployment `<release>-<revision>` running one revision of the Release's pod template."""
    labels = revision_labels(release.name, revision, version)
    pod_template = copy.deepcopy(template)
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": release.deployment_name(revision),
            "namespace": release.namespace,
            # Not on the pods: a label added to the template later would restart them.
            "labels": {**labels, **bucket_label(release)},
            "ownerReferences": [owner_reference(release)],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": revision_selector(release, revision)},
            "template": pod_template,
        },
    }


def owned_metadata(release: ReleaseRef, name: str) -> Obj:
    """Metadata of a routing object the Release owns (garbage-collected with it)."""
    return {
        "name": name,
        "namespace": release.namespace,
        "labels": {
            LABEL_NAME: release.name,
            LABEL_MANAGED_BY: MANAGER,
            LABEL_RELEASE: release.name,
            **bucket_label(release),
        },
        "ownerReferences": [owner_reference(release)],
    }


def service(
    release: ReleaseRef,
    role: Literal["stable", "canary"],
    selector: dict[str, str],
    port: int,
    target_port: int | str,
) -> Obj:
    """The Service of `role` (stable or canary), named after it."""
    name = release.stable_service if role == "stable" else release.canary_service
    metadata = owned_metadata(release, name)
    metadata["labels"][LABEL_SERVICE_ROLE] = role
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": target_port}],
        },
    }


def service_differs(desired: Obj, observed: Obj) -> bool:
    """Whether applying `desired` would change an owned Service: its selector is not exactly the one
    wanted (a Service's selector is an atomic map: an apply replaces it whole), or one of the wanted
    ports is missing or points elsewhere. Ports someone else added stay (an apply leaves them too),
    so they never make a difference; neither does what the API server defaulted. A wanted label missing
    or different is a difference too."""
    have = observed.get("spec") or {}
    if (have.get("selector") or {}) != desired["spec"]["selector"] or _labels_differ(desired, observed):
        return True
    ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in have.get("ports") or []}
    for want in desired["spec"]["ports"]:
        port = ports.get((want["port"], want.get("protocol", "TCP")))
        if port is None or any(port.get(key) != value for key, value in want.items()):
            return True
    return False


def routing_differs(desired: Obj, observed: Obj) -> bool:
    """Whether a top-level spec field, a label or an annotation of `desired` is missing or different in
    `observed`, or `slipway` last applied another spec (a field it no longer wants, such as a stopped
    mirror or a removed match condition, is still there), or an annotation `slipway` applied before
    and no longer wants is still there (a match route removed from a canary Ingress). Fields others
    added, and what the API server defaulted, are left alone, by the comparison and by the apply."""
    have_spec = observed.get("spec") or {}
    have_annotations = observed["metadata"].get("annotations") or {}
    want_annotations = stamped(desired)["metadata"].get("annotations") or {}
    applied = applied_config(observed)["metadata"].get("annotations") or {}
    return (
        any(not _holds(have_spec.get(key), value) for key, value in desired["spec"].items())
        or _labels_differ(desired, observed)
        or any(have_annotations.get(key) != value for key, value in want_annotations.items())
        or any(key in have_annotations for key in set(applied) - set(want_annotations))
    )


def object_differs(desired: Obj, observed: Obj) -> bool:
    """Whether applying `desired` would change `observed`: `service_differs` for a Service,
    `routing_differs` for any other object the operator applies (routes, the PrometheusRule)."""
    differs = service_differs if desired["kind"] == "Service" else routing_differs
    return differs(desired, observed)


LABELS_ADDED_LATER = (LABEL_BUCKET, LABEL_SERVICE_ROLE)
"""Labels an operator of an earlier version did not set on the objects it made."""


def only_behind(desired: Obj, observed: Obj) -> bool:
    """Whether all that `observed` lacks of `desired` is labels of LABELS_ADDED_LATER: what an upgrade
    leaves, to be added without telling anyone of a change (a label of those there with another value
    is someone's change). One a person removed looks the same, and is put back as quietly: the field
    manager's record cannot tell them apart either, since a removed field leaves every manager's set."""
    have = observed["metadata"].get("labels") or {}
    wanted = desired["metadata"].get("labels") or {}
    added = {key: wanted[key] for key in LABELS_ADDED_LATER if key in wanted and key not in have}
    if not added:
        return False
    caught_up = {**observed, "metadata": {**observed["metadata"], "labels": {**have, **added}}}
    return not object_differs(desired, caught_up)


def stamped(desired: Obj) -> Obj:
    """`desired` with the digest of its spec in an annotation (ANNOTATION_APPLIED_SPEC), as applied."""
    spec = json.dumps(desired.get("spec"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
    metadata = desired["metadata"]
    annotations = {**(metadata.get("annotations") or {}), ANNOTATION_APPLIED_SPEC: digest}
    return {**desired, "metadata": {**metadata, "annotations": annotations}}


def _holds(observed: Any, wanted: Any) -> bool:
    """Whether `observed` holds `wanted`: equal, except that a map may have more keys (what the API
    server defaults, such as an HTTPRoute rule's path match, is no difference); lists item by item."""
    if isinstance(wanted, dict):
        return isinstance(observed, dict) and all(_holds(observed.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(observed, list) and len(observed) == len(wanted) and all(map(_holds, observed, wanted))
        )
    return bool(observed == wanted)


def applied_config(observed: Obj, manager: str = MANAGER) -> Obj:
    """What `manager` last server-side applied to `observed`, read back from its managedFields (as
    client-go's Extract* functions do): the object filtered to the fields of its Apply entry.

    Changing one field of an object by applying this configuration with that field changed leaves the
    rest as they are, where applying the field alone would remove every other field the manager
    applied before. An object the manager never applied gives only its identity."""
    meta = observed["metadata"]
    config: Obj = {
        "apiVersion": observed["apiVersion"],
        "kind": observed["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    for entry in meta.get("managedFields") or []:
        if (
            entry.get("manager") == manager
            and entry.get("operation") == "Apply"
            and not entry.get("subresource")
        ):
            extracted = _extract(observed, entry.get("fieldsV1") or {})
            extracted.pop("status", None)
            for key, value in extracted.items():
                if key == "metadata":
                    config["metadata"].update(value)
                elif key not in ("apiVersion", "kind"):
                    config[key] = value
    return config


def own_fields_only(obj: Mapping[str, Any], manager: str = MANAGER) -> Obj:
    """`obj` with only `manager`'s own Apply entries left in its managedFields, the ones `applied_config`
    reads (a shallow copy). The others (each other writer's, the status updates) are much of an object's
    size, and nothing the operator keeps of an object for a while reads them."""
    metadata = dict(obj.get("metadata") or {})
    if "managedFields" in metadata:
        metadata["managedFields"] = [
            entry
            for entry in metadata["managedFields"] or []
            if entry.get("manager") == manager and entry.get("operation") == "Apply"
        ]
    return {**obj, "metadata": metadata}


def _extract(value: Any, fields: Obj) -> Any:
    """`value` reduced to the FieldsV1 set `fields`: `f:` fields of maps, `k:` (by key) and `v:` (by
    value) items of lists; a field with nothing under it (or only ".") is owned whole."""
    members = {key: sub for key, sub in fields.items() if key != "."}
    if not members:
        return copy.deepcopy(value)
    if isinstance(value, dict):
        return {
            key[2:]: _extract(value[key[2:]], sub)
            for key, sub in members.items()
            if key.startswith("f:") and key[2:] in value
        }
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            for key, sub in members.items():
                if key.startswith("k:") and isinstance(item, dict):
                    wanted = json.loads(key[2:])
                    if all(item.get(k) == v for k, v in wanted.items()):
                        items.append({**wanted, **_extract(item, sub)})
                        break
                elif key.startswith("v:") and json.loads(key[2:]) == item:
                    items.append(copy.deepcopy(item))
                    break
        return items
    return copy.deepcopy(value)


def ready_replicas(deployment: Obj) -> int:
    return int(deployment.get("status", {}).get("readyReplicas") or 0)


# --- Jobs: the job metric's and the deploy hooks' ------------------------------------------------------

LABEL_HOOK = "slipway.dev/hook"
LABEL_HOOK_STAGE = "slipway.dev/hook-stage"
LABEL_HOOK_ATTEMPT = "slipway.dev/hook-attempt"
_HOOK_STAGES = {"preDeploy": "pre", "postDeploy": "post", "postRollback": "rb"}
_NAME_LIMIT = 63  # a Job's name becomes its pods' job-name label, a label value


def job_pod_template(template: Obj, labels: dict[str, str], env: dict[str, str]) -> Obj:
    """A copy of a Job's pod template with `labels` added and `env` in every container (a variable the
    template sets itself wins), restarting Never unless it says otherwise (a Job refuses Always)."""
    pod = copy.deepcopy(template)
    pod_metadata = pod.setdefault("metadata", {})
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **labels}
    pod["spec"].setdefault("restartPolicy", "Never")
    for container in pod["spec"]["containers"]:
        variables = container.setdefault("env", [])
        named = {variable.get("name") for variable in variables}
        variables.extend({"name": name, "value": value} for name, value in env.items() if name not in named)
    return pod


def job_finished(job: Obj) -> tuple[bool, str] | None:
    """(True, "") for a Complete Job, (False, why) for a Failed one, None while it runs."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            if condition["type"] == "Complete":
                return True, ""
            return False, condition.get("message") or condition.get("reason") or "the Job failed"
    return None


def hook_job_name(release: ReleaseRef, revision: str, stage: str, hook: str, attempt: int) -> str:
    """`<release>-<revision>-<pre|post|rb>-<hook>-<attempt>`, shortened (with a digest of the whole, so
    names stay distinct) when longer than a DNS label. The same inputs always give the same name: a
    hook asked for twice runs once."""
    full = f"{release.name}-{revision}-{_HOOK_STAGES[stage]}-{hook}-{attempt}"
    if len(full) <= _NAME_LIMIT:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    head = f"{release.name[:16].rstrip('-.')}-{revision}-{_HOOK_STAGES[stage]}-"
    tail = f"-{attempt}-{digest}"
    return head + hook[: _NAME_LIMIT - len(head) - len(tail)].rstrip("-") + tail


def hook_job(
    release: ReleaseRef,
    stage: str,
    hook: str,
    revision: str,
    version: str,
    attempt: int,
    template: Obj,
    backoff_limit: int,
    timeout_seconds: float,
) -> Obj:
    """The Job of one run of a hook. Its pods carry the release label but not LABEL_POD_OF, so no
    Service of the Release ever sends them traffic."""
    labels = {LABEL_MANAGED_BY: MANAGER, LABEL_RELEASE: release.name}
    hook_labels = {LABEL_HOOK_STAGE: stage, LABEL_HOOK: hook, LABEL_HOOK_ATTEMPT: str(attempt)}
    identity = {
        "SLIPWAY_NAMESPACE": release.namespace,
        "SLIPWAY_RELEASE": release.name,
        "SLIPWAY_REVISION": revision,
        "SLIPWAY_VERSION": version,
        "SLIPWAY_HOOK": hook,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": hook_job_name(release, revision, stage, hook, attempt),
            "namespace": release.namespace,
            "labels": {**labels, **hook_labels, LABEL_REVISION: revision},
            "ownerReferences": [owner_reference(release)],
        },
        "spec": {
            "backoffLimit": backoff_limit,
            # The core judges the timeout; this stops the Job's pods when it does.
            "activeDeadlineSeconds": max(1, math.ceil(timeout_seconds)),
            "template": job_pod_template(template, {**labels, **hook_labels}, identity),
        },
    }
