"""The watch handlers: events only wake the reconcile queue; all work happens in the reconciler.

The Releases are watched by controller/release_watch.py, the objects they own by
controller/owned_watch.py (with sharding, only those of this replica's buckets), both with the
operator's own informer; their handlers are here. Kopf watches the Jobs only, with an `on.event`
handler, on purpose: it then keeps no state on the objects (no finalizer, no progress or last-handled
annotations). Nothing of Kopf's is on a Release either, so its status is written by Slipway alone and
a Release can be deleted even while the operator is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import kopf

from slipway.controller.echoes import OwnWrites
from slipway.controller.first_look import FirstLook
from slipway.controller.owned_watch import Kept
from slipway.controller.queue import Echo, ReconcileQueue, ReleaseKey
from slipway.controller.upstreams import UpstreamIndex
from slipway.controller.watch_view import WatchView
from slipway.kube.client import (
    Credentials,
    Obj,
    deployments_path,
    object_path,
    prometheus_rules_path,
    releases_path,
)
from slipway.kube.listing import PAGE
from slipway.kube.packed import digest
from slipway.kube.watched import WatchedObjects
from slipway.manifests import LABEL_RELEASE, owning_release, ready_replicas


def build_registry(
    queue: ReconcileQueue, credentials: Credentials, upstreams: UpstreamIndex
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    # Kopf's watches use the credentials the operator's client found, not a search order of their own.
    # Kopf asks again when the server rejects them, which picks up a rotated service-account token.
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(credentials)

    # Async handlers run on the operator's loop (sync ones would run in threads), where the queue lives.
    @kopf.on.event("batch", "v1", "jobs", labels={LABEL_RELEASE: kopf.PRESENT}, registry=registry)
    async def job_event(*, labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
        # A deploy hook or a job metric finishing moves a rollout on: the core waits for this event
        # (its own look again is only a safety net, 30 s later).
        _wake(queue, upstreams, ReleaseKey(namespace or "", labels[LABEL_RELEASE]))

    return registry


def release_handler(
    queue: ReconcileQueue,
    upstreams: UpstreamIndex,
    own_writes: OwnWrites,
    first_look: FirstLook,
    watch_view: WatchView,
) -> Callable[[str | None, Obj], None]:
    """The handler of the Releases (controller/release_watch.py watches them), run on the event loop."""

    def release_shown(type: str | None, body: Obj) -> None:
        metadata = body["metadata"]
        key = ReleaseKey(metadata.get("namespace", ""), metadata["name"])
        path = releases_path(key.namespace, key.name)
        deleted = type == "DELETED"
        first_look.release(key, None if deleted else body)
        watch_view.shown_release(key, None if deleted else body)
        if deleted:
            queue.forget(key)
            own_writes.forget(path)
            waiting = upstreams.forget(key)
        else:
            waiting = upstreams.seen(key, body)
            queue.notify(key, partial(own_writes.echo, path, str(metadata.get("resourceVersion"))))
        # A change a promotion gate reads may open (or close) the gate of the Releases naming this one.
        for downstream in waiting:
            queue.notify(downstream)

    return release_shown


def owned_handlers(
    queue: ReconcileQueue,
    upstreams: UpstreamIndex,
    own_writes: OwnWrites,
    watched: WatchedObjects,
    first_look: FirstLook,
    watch_view: WatchView,
) -> dict[str, Callable[[str | None, Obj], Kept]]:
    """The handlers of the objects the Releases own, by plural (controller/owned_watch.py watches them).
    Each returns what is kept of the object: its release label and its owner."""

    def wake(key: ReleaseKey, echo: Echo | None = None) -> None:
        _wake(queue, upstreams, key, echo)

    # What a pass takes from each Deployment, by path (`decided_on`): a change to nothing of it wakes no
    # pass. Most of a revision's events are its controller's status writes a pass does not read
    # (observedGeneration, replicas, availableReplicas, conditions): three or four per rollout step.
    decided: dict[str, int] = {}

    # Alone, every Deployment is shown, labelled or not (as the Services below): one whose release label
    # someone removed must leave the view of its Release (controller/watch_view.py). Sharded, only those
    # of this replica's buckets (controller/owned_watch.py).
    def revision_shown(type: str | None, body: Obj) -> Kept:
        metadata = body["metadata"]
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        release = (metadata.get("labels") or {}).get(LABEL_RELEASE)
        # One someone took the release label from, or changed it on (the Release lists its Deployments
        # by it), still wakes the Release its ownerReference names, whose pass finds it by name and
        # labels it again.
        owner = owning_release(body) or release
        path = deployments_path(namespace, name)
        if owner is None or type == "DELETED":
            decided.pop(path, None)  # kept while a Release owns it (an object taken from one is gone)
        if owner is not None:
            key = ReleaseKey(namespace, owner)
            # Kept for the first pass only while labelled: an unlabelled one is looked up and labelled.
            labelled = release == owner and type != "DELETED"
            first_look.deployment(key, name, body if labelled else None)
            echo = None
            moved = True
            if type == "DELETED":
                own_writes.forget(path)
                # The pass it wakes reads the Release: the garbage collector deletes the objects after
                # the Release, whose own event may come later (another watch, on a thread of its own),
                # and deciding on the view, that pass would make them again.
                watch_view.drop(key)
            else:
                echo = partial(own_writes.echo, path, str(metadata.get("resourceVersion")))
                now = decided_on(body)
                moved = decided.get(path) != now
                decided[path] = now
            # Readiness of a revision moves a rollout on: wake the Release that owns it. The core waits
            # for this event (its own look again is only a safety net, 30 s later).
            if moved:
                wake(key, echo)
        # The pass woken above starts only once this handler returns, so it decides on this view too.
        watch_view.shown_deployment(namespace, name, release, body, deleted=type == "DELETED")
        return release, owner

    # The Services and the PrometheusRule a Release owns: what the watch shows spares a pass their GETs
    # (kube/watched.py), and a change someone else made, or a deletion, wakes the Release to repair it.
    # Alone, not only the labelled ones: an edit removing the labels must not leave the object trusted
    # as last left. The owner is found by ownerReference or label instead.
    def owned_object_shown(type: str | None, body: Obj) -> Kept:
        metadata = body["metadata"]
        namespace = metadata.get("namespace", "")
        path = watched_path(body["kind"], namespace, metadata["name"])
        owner = owning_release(body)
        # One taken from its Release (ownerReference and labels both removed) still wakes the Release
        # a pass last met it in, which then finds it someone else's.
        known = owner or watched.owner(path)
        echo = None
        if type == "DELETED":
            watched.gone(path)
            if known is not None:
                watch_view.drop(ReleaseKey(namespace, known))  # as for a Deployment, above
        else:
            watched.shown(body, path, owned=owner is not None)
            echo = partial(watched.as_left, path, str(metadata.get("resourceVersion")))
        if known is not None:
            wake(ReleaseKey(namespace, known), echo)
        return (metadata.get("labels") or {}).get(LABEL_RELEASE), owner

    return {
        "deployments": revision_shown,
        "services": owned_object_shown,
        "prometheusrules": owned_object_shown,
    }


def _wake(queue: ReconcileQueue, upstreams: UpstreamIndex, key: ReleaseKey, echo: Echo | None = None) -> None:
    """A pass for the Release an object belongs to, if the watch shows that Release: once it is gone,
    its objects going after it (garbage collection) need no pass, and a sharded queue would keep each
    such Release it was told of for good."""
    if upstreams.shows(key):
        queue.notify(key, echo)


def decided_on(deployment: Obj) -> int:
    """A digest of what a pass reads of a Deployment: its metadata (but its resourceVersion and the
    managers' entries for the status subresource), its spec and status.readyReplicas (core/observations.py:
    a revision is its replicas asked for and ready)."""
    metadata = dict(deployment["metadata"])
    metadata.pop("resourceVersion", None)
    metadata["managedFields"] = [
        entry for entry in metadata.get("managedFields") or () if entry.get("subresource") != "status"
    ]
    read = (metadata, deployment.get("spec"), ready_replicas(deployment))
    return digest(read)


def watched_path(kind: str, namespace: str, name: str) -> str:
    """The API path the writer knows a watched Service or PrometheusRule by."""
    if kind == "PrometheusRule":
        return prometheus_rules_path(namespace, name)
    return object_path(kind, namespace, name)


class NoDiffBase(kopf.DiffBaseStorage):
    """Kopf's change detection, turned off. Kopf builds an "essence" of every object at every event (a
    deep copy of the body, copied again to clear its progress) for the diffs of its change handlers
    (on.create, on.update, on.field); Slipway registers none, so the essence was never read. At a
    restart over 10,000 Releases that building was 7 s of the operator's CPU (py-spy). Nothing is
    stored either: no last-handled-configuration annotation."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def build_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.diffbase_storage = NoDiffBase()
    # Kopf watches only the Jobs, a built-in kind: it needs no watch of CRDs (nor a grant to read them),
    # cluster-wide or not, and watches given namespaces by name instead of listing every namespace. The
    # Releases' own watch serves a Release CRD installed after the start (controller/release_watch.py).
    settings.scanning.disabled = True
    # Slipway posts its own Events (one per transition); Kopf's per-log-line Events would only add writes.
    settings.posting.enabled = False
    settings.posting.level = logging.WARNING
    # Reconnect watches well before Kopf's inactivity timeout, so a quiet API server never stalls us.
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 70
    # Memory: Python keeps the arenas its peak filled (the few objects that outlive it pin them), so the
    # startup peak stays in RSS for good. Kopf lists each kind whole by default, and each object's worker
    # holds its last event's body for 5 s of idling: over a start, every body at once. When Kopf still
    # watched the Releases, pages and workers ending after 0.1 s took one operator over 3,000 Releases
    # from 327 to 210 MiB (docs/operator.md); kept for the Jobs. A worker is made again at the object's
    # next event. Not 0: Kopf's worker then never takes an event from its queue (its wait times out
    # before the get runs).
    settings.watching.chunk_size = PAGE
    settings.queueing.idle_timeout = 0.1
    return settings


def connection_info(credentials: Credentials) -> kopf.ConnectionInfo:
    config = credentials.configuration
    # "Bearer <token>" (kubeconfig), "bearer <token>" (service account) or "Basic <user:password>".
    header = config.get_api_key_with_prefix("BearerToken", alias="authorization") or ""
    scheme, _, token = header.rpartition(" ")
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )
