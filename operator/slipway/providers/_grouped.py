"""Instant queries of one shape for many workloads at once: the builtin metrics' measurements.

Passes measuring at the same moment (a wave of pauses ending together) ask one question of different
workloads. A measurement asked while fewer than MOST_IN_FLIGHT queries of its shape are out goes at
once; one asked while they are all out waits for the next, which carries every workload asked
meanwhile (MOST_PER_QUERY at most) in one selector, grouped by the workload's labels: each
measurement gets its own group's values. A lone measurement never waits for company; one that waits
goes when the first query in flight ends (unless more than MOST_PER_QUERY waited before it).

A shape is a PromQL template whose `{{selector}}` the label matchers of the workloads replace.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

import aiohttp

from slipway.providers._promql import PrometheusConfig, QueryFailed, escape_label_value, run
from slipway.providers.base import render

MOST_IN_FLIGHT = 4
"""Queries of one shape out at once (Prometheus runs 20 at once by default, for every client)."""
MOST_PER_QUERY = 100
"""Workloads in one query: its selector stays within tens of kilobytes (sent in a POST's body)."""

Workload = tuple[str, str, str]
"""Namespace, release and revision, as the series' labels hold them."""

_RE2_SPECIAL = re.compile(r"[\\.+*?()|\[\]{}^$]")


def selector(labels: tuple[str, str, str], workloads: Iterable[Workload]) -> str:
    """Label matchers selecting the series of `workloads`: exact where they share a value, else an
    alternation of the values (each label on its own: series of other combinations would be selected
    too, and are left out when the groups are read)."""
    matchers = []
    for label, values in zip(labels, zip(*workloads, strict=True), strict=True):
        distinct = sorted(set(values))
        if len(distinct) == 1:
            matchers.append(f'{label}="{escape_label_value(distinct[0])}"')
        else:
            alternation = "|".join(_RE2_SPECIAL.sub(r"\\\g<0>", value) for value in distinct)
            matchers.append(f'{label}=~"{escape_label_value(alternation)}"')
    return ",".join(matchers)


def by_workload(labels: tuple[str, str, str], data: Any) -> dict[Workload, tuple[float, ...]]:
    """A grouped query's answer: the values of each workload (a vector, one sample per group)."""
    if data.get("resultType") != "vector":
        raise ValueError(f"query returns a {data.get('resultType')}, not an instant vector")
    found: dict[Workload, tuple[float, ...]] = {}
    for sample in data["result"]:
        series = sample["metric"]
        namespace, release, revision = (series.get(label, "") for label in labels)
        workload = (namespace, release, revision)
        found[workload] = (*found.get(workload, ()), float(sample["value"][1]))
    return found


class GroupedQueries:
    """Measurements of one operator's passes, grouped into shared queries (runs on its event loop)."""

    def __init__(
        self, session: aiohttp.ClientSession, settings: PrometheusConfig, labels: tuple[str, str, str]
    ) -> None:
        self._session = session
        self._settings = settings
        self._labels = labels
        self._waiting: dict[str, list[tuple[Workload, asyncio.Future[tuple[float, ...]]]]] = {}
        self._in_flight: dict[str, int] = {}
        self._senders: set[asyncio.Task[None]] = set()

    async def values(self, template: str, workload: Workload) -> tuple[float, ...]:
        """The values the query `template` has for `workload` (none: no data); QueryFailed when
        Prometheus gave no usable answer."""
        future: asyncio.Future[tuple[float, ...]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(template, []).append((workload, future))
        if self._in_flight.get(template, 0) < MOST_IN_FLIGHT:
            self._in_flight[template] = self._in_flight.get(template, 0) + 1
            sender = asyncio.create_task(self._send(template))
            self._senders.add(sender)  # a task nothing refers to may be collected before it ends
            sender.add_done_callback(self._senders.discard)
        return await future

    async def _send(self, template: str) -> None:
        """Send the waiting measurements of `template`, as many at a time as a query carries, until
        none waits."""
        try:
            while waiting := self._waiting.get(template):
                asked, self._waiting[template] = waiting[:MOST_PER_QUERY], waiting[MOST_PER_QUERY:]
                asked = [(workload, future) for workload, future in asked if not future.done()]
                if not asked:
                    continue
                try:
                    found = await self._query(template, [workload for workload, _ in asked])
                except asyncio.CancelledError:
                    # Stopping: no pass may be left waiting for a query nobody will send.
                    stopped = "the operator stopped before Prometheus answered"
                    for _, future in asked + self._waiting.pop(template, []):
                        if not future.done():
                            future.set_exception(QueryFailed(stopped))
                    raise
                except Exception as failure:  # QueryFailed; anything else must not leave a pass waiting
                    for _, future in asked:
                        if not future.done():
                            future.set_exception(QueryFailed(str(failure)))
                    continue
                for workload, future in asked:
                    if not future.done():
                        future.set_result(found.get(workload, ()))
        finally:
            self._in_flight[template] -= 1
            if not self._in_flight[template] and not self._waiting.get(template):
                del self._in_flight[template]
                self._waiting.pop(template, None)

    async def _query(self, template: str, workloads: list[Workload]) -> dict[Workload, tuple[float, ...]]:
        promql = render(template, {"selector": selector(self._labels, workloads)}, lambda matchers: matchers)
        data = await run(self._session, self._settings, promql)
        try:
            return by_workload(self._labels, data)
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as unreadable:
            raise QueryFailed(f"unreadable Prometheus answer: {unreadable}") from unreadable
