"""Pure decisions of the simulated workload controllers: Deployments, ReplicaSets and Jobs.

Each function maps the objects a controller observes (and the time) to what it should write. They
follow the upstream controllers' documented behaviour closely enough that kubectl's `rollout status`,
`describe` and `get` read the results as they would on a real cluster. No I/O happens here.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonObject = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# The revisions a reused replica set had before (comma-separated, oldest first), as the real deployment
# controller records them when `rollout undo` brings a template back.
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_BACKOFF_LIMIT = 6

# The alphabet upstream uses to render hashes: no vowels, so names never spell words.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def controller_uid(obj: JsonObject) -> str | None:
    for reference in obj["metadata"].get("ownerReferences") or []:
        if reference.get("controller"):
            return str(reference.get("uid"))
    return None


def owner_reference(owner: JsonObject, api_version: str, kind: str) -> JsonObject:
    meta = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(owner: JsonObject, candidates: Sequence[JsonObject]) -> list[JsonObject]:
    uid = owner["metadata"]["uid"]
    return [obj for obj in candidates if controller_uid(obj) == uid]


def is_deleting(obj: JsonObject) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def condition(obj: JsonObject, kind: str) -> JsonObject | None:
    """The condition of that type, as the object holds it: read it, never change it."""
    for found in obj.get("status", {}).get("conditions") or []:
        if found.get("type") == kind:
            return found  # type: ignore[no-any-return]
    return None


def pod_is_ready(pod: JsonObject) -> bool:
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def pod_is_active(pod: JsonObject) -> bool:
    return not is_deleting(pod) and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


# ---------------------------------------------------------------------------------------------- hashing


def _without_empties(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {key: _without_empties(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, {}, [])}
    if isinstance(value, list):
        return [_without_empties(item) for item in value]
    return value


def _comparable(template: JsonObject) -> JsonObject:
    """The template as upstream compares it: no hash label, and empty fields (`resources: {}`, which
    kubectl's rollout undo adds) the same as absent ones."""
    bare = copy.deepcopy(template)
    labels = bare.get("metadata", {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    comparable: JsonObject = _without_empties(bare)
    return comparable


def template_hash(template: JsonObject, collision_count: int = 0) -> str:
    """FNV-1a over the canonical template, rendered in the upstream safe alphabet."""
    canonical = json.dumps(_comparable(template), sort_keys=True, separators=(",", ":"))
    value = 0x811C9DC5
    for byte in canonical.encode() + (str(collision_count).encode() if collision_count else b""):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(digit) % len(_SAFE_ALPHABET)] for digit in str(value))


def same_template(replica_set: JsonObject, template: JsonObject) -> bool:
    return _comparable(replica_set["spec"].get("template") or {}) == _comparable(template)


# ---------------------------------------------------------------------------------------------- replica sets


@dataclass(frozen=True)
class ReplicaSetPlan:
    """Pods to create (bodies) and delete (objects), then the status to write; requeue for minReadySeconds."""

    create: list[JsonObject]
    delete: list[JsonObject]
    status: JsonObject
    requeue_after: float | None


def pod_from_template(
    owner: JsonObject,
    owner_api_version: str,
    owner_kind: str,
    template: JsonObject,
    extra_labels: dict[str, str] | None = None,
) -> JsonObject:
    meta = template.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **(extra_labels or {})}
    pod_meta: JsonObject = {
        "generateName": owner["metadata"]["name"] + "-",
        "namespace": owner["metadata"].get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_reference(owner, owner_api_version, owner_kind)],
    }
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


ActivePod = tuple[JsonObject, JsonObject | None]  # a pod and its Ready condition when that is True


def _deletion_order(pods: Sequence[ActivePod]) -> list[ActivePod]:
    """Not-ready pods first, then the youngest, as upstream prefers to keep long-serving pods."""
    youngest_first = sorted(
        pods, key=lambda entry: str(entry[0]["metadata"].get("creationTimestamp") or ""), reverse=True
    )
    return sorted(youngest_first, key=lambda entry: entry[1] is not None)


@dataclass(frozen=True, slots=True)
class PodStanding:
    """What a ReplicaSet counts of one of its pods."""

    terminating: bool  # being deleted and not finished: counted apart
    active: bool  # neither being deleted nor finished: a replica
    ready: JsonObject | None  # its Ready condition when that is True
    labels: dict[str, str]


def pod_standing(pod: JsonObject) -> PodStanding:
    meta = pod["metadata"]
    status = pod.get("status") or {}
    finished = status.get("phase") in ("Succeeded", "Failed")
    deleting = bool(meta.get("deletionTimestamp"))
    ready = None
    for found in status.get("conditions") or ():
        if found.get("type") == "Ready":
            ready = found if found.get("status") == "True" else None
            break
    # Terminating pods are neither replicas nor ready nor available; upstream counts them apart
    # (terminatingReplicas, KEP-3973, on by default since 1.35) and Recreate waits for them.
    labels = meta.get("labels") or {}
    return PodStanding(deleting and not finished, not deleting and not finished, ready, labels)


def plan_replica_set(
    replica_set: JsonObject,
    pods: Sequence[JsonObject],
    now: datetime,
    standing: Callable[[JsonObject], PodStanding] = pod_standing,
) -> ReplicaSetPlan:
    """What a ReplicaSet's controller does next, given the pods it controls (see owned_by). `standing`
    reads each pod; a controller passes one that remembers pods it has read before."""
    spec = replica_set["spec"]
    wanted = int(spec.get("replicas", 1))
    labels_wanted = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    # One pass over the pods: a ReplicaSet of a thousand is planned many times a second in a rollout.
    active: list[ActivePod] = []
    fully_labeled = terminating = 0
    for pod in pods:
        found = standing(pod)
        terminating += found.terminating
        if found.active:
            active.append((pod, found.ready))
            fully_labeled += labels_wanted.items() <= found.labels.items()
    create = [
        pod_from_template(replica_set, "apps/v1", "ReplicaSet", spec.get("template") or {})
        for _ in range(max(0, wanted - len(active)))
    ]
    surplus = len(active) - wanted
    leaving = _deletion_order(active)[:surplus] if surplus > 0 else []
    staying = [ready for _, ready in active if ready is not None]
    if leaving:
        gone = {id(pod) for pod, _ in leaving}
        staying = [ready for pod, ready in active if ready is not None and id(pod) not in gone]
    min_ready = float(spec.get("minReadySeconds") or 0)
    available = 0
    requeue: float | None = None
    for ready in staying:
        # Timestamps are parsed only when minReadySeconds asks for them: this loop runs over every pod.
        since = ready.get("lastTransitionTime") if min_ready else None
        waited = (now - parse_timestamp(str(since))).total_seconds() if since else math.inf
        if waited >= min_ready:
            available += 1
        else:
            requeue = min(requeue or math.inf, min_ready - waited)
    status = {
        "replicas": len(active),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": len(staying),
        "availableReplicas": available,
        "terminatingReplicas": terminating,
        "observedGeneration": replica_set["metadata"].get("generation", 1),
    }
    return ReplicaSetPlan(create, [pod for pod, _ in leaving], status, requeue)


# ---------------------------------------------------------------------------------------------- deployments


@dataclass(frozen=True)
class DeploymentPlan:
    """One pass of the deployment controller: at most one kind of move, then the status."""

    create: JsonObject | None = None
    scale: dict[str, int] = field(default_factory=dict)
    delete: list[JsonObject] = field(default_factory=list)
    revision: str | None = None
    # (replica set, the annotations that renumber it: its new revision and its revision history)
    renumber: tuple[str, dict[str, str]] | None = None
    status: JsonObject = field(default_factory=dict)
    requeue_after: float | None = None


def _resolve(value: Any, replicas: int, round_up: bool, default: str) -> int:
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%"):
        share = float(value[:-1]) * replicas / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)


def surge_and_unavailable(deployment: JsonObject) -> tuple[int, int]:
    spec = deployment["spec"]
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = _resolve(rolling.get("maxSurge"), replicas, True, "25%")
    unavailable = _resolve(rolling.get("maxUnavailable"), replicas, False, "25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1  # upstream's rule: a rollout must be able to move
    return surge, unavailable


def _spec_replicas(replica_set: JsonObject) -> int:
    return int(replica_set["spec"].get("replicas", 1))


def _available(replica_set: JsonObject) -> int:
    # Capped by spec: a replica set just scaled down still reports its old pods for a moment.
    return min(_spec_replicas(replica_set), int(replica_set.get("status", {}).get("availableReplicas") or 0))


def _revision(replica_set: JsonObject) -> int:
    try:
        return int((replica_set["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, 0))
    except ValueError:
        return 0


def _new_replica_set(deployment: JsonObject, old: Sequence[JsonObject], replicas: int) -> JsonObject:
    spec = deployment["spec"]
    meta = deployment["metadata"]
    collision = int(deployment.get("status", {}).get("collisionCount") or 0)
    pod_hash = template_hash(spec["template"], collision)
    template = copy.deepcopy(spec["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    revision = str(max((_revision(rs) for rs in old), default=0) + 1)
    rs_spec: JsonObject = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta.get("namespace"),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {REVISION_ANNOTATION: revision},
            "ownerReferences": [owner_reference(deployment, "apps/v1", "Deployment")],
        },
        "spec": rs_spec,
    }


def _scale_new(new: JsonObject, all_sets: Sequence[JsonObject], replicas: int, surge: int) -> int | None:
    current = _spec_replicas(new)
    if current >= replicas:
        return replicas if current > replicas else None
    room = replicas + surge - sum(_spec_replicas(rs) for rs in all_sets)
    return current + min(room, replicas - current) if room > 0 else None


def _scale_old(
    new: JsonObject | None, old: Sequence[JsonObject], replicas: int, unavailable: int
) -> dict[str, int]:
    """Upstream's two moves: first drop old replicas that are not available, then available ones."""
    everything = [*old, *([new] if new else [])]
    min_available = replicas - unavailable
    new_unavailable = (_spec_replicas(new) - _available(new)) if new else 0
    budget = sum(_spec_replicas(rs) for rs in everything) - min_available - new_unavailable
    if budget <= 0:
        return {}
    original = {rs["metadata"]["name"]: _spec_replicas(rs) for rs in old}
    sized = dict(original)
    ordered = sorted(old, key=_revision)
    for rs in ordered:
        unhealthy = sized[rs["metadata"]["name"]] - _available(rs)
        step = min(budget, max(0, unhealthy))
        sized[rs["metadata"]["name"]] -= step
        budget -= step
    spare = sum(_available(rs) for rs in everything) - min_available
    for rs in ordered:
        step = min(max(0, spare), sized[rs["metadata"]["name"]], _available(rs))
        sized[rs["metadata"]["name"]] -= step
        spare -= step
    return {name: size for name, size in sized.items() if size != original[name]}


def _progressed(before: JsonObject, after: JsonObject) -> bool:
    return bool(
        after.get("updatedReplicas", 0) > before.get("updatedReplicas", 0)
        or after.get("replicas", 0) < before.get("replicas", 0)
        or after.get("readyReplicas", 0) > before.get("readyReplicas", 0)
        or after.get("availableReplicas", 0) > before.get("availableReplicas", 0)
    )


def _set_condition(
    previous: JsonObject | None,
    kind: str,
    status: str,
    reason: str,
    message: str,
    now: datetime,
    touched: bool,
) -> JsonObject:
    stamp = timestamp(now)
    if previous is not None and previous.get("status") == status:
        transition = previous.get("lastTransitionTime", stamp)
        update = (
            stamp if touched or previous.get("reason") != reason else previous.get("lastUpdateTime", stamp)
        )
    else:
        transition = update = stamp
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": update,
        "lastTransitionTime": transition,
    }


def _renumbered(replica_set: JsonObject, revision: int) -> dict[str, str]:
    annotations = replica_set["metadata"].get("annotations") or {}
    changes = {REVISION_ANNOTATION: str(revision)}
    previous = annotations.get(REVISION_ANNOTATION)
    if previous:
        history = [r for r in (annotations.get(REVISION_HISTORY_ANNOTATION) or "").split(",") if r]
        changes[REVISION_HISTORY_ANNOTATION] = ",".join([*history, previous])
    return changes


def plan_deployment(
    deployment: JsonObject, replica_sets: Sequence[JsonObject], now: datetime
) -> DeploymentPlan:
    spec = deployment["spec"]
    meta = deployment["metadata"]
    replicas = int(spec.get("replicas", 1))
    owned = owned_by(deployment, replica_sets)
    new = next((rs for rs in owned if same_template(rs, spec["template"])), None)
    old = [rs for rs in owned if rs is not new]
    surge, unavailable = surge_and_unavailable(deployment)
    recreate = (spec.get("strategy") or {}).get("type") == "Recreate"

    create: JsonObject | None = None
    scale: dict[str, int] = {}
    paused = bool(spec.get("paused"))
    active = [rs for rs in owned if _spec_replicas(rs)]
    if paused:
        # A paused deployment rolls nothing; a scale change still reaches a lone active replica set.
        if len(active) == 1 and _spec_replicas(active[0]) != replicas:
            scale = {active[0]["metadata"]["name"]: replicas}
    elif recreate and any(_spec_replicas(rs) for rs in old):
        scale = {rs["metadata"]["name"]: 0 for rs in old if _spec_replicas(rs)}
    elif recreate and any(
        int(rs.get("status", {}).get("replicas") or 0)
        + int(rs.get("status", {}).get("terminatingReplicas") or 0)
        for rs in old
    ):
        pass  # old pods are still there or terminating: Recreate waits for them to be gone
    elif new is None:
        room = replicas if recreate else replicas + surge - sum(_spec_replicas(rs) for rs in old)
        create = _new_replica_set(deployment, old, max(0, min(replicas, room)))
    else:
        new_size = _scale_new(new, owned, replicas, surge)
        if new_size is not None:
            scale = {new["metadata"]["name"]: new_size}
        elif not recreate:
            scale = _scale_old(new, old, replicas, unavailable)

    revision = renumber = None
    if new is not None:
        new_revision = _revision(new)
        newest_old = max((_revision(rs) for rs in old), default=0)
        if new_revision <= newest_old:  # an earlier template is back (rollout undo): it is the newest now
            new_revision = newest_old + 1
            renumber = (str(new["metadata"]["name"]), _renumbered(new, new_revision))
        if (meta.get("annotations") or {}).get(REVISION_ANNOTATION) != str(new_revision):
            revision = str(new_revision)
    history_limit = int(spec.get("revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT))
    idle_old = sorted(
        (rs for rs in old if _spec_replicas(rs) == 0 and not int(rs.get("status", {}).get("replicas") or 0)),
        key=_revision,
    )
    delete = idle_old[: max(0, len(idle_old) - history_limit)]

    status, requeue = _deployment_status(deployment, owned, new, create, now, replicas, unavailable, paused)
    return DeploymentPlan(create, scale, delete, revision, renumber, status, requeue)


def _deployment_status(
    deployment: JsonObject,
    owned: Sequence[JsonObject],
    new: JsonObject | None,
    created: JsonObject | None,
    now: datetime,
    replicas: int,
    unavailable: int,
    paused: bool,
) -> tuple[JsonObject, float | None]:
    def total(field_name: str) -> int:
        return sum(int(rs.get("status", {}).get(field_name) or 0) for rs in owned)

    previous = deployment.get("status") or {}
    counts: JsonObject = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": total("replicas"),
        "updatedReplicas": int((new or {}).get("status", {}).get("replicas") or 0),
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": total("availableReplicas"),
        "unavailableReplicas": max(0, sum(_spec_replicas(rs) for rs in owned) - total("availableReplicas")),
        "terminatingReplicas": total("terminatingReplicas"),
    }
    if "collisionCount" in previous:
        counts["collisionCount"] = previous["collisionCount"]
    available_ok = counts["availableReplicas"] >= replicas - unavailable
    conditions = [
        _set_condition(
            condition(deployment, "Available"),
            "Available",
            "True" if available_ok else "False",
            "MinimumReplicasAvailable" if available_ok else "MinimumReplicasUnavailable",
            "Deployment has minimum availability."
            if available_ok
            else "Deployment does not have minimum availability.",
            now,
            touched=False,
        )
    ]
    rs_name = (created or new or {"metadata": {"name": deployment["metadata"]["name"]}})["metadata"]["name"]
    deadline = float(deployment["spec"].get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_SECONDS))
    progressing = condition(deployment, "Progressing")
    complete = (
        counts["updatedReplicas"] == replicas
        and counts["replicas"] == replicas
        and counts["availableReplicas"] == replicas
        and new is not None
    )
    requeue: float | None = None
    if paused:
        progressing = _set_condition(
            progressing,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            now,
            touched=False,
        )
    elif progressing is not None and progressing.get("reason") == "DeploymentPaused":
        # Resuming restarts the progress deadline, as upstream.
        progressing = _set_condition(
            progressing,
            "Progressing",
            "True",
            "DeploymentResumed",
            "Deployment is resumed",
            now,
            touched=True,
        )
        requeue = deadline
    elif created is not None:
        progressing = _set_condition(
            progressing,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            f'Created new replica set "{rs_name}"',
            now,
            touched=True,
        )
        requeue = deadline
    elif complete:
        progressing = _set_condition(
            progressing,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
            now,
            touched=False,
        )
    elif progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        pass  # stays timed out until the next template change, as upstream
    elif (
        progressing is None
        or progressing.get("reason") == "NewReplicaSetAvailable"
        or _progressed(previous, counts)
    ):
        progressing = _set_condition(
            progressing,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
            now,
            touched=True,
        )
        requeue = deadline
    else:
        since = parse_timestamp(str(progressing.get("lastUpdateTime") or timestamp(now)))
        left = deadline - (now - since).total_seconds()
        if left <= 0:
            progressing = _set_condition(
                progressing,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
                now,
                touched=True,
            )
        else:
            requeue = left
    conditions.append(progressing)
    return {**counts, "conditions": conditions}, requeue


def event(
    involved: JsonObject,
    api_version: str,
    kind: str,
    warning: bool,
    reason: str,
    message: str,
    source: str,
    now: datetime,
) -> JsonObject:
    """A core/v1 Event about `involved`, as the upstream component `source` posts it."""
    meta = involved["metadata"]
    stamp = timestamp(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta.get("namespace")},
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
        "type": "Warning" if warning else "Normal",
        "reason": reason,
        "message": message,
        "source": {"component": source},
        "reportingComponent": source,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def scaling_event(
    deployment: JsonObject, replica_set: str, before: int, after: int, now: datetime
) -> JsonObject:
    """The Event upstream posts for each scaling, which `kubectl describe deployment` lists."""
    direction = "up" if after > before else "down"
    message = f"Scaled {direction} replica set {replica_set} from {before} to {after}"
    return event(
        deployment, "apps/v1", "Deployment", False, "ScalingReplicaSet", message, "deployment-controller", now
    )


# ---------------------------------------------------------------------------------------------- jobs


def _finished_conditions(kinds: tuple[str, str], reason: str, message: str, stamp: str) -> list[JsonObject]:
    # Kubernetes 1.31+ sets the interim condition (SuccessCriteriaMet / FailureTarget) with the final one.
    return [
        {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastProbeTime": stamp,
            "lastTransitionTime": stamp,
        }
        for kind in kinds
    ]


@dataclass(frozen=True)
class JobPlan:
    """Pods to create, the status to write, and for a finished Job with ttlSecondsAfterFinished the
    seconds until it is deleted (0 or less: delete it now); for a running Job with
    activeDeadlineSeconds, the seconds until it runs out; the active pods to stop when it has."""

    create: list[JsonObject]
    status: JsonObject
    expires_in: float | None = None
    deadline_in: float | None = None
    stop: list[JsonObject] = field(default_factory=list)


def _expires_in(job: JsonObject, finished_at: str, now: datetime) -> float | None:
    ttl = job["spec"].get("ttlSecondsAfterFinished")
    if ttl is None:
        return None
    return float(ttl) - (now - parse_timestamp(finished_at)).total_seconds()


def plan_job(job: JsonObject, pods: Sequence[JsonObject], now: datetime) -> JobPlan:
    spec = job["spec"]
    owned = owned_by(job, pods)
    succeeded = sum(1 for pod in owned if pod.get("status", {}).get("phase") == "Succeeded")
    failed = sum(1 for pod in owned if pod.get("status", {}).get("phase") == "Failed")
    active = sum(1 for pod in owned if pod_is_active(pod))
    completions = int(spec.get("completions", 1))
    parallelism = int(spec.get("parallelism", 1))
    backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT))
    previous = job.get("status") or {}
    stamp = timestamp(now)
    status: JsonObject = {
        "startTime": previous.get("startTime", stamp),
        "active": active,
        "succeeded": succeeded,
        "failed": failed,
        "ready": sum(1 for p in owned if pod_is_ready(p)),
    }
    finished = condition(job, "Complete") or condition(job, "Failed")
    if finished is not None and finished.get("status") == "True":
        status.update({key: previous[key] for key in ("conditions", "completionTime") if key in previous})
        return JobPlan([], status, _expires_in(job, str(finished.get("lastTransitionTime") or stamp), now))
    if succeeded >= completions:
        status["completionTime"] = stamp
        status["conditions"] = _finished_conditions(
            ("SuccessCriteriaMet", "Complete"),
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            stamp,
        )
        return JobPlan([], status, _expires_in(job, stamp, now))
    if failed > backoff_limit:
        status["conditions"] = _finished_conditions(
            ("FailureTarget", "Failed"),
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            stamp,
        )
        return JobPlan([], status, _expires_in(job, stamp, now))
    deadline = spec.get("activeDeadlineSeconds")
    deadline_in = None
    if deadline is not None:
        deadline_in = float(deadline) - (now - parse_timestamp(status["startTime"])).total_seconds()
        if deadline_in <= 0:
            status["conditions"] = _finished_conditions(
                ("FailureTarget", "Failed"),
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                stamp,
            )
            status["active"] = 0
            stop = [pod for pod in owned if pod_is_active(pod)]
            return JobPlan([], status, _expires_in(job, stamp, now), stop=stop)
    wanted = max(0, min(parallelism, completions - succeeded) - active)
    template = spec.get("template") or {}
    job_labels = {
        "batch.kubernetes.io/job-name": job["metadata"]["name"],
        "job-name": job["metadata"]["name"],
        "batch.kubernetes.io/controller-uid": job["metadata"]["uid"],
        "controller-uid": job["metadata"]["uid"],
    }
    create = [pod_from_template(job, "batch/v1", "Job", template, job_labels) for _ in range(wanted)]
    return JobPlan(create, status, deadline_in=deadline_in)
