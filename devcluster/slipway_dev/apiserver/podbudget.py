"""How many pods the dev cluster runs at most, and the writes it refuses to stay within that.

A real cluster is bounded by its nodes; the simulated one runs every pod as an HTTP server in one
process, so a Deployment of 10^12 replicas would grow it until the kernel killed it. Like a
ResourceQuota on `pods`, each write that declares pods (a Deployment's, StatefulSet's or ReplicaSet's
replicas, a Job's parallelism, a Pod of its own) is admitted only while the pods every such object
declares stay within the limit: past it the write is refused, 403 Forbidden in the words of a quota
refusal, before anything is stored. Shrinking is always admitted. Pods and ReplicaSets a workload
controller makes (a Deployment's ReplicaSets, their pods, a Job's pods) are counted through their
owner, once; a rollout's surge pods are not counted, nor a finished Job or a pod that has ended.
"""

from __future__ import annotations

from typing import Any, Final

from slipway_dev.apiserver.errors import ApiError, qualified
from slipway_dev.apiserver.resources import ResourceType
from slipway_dev.apiserver.storage import Event, Store

DEFAULT_MAX_PODS: Final = 5000
QUOTA_NAME: Final = "dev-cluster-pods"

_DECLARING: Final = {
    "deployments.apps": "Deployment",
    "statefulsets.apps": "StatefulSet",
    "replicasets.apps": "ReplicaSet",
    "jobs.batch": "Job",
    "pods": "Pod",
}
# The kinds whose controller makes the pods (or ReplicaSets) it owns: those are counted at the owner.
_WORKLOAD_OWNERS: Final = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "Job", "DaemonSet"})


def _number(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def declared_pods(storage_key: str, obj: dict[str, Any]) -> int:
    """The pods `obj` makes the cluster run, 0 for one whose owner's count includes them."""
    kind = _DECLARING.get(storage_key)
    if kind is None:
        return 0
    owners = obj.get("metadata", {}).get("ownerReferences") or []
    if kind in ("ReplicaSet", "Pod") and any(
        ref.get("controller") and ref.get("kind") in _WORKLOAD_OWNERS for ref in owners
    ):
        return 0
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if kind == "Pod":
        # A pod that has ended runs nothing any more.
        return 0 if status.get("phase") in ("Succeeded", "Failed") else 1
    if kind == "Job":
        if any(
            condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True"
            for condition in status.get("conditions") or []
        ):
            return 0
        parallelism = _number(spec.get("parallelism"), 1)
        completions = spec.get("completions")
        return min(parallelism, _number(completions, parallelism))
    return max(0, _number(spec.get("replicas"), 1))


class PodBudget:
    """The pods every stored object declares (kept up to date from the store's events), and the check
    each write passes before it is stored."""

    def __init__(self, store: Store, limit: int = DEFAULT_MAX_PODS) -> None:
        if limit < 1:
            raise ValueError(f"the pod limit must be at least 1, not {limit}")
        self.limit = limit
        self.used = 0
        self._declared: dict[tuple[str, str, str], int] = {}
        for storage_key in _DECLARING:
            store.subscribe(storage_key, self)

    def admit(self, resource: ResourceType, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """Refuse (403) a write that would make the cluster declare more pods than its limit."""
        wanted = declared_pods(resource.storage_key, new)
        growth = wanted - (declared_pods(resource.storage_key, old) if old is not None else 0)
        if growth <= 0 or self.used + growth <= self.limit:
            return
        name = new["metadata"].get("name") or new["metadata"].get("generateName", "")
        raise ApiError(
            403,
            "Forbidden",
            f'{qualified(resource.plural, resource.group)} "{name}" is forbidden: exceeded quota: '
            f"{QUOTA_NAME}, requested: pods={growth}, used: pods={self.used}, limited: pods={self.limit} "
            "(the dev cluster's pod limit: slipway dev --max-pods, DevCluster(max_pods=...))",
            {"name": name, "group": resource.group, "kind": resource.plural},
        )

    # -- the store's events (slipway_dev.apiserver.storage.Subscriber)

    def offer(self, event: Event) -> None:
        obj = event.stored.obj
        key = (event.storage_key, event.namespace, obj["metadata"]["name"])
        before = self._declared.pop(key, 0)
        now = 0 if event.type == "DELETED" else declared_pods(event.storage_key, obj)
        if now:
            self._declared[key] = now
        self.used += now - before

    def close(self) -> None:
        """The collections counted here are built in: never closed while the server runs."""
