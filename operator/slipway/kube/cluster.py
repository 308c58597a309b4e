"""What the cluster holds for one Release, and the writes that change it, each idempotent.

`observe` reads a Release's revision Deployments once per pass; `observe_routing` its Services and
routing objects, in the passes the reconciler chooses, to tell the core whether they hold what the
last status records (otherwise they are read when a write needs them, after the Deployments are
written: a pass that opens a promotion gate writes its new Deployment first). Neither reads an object
the watch shows as the operator last left it (`slipway.kube.watched`: Services and the PrometheusRule).
`ClusterWriter` applies changes against that snapshot: it writes only when the snapshot differs from
what is wanted, and refuses to touch an object the Release does not own (the operator never modifies
what lives in git and never scales what a user owns). The snapshot is updated after every write, so a
second identical request in the same pass, or the next pass over the same cluster, writes nothing
(invariant 4).

The objects a Release owns (revision Deployments, Services, routing objects) are written by
server-side apply as the field manager `slipway`, with force: the operator owns them, so a field
someone else set is taken back. On the Release itself the operator writes only its status (the status
subresource, guarded by resourceVersion) and removes the manual-action annotations it carried out: a
Release's spec and the metadata git gives it are never written (docs/operator.md, "How the operator
writes").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slipway.kube.client import (
    JSON_PATCH,
    ApiError,
    KubeApi,
    deployments_path,
    events_path,
    jobs_path,
    object_path,
    prometheus_rules_path,
    releases_path,
)
from slipway.kube.watched import WatchedObjects
from slipway.manifests import (
    GROUP,
    KIND,
    LABEL_BUCKET,
    LABEL_HOOK_STAGE,
    LABEL_MANAGED_BY,
    LABEL_RELEASE,
    LABEL_REVISION,
    MANAGER,
    REVISION_LABELS,
    VERSION,
    Obj,
    ReleaseRef,
    applied_config,
    bucket_label,
    is_owned_by,
    object_differs,
    only_behind,
    release_selector,
    revision_deployment,
    revision_of,
    stamped,
)


class NotOwnedError(Exception):
    """An object Slipway would manage exists but belongs to someone else; it is left untouched."""

    def __init__(self, kind: str, obj: Obj, release: ReleaseRef) -> None:
        name = obj.get("metadata", {}).get("name", "")
        super().__init__(f"{kind} {name} exists and is not owned by Release {release.name}: {_owner(obj)}")


def _owner(obj: Obj) -> str:
    """Whose an object is, as far as its metadata says: its owners, or who last wrote it."""
    meta = obj.get("metadata", {})
    owners = [f"{ref.get('kind')} {ref.get('name')}" for ref in meta.get("ownerReferences") or []]
    if owners:
        return "owned by " + ", ".join(owners)
    managers = sorted({entry.get("manager", "") for entry in meta.get("managedFields") or []} - {""})
    return "it has no owner" + (f" (written by {', '.join(managers)})" if managers else "")


class StaleViewError(Exception):
    """What this pass saw is out of date (the Release changed, a write conflicted); the pass is repeated
    on fresh data."""


@dataclass
class ClusterState:
    """One Release's objects as last seen: revision Deployments by revision, routing objects (Services,
    HTTPRoutes) by (kind, name), hook Jobs (spec.hooks) by name."""

    deployments: dict[str, Obj] = field(default_factory=dict)
    routing: dict[tuple[str, str], Obj] = field(default_factory=dict)
    hook_jobs: dict[str, Obj] = field(default_factory=dict)
    behind: list[Obj] = field(default_factory=list)
    """Routing objects as wanted, found lacking only labels added since their last apply (`only_behind`)."""


def observe(
    api: KubeApi, release: ReleaseRef, hooks: bool = False, deployments: Iterable[Obj] | None = None
) -> ClusterState:
    """The Release's Deployments (listed, unless the watch has just shown them: `deployments`); its hook
    Jobs too when `hooks` (it has hooks, or had: one list less per pass for the Releases that never had
    any)."""
    state = ClusterState()
    if deployments is None:
        deployments = api.list(deployments_path(release.namespace), release_selector(release))
    for deployment in deployments:
        revision = revision_of(deployment)
        if revision is not None and is_owned_by(deployment, release):
            state.deployments[revision] = deployment
    if hooks:
        selector = {LABEL_RELEASE: release.name, LABEL_MANAGED_BY: MANAGER}
        for job in api.list(jobs_path(release.namespace), selector):
            labels = job["metadata"].get("labels") or {}
            if LABEL_HOOK_STAGE in labels and revision_of(job) is not None and is_owned_by(job, release):
                state.hook_jobs[job["metadata"]["name"]] = job
    return state


def find_unlabelled(api: KubeApi, release: ReleaseRef, state: ClusterState, named: Iterable[str]) -> None:
    """Look up by name the Deployments of the revisions the status names (`named`) that the listing by
    release label missed: one someone took that label from (or changed it), still the Release's by its
    ownerReference, is added to `state` as any other (the decision counts its pods; `relabel` labels
    it again); one that is gone stays missing. Without this the Release would lose sight of such a
    revision for good: never scaled, routed to or removed again."""
    for revision in named:
        if revision in state.deployments:
            continue
        found = api.get(deployments_path(release.namespace, release.deployment_name(revision)))
        if found is not None and is_owned_by(found, release):
            state.deployments[revision] = found


def _labelled_as(deployment: Obj, release: ReleaseRef, revision: str) -> bool:
    """Whether a revision's Deployment carries the labels the Release lists and knows it by."""
    labels = deployment["metadata"].get("labels") or {}
    wanted = (release.name, revision, *bucket_label(release).values())
    return (labels.get(LABEL_RELEASE), labels.get(LABEL_REVISION), labels.get(LABEL_BUCKET)) == wanted


def observe_routing(
    api: KubeApi,
    release: ReleaseRef,
    desired: tuple[Obj, ...],
    state: ClusterState,
    watched: WatchedObjects | None = None,
) -> tuple[str, ...]:
    """Read the Services and routes that realise the routing the last status records (kept in the
    snapshot, where the pass's writes find them) and name, as `Kind name`, each of the Release's that
    does not hold what was written: missing, or changed by a person, a webhook or another controller.
    One the watch shows as the operator last left it, matching, is not read. Someone else's object is
    not named here: the writer refuses it (NotOwnedError). One that lacks only labels added since an
    older operator applied it is not named either, but kept in `state.behind` for the writer."""
    watched = watched or WatchedObjects()
    drift = []
    for wanted in desired:
        kind, name = wanted["kind"], wanted["metadata"]["name"]
        path = object_path(kind, release.namespace, name)
        if watched.unchanged(path, wanted, release):
            continue
        observed = api.get(path)
        if observed is None:
            drift.append(f"{kind} {name}")
            continue
        state.routing[(kind, name)] = observed
        if not is_owned_by(observed, release):
            continue
        if not object_differs(wanted, observed):
            watched.matched(path, observed, wanted)
        elif only_behind(wanted, observed):
            state.behind.append(wanted)
        else:
            drift.append(f"{kind} {name}")
    return tuple(drift)


Written = Callable[[str, Obj], None]
"""Told the path and the response of each write to a Deployment or to the Release (its status, an
annotation removed)."""
Deleted = Callable[[Obj], None]
"""Told each revision Deployment deleted (as last seen)."""


def post_event(
    api: KubeApi,
    release: ReleaseRef,
    event_type: str,
    reason: str,
    message: str,
    name: str | None = None,
    at: datetime | None = None,
) -> None:
    """Post an Event about the Release: named `name` (a second post is then AlreadyExists), else a name
    the server makes up; `at` is when it happened (now by default)."""
    now = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {"name": name} if name else {"generateName": f"{release.name}."}
    api.create(
        events_path(release.namespace),
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {**metadata, "namespace": release.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": release.name,
                "namespace": release.namespace,
                "uid": release.uid,
            },
            "type": event_type,
            "reason": reason,
            "message": message,
            "source": {"component": "slipway"},
            "reportingComponent": "slipway",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        },
    )


class ClusterWriter:
    def __init__(
        self,
        api: KubeApi,
        release: ReleaseRef,
        state: ClusterState,
        written: Written | None = None,
        watched: WatchedObjects | None = None,
        before_writing: Callable[[], None] | None = None,
        deleted: Deleted | None = None,
    ) -> None:
        self.api = api
        self.release = release
        self.state = state
        self.writes = 0
        """Write requests this writer sent (successful or not), for the pass's log line."""
        # Called once, before the first write (it may refuse by raising).
        self._before_writing = before_writing
        self._written = written or (lambda path, response: None)
        self._deleted = deleted or (lambda deployment: None)
        # Routing objects and the PrometheusRule the watch shows as last left: not read again.
        self._watched = watched or WatchedObjects()
        # Deployments check_owned found absent (None) or the Release's, by path: not read twice.
        self._checked: dict[str, Obj | None] = {}

    def _writing(self) -> None:
        check, self._before_writing = self._before_writing, None
        if check is not None:
            check()
        self.writes += 1

    def _create(self, path: str, body: Obj) -> Obj:
        self._writing()
        return self.api.create(path, body)

    def _apply(self, path: str, config: Obj) -> Obj:
        self._writing()
        return self.api.apply(path, config, force=True)

    def _apply_deployment(self, path: str, config: Obj) -> Obj:
        applied = self._apply(path, config)
        # Told at once, in this thread: the watch event of the write may come any moment.
        self._written(path, applied)
        return applied

    def _patch(self, path: str, body: Any, content_type: str) -> Obj:
        self._writing()
        return self.api.patch(path, body, content_type)

    def _delete(self, path: str) -> bool:
        self._writing()
        return self.api.delete(path)

    def check_owned(self, planned: list[Obj]) -> None:
        """Before the first write of a pass: NotOwnedError if any object the pass will write (a revision
        Deployment, a Service or route, a hook Job) exists and is someone else's, so that a name taken
        leaves nothing half-created. What is read is kept in the snapshot, where the writes find it."""
        for desired in planned:
            kind, name = desired["kind"], desired["metadata"]["name"]
            if kind == "Deployment":
                revision = revision_of(desired)
                if revision is None or revision in self.state.deployments:
                    continue
                path = deployments_path(self.release.namespace, name)
            elif kind == "Job":
                if name in self.state.hook_jobs:
                    continue
                path = jobs_path(self.release.namespace, name)
            elif (kind, name) in self.state.routing:
                continue
            else:
                path = object_path(kind, self.release.namespace, name)
                # The watch shows it as the Release's own, as wanted (a Release without Deployments:
                # its Services were checked at every pass, a GET each, 1.8 per Release at a restart).
                if self._watched.unchanged(path, desired, self.release):
                    continue
            existing = self.api.get(path)
            if existing is not None and not is_owned_by(existing, self.release):
                raise NotOwnedError(kind, existing, self.release)
            if kind == "Deployment":
                self._checked[path] = existing
            elif existing is not None and kind != "Job":
                self.state.routing[(kind, name)] = existing

    def ensure_revision(self, revision: str, version: str, replicas: int, template: Obj) -> None:
        if revision in self.state.deployments:
            self.scale_revision(revision, replicas)
            return
        desired = revision_deployment(self.release, revision, version, replicas, template)
        path = deployments_path(self.release.namespace, desired["metadata"]["name"])
        # The snapshot lists the Release's Deployments by label; an apply would merge into an object of
        # that name that is not in it, so the name is looked up first: only a missing one is created.
        existing = self._checked.pop(path) if path in self._checked else self.api.get(path)
        if existing is None:
            self.state.deployments[revision] = self._apply_deployment(path, desired)
            return
        if not is_owned_by(existing, self.release):
            raise NotOwnedError("Deployment", existing, self.release)
        # Created by an earlier pass that died before it could see the result.
        self.state.deployments[revision] = existing
        self.scale_revision(revision, replicas)

    def relabel(self) -> None:
        """Put back the labels someone took from (or changed on) the revisions' Deployments
        `find_unlabelled` found (a listed one has them), and the bucket label on those made before it
        existed: what `slipway` applied before (as a scale does), with the revision labels its pod
        template still carries, as both were given at its creation. The template is left as applied:
        no pod restarts. Then the labels added since on the routing objects `observe_routing` found
        behind."""
        for revision, observed in sorted(self.state.deployments.items()):
            if _labelled_as(observed, self.release, revision):
                continue
            config = applied_config(observed)
            template = (observed.get("spec", {}).get("template") or {}).get("metadata") or {}
            labels = template.get("labels") or {}
            carried = {key: value for key, value in labels.items() if key in REVISION_LABELS}
            metadata = config.setdefault("metadata", {})
            metadata["labels"] = {
                **(metadata.get("labels") or {}),
                **carried,
                LABEL_REVISION: revision,
                **bucket_label(self.release),
            }
            self.state.deployments[revision] = self._apply_deployment(
                deployments_path(self.release.namespace, observed["metadata"]["name"]), config
            )
        for desired in self.state.behind:
            self.ensure_routing_object(desired)

    def scale_revision(self, revision: str, replicas: int) -> None:
        observed = self.state.deployments.get(revision)
        if observed is None or observed.get("spec", {}).get("replicas") == replicas:
            return
        # What `slipway` applied before, with the new count: the template and labels stay as applied.
        config = applied_config(observed)
        config.setdefault("spec", {})["replicas"] = replicas
        self.state.deployments[revision] = self._apply_deployment(
            deployments_path(self.release.namespace, observed["metadata"]["name"]), config
        )

    def delete_revision(self, revision: str) -> None:
        observed = self.state.deployments.pop(revision, None)
        if observed is not None:
            self._delete(deployments_path(self.release.namespace, observed["metadata"]["name"]))
            self._deleted(observed)

    def run_hook(self, job: Obj) -> None:
        """Create a hook's Job unless it exists. Its name says which run it is, so one that exists
        (finished or not) is that run: it is never started again."""
        name = job["metadata"]["name"]
        if name in self.state.hook_jobs:
            return
        try:
            self.state.hook_jobs[name] = self._create(jobs_path(self.release.namespace), job)
        except ApiError as error:
            if error.status != 409:
                raise
            existing = self.api.get(jobs_path(self.release.namespace, name))
            if existing is None:
                raise StaleViewError(f"Job {name} exists and is gone again") from None
            if not is_owned_by(existing, self.release):
                raise NotOwnedError("Job", existing, self.release) from None
            self.state.hook_jobs[name] = existing

    def delete_hook_jobs(self, revision: str) -> None:
        """Delete the hook Jobs of a revision (their pods go with them)."""
        for name, job in list(self.state.hook_jobs.items()):
            if revision_of(job) == revision:
                del self.state.hook_jobs[name]
                self._delete(jobs_path(self.release.namespace, name))

    def ensure_routing_object(self, desired: Obj) -> None:
        """Create or correct a Service or route the Release owns; leave anyone else's alone."""
        kind, name = desired["kind"], desired["metadata"]["name"]
        path = object_path(kind, self.release.namespace, name)
        observed = self.state.routing.get((kind, name))
        if observed is None and self._watched.unchanged(path, desired, self.release):
            return
        # Read when first needed (the Deployments are written first), then kept in the snapshot.
        observed = observed or self.api.get(path)
        if observed is not None:
            self.state.routing[(kind, name)] = observed
            if not is_owned_by(observed, self.release):
                raise NotOwnedError(kind, observed, self.release)
            if not object_differs(desired, observed):
                self._watched.matched(path, observed, desired)
                return
        # The whole configuration, every time: an apply drops what `slipway` applied before and no
        # longer applies, and takes back what someone changed.
        applied = self.state.routing[(kind, name)] = self._apply(
            path, desired if kind == "Service" else stamped(desired)
        )
        self._watched.matched(path, applied, desired)

    def ensure_alert_rule(self, desired: Obj | None) -> None:
        """Create or correct the Release's PrometheusRule; None deletes it, if it is the Release's.
        An ApiError 404 from the write means the cluster serves no PrometheusRule (the CRD is absent)."""
        path = prometheus_rules_path(self.release.namespace, self.release.name)
        if desired is not None and self._watched.unchanged(path, desired, self.release):
            return
        observed = self.api.get(path)
        if observed is not None and not is_owned_by(observed, self.release):
            raise NotOwnedError("PrometheusRule", observed, self.release)
        if desired is None:
            if observed is not None:
                self._delete(path)
                self._watched.gone(path)
        elif observed is None or object_differs(desired, observed):
            self._watched.matched(path, self._apply(path, stamped(desired)), desired)
        else:
            self._watched.matched(path, observed, desired)

    def acknowledge(self, annotation: str, value: str) -> None:
        """Remove a manual action's annotation (metadata only, never spec: no GitOps drift), but only
        while it still holds the value that was carried out: a new value set meanwhile is a new request."""
        pointer = "/metadata/annotations/" + annotation.replace("~", "~0").replace("/", "~1")
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": pointer, "value": value},
            {"op": "remove", "path": pointer},
        ]
        path = releases_path(self.release.namespace, self.release.name)
        try:
            self._written(path, self._patch(path, patch, JSON_PATCH))
        except ApiError as error:
            if error.status not in (404, 409, 422):
                raise

    def write_status(self, resource_version: str, observed: Obj | None, status: Obj) -> str | None:
        """Replace the status if it differs, only if the Release is still at `resource_version`; the
        resourceVersion the write gave the Release, None when nothing was written.

        The guard makes a status computed from an old read fail instead of overwriting newer facts.
        """
        if observed == status:
            return None
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/status", "value": status},
        ]
        path = releases_path(self.release.namespace, self.release.name)
        try:
            written = self._patch(path + "/status", patch, JSON_PATCH)
        except ApiError as error:
            if error.status in (404, 409, 422):
                raise StaleViewError(str(error)) from None
            raise
        self._written(path, written)
        return str(written["metadata"]["resourceVersion"])
