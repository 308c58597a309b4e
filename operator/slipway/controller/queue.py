"""A keyed work queue: at most one reconcile per Release at a time, woken by events or by its own timer.

Kopf's daemons and timers would put a finalizer on every Release (a Release could then not be deleted
while the operator is down) and hold a task per object even when idle. This queue holds nothing for an
idle Release but a timer handle: a watch event or the requeue delay the core asked for starts a pass;
events that arrive during a pass make it run once more afterwards, never twice at once, unless they
only showed back what that pass wrote.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

_log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True, slots=True)  # slots: one is kept per Release in several indexes
class ReleaseKey:
    namespace: str
    name: str

    def __post_init__(self) -> None:
        # One string per namespace, not one per Release: each key's came from the body it was made of.
        object.__setattr__(self, "namespace", sys.intern(self.namespace))


Reconcile = Callable[[ReleaseKey], Awaitable[float | None]]
"""Runs one pass for a Release; returns seconds until the next pass is due (None: only on events)."""

Echo = Callable[[], bool]
"""Whether an event only showed back the operator's own write (`OwnWrites.echo`)."""

Owns = Callable[[ReleaseKey], bool]
"""Whether this replica handles the Release now (sharding: `Shards.owns`)."""

Gained = Callable[[ReleaseKey], None]
"""Told when a Release becomes this replica's (sharding: controller/operator.py `_gained`)."""

Queued = Callable[[float], None]
"""Told how long each pass waited for a free slot (`OperatorMetrics.queued`)."""

StartedLate = Callable[[float], None]
"""Told how long after its due time each pass a timer woke started (`OperatorMetrics.started_late`)."""

OnShown = Callable[[ReleaseKey], bool]
"""Whether the Release's next pass decides on what the watch showed (`FirstLook.decides_on_shown`)."""

_RETRY_AFTER_ERROR_SECONDS = 2.0
# A pass that keeps failing is tried again after 2, 4, 8, ... seconds, never more than 5 minutes apart:
# a Release whose every pass raises costs a pass now and then, not a loop (issue 13: one every 2 s).
_MOST_BETWEEN_RETRIES_SECONDS = 300.0
# Passes at once: enough that when many gates open together every pass reaches its first write early
# (the passes share the API server; with 32 at a time the last 68 of 100 openings waited for whole
# passes to end: p99 1.1-3 s against 0.95 s with 128), few enough that a start-up burst does not hold
# every Release body at once. Each pass in flight has a worker thread and a kept connection.
MAX_CONCURRENT_PASSES = 128
# Of those, passes that decide on what the watch showed (controller/first_look.py: the first pass of each
# settled Release after a start, or with sharding after a gain): thousands at once after a restart or a
# takeover, each on the CPU with nothing to read, so more at once are not faster, they only hold more in
# memory (a restart over 3,000 Releases: one operator 117 -> 111 MiB, each of 3 replicas 101 -> 96 MiB
# with 32 against 128; docs/operator.md), and the passes that read keep the other slots instead of
# queueing behind thousands (one whose first pass waits here when an event comes keeps its place).
MAX_PASSES_ON_SHOWN = 32


class _WaitingLine:
    """Releases waiting for a slot, first come first served, each with when it asked (monotonic).
    Keys leave only at the front: a dict alone would scan the slots its front left at each `first`."""

    def __init__(self) -> None:
        self._asked: dict[ReleaseKey, float] = {}
        self._order: deque[ReleaseKey] = deque()

    def __contains__(self, key: ReleaseKey) -> bool:
        return key in self._asked

    def __len__(self) -> int:
        return len(self._asked)

    def join(self, key: ReleaseKey, asked: float) -> None:
        self._asked[key] = asked
        self._order.append(key)

    def first(self) -> tuple[ReleaseKey, float]:
        key = self._order.popleft()
        return key, self._asked.pop(key)

    def asked_now(self) -> None:
        """Every one asked now (what they waited counts from here)."""
        self._asked = dict.fromkeys(self._asked, time.monotonic())

    def clear(self) -> None:
        self._asked.clear()
        self._order.clear()


class ReconcileQueue:
    def __init__(
        self,
        reconcile: Reconcile,
        retry_after_error_seconds: float = _RETRY_AFTER_ERROR_SECONDS,
        max_concurrent_passes: int = MAX_CONCURRENT_PASSES,
        max_passes_on_shown: int = MAX_PASSES_ON_SHOWN,
        most_between_retries_seconds: float = _MOST_BETWEEN_RETRIES_SECONDS,
        owns: Owns | None = None,
        gained: Gained | None = None,
        opened: bool = True,
        queued: Queued | None = None,
        started_late: StartedLate | None = None,
        on_shown: OnShown | None = None,
    ) -> None:
        self._reconcile = reconcile
        # Closed, the queue keeps what it is told and starts no pass until `open` (operator start-up).
        self._opened = opened
        # Sharding: each Release seen, and whether it was this replica's when last looked at.
        self._owns = owns
        self._gained = gained
        self._ours: dict[ReleaseKey, bool] = {}
        self._retry_after_error = retry_after_error_seconds
        self._most_between_retries = most_between_retries_seconds
        # Passes in a row that failed, by Release: the next retry waits twice as long as the last.
        self._failures: dict[ReleaseKey, int] = {}
        self._free_slots = max_concurrent_passes
        self._on_shown = on_shown
        self._free_on_shown_slots = max_passes_on_shown
        self._queued = queued
        self._started_late = started_late
        # When the timer that woke each Release was due (monotonic), until its pass starts.
        self._fired: dict[ReleaseKey, float] = {}
        # Releases whose pass waits for a slot, in the order they asked, with when they asked
        # (monotonic). A pass gets its task only with its slot: after a start thousands wait, and a
        # task each (~1.5 KB) was the most of what the start held at once, left as free space after.
        self._waiting = _WaitingLine()
        # Of those, passes on what the watch showed that reached the front while all of their own slots
        # were taken: they keep their place among themselves, the passes behind them go first.
        self._waiting_on_shown = _WaitingLine()
        self._running: dict[ReleaseKey, asyncio.Task[tuple[bool, float | None]]] = {}
        self._dirty: set[ReleaseKey] = set()
        # Events during a pass that may be echoes of its own writes: judged when it ends.
        self._echoes: dict[ReleaseKey, list[Echo]] = {}
        self._timers: dict[ReleaseKey, asyncio.TimerHandle] = {}
        self._draining = False

    def notify(self, key: ReleaseKey, echo: Echo | None = None) -> None:
        """Something about this Release changed: reconcile it now, or right after the pass in flight.

        Unless `echo` says the change was the operator's own write: asked at once, or, during a pass,
        when the pass ends (the API server sends a write's watch event before its response, so the
        pass may not know yet what it wrote).

        With sharding, a Release another replica owns is only remembered, for `reclaim`; and the first
        event after a Release became this replica's starts a pass even if it is an echo: that pass is
        owed, and `reclaim`, which would start it, takes it as started."""
        if self._owns is not None:
            if self._look_again(key):
                echo = None
            if not self._ours[key]:
                self._cancel_timer(key)
                self._fired.pop(key, None)
                return
        if self._is_waiting(key):
            return  # the pass it waits for reads after this event
        if key in self._running:
            if echo is None:
                self._dirty.add(key)
            else:
                self._echoes.setdefault(key, []).append(echo)
            return
        if echo is not None and _only_echoes(key, [echo]):
            return
        self._cancel_timer(key)
        self._start(key)

    def forget(self, key: ReleaseKey) -> None:
        """The Release is gone: drop what the queue kept of it and its timer, and make one last pass
        (after the one in flight), which finds it gone and has the operator forget it too (its
        series on /metrics, its Events): its objects going after it wake nothing (handlers.py)."""
        self._cancel_timer(key)
        self._echoes.pop(key, None)
        self._ours.pop(key, None)
        self._failures.pop(key, None)
        self._fired.pop(key, None)
        if key in self._running:
            self._dirty.add(key)
        elif not self._is_waiting(key):
            self._start(key)

    def _is_waiting(self, key: ReleaseKey) -> bool:
        return key in self._waiting or key in self._waiting_on_shown

    def _start(self, key: ReleaseKey) -> None:
        self._waiting.join(key, time.monotonic())
        self._start_passes()

    def _start_passes(self) -> None:
        """Give free slots to the passes waiting, in the order they asked, but a pass on what the watch
        showed waits for one of its own slots too, and those behind it go first meanwhile."""
        if not self._opened:
            return
        while self._free_slots > 0:
            if self._waiting_on_shown and self._free_on_shown_slots > 0:
                (key, asked), on_shown = self._waiting_on_shown.first(), True
            elif self._waiting:
                key, asked = self._waiting.first()
                on_shown = self._decides_on_shown(key)
                if on_shown and self._free_on_shown_slots <= 0:
                    self._waiting_on_shown.join(key, asked)
                    continue
            else:
                return
            self._free_slots -= 1
            self._free_on_shown_slots -= on_shown
            task = asyncio.get_running_loop().create_task(self._run(key, asked), name=f"reconcile {key}")
            self._running[key] = task
            # A callback, not the task's own `finally`: a task cancelled before its first step runs none
            # of its body, and its slot must come back all the same.
            task.add_done_callback(partial(self._ended, key, on_shown))

    def _decides_on_shown(self, key: ReleaseKey) -> bool:
        if self._on_shown is None:
            return False
        try:
            return bool(self._on_shown(key))
        except Exception:  # a wrong answer costs a slot of the wider kind; an exception, every pass after
            _log.exception("whether %s/%s decides on what the watch showed", key.namespace, key.name)
            return False

    def reclaim(self) -> None:
        """What this replica owns changed (sharding): a pass at once for each Release it gained; the
        ones it lost stop at the end of their pass in flight and their timers wake nothing."""
        if self._owns is None:
            return
        for key in list(self._ours):
            if self._look_again(key):
                self.notify(key)
            elif not self._ours[key]:
                self._cancel_timer(key)

    def _look_again(self, key: ReleaseKey) -> bool:
        """Whether the Release became this replica's since it was last looked at."""
        assert self._owns is not None
        was = self._ours.get(key, False)
        self._ours[key] = ours = self._owns(key)
        if ours and not was and self._gained is not None:
            self._gained(key)
        return ours and not was

    def _cancel_timer(self, key: ReleaseKey) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def retry_delay(self, key: ReleaseKey) -> float | None:
        """Seconds before the next retry of a Release whose last pass failed; None after a success."""
        failures = self._failures.get(key)
        if failures is None:
            return None
        return min(self._retry_after_error * 2.0 ** (failures - 1), self._most_between_retries)

    def open(self) -> None:
        """Start the passes a closed queue was told of, and every pass from now on."""
        self._opened = True
        self._waiting.asked_now()
        self._start_passes()

    @property
    def busy(self) -> int:
        """Releases being reconciled right now or waiting for a slot."""
        return len(self._running) + len(self._waiting) + len(self._waiting_on_shown)

    @property
    def scheduled(self) -> int:
        """Releases with a pass scheduled for later."""
        return len(self._timers)

    async def _run(self, key: ReleaseKey, asked: float) -> tuple[bool, float | None]:
        """Whether the pass reconciled (not if the Release moved to another replica, perhaps while it
        waited for a slot), and when the next is due (None: only on events)."""
        fired = self._fired.pop(key, None)
        if self._owns is not None and not self._owns(key):
            return False, None
        _tell(self._queued, time.monotonic() - asked)
        if fired is not None:
            _tell(self._started_late, time.monotonic() - fired)
        # Events that came while waiting for a slot are covered by this pass.
        self._dirty.discard(key)
        self._echoes.pop(key, None)
        try:
            delay = await self._reconcile(key)
            self._failures.pop(key, None)
        except Exception:
            # One Release failing must not stop the others; try it again, later each time.
            _log.exception("reconcile of %s/%s failed", key.namespace, key.name)
            self._failures[key] = self._failures.get(key, 0) + 1
            delay = self.retry_delay(key)
        return True, delay

    def _ended(self, key: ReleaseKey, on_shown: bool, task: asyncio.Task[tuple[bool, float | None]]) -> None:
        """A pass's task ended, however: its slot goes to the next waiting (they have no task to wake),
        but not at a shutdown's cancellation; and no timer is set while the queue drains. Whether to
        run again is judged here, not in the task: an event may come between the task's end and this."""
        del self._running[key]
        self._free_slots += 1
        self._free_on_shown_slots += on_shown
        if task.cancelled() and task.cancelling():
            return  # cancelled by a shutdown: no pass after it
        try:
            self._follow_up(key, task)
        finally:
            self._start_passes()

    def _follow_up(self, key: ReleaseKey, task: asyncio.Task[tuple[bool, float | None]]) -> None:
        """After a pass: run it again at once, or at its next due time, or on the next event."""
        echoes = self._echoes.pop(key, [])
        if task.cancelled():
            # Not by a shutdown: a CancelledError from inside the pass (a future it awaited, cancelled by
            # someone else), which must not leave its Release without a next pass until some event.
            _log.error("the pass of %s/%s was cancelled; trying it again", key.namespace, key.name)
            self._failures[key] = self._failures.get(key, 0) + 1
            reconciled, delay = True, self.retry_delay(key)
        elif (error := task.exception()) is not None:
            _log.error("the pass of %s/%s ended in error", key.namespace, key.name, exc_info=error)
            reconciled, delay = False, None
        else:
            reconciled, delay = task.result()
        if not reconciled:
            self._dirty.discard(key)
        # After a failure the retry waits its turn even if events came meanwhile: the failing pass's own
        # writes (not all of them echoes) must not make a loop of it.
        elif key not in self._failures and (key in self._dirty or not _only_echoes(key, echoes)):
            self._waiting.join(key, time.monotonic())  # behind those already waiting
        elif delay is not None and not self._draining:
            delay = max(delay, 0.0)
            self._timers[key] = asyncio.get_running_loop().call_later(
                delay, self._fire, key, time.monotonic() + delay
            )

    def _fire(self, key: ReleaseKey, due: float) -> None:
        """A Release's timer: its pass is due (the core asked for it then, or a retry)."""
        self._timers.pop(key, None)
        self._fired[key] = due
        self.notify(key)

    async def drain(self) -> None:
        """Wait for the passes in flight and those waiting for a slot, setting no timer from now on (used
        on shutdown: no pass may start after it); a closed queue forgets those it was told of."""
        self._draining = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if not self._opened:
            self._waiting.clear()
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)


def _tell(callback: Queued | StartedLate | None, seconds: float) -> None:
    """Tell a metric; one that raises costs its sample, never the pass (nor its next timer)."""
    if callback is None:
        return
    try:
        callback(seconds)
    except Exception:
        _log.exception("telling a pass's wait")


def _only_echoes(key: ReleaseKey, echoes: list[Echo]) -> bool:
    """Whether every event during the pass only showed back its own writes; one that cannot say is
    taken as a change (one pass more, never a change lost)."""
    try:
        return all([echo() for echo in echoes])
    except Exception:
        _log.exception("whether an event of %s/%s echoed its own write", key.namespace, key.name)
        return False
