"""What sharded operators' JSON log lines say: which shard each process joined, which Releases it held
when, and who wrote each Release when. Shared by bench/bench_sharding.py and
tests/e2e/test_e2e_sharding.py.

A process is an operator (its index) and the `joined` line it started with, so an operator restarted
(into the same log: a new `operator starting` line) is a new process. A process holds a Release from
the `shards changed` line whose view gives it the Release (logged once the view is adopted, before it
is published) to the line whose view takes it away, or to its last line. Each pass logs one line after
its writes, with their count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from slipway.runtime.shards import owner

Line = dict[str, Any]
WRITE_SLACK_SECONDS = 1.0
"""A pass's line may be logged just after the view that took its Release away: its writes ended before
that view was adopted (the fence), its line did not."""


@dataclass(frozen=True, order=True)
class Pass:
    """One pass's line: when, by which process, over which Release (`namespace/name`), its writes."""

    at: float
    process: str
    release: str
    writes: int

    def of(self, operator: int) -> bool:
        return self.process.startswith(f"{operator}:")


@dataclass
class Process:
    name: str
    shard: str
    views: list[tuple[float, frozenset[str], bool]] = field(default_factory=list)
    """(when, the shards in view, whether it acted on it), in order."""
    ended: float = 0.0

    def holding(self, release: str) -> list[tuple[float, float]]:
        """When this process's views gave it `release`."""
        held, since = [], None
        for at, shards, active in self.views:
            mine = active and owner(release, shards) == self.shard
            if mine and since is None:
                since = at
            elif not mine and since is not None:
                held.append((since, at))
                since = None
        if since is not None:
            held.append((since, self.ended))
        return held


def read(log: Path) -> list[Line]:
    """The JSON lines of an operator log, skipping anything else, and a last line still being written
    (read while the operator runs)."""
    text = log.read_text()
    lines = text.split("\n")[:-1]  # whole lines only: each ends with its newline
    return [json.loads(line) for line in lines if line.startswith("{")]


def stamp(line: Line) -> float:
    return datetime.fromisoformat(line["timestamp"]).timestamp()


def joined(lines: Iterable[Line], after: float = 0.0) -> str | None:
    """The shard the latest process in this log joined with, if it joined after `after`."""
    shards = [line["shard"] for line in lines if line.get("event") == "joined" and stamp(line) >= after]
    return shards[-1] if shards else None


def acting(lines: Iterable[Line], shards: int, after: float = 0.0) -> bool:
    """Whether the latest view logged (after `after`) names `shards` shards and is acted on."""
    changes = [line for line in lines if line.get("event") == "shards changed" and stamp(line) >= after]
    return bool(changes) and bool(changes[-1]["active"]) and len(changes[-1]["view"]) == shards


def history(logs: Sequence[Iterable[Line]]) -> tuple[list[Process], list[Pass]]:
    """Every process (of every operator) and every pass, in time order."""
    processes: list[Process] = []
    found = []
    for index, lines in enumerate(logs):
        current = Process(f"{index}:-", "")
        processes.append(current)
        for line in lines:
            if line.get("event") == "operator starting":
                # A process (restarted, in the same log) holds no shard until it joins.
                current = Process(f"{index}:-{len(processes)}", "")
                processes.append(current)
            elif line.get("event") == "joined":
                current = Process(f"{index}:{line['identity']}", line["shard"])
                processes.append(current)
            current.ended = stamp(line)
            if line.get("event") == "shards changed":
                current.views.append((stamp(line), frozenset(line["view"]), bool(line["active"])))
            elif line.get("logger") == "slipway.reconcile" and "writes" in line:
                release = f"{line['namespace']}/{line['release']}"
                found.append(Pass(stamp(line), current.name, release, int(line["writes"])))
    return processes, sorted(found)


def passes(logs: Sequence[Iterable[Line]]) -> list[Pass]:
    return history(logs)[1]


def first_pass_after(
    found: Iterable[Pass], since: float, releases: set[str], not_by: int
) -> dict[str, float]:
    """Seconds from `since` to the first pass over each of `releases` by an operator other than `not_by`."""
    first: dict[str, float] = {}
    for each in found:
        if each.at > since and each.release in releases and not each.of(not_by):
            first.setdefault(each.release, each.at - since)
    return first


def held_twice(logs: Sequence[Iterable[Line]]) -> dict[str, list[str]]:
    """Releases that two processes held at once, or that a process wrote while not holding them; with
    what went wrong. Empty when every Release had one writer at a time."""
    processes, found = history(logs)
    by_name = {process.name: process for process in processes}
    wrong: dict[str, list[str]] = {}
    for release in sorted({each.release for each in found}):
        held = {process.name: process.holding(release) for process in processes}
        for first, second in combinations(held, 2):
            for a_from, a_to in held[first]:
                for b_from, b_to in held[second]:
                    if a_from < b_to and b_from < a_to:
                        wrong.setdefault(release, []).append(f"held by {first} and {second} at {b_from:.3f}")
        for each in found:
            if each.release == release and each.writes:
                spans = by_name[each.process].holding(release)
                if not any(start <= each.at <= end + WRITE_SLACK_SECONDS for start, end in spans):
                    wrong.setdefault(release, []).append(
                        f"written by {each.process} at {each.at:.3f}, not its"
                    )
    return wrong
