"""`kubectl slipway undo`: which revision to go back to, and the spec patch that does it. Pure functions."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slipway.api.status import DEFAULT_REVISION_HISTORY
from slipway.cli._plugin_view import Obj, history
from slipway.core.revision import revision_hash
from slipway.manifests import (
    LABEL_RELEASE,
    LABEL_REVISION,
    LABEL_VERSION,
    has_owner,
    revision_labels,
    revision_of,
)


class UndoError(Exception):
    """The undo cannot be done; the message says why in a user's words."""


@dataclass(frozen=True)
class UndoTarget:
    revision: str
    version: str
    why: str


def _status(release: Obj) -> Obj:
    status = release.get("status")
    return status if isinstance(status, Mapping) else {}


def choose_target(release: Obj, to_revision: str | None) -> UndoTarget:
    """The revision to go back to.

    `to_revision` is a NO from `kubectl slipway history` or a revision hash (of the history, or kept
    in status.oldRevisions). Without it: the stable revision when the desired version is not the one
    serving (a rollback left the Release Degraded), else the newest earlier revision that was promoted.
    """
    entries = history(release)
    if to_revision is not None:
        if to_revision.isdigit():
            number = int(to_revision)
            if not 1 <= number <= len(entries):
                raise UndoError(f"no history entry {number}: history has {len(entries)} entries")
            entry = entries[number - 1]
        else:
            matching = [e for e in [*_old_revisions(release), *entries] if e.get("revision") == to_revision]
            if not matching:
                raise UndoError(f"revision {to_revision} is not in the history")
            entry = matching[-1]
        return UndoTarget(
            str(entry.get("revision")), str(entry.get("version")), f"history entry {to_revision}"
        )

    spec = release.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    stable = _status(release).get("stable")
    stable = stable if isinstance(stable, Mapping) else {}
    if stable.get("revision") and stable.get("version") != spec.get("version"):
        return UndoTarget(
            str(stable["revision"]), str(stable.get("version")), "the stable revision, now serving"
        )
    for entry in reversed(entries):
        if entry.get("outcome") == "Promoted" and entry.get("revision") != stable.get("revision"):
            return UndoTarget(
                str(entry["revision"]), str(entry.get("version")), "the previous promoted revision"
            )
    raise UndoError("no earlier promoted revision to go back to")


def _old_revisions(release: Obj) -> list[Obj]:
    old = _status(release).get("oldRevisions")
    return [item for item in old if isinstance(item, Mapping)] if isinstance(old, list) else []


def restorable(release: Obj, deployments: Iterable[Obj]) -> frozenset[str]:
    """The revisions `undo` can return to: those whose Deployment the Release still owns (serving, or
    kept at zero replicas by spec.revisionHistoryLimit)."""
    meta = release.get("metadata")
    uid = str(meta.get("uid", "")) if isinstance(meta, Mapping) else ""
    revisions = (revision_of(dict(d)) for d in deployments if has_owner(dict(d), uid))
    return frozenset(revision for revision in revisions if revision)


def pruned(release: Obj, target: UndoTarget) -> UndoError:
    """The target's Deployment is gone: said in one line, with what to do instead."""
    spec = release.get("spec")
    limit = spec.get("revisionHistoryLimit") if isinstance(spec, Mapping) else None
    limit = DEFAULT_REVISION_HISTORY if limit is None else limit
    serving = [_status(release).get(role) for role in ("stable", "canary")]
    if any(isinstance(r, Mapping) and r.get("revision") == target.revision for r in serving):
        why = "has no Deployment (deleted by someone)"
    else:
        why = (
            f"was pruned: Slipway keeps the Deployments of the last {limit} replaced revisions"
            " (spec.revisionHistoryLimit)"
        )
    return UndoError(
        f"revision {target.revision} (version {target.version}, {target.why}) {why};"
        f" apply version {target.version}'s manifest again (from git) instead"
    )


def template_from_deployment(deployment: Obj) -> dict[str, Any]:
    """The pod template the user wrote: the revision Deployment's template less the labels the operator added.

    Labels the user set to the very value the operator also sets cannot be told apart; they are dropped too.
    """
    labels_of_deployment = (deployment.get("metadata") or {}).get("labels") or {}
    spec = deployment.get("spec")
    template = spec.get("template") if isinstance(spec, Mapping) else None
    if not isinstance(template, Mapping):
        raise UndoError("the revision's Deployment has no pod template")
    restored = copy.deepcopy(dict(template))
    metadata = dict(restored.get("metadata") or {})
    added = revision_labels(
        labels_of_deployment.get(LABEL_RELEASE, ""),
        labels_of_deployment.get(LABEL_REVISION, ""),
        labels_of_deployment.get(LABEL_VERSION, ""),
    )
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if added.get(k) != v}
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    metadata.pop("creationTimestamp", None)
    if metadata:
        restored["metadata"] = metadata
    else:
        restored.pop("metadata", None)
    return restored


# What a real API server fills into a Deployment's pod template when the manifest leaves it out.
_POD_DEFAULTS: dict[str, Any] = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "securityContext": {},
    "schedulerName": "default-scheduler",
}
_CONTAINER_DEFAULTS: dict[str, Any] = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}


def _default_pull_policy(image: object) -> str:
    name = str(image).rsplit("/", 1)[-1]
    untagged = ":" not in name.split("@", 1)[0] and "@" not in name
    return "Always" if untagged or name.endswith(":latest") else "IfNotPresent"


def _drop_defaults(obj: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    for key, value in defaults.items():
        if key in obj and obj[key] == value:
            del obj[key]


def without_server_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template less the fields an API server defaults, where they hold the default value."""
    stripped = copy.deepcopy(dict(template))
    pod = stripped.get("spec")
    if not isinstance(pod, dict):
        return stripped
    _drop_defaults(pod, _POD_DEFAULTS)
    for field in ("initContainers", "containers"):
        for container in pod.get(field) or []:
            _drop_defaults(
                container,
                {**_CONTAINER_DEFAULTS, "imagePullPolicy": _default_pull_policy(container.get("image"))},
            )
            for port in container.get("ports") or []:
                _drop_defaults(port, {"protocol": "TCP"})
    return stripped


def recover_template(deployment: Obj, target: UndoTarget) -> tuple[dict[str, Any], bool]:
    """The template to write back, and whether it is exactly the one the revision was made from.

    The revision hash tells: the template as the Deployment holds it, or without the server's defaults.
    When neither matches (the user wrote some defaults and not others), the second is the better guess,
    and the operator will roll it out as a new revision running the same pods.
    """
    as_held = template_from_deployment(deployment)
    candidates = [as_held, without_server_defaults(as_held)]
    for candidate in candidates:
        if revision_hash(candidate, target.version) == target.revision:
            return candidate, True
    return candidates[-1], False


def already_desired(release: Obj, target: UndoTarget) -> bool:
    """Whether spec already describes the target revision (its template and version hash to it), so
    writing it back would change nothing."""
    spec = release.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    template = spec.get("template")
    if not isinstance(template, Mapping):
        return False
    return revision_hash(template, str(spec.get("version"))) == target.revision


def undo_patch(release: Obj, version: str, template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch replacing spec.version and spec.template; refused if the Release changed since read."""
    meta = release.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        {"op": "replace", "path": "/spec/version", "value": version},
        {"op": "replace", "path": "/spec/template", "value": dict(template)},
    ]
