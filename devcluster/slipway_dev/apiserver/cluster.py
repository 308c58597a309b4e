"""The API server's behaviour without HTTP: object semantics on top of the store.

Create, update, patch, delete and the subresources, with the rules of a real server: generation and
resourceVersion bookkeeping, no-op writes that change nothing, finalizers, namespace termination,
garbage collection of dependents, CRDs that register their resources at once, and what
kube-controller-manager keeps in every namespace (slipway_dev.apiserver.serviceaccounts).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slipway_dev.apiserver import crds
from slipway_dev.apiserver.builtins import BUILTIN_TYPES
from slipway_dev.apiserver.defaults import apply_defaults, initial_status
from slipway_dev.apiserver.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    field_cause,
    invalid,
    not_found,
    unsupported_media_type,
)
from slipway_dev.apiserver.jsonpath import evaluate, set_value
from slipway_dev.apiserver.managedfields import SERVER_MANAGER, ManagerInfo, on_create, on_update
from slipway_dev.apiserver.namespaces import INITIAL_NAMESPACES, check_deletable, kubernetes_service
from slipway_dev.apiserver.patching import json_patch, merge_patch
from slipway_dev.apiserver.podbudget import DEFAULT_MAX_PODS, PodBudget
from slipway_dev.apiserver.podspecs import default_pod_spec, pod_spec_causes
from slipway_dev.apiserver.resources import Registry, ResourceType
from slipway_dev.apiserver.selectors import format_requirements, selector_from_match
from slipway_dev.apiserver.serviceaccounts import (
    DEFAULT_SERVICE_ACCOUNT,
    ROOT_CA_CONFIG_MAP,
    admit_pod,
    default_service_account,
    republished_root_ca,
    root_ca_config_map,
)
from slipway_dev.apiserver.services import ServiceIPs
from slipway_dev.apiserver.shapes import normalized
from slipway_dev.apiserver.storage import Store, Stored
from slipway_dev.apiserver.strategic import strategic_merge
from slipway_dev.apiserver.typed import check_patched_metadata
from slipway_dev.apiserver.validation import metadata_causes, name_causes
from slipway_dev.controllers.workloads import event
from slipway_dev.schema import validate_custom_resource

log = logging.getLogger(__name__)

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH)

NAMESPACES = ("", "namespaces")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
SERVICES = ("", "services")
PODS = ("", "pods")
SERVICE_ACCOUNTS = ("", "serviceaccounts")
CONFIG_MAPS = ("", "configmaps")
# A pod's spec.terminationGracePeriodSeconds when it names none, as the API's defaulting sets it.
DEFAULT_TERMINATION_GRACE_SECONDS = 30


def _timestamp(seconds: float) -> str:
    return _second(int(seconds))


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    # Every write stamps managedFields; formatting each second once keeps that off the hot path.
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_is_bound(pod: dict[str, Any]) -> bool:
    """Whether a node runs the pod, so that it deletes gracefully: upstream asks for spec.nodeName. The
    dev cluster has no scheduler and one implicit node whose kubelet takes every pod and reports it
    scheduled, so a PodScheduled condition counts as well."""
    if (pod.get("spec") or {}).get("nodeName"):
        return True
    return any(
        isinstance(c, dict) and c.get("type") == "PodScheduled" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


# The metadata a status write may change, by kind: kube-apiserver's pod status strategy resets only
# spec, deletionTimestamp and ownerReferences, so a kubelet's status write can carry annotations (the
# simulated kubelet publishes its pod's port with the Running status, in one write).
_STATUS_WRITE_METADATA: dict[tuple[str, str], tuple[str, ...]] = {("", "Pod"): ("labels", "annotations")}


def _without_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    """What `generation` counts: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@dataclass(frozen=True)
class DeleteOptions:
    propagation: str = "Background"  # Background | Foreground | Orphan
    uid: str | None = None
    resource_version: str | None = None
    # kubectl's `--dry-run=server` sends `dryRun: ["All"]` in the body; a real server honours it there
    # as well as in the query.
    dry_run: bool = False
    # `gracePeriodSeconds` (query or body; kubectl's --grace-period, --now, --force): only pods use it.
    grace_period_seconds: int | None = None

    @classmethod
    def parse(
        cls, body: Any, query_propagation: str | None, query_grace_period: str | None = None
    ) -> DeleteOptions:
        if body is not None and not isinstance(body, dict):
            raise bad_request("DeleteOptions must be a JSON object")
        body = body or {}
        propagation = query_propagation or body.get("propagationPolicy") or "Background"
        if body.get("orphanDependents") is True:
            propagation = "Orphan"
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f"unknown propagationPolicy {propagation!r}")
        preconditions = body.get("preconditions") or {}
        if not isinstance(preconditions, dict):
            raise bad_request("DeleteOptions.preconditions must be a JSON object")
        grace: Any = body.get("gracePeriodSeconds")
        if query_grace_period is not None:
            try:
                grace = int(query_grace_period)
            except ValueError:
                raise bad_request(
                    f"gracePeriodSeconds must be an integer, not {query_grace_period!r}"
                ) from None
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise bad_request("DeleteOptions.gracePeriodSeconds must be an integer")
        return cls(
            propagation,
            preconditions.get("uid"),
            preconditions.get("resourceVersion"),
            dry_run_requested(body.get("dryRun")),
            # Negative values are treated as 1 s on the delete path, as upstream.
            None if grace is None else max(grace, 1) if grace < 0 else grace,
        )


def dry_run_requested(values: Any) -> bool:
    """Whether `dryRun` (query values or a DeleteOptions field) asks for a dry run; "All" is the only
    value a real server accepts, anything else is a 400."""
    if values is None:
        return False
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or any(v != "All" for v in values):
        raise bad_request(f'Invalid dryRun: {json.dumps(values)}: supported values: "All"')
    return bool(values)


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool = False  # compute and answer, store nothing
    # Unknown fields of custom resources: Strict refuses them (400), Warn reports them, Ignore drops them.
    field_validation: str = "Ignore"
    # Who writes: recorded in managedFields (the server itself for writes of its own).
    manager: ManagerInfo = SERVER_MANAGER
    # A write of the controllers the server plays (see slipway_dev.apiserver.serviceaccounts), made
    # inside someone's request: the admission that judges the requesting user does not apply to it.
    by_controller: bool = False


# How the controllers the server plays write.
_CONTROLLER = WriteOptions(manager=ManagerInfo(name="kube-controller-manager"), by_controller=True)


@dataclass
class _References:
    """An object's owner references, as the garbage collector classifies them."""

    solid: list[dict[str, Any]] = field(default_factory=list)
    dangling: list[dict[str, Any]] = field(default_factory=list)
    unresolvable: list[dict[str, Any]] = field(default_factory=list)


def _dropped_fields(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Paths of fields in `sent` that schema pruning removed from `kept`."""
    if isinstance(sent, dict) and isinstance(kept, dict):
        dropped = []
        for key, value in sent.items():
            child = f"{path}.{key}" if path else key
            if key not in kept:
                if value is not None:
                    dropped.append(child)
            else:
                dropped += _dropped_fields(value, kept[key], child)
        return dropped
    if isinstance(sent, list) and isinstance(kept, list) and len(sent) == len(kept):
        return [
            p
            for i, (a, b) in enumerate(zip(sent, kept, strict=True))
            for p in _dropped_fields(a, b, f"{path}[{i}]")
        ]
    return []


class Cluster:
    def __init__(
        self,
        root_ca: str,
        history_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        max_pods: int = DEFAULT_MAX_PODS,
    ) -> None:
        # The cluster CA (PEM) that every namespace's kube-root-ca.crt ConfigMap publishes.
        self.root_ca = root_ca
        self.registry = Registry(BUILTIN_TYPES)
        self.store = Store(history_size)
        self.pod_budget = PodBudget(self.store, max_pods)
        self._clock = clock
        # Warnings for the current request (unknown fields under fieldValidation=Warn); the HTTP shell
        # takes them after each write.
        self.warnings: list[str] = []
        # Namespaces being deleted whose contents the namespace "controller" has yet to delete.
        self.terminating: set[str] = set()
        # Objects written with every owner absent, which the garbage collector is yet to delete: as
        # kube-controller-manager's, it acts after the write, not inside it (`collect_dangling`).
        self.dangling: set[tuple[str, str, str]] = set()
        # Validating admission (the owner-reference permission check of slipway_dev.apiserver.access):
        # called with the type, the old object (None on create) and the new one, before anything is
        # stored, dry runs included; it raises an ApiError to refuse the write.
        self.admission: Callable[[ResourceType, dict[str, Any] | None, dict[str, Any]], None] | None = None
        self.service_ips = ServiceIPs()
        for name in INITIAL_NAMESPACES:
            self.create(self._type(*NAMESPACES), "", {"metadata": {"name": name}})
        self.create(self._type("", "services"), "default", kubernetes_service())

    def _type(self, group: str, plural: str) -> ResourceType:
        resource = next((r for r in self.registry if r.group == group and r.plural == plural), None)
        assert resource is not None, f"{plural}.{group} is always served"
        return resource

    def now(self) -> str:
        return _timestamp(self._clock())

    # -- reads

    def get(self, resource: ResourceType, namespace: str, name: str) -> Stored:
        stored = self.store.get(resource.storage_key, namespace, name)
        if stored is None:
            raise not_found(resource.plural, resource.group, name)
        return stored

    # -- create

    def create(
        self, resource: ResourceType, namespace: str, body: Any, options: WriteOptions = WriteOptions()
    ) -> Stored:
        obj = self._checked_body(resource, namespace, body)
        if not resource.custom:
            obj = normalized(resource.group, resource.kind, obj)
        meta = obj["metadata"]
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            meta["name"] = self._generated_name(resource, namespace, meta["generateName"])
        causes = name_causes(resource.group, resource.plural, meta.get("name")) + metadata_causes(meta)
        if causes:
            raise invalid(resource.kind, resource.group, str(meta.get("name") or ""), causes)
        name = meta["name"]
        if resource.namespaced:
            self._check_namespace_open(namespace)
        if self.store.get(resource.storage_key, namespace, name) is not None:
            raise already_exists(resource.plural, resource.group, name)
        for key in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.now()
        meta["generation"] = 1
        if resource.status_subresource:
            obj.pop("status", None)
            status = initial_status(resource.group, resource.kind)
            if status is not None:
                obj["status"] = status
        apply_defaults(resource.group, resource.kind, obj)
        if (resource.group, resource.plural) == PODS:
            accounts = self._type(*SERVICE_ACCOUNTS).storage_key
            admit_pod(
                obj, namespace, lambda account: self.store.get(accounts, namespace, account) is not None
            )
        self._builtin_rules(resource, obj, None, options)
        obj = self._validated(resource, obj, None, options)
        if (resource.group, resource.plural) == CRDS:
            crds.check_crd(obj)
            clash = crds.conflicting_names(obj, list(self.registry))
            if clash is not None:
                raise clash
            obj["status"] = crds.established_status(obj, self.now())
        if self.admission is not None and not options.by_controller:
            self.admission(resource, None, obj)
        self.pod_budget.admit(resource, None, obj)
        on_create(resource, obj, options.manager, self.now())
        if options.dry_run:
            return Stored.of(obj)
        stored = self.store.write(resource.storage_key, obj, None)
        self._note_if_dangling(resource, obj, None)
        if (resource.group, resource.plural) == CRDS:
            self._serve_crd(obj)
        if (resource.group, resource.plural) == NAMESPACES:
            self._sync_namespace_objects(name)
        return stored

    def _checked_body(self, resource: ResourceType, namespace: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version is not None and api_version != resource.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({resource.api_version})"
            )
        if kind is not None and kind != resource.kind:
            raise bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
            )
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise invalid(
                resource.kind,
                resource.group,
                "",
                [field_cause("metadata", "Invalid value: must be an object")],
            )
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        body["apiVersion"], body["kind"] = resource.api_version, resource.kind
        return body

    def _generated_name(self, resource: ResourceType, namespace: str, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        while True:
            name = prefix[:58] + "".join(secrets.choice(alphabet) for _ in range(5))
            if self.store.get(resource.storage_key, namespace, name) is None:
                return name

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.get(self._type(*NAMESPACES).storage_key, "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns.obj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _builtin_rules(
        self, resource: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, options: WriteOptions
    ) -> None:
        """Defaulting and validation of built-in kinds beyond their metadata: pod specs, cluster IPs."""
        if resource.custom:
            return
        default_pod_spec(resource.group, resource.kind, obj)
        causes = pod_spec_causes(resource.group, resource.kind, obj)
        if not causes and (resource.group, resource.plural) == SERVICES:
            if old is None:
                causes = self.service_ips.assign(obj, options.dry_run)
            else:
                causes = self.service_ips.keep_on_update(old, obj)
        if causes:
            raise invalid(resource.kind, resource.group, str(obj["metadata"].get("name") or ""), causes)

    def _validated(
        self, resource: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, options: WriteOptions
    ) -> dict[str, Any]:
        """Custom resources pruned, defaulted and checked against the CRD schema, CEL rules included."""
        if not resource.custom or resource.schema is None:
            return obj
        result, causes = validate_custom_resource(resource.schema, obj, old)
        if causes:
            raise invalid(
                resource.kind,
                resource.group,
                obj["metadata"].get("name", ""),
                [cause.as_status_cause() for cause in causes],
            )
        unknown = [f'unknown field "{path}"' for path in _dropped_fields(obj, result)]
        if unknown and options.field_validation == "Strict":
            raise bad_request(
                f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
                f"strict decoding error: {', '.join(unknown)}"
            )
        if options.field_validation == "Warn":
            self.warnings += unknown
        return result

    # -- update and patch

    def update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str | None,
        options: WriteOptions = WriteOptions(),
    ) -> Stored:
        old = self.get(resource, namespace, name)
        new = self._checked_body(resource, namespace, body)
        if new["metadata"].get("name") != name:
            raise bad_request(
                f"the name of the object ({new['metadata'].get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        return self._commit_update(resource, old, new, subresource, options)

    def patch(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None,
        options: WriteOptions = WriteOptions(),
    ) -> Stored:
        old = self.get(resource, namespace, name)
        # A merge patch builds new maps along its paths and edits nothing in place.
        target = old.draft() if content_type == MERGE_PATCH else old.copy()
        patched = apply_patch(resource, content_type, target, patch)
        check_patched_metadata(patch, patched)
        new = self._checked_body(resource, namespace, patched)
        if new["metadata"].get("name") != name:
            raise bad_request("a patch may not change metadata.name")
        return self._commit_update(resource, old, new, subresource, options)

    def _commit_update(
        self,
        resource: ResourceType,
        old: Stored,
        new: dict[str, Any],
        subresource: str | None,
        options: WriteOptions,
    ) -> Stored:
        old_meta = old.obj["metadata"]
        sent_rv = new["metadata"].get("resourceVersion")
        if sent_rv not in (None, "") and sent_rv != old_meta["resourceVersion"]:
            raise conflict(
                resource.plural,
                resource.group,
                old_meta["name"],
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        if subresource == "status":
            result = old.draft()
            # Only what a status write keeps is checked and cleaned: the rest is the stored object (a
            # pod's status write no longer walks the whole pod).
            sent: dict[str, Any] = {"status": new["status"]} if "status" in new else {}
            kept_metadata = _STATUS_WRITE_METADATA.get((resource.group, resource.kind), ())
            if kept_metadata:
                sent["metadata"] = {
                    key: new["metadata"][key] for key in kept_metadata if key in new["metadata"]
                }
            if not resource.custom:
                sent = normalized(resource.group, resource.kind, sent)
            if "status" in sent:
                result["status"] = sent["status"]
            else:
                result.pop("status", None)
            for key in kept_metadata:
                if key in sent["metadata"]:
                    result["metadata"][key] = sent["metadata"][key]
                else:
                    result["metadata"].pop(key, None)
            causes = metadata_causes(result["metadata"]) if kept_metadata else []
            if causes:
                raise invalid(resource.kind, resource.group, old_meta["name"], causes)
            result = self._validated(resource, result, old.obj, options)
        else:
            result = new if resource.custom else normalized(resource.group, resource.kind, new)
            causes = metadata_causes(result["metadata"])
            if causes:
                raise invalid(resource.kind, resource.group, old_meta["name"], causes)
            meta = result["metadata"]
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if resource.status_subresource:
                if "status" in old.obj:
                    result["status"] = old.obj["status"]
                else:
                    result.pop("status", None)
            apply_defaults(resource.group, resource.kind, result)
            self._builtin_rules(resource, result, old.obj, options)
            result = self._validated(resource, result, old.obj, options)
            if (resource.group, resource.plural) == CRDS:
                crds.check_crd(result)
                if crds.crd_group_plural(result) != crds.crd_group_plural(old.obj):
                    raise invalid(
                        resource.kind,
                        resource.group,
                        old_meta["name"],
                        [field_cause("spec", "Invalid value: group and plural are immutable")],
                    )
                result["status"] = crds.established_status(result, self.now())
                result["status"]["conditions"] = old.obj["status"]["conditions"]
            if _without_bookkeeping(result) != _without_bookkeeping(old.obj):
                result["metadata"]["generation"] = old_meta.get("generation", 1) + 1
        result["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = set(result["metadata"].get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                raise invalid(
                    resource.kind,
                    resource.group,
                    old_meta["name"],
                    [
                        field_cause(
                            "metadata.finalizers",
                            f"Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {sorted(added)}",
                            "FieldValueForbidden",
                        )
                    ],
                )
        on_update(resource, old.obj, result, subresource, options.manager, self.now())
        if result == old.obj:
            return old
        if self.admission is not None and not options.by_controller:
            self.admission(resource, old.obj, result)
        self.pod_budget.admit(resource, old.obj, result)
        if options.dry_run:
            return Stored.of(result)
        if (
            old_meta.get("deletionTimestamp")
            and not result["metadata"].get("finalizers")
            and not old_meta.get("deletionGracePeriodSeconds")
        ):
            # Removing the last finalizer deletes the object, unless a pod's grace period still runs:
            # then its kubelet deletes it when its containers have stopped.
            return self._remove(resource, old.namespace, old.name, result)
        stored = self.store.write(resource.storage_key, result, old)
        self._note_if_dangling(resource, result, old.obj)
        if (resource.group, resource.plural) == CRDS:
            self._serve_crd(result)
        if (resource.group, resource.plural) == CONFIG_MAPS and old.name == ROOT_CA_CONFIG_MAP:
            self._sync_namespace_objects(old.namespace)
        return stored

    # -- scale

    def get_scale(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        stored = self.get(resource, namespace, name)
        return self.scale_of(resource, stored.obj)

    def scale_of(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        assert resource.scale is not None
        meta = obj["metadata"]
        spec_replicas = evaluate(obj, resource.scale.spec_replicas_path)
        status_replicas = evaluate(obj, resource.scale.status_replicas_path)
        status: dict[str, Any] = {"replicas": status_replicas[0] if status_replicas else 0}
        if resource.custom:
            selector = (
                evaluate(obj, resource.scale.label_selector_path)
                if resource.scale.label_selector_path
                else []
            )
            if selector:
                status["selector"] = selector[0]
        elif isinstance((obj.get("spec") or {}).get("selector"), dict):
            status["selector"] = format_requirements(selector_from_match(obj["spec"]["selector"]))
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": spec_replicas[0] if spec_replicas else 0},
            "status": status,
        }

    def update_scale(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        scale: Any,
        options: WriteOptions = WriteOptions(),
    ) -> dict[str, Any]:
        assert resource.scale is not None
        old = self.get(resource, namespace, name)
        if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict):
            raise bad_request("a Scale needs a spec")
        replicas = scale["spec"].get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    field_cause(
                        "spec.replicas", f"Invalid value: {replicas!r}: must be a non-negative integer"
                    )
                ],
            )
        new = old.copy()
        new["metadata"]["resourceVersion"] = (scale.get("metadata") or {}).get("resourceVersion") or None
        set_value(new, resource.scale.spec_replicas_path, replicas)
        stored = self._commit_update(resource, old, new, None, options)
        return self.scale_of(resource, stored.obj)

    def patch_scale(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        options: WriteOptions = WriteOptions(),
    ) -> dict[str, Any]:
        current = self.get_scale(resource, namespace, name)
        patched = apply_patch(resource, content_type, current, patch, scale=True)
        return self.update_scale(resource, namespace, name, patched, options)

    # -- delete

    def delete(
        self, resource: ResourceType, namespace: str, name: str, options: DeleteOptions, dry_run: bool = False
    ) -> Stored:
        stored = self.get(resource, namespace, name)
        meta = stored.obj["metadata"]
        if (resource.group, resource.plural) == NAMESPACES:
            check_deletable(name)
        if options.uid is not None and options.uid != meta["uid"]:
            raise conflict(
                resource.plural,
                resource.group,
                name,
                f"Precondition failed: UID in precondition: {options.uid}, UID in object meta: {meta['uid']}",
            )
        if options.resource_version is not None and options.resource_version != meta["resourceVersion"]:
            raise conflict(
                resource.plural,
                resource.group,
                name,
                "Precondition failed: ResourceVersion in "
                f"precondition: {options.resource_version}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
            )
        if dry_run:
            return stored
        if options.propagation == "Foreground":
            self._delete_dependents(meta["uid"])
        elif options.propagation == "Orphan":
            self._orphan_dependents(meta["uid"])
        if (resource.group, resource.plural) == NAMESPACES:
            return self._terminate_namespace(stored)
        if (resource.group, resource.plural) == PODS:
            return self._delete_pod(resource, stored, options)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return stored
            obj = stored.copy()
            obj["metadata"]["deletionTimestamp"] = self.now()
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            return self.store.write(resource.storage_key, obj, stored)
        return self._remove(resource, namespace, name)

    def _delete_pod(self, resource: ResourceType, stored: Stored, options: DeleteOptions) -> Stored:
        """Graceful deletion, as upstream's pod strategy and rest.BeforeDelete: a bound, unfinished pod
        gets `deletionTimestamp` (now + its grace period) and `deletionGracePeriodSeconds`, and stays,
        Terminating, until its kubelet, its containers stopped, deletes it with a grace period of 0. A
        later delete may only shorten the period; 0 (`--force --grace-period=0`) removes it at once."""
        meta = stored.obj["metadata"]
        pending = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp"):
            if not pending:  # no grace left, only finalizers hold it
                return (
                    stored
                    if meta.get("finalizers")
                    else self._remove(resource, stored.namespace, stored.name)
                )
            period = options.grace_period_seconds
            if period is None or period >= pending:
                return stored  # a graceful deletion under way may only be shortened
        else:
            if options.grace_period_seconds is not None:
                period = options.grace_period_seconds
            else:
                spec_period = (stored.obj.get("spec") or {}).get("terminationGracePeriodSeconds")
                period = spec_period if isinstance(spec_period, int) else DEFAULT_TERMINATION_GRACE_SECONDS
            phase = (stored.obj.get("status") or {}).get("phase")
            if not _pod_is_bound(stored.obj) or phase in ("Succeeded", "Failed"):
                period = 0  # nothing runs it, or nothing runs any more
            if period == 0 and not meta.get("finalizers"):
                return self._remove(resource, stored.namespace, stored.name)
        period = max(period, 1) if period < 0 else period
        obj = stored.copy()
        obj["metadata"]["deletionTimestamp"] = _timestamp(self._clock() + period)
        obj["metadata"]["deletionGracePeriodSeconds"] = period
        if period == 0 and not meta.get("finalizers"):
            # the end of a graceful deletion: gone, as it last was (no grace left)
            return self._remove(resource, stored.namespace, stored.name, obj)
        return self.store.write(resource.storage_key, obj, stored)

    def _remove(
        self, resource: ResourceType, namespace: str, name: str, final: dict[str, Any] | None = None
    ) -> Stored:
        removed = self.store.remove(resource.storage_key, namespace, name, final)
        if (resource.group, resource.plural) == SERVICES:
            self.service_ips.release(removed.obj)
        if (resource.group, resource.plural) == CRDS:
            self._unserve_crd(removed.obj)
        self._collect_orphans(removed.obj["metadata"]["uid"])
        if namespace:
            if (resource.group, resource.plural, name) in (
                (*SERVICE_ACCOUNTS, DEFAULT_SERVICE_ACCOUNT),
                (*CONFIG_MAPS, ROOT_CA_CONFIG_MAP),
            ):
                self._sync_namespace_objects(namespace)
            self._finish_namespace_if_empty(namespace)
        return removed

    def _delete_key(self, storage_key: str, namespace: str, name: str) -> None:
        resource = self.registry.by_storage_key(storage_key)
        if resource is not None and self.store.get(storage_key, namespace, name) is not None:
            self.delete(resource, namespace, name, DeleteOptions())

    def _collect_orphans(self, owner_uid: str) -> None:
        """Background garbage collection of an owner's dependents (`_collect`)."""
        for storage_key, namespace, name in self.store.dependents(owner_uid):
            self._collect(storage_key, namespace, name)

    def _note_if_dangling(
        self, resource: ResourceType, obj: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        """After a write: the collector's turn for an object left with an owner absent, and its report
        of a reference the write added to an owner the object's namespace may not have."""
        meta = obj["metadata"]
        references = self._references(meta)
        if references.dangling:
            self.dangling.add((resource.storage_key, meta.get("namespace", ""), meta["name"]))
        before = {
            ref.get("uid") for ref in ((previous or {}).get("metadata") or {}).get("ownerReferences") or ()
        }
        added = [ref for ref in references.dangling + references.unresolvable if ref.get("uid") not in before]
        if added:
            self._report_invalid_namespace(resource, obj, added)

    def collect_dangling(self) -> None:
        """The garbage collector's answer to objects written with an owner absent (an owner deleted
        before its dependent was made, a made-up uid, a namespaced owner in another namespace)."""
        pending, self.dangling = self.dangling, set()
        for storage_key, namespace, name in sorted(pending):
            self._collect(storage_key, namespace, name)

    def _collect(self, storage_key: str, namespace: str, name: str, deleting: str | None = None) -> None:
        """As kube-controller-manager's collector treats a dependent: deleted in the background when
        none of its owners is present (its uid as precondition); the references to absent owners (and to
        `deleting`, an owner deleted in the foreground) removed when another owner is present; left
        alone when a reference cannot be resolved, or while it is being deleted itself."""
        dependent = self.store.get(storage_key, namespace, name)
        resource = self.registry.by_storage_key(storage_key)
        if dependent is None or resource is None or dependent.obj["metadata"].get("deletionTimestamp"):
            return
        meta = dependent.obj["metadata"]
        references = self._references(meta, deleting)
        if references.unresolvable or not references.dangling:
            return
        try:
            if not references.solid:
                self.delete(resource, namespace, name, DeleteOptions(uid=meta["uid"]))
            else:
                gone = {ref.get("uid") for ref in references.dangling}
                kept = [ref for ref in meta["ownerReferences"] if ref.get("uid") not in gone]
                patch = {"metadata": {"uid": meta["uid"], "ownerReferences": kept}}
                self.patch(resource, namespace, name, MERGE_PATCH, patch, None, _CONTROLLER)
        except ApiError as refused:  # e.g. a namespace that may not be deleted: the others still go
            log.warning("garbage collector: %s %s/%s left: %s", storage_key, namespace, name, refused)

    def _references(self, meta: dict[str, Any], deleting: str | None = None) -> _References:
        """An object's owner references as the collector resolves them: the owner's kind by apiVersion
        and kind, the owner by name (in the dependent's namespace if its kind is namespaced), present
        only with the uid the reference names (`deleting`: an owner being deleted counts as absent)."""
        references = _References()
        namespace = meta.get("namespace", "")
        for ref in meta.get("ownerReferences") or []:
            kind = self.registry.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
            if kind is None or (kind.namespaced and not namespace):
                # A kind nothing serves (retried on a real cluster), or a cluster-scoped dependent naming
                # a namespaced kind (for good): never collected.
                references.unresolvable.append(ref)
                continue
            owner = self.store.get(
                kind.storage_key, namespace if kind.namespaced else "", str(ref.get("name"))
            )
            present = owner is not None and owner.obj["metadata"]["uid"] == ref.get("uid")
            if present and ref.get("uid") != deleting:
                references.solid.append(ref)
            else:
                references.dangling.append(ref)
        return references

    def _report_invalid_namespace(
        self, resource: ResourceType, dependent: dict[str, Any], added: list[dict[str, Any]]
    ) -> None:
        """The Warning Event the collector posts on a dependent whose write added a reference to an
        owner that lives in another namespace (by uid, as its graph knows owners): a namespaced owner
        named from another namespace, or from a cluster-scoped object. The first such reference only."""
        namespace = dependent["metadata"].get("namespace", "")
        for ref in added:
            kind = self.registry.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
            if kind is None or not kind.namespaced or not self._lives_elsewhere(kind, namespace, ref):
                continue
            owner = (
                f"[{ref.get('apiVersion')}/{ref.get('kind')}, namespace: {namespace}, "
                f"name: {ref.get('name')}, uid: {ref.get('uid')}]"
            )
            message = f"ownerRef {owner} does not exist in namespace {json.dumps(namespace)}"
            body = event(
                dependent,
                resource.api_version,
                resource.kind,
                True,
                "OwnerRefInvalidNamespace",
                message,
                "garbage-collector-controller",
                datetime.now(UTC),
            )
            body["metadata"]["namespace"] = namespace or "default"
            try:
                self.create(self._type("", "events"), body["metadata"]["namespace"], body, _CONTROLLER)
            except ApiError as refused:
                log.warning("garbage collector: no Event for %s: %s", dependent["metadata"]["name"], refused)
            return

    def _lives_elsewhere(self, kind: ResourceType, namespace: str, ref: dict[str, Any]) -> bool:
        """Whether the owner a reference names, by name and uid, is in a namespace other than `namespace`."""
        name, uid = str(ref.get("name")), ref.get("uid")
        for other in self.store.namespaces_of(kind.storage_key):
            owner = self.store.get(kind.storage_key, other, name)
            if other != namespace and owner is not None and owner.obj["metadata"]["uid"] == uid:
                return True
        return False

    def _delete_dependents(self, owner_uid: str) -> None:
        """Foreground deletion: the owner's dependents go before it, but one with another owner present
        only loses its reference to it."""
        for storage_key, namespace, name in self.store.dependents(owner_uid):
            self._collect(storage_key, namespace, name, deleting=owner_uid)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for storage_key, namespace, name in self.store.dependents(owner_uid):
            dependent = self.store.get(storage_key, namespace, name)
            if dependent is None:
                continue
            obj = dependent.copy()
            refs = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != owner_uid]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                del obj["metadata"]["ownerReferences"]
            self.store.write(storage_key, obj, dependent)

    # -- namespaces

    def _terminate_namespace(self, stored: Stored) -> Stored:
        name = stored.name
        namespaces = self._type(*NAMESPACES)
        if not stored.obj["metadata"].get("deletionTimestamp"):
            obj = stored.copy()
            obj["metadata"]["deletionTimestamp"] = self.now()
            obj["status"] = {"phase": "Terminating"}
            stored = self.store.write(namespaces.storage_key, obj, stored)
        self.terminating.add(name)
        return stored

    def empty_terminating_namespaces(self) -> None:
        """What the namespace controller does a moment after a namespace is deleted: delete its contents,
        and the namespace itself once nothing is left (objects with finalizers may keep it a while)."""
        for name in sorted(self.terminating):
            self.terminating.discard(name)
            for storage_key in self.store.collections():
                for item in list(self.store.items(storage_key, name)):
                    self._delete_key(storage_key, name, item.name)
            self._finish_namespace_if_empty(name)

    def _sync_namespace_objects(self, namespace: str) -> None:
        """The serviceaccount controller's and the root-CA publisher's sync of one namespace: while it is
        active, its `default` ServiceAccount and its `kube-root-ca.crt` ConfigMap exist, the latter
        holding the cluster's CA."""
        ns = self.store.get(self._type(*NAMESPACES).storage_key, "", namespace)
        if ns is None or ns.obj["metadata"].get("deletionTimestamp"):
            return
        accounts, config_maps = self._type(*SERVICE_ACCOUNTS), self._type(*CONFIG_MAPS)
        if self.store.get(accounts.storage_key, namespace, DEFAULT_SERVICE_ACCOUNT) is None:
            self.create(accounts, namespace, default_service_account(), _CONTROLLER)
        published = self.store.get(config_maps.storage_key, namespace, ROOT_CA_CONFIG_MAP)
        if published is None:
            self.create(config_maps, namespace, root_ca_config_map(self.root_ca), _CONTROLLER)
            return
        rewritten = republished_root_ca(published.copy(), self.root_ca)
        if rewritten is not None:
            self.update(config_maps, namespace, ROOT_CA_CONFIG_MAP, rewritten, None, _CONTROLLER)

    def _finish_namespace_if_empty(self, namespace: str) -> Stored | None:
        namespaces = self._type(*NAMESPACES)
        ns = self.store.get(namespaces.storage_key, "", namespace)
        if ns is None or not ns.obj["metadata"].get("deletionTimestamp"):
            return None
        if any(self.store.count(key, namespace) for key in self.store.collections()):
            return None
        return self.store.remove(namespaces.storage_key, "", namespace)

    # -- CRDs

    def _serve_crd(self, crd: dict[str, Any]) -> None:
        group, plural = crds.crd_group_plural(crd)
        self.registry.remove(group, plural)
        for resource in crds.crd_resource_types(crd):
            self.registry.add(resource)

    def _unserve_crd(self, crd: dict[str, Any]) -> None:
        """Deleting a CRD deletes its objects (finalizers notwithstanding) and stops serving them."""
        group, plural = crds.crd_group_plural(crd)
        storage_key = f"{plural}.{group}"
        removed = [
            self.store.remove(storage_key, item.namespace, item.name)
            for item in list(self.store.items(storage_key, None))
        ]
        self.registry.remove(group, plural)
        self.store.close_subscribers(storage_key)
        for item in removed:
            self._collect_orphans(item.obj["metadata"]["uid"])


def apply_patch(
    resource: ResourceType, content_type: str, target: dict[str, Any], patch: Any, scale: bool = False
) -> Any:
    """The patched object; strategic merge is refused on custom resources, like a real server does."""
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if content_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("a merge patch must be a JSON object")
        return merge_patch(target, patch)
    if content_type == STRATEGIC_PATCH:
        if resource.custom and not scale:
            raise unsupported_media_type(content_type, (JSON_PATCH, MERGE_PATCH, APPLY_PATCH))
        return strategic_merge(target, patch)
    raise unsupported_media_type(content_type, PATCH_TYPES)
