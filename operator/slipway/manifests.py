"""The Kubernetes objects a Release owns, built as plain dicts, and the patches that bring them in line.

Pure functions only: no API calls. The executor decides when to call the API; this module decides what
the objects must look like and which fields differ, so that a pass over objects that already match
writes nothing (invariant 4).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

GROUP = "slipway.dev"
VERSION = "v1alpha1"
PLURAL = "releases"
KIND = "Release"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RELEASE = "slipway.dev/release"
LABEL_REVISION = "slipway.dev/revision"
MANAGER = "slipway"

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
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == release.uid for ref in refs)


def revision_of(deployment: Obj) -> str | None:
    labels: dict[str, str] = deployment.get("metadata", {}).get("labels") or {}
    return labels.get(LABEL_REVISION)


def revision_labels(release: ReleaseRef, revision: str, version: str) -> dict[str, str]:
    return {
        LABEL_NAME: release.name,
        LABEL_VERSION: version,
        LABEL_MANAGED_BY: MANAGER,
        LABEL_RELEASE: release.name,
        LABEL_REVISION: revision,
    }


def revision_selector(release: ReleaseRef, revision: str) -> dict[str, str]:
    return {LABEL_RELEASE: release.name, LABEL_REVISION: revision}


def release_selector(release: ReleaseRef) -> dict[str, str]:
    return {LABEL_RELEASE: release.name}


def revision_deployment(
    release: ReleaseRef, revision: str, version: str, replicas: int, template: Obj
) -> Obj:
    """The Deployment `<release>-<revision>` running one revision of the Release's pod template."""
    labels = revision_labels(release, revision, version)
    pod_template = copy.deepcopy(template)
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": release.deployment_name(revision),
            "namespace": release.namespace,
            "labels": labels,
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
        "labels": {LABEL_NAME: release.name, LABEL_MANAGED_BY: MANAGER, LABEL_RELEASE: release.name},
        "ownerReferences": [owner_reference(release)],
    }


def service(
    release: ReleaseRef, name: str, selector: dict[str, str], port: int, target_port: int | str
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owned_metadata(release, name),
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": target_port}],
        },
    }


def service_patch(desired: Obj, observed: Obj) -> Obj | None:
    """The merge patch that makes an owned Service match `desired`, or None when it already does.

    Only the fields Slipway manages are compared; whatever the API server defaulted is left alone.
    """
    patch: Obj = {}
    if observed.get("spec", {}).get("selector") != desired["spec"]["selector"]:
        # A merge patch merges maps, so a key that must disappear is written as null.
        old = observed.get("spec", {}).get("selector") or {}
        patch.setdefault("spec", {})["selector"] = {
            **{key: None for key in old if key not in desired["spec"]["selector"]},
            **desired["spec"]["selector"],
        }
    want_ports = [(p["port"], p["targetPort"]) for p in desired["spec"]["ports"]]
    have_ports = [(p.get("port"), p.get("targetPort")) for p in observed.get("spec", {}).get("ports") or []]
    if want_ports != have_ports:
        patch.setdefault("spec", {})["ports"] = desired["spec"]["ports"]
    return patch or None


def routing_patch(desired: Obj, observed: Obj) -> Obj | None:
    """The merge patch setting each top-level spec field and each annotation of `desired` that
    `observed` lacks or differs in (fields others added are left alone)."""
    have_spec = observed.get("spec") or {}
    have_annotations = observed["metadata"].get("annotations") or {}
    spec = {key: value for key, value in desired["spec"].items() if have_spec.get(key) != value}
    annotations = {
        key: value
        for key, value in (desired["metadata"].get("annotations") or {}).items()
        if have_annotations.get(key) != value
    }
    patch: Obj = {}
    if spec:
        patch["spec"] = spec
    if annotations:
        patch["metadata"] = {"annotations": annotations}
    return patch or None


def replicas_patch(desired_replicas: int, observed: Obj) -> Obj | None:
    if observed.get("spec", {}).get("replicas") == desired_replicas:
        return None
    return {"spec": {"replicas": desired_replicas}}


def ready_replicas(deployment: Obj) -> int:
    return int(deployment.get("status", {}).get("readyReplicas") or 0)
