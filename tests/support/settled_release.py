"""A Release as the watch shows one settled (Healthy on its generation, after a few rollouts): what every
sharded replica keeps of each Release all along (controller/first_look.py, controller/upstreams.py),
for the tests that measure what keeping it costs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from traced import left_allocated

from slipway.controller.queue import ReleaseKey


def settled_release(name: str, namespace: str = "shop", versions: int = 3) -> dict[str, Any]:
    """Release `name` Healthy on version `versions`, its history and Events those rollouts left; the
    fields that differ between Releases (names, uid, revisions, Event names) differ here too."""

    def digest(*parts: object) -> str:
        return hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=5).hexdigest()

    at = [f"2026-12-0{day}T1{day}:0{day}:3{day}.88390{day}Z" for day in range(1, versions + 1)]
    last = at[-1]
    message = f"version {versions} serves all traffic"
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{digest(name, 'uid')}-b800-43d1-8942-{digest(name, 'node')}12",
            "resourceVersion": str(int(digest(name, "rv"), 16) % 10**7),
            "generation": versions,
            "creationTimestamp": at[0],
            "labels": {"app.kubernetes.io/name": name, "team": "shop"},
        },
        "spec": {
            "version": str(versions),
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "app", "image": f"example/{name}:{versions}"}]}},
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {
                "canary": {"steps": [{"setWeight": 25}, {"pause": {"duration": "5m"}}, {"setWeight": 50}]}
            },
            "rollback": {"onAnalysisFailure": True, "progressDeadlineSeconds": 600},
        },
        "status": {
            "observedGeneration": versions,
            "phase": "Healthy",
            "reason": "Ready",
            "message": message,
            "stable": {
                "revision": digest(name, versions),
                "version": str(versions),
                "replicas": 2,
                "weight": 0,
            },
            "conditions": [
                {
                    "type": kind,
                    "status": state,
                    "reason": reason,
                    "message": message,
                    "observedGeneration": versions,
                    "lastTransitionTime": last,
                }
                for kind, state, reason in (
                    ("Ready", "True", "Ready"),
                    ("Reconciling", "False", "Healthy"),
                    ("Stalled", "False", "Healthy"),
                )
            ],
            "history": [
                {
                    "revision": digest(name, version),
                    "version": str(version),
                    "outcome": "Promoted",
                    "startedAt": at[version - 1],
                    "finishedAt": at[version - 1],
                }
                for version in range(1, versions + 1)
            ],
            "healthyVersions": [
                {"version": str(version), "since": at[version - 1]} for version in range(1, versions + 1)
            ],
            "transitionEvents": [
                {
                    "name": f"{name}.{digest(name, 'event', versions)}",
                    "type": "Normal",
                    "reason": "Ready",
                    "message": message,
                    "at": last,
                }
            ],
        },
    }


def bytes_kept_per_release(
    keep: Callable[[ReleaseKey, dict[str, Any]], object], count: int = 1000
) -> tuple[list[ReleaseKey], list[dict[str, Any]], float]:
    """`keep` handed `count` settled Releases (as a watch shows them); the keys, the bodies, and the
    memory still allocated afterwards per Release (tracemalloc; keys and bodies made before)."""
    keys = [ReleaseKey("shop", f"web-{index}") for index in range(count)]
    bodies = [settled_release(key.name) for key in keys]

    def keep_all() -> None:  # what `keep` returns is not kept
        for key, shown in zip(keys, bodies, strict=True):
            keep(key, shown)

    _, kept = left_allocated(keep_all)
    return keys, bodies, kept / count
