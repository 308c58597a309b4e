"""Sharding (issue 12): three operators share 60 Releases. One is SIGKILLed mid-rollout: its Releases
are taken over within the Lease duration plus one pass; restarted, it gets them back. Every Release
converges, none is promoted twice, and no Release is written by two operators at once.

"At once" is read from the operators' own pass lines (each pass logs one line after its writes, with
their count): per Release, the processes that wrote it follow one another, never interleave.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import yaml
from e2e_support import Cluster, Operator, release_manifest, wait_for

from slipway.runtime.shards import owner

pytestmark = [pytest.mark.e2e, pytest.mark.dev_cluster(prometheus="off", rps=1)]

COUNT, PROGRESSING = 60, 20
NAMES = [f"web-{index}" for index in range(COUNT)]
MOVING = NAMES[:PROGRESSING]
SHARDING = {
    "enabled": True,
    "shards": 3,
    "leaseName": "slipway",
    "namespace": "slipway-system",
    "leaseDurationSeconds": 10,
}
TAKEOVER_BOUND_SECONDS = 15.0
STEPS = [
    {"setWeight": 25},
    {"pause": {"duration": "2s"}},
    {"setWeight": 50},
    {"pause": {"duration": "2s"}},
    {"setWeight": 75},
    {"pause": {"duration": "2s"}},
]


def manifest(name: str, version: str) -> dict[str, Any]:
    # No analysis, and pods only where a rollout needs them (one without pods promotes at once): what
    # is shared is the operators' work, not the dev cluster's.
    release = release_manifest(version, name=name, replicas=1 if name in MOVING else 0, steps=STEPS)
    del release["spec"]["analysis"]
    return release


def apply_all(cluster: Cluster, names: list[str], version: str) -> None:
    cluster.write("apply", "-f", "-", input=yaml.safe_dump_all([manifest(name, version) for name in names]))


def statuses(cluster: Cluster) -> dict[str, dict[str, Any]]:
    items = cluster.json("get", "releases")["items"]
    return {item["metadata"]["name"]: item.get("status") or {} for item in items}


def all_healthy(cluster: Cluster, versions: dict[str, str]) -> bool:
    found = statuses(cluster)
    return all(
        found.get(name, {}).get("phase") == "Healthy"
        and (found[name].get("stable") or {}).get("version") == version
        for name, version in versions.items()
    )


def joined(operator: Operator, after: float = 0.0) -> str | None:
    """The shard the operator's latest process joined with (after `after`, a wall-clock time)."""
    return next(
        (
            line["shard"]
            for line in reversed(operator.log_lines())
            if line.get("event") == "joined" and stamp(line) >= after
        ),
        None,
    )


def active(operator: Operator, shards: int, after: float = 0.0) -> bool:
    """Whether the operator's latest view names `shards` shards and it acts on it."""
    changes = [
        line
        for line in operator.log_lines()
        if line.get("event") == "shards changed" and stamp(line) >= after
    ]
    return bool(changes) and changes[-1]["active"] and len(changes[-1]["view"]) == shards


def stamp(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp"]).timestamp()


def passes(operators: list[Operator]) -> list[tuple[float, str, str, int]]:
    """(time, process, release, writes) of every pass line; a process is the operator and the
    `joined` line it started with."""
    found = []
    for index, operator in enumerate(operators):
        process = f"{index}:-"
        for line in operator.log_lines():
            if line.get("event") == "joined":
                process = f"{index}:{line['identity']}"
            elif line.get("logger") == "slipway.reconcile" and "writes" in line:
                found.append((stamp(line), process, line["release"], int(line["writes"])))
    return sorted(found)


def test_three_operators_share_releases_take_over_a_killed_one_and_give_back(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    cluster.write("create", "namespace", "slipway-system")
    operators = [operator_factory(sharding=SHARDING) for _ in range(3)]
    wait_for(lambda: all(active(operator, 3) for operator in operators), 45, "three operators sharing")
    shards = {index: joined(operator) for index, operator in enumerate(operators)}
    assert len(set(shards.values())) == 3
    apply_all(cluster, NAMES, "1")
    wait_for(lambda: all_healthy(cluster, dict.fromkeys(NAMES, "1")), 60, "60 Releases Healthy", interval=1)

    # Kill the operator whose shard holds the most of the Releases about to move.
    owners = {name: owner(f"default/{name}", shards.values()) for name in NAMES}
    victim = max(shards, key=lambda index: sum(owners[name] == shards[index] for name in MOVING))
    victims = {name for name in NAMES if owners[name] == shards[victim]}
    apply_all(cluster, MOVING, "2")
    wait_for(
        lambda: all((statuses(cluster)[name].get("canary") or {}).get("version") == "2" for name in MOVING),
        30,
        "the rollouts under way",
    )
    operators[victim].kill()
    killed = time.time()

    def taken_over() -> bool:
        after = [p for p in passes(operators) if p[0] > killed and not p[1].startswith(f"{victim}:")]
        return victims <= {release for _, _, release, _ in after}

    wait_for(taken_over, 30, "the killed operator's Releases reconciled by the others")
    first_pass = {}
    for at, process, release, _ in passes(operators):
        if at > killed and not process.startswith(f"{victim}:") and release in victims:
            first_pass.setdefault(release, at - killed)
    slowest = max(first_pass.values())
    assert slowest <= TAKEOVER_BOUND_SECONDS, sorted(first_pass.items(), key=lambda item: item[1])[-5:]

    # It comes back: its shard's Releases move back to it, new versions applied meanwhile included.
    operators[victim].start()
    restarted = time.time()
    apply_all(cluster, MOVING, "3")
    wait_for(lambda: joined(operators[victim], restarted) == shards[victim], 30, "the shard taken again")
    wait_for(lambda: active(operators[victim], 3, restarted), 30, "the restarted operator to act")

    def given_back() -> bool:
        mine = {
            release
            for at, process, release, _ in passes(operators)
            if at > restarted and process.startswith(f"{victim}:")
        }
        return victims <= mine

    wait_for(given_back, 30, "the Releases of its shard reconciled by the restarted operator")
    versions = {name: "3" if name in MOVING else "1" for name in NAMES}
    wait_for(lambda: all_healthy(cluster, versions), 60, "every Release converged", interval=1)

    found = statuses(cluster)
    for name in MOVING:
        promoted = Counter(
            entry["version"] for entry in found[name]["history"] if entry["outcome"] == "Promoted"
        )
        assert promoted["3"] == 1 and promoted["2"] <= 1, (name, found[name]["history"])

    # Per Release, the processes that wrote it follow one another: once another wrote, an earlier
    # process never writes again.
    for release in NAMES:
        writers = [process for _, process, name, writes in passes(operators) if name == release and writes]
        runs = [
            process for index, process in enumerate(writers) if index == 0 or writers[index - 1] != process
        ]
        assert len(runs) == len(set(runs)), (release, runs)
