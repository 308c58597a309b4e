"""The reconcile queue: one pass at a time per Release, events during a pass coalesce into one more
pass, and the requeue delay the pass returns schedules the next one."""

from __future__ import annotations

import asyncio
import json

from polling import until

from slipway.controller.queue import Reconcile, ReconcileQueue, ReleaseKey

WEB = ReleaseKey("shop", "web")
API = ReleaseKey("shop", "api")


def test_events_during_a_pass_coalesce_into_one_more_pass() -> None:
    async def scenario() -> None:
        passes: list[ReleaseKey] = []
        running = 0
        most_at_once = 0
        release = asyncio.Event()

        async def reconcile(key: ReleaseKey) -> float | None:
            nonlocal running, most_at_once
            running += 1
            most_at_once = max(most_at_once, running)
            passes.append(key)
            await release.wait()
            running -= 1
            return None

        queue = ReconcileQueue(reconcile)
        queue.notify(WEB)
        await until(lambda: passes == [WEB], "passes == [WEB]")
        for _ in range(5):
            queue.notify(WEB)
        release.set()
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert passes == [WEB, WEB]
        assert most_at_once == 1

    asyncio.run(scenario())


def test_requeue_delay_schedules_the_next_pass_and_forget_cancels_it() -> None:
    async def scenario() -> None:
        passes: list[ReleaseKey] = []

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            return 0.01 if len(passes) < 3 else None

        queue = ReconcileQueue(reconcile)
        queue.notify(WEB)
        await until(lambda: len(passes) == 3 and queue.busy == 0, "len(passes) == 3 and queue.busy == 0")

        gone: set[ReleaseKey] = set()

        async def until_gone(key: ReleaseKey) -> float | None:
            passes.append(key)
            return None if key in gone else 0.05

        other = ReconcileQueue(until_gone)
        other.notify(API)
        await until(lambda: passes[-1] == API and other.busy == 0, "passes[-1] == API and other.busy == 0")
        assert other.scheduled == 1
        gone.add(API)
        before = len(passes)
        other.forget(API)
        assert other.scheduled == 0
        # One last pass finds it gone (the reconciler then forgets its metrics and Events); no timer.
        await until(
            lambda: len(passes) == before + 1 and other.busy == 0,
            "len(passes) == before + 1 and other.busy == 0",
        )
        assert other.scheduled == 0

    asyncio.run(scenario())


def test_a_failing_pass_is_retried_and_does_not_stop_others() -> None:
    async def scenario() -> None:
        passes: list[ReleaseKey] = []

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            if key == WEB and passes.count(WEB) == 1:
                raise RuntimeError("API down")
            return None

        queue = ReconcileQueue(reconcile, retry_after_error_seconds=0.01)
        queue.notify(WEB)
        queue.notify(API)
        await until(lambda: passes.count(WEB) == 2, "passes.count(WEB) == 2")
        assert API in passes
        await queue.drain()

    asyncio.run(scenario())


def test_passes_of_different_releases_share_a_bounded_number_of_slots() -> None:
    async def scenario() -> None:
        running = 0
        most_at_once = 0
        done = 0

        async def reconcile(key: ReleaseKey) -> float | None:
            nonlocal running, most_at_once, done
            running += 1
            most_at_once = max(most_at_once, running)
            await asyncio.sleep(0.001)
            running -= 1
            done += 1
            return None

        queue = ReconcileQueue(reconcile, max_concurrent_passes=3)
        for index in range(20):
            queue.notify(ReleaseKey("shop", f"r{index}"))
        await until(lambda: done == 20, "done == 20")
        assert most_at_once == 3

    asyncio.run(scenario())


class HeldPasses:
    """Passes that run until let go, counting how many run at once, and of which Releases."""

    def __init__(self) -> None:
        self.running: set[ReleaseKey] = set()
        self.done: list[ReleaseKey] = []
        self.most_at_once = 0
        self.go = asyncio.Event()

    async def reconcile(self, key: ReleaseKey) -> float | None:
        self.running.add(key)
        self.most_at_once = max(self.most_at_once, len(self.running))
        await self.go.wait()
        self.running.discard(key)
        self.done.append(key)
        return None


def test_passes_waiting_for_a_slot_hold_no_task() -> None:
    """After a start thousands of passes wait for a slot: each waits as an entry of the queue, and only a
    pass with a slot has a task (a task each, ~1.5 KB, was most of what a start held at once)."""

    async def scenario() -> None:
        held = HeldPasses()
        queue = ReconcileQueue(held.reconcile, max_concurrent_passes=4, opened=False)
        keys = [ReleaseKey("shop", f"r{index}") for index in range(100)]
        tasks_before = len(asyncio.all_tasks())
        for key in keys:
            queue.notify(key)
        assert len(asyncio.all_tasks()) == tasks_before and queue.busy == 100
        queue.open()
        await until(lambda: len(held.running) == 4, "four passes running")
        more = [ReleaseKey("cafe", f"r{index}") for index in range(50)]
        for key in more:  # told while every slot is taken
            queue.notify(key)
        assert len(asyncio.all_tasks()) == tasks_before + 4
        held.go.set()
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert sorted(held.done) == sorted(keys + more) and held.most_at_once == 4

    asyncio.run(scenario())


def test_passes_start_in_the_order_they_were_asked_for() -> None:
    async def scenario() -> None:
        passes, reconcile = recorded_passes()
        queue = ReconcileQueue(reconcile, max_concurrent_passes=1)
        keys = [ReleaseKey("shop", f"r{index}") for index in (3, 1, 4, 0, 5, 9, 2, 6)]
        for key in keys:
            queue.notify(key)
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert passes == keys

    asyncio.run(scenario())


def test_with_sharding_a_pass_over_another_replicas_release_hands_its_slot_on() -> None:
    """A deleted Release gets a last pass on every replica (`forget`); where another replica owns it,
    that pass ends at once, and the passes waiting behind it take its slot."""

    async def scenario() -> None:
        passes, reconcile = recorded_passes()
        mine = ReleaseKey("shop", "mine")
        queue = ReconcileQueue(reconcile, max_concurrent_passes=1, owns=lambda key: key == mine)
        queue.forget(WEB)
        queue.forget(API)
        queue.notify(mine)
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert passes == [mine]

    asyncio.run(scenario())


def test_passes_deciding_on_what_the_watch_showed_take_at_most_their_share_of_the_slots() -> None:
    """After a start every settled Release's first pass decides on what the watch showed: a few at once;
    a pass that reads (a Release in flight, an event after the start) takes one of the other slots at
    once instead of waiting behind them."""

    async def scenario() -> None:
        held = HeldPasses()
        shown = {ReleaseKey("shop", f"r{index}") for index in range(10)}
        queue = ReconcileQueue(
            held.reconcile,
            max_concurrent_passes=4,
            max_passes_on_shown=2,
            opened=False,
            on_shown=lambda key: key in shown,
        )
        for key in sorted(shown):
            queue.notify(key)
        queue.open()
        await until(lambda: len(held.running) == 2, "two passes on what the watch showed")
        for _ in range(20):  # turns of the loop in which more would have started
            await asyncio.sleep(0)
        assert len(held.running) == 2
        queue.notify(WEB)
        queue.notify(API)
        await until(lambda: {WEB, API} <= held.running, "WEB's and API's passes beside them")
        assert len(held.running) == 4
        held.go.set()
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert sorted(held.done) == sorted([*shown, WEB, API]) and held.most_at_once == 4

    asyncio.run(scenario())


def test_each_pass_tells_how_long_it_waited_for_a_slot() -> None:
    async def scenario() -> None:
        first_done = asyncio.Event()
        waited: list[float] = []

        async def reconcile(key: ReleaseKey) -> float | None:
            if key.name == "first":
                await asyncio.sleep(0.2)
                first_done.set()
            return None

        queue = ReconcileQueue(reconcile, max_concurrent_passes=1, queued=waited.append)
        queue.notify(ReleaseKey("shop", "first"))
        queue.notify(ReleaseKey("shop", "second"))
        await until(lambda: len(waited) == 2 and queue.busy == 0, "len(waited) == 2 and queue.busy == 0")
        assert first_done.is_set()
        assert waited[0] < 0.1 and waited[1] >= 0.2  # the second waited for the first pass to end

    asyncio.run(scenario())


def test_what_a_pass_told_to_a_closed_queue_waited_counts_from_its_opening() -> None:
    """The operator's start keeps the queue closed while its watches list: that is no wait for a slot."""

    async def scenario() -> None:
        waited: list[float] = []
        _, reconcile = recorded_passes()
        queue = ReconcileQueue(reconcile, opened=False, queued=waited.append)
        queue.notify(WEB)
        await asyncio.sleep(0.2)
        queue.open()
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert len(waited) == 1 and waited[0] < 0.1

    asyncio.run(scenario())


def test_a_pass_its_timer_woke_tells_how_late_it_started_and_one_an_event_brought_does_not() -> None:
    async def scenario() -> None:
        late: list[float] = []
        passes: list[str] = []
        slow_done = asyncio.Event()

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key.name)
            if key == API:
                await asyncio.sleep(0.3)  # holds the only slot while WEB's timer fires
                slow_done.set()
                return None
            return 0.05 if passes.count("web") == 1 else None

        queue = ReconcileQueue(reconcile, max_concurrent_passes=1, started_late=late.append)
        queue.notify(WEB)  # an event: nothing told
        await until(lambda: passes == ["web"] and queue.busy == 0, 'passes == ["web"] and queue.busy == 0')
        queue.notify(API)  # takes the slot before WEB's timer fires 0.05 s later
        await until(
            lambda: passes.count("web") == 2 and queue.busy == 0,
            'passes.count("web") == 2 and queue.busy == 0',
        )
        assert slow_done.is_set()
        assert len(late) == 1 and 0.2 <= late[0] < 10.0  # waited for API's pass (stalled machines: more)

    asyncio.run(scenario())


def test_an_event_that_only_echoes_the_passs_own_write_makes_no_second_pass() -> None:
    async def scenario() -> None:
        passes: list[ReleaseKey] = []
        written: set[str] = set()
        release = asyncio.Event()

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            await release.wait()
            written.add("7")  # the write's response comes after its watch event
            return None

        def echo(version: str) -> bool:
            return version in written

        queue = ReconcileQueue(reconcile)
        queue.notify(WEB)
        await until(lambda: passes == [WEB], "passes == [WEB]")
        queue.notify(WEB, lambda: echo("7"))  # the event of the pass's own write, still in flight
        release.set()
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert passes == [WEB]
        queue.notify(WEB, lambda: echo("7"))  # after the pass: judged at once
        await asyncio.sleep(0.01)
        assert passes == [WEB]

        release.clear()
        queue.notify(WEB)
        await until(lambda: passes == [WEB, WEB], "passes == [WEB, WEB]")
        queue.notify(WEB, lambda: echo("8"))  # someone else's change during the pass
        release.set()
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert passes == [WEB, WEB, WEB]

    asyncio.run(scenario())


def test_a_pass_failing_again_and_again_is_retried_ever_later_up_to_a_cap_and_forgiven_by_a_success() -> None:
    async def scenario() -> None:
        delays: list[float | None] = []
        failing = True

        async def reconcile(key: ReleaseKey) -> float | None:
            delays.append(queue.retry_delay(key))
            if failing and len(delays) < 6:
                raise RuntimeError("API down")
            return None

        queue = ReconcileQueue(reconcile, retry_after_error_seconds=0.01, most_between_retries_seconds=0.04)
        queue.notify(WEB)
        await until(lambda: len(delays) == 6, "len(delays) == 6")
        # What the pass saw as its own retry delay: none for the first, then doubling, capped.
        assert delays == [None, 0.01, 0.02, 0.04, 0.04, 0.04]
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert queue.retry_delay(WEB) is None
        await queue.drain()

    asyncio.run(scenario())


def test_with_sharding_only_owned_releases_are_reconciled_and_gained_ones_at_once() -> None:
    """A Release another replica owns wakes nothing; when ownership changes, each Release this replica
    gained gets a pass at once (even one idle since it last had one here), and a lost one's timer
    wakes nothing."""

    async def scenario() -> None:
        passes: list[ReleaseKey] = []
        mine = {WEB}

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            return 0.05 if key == WEB else None

        queue = ReconcileQueue(reconcile, owns=lambda key: key in mine)
        queue.notify(WEB)
        queue.notify(API)
        await until(lambda: passes == [WEB], "passes == [WEB]")
        mine.clear()  # WEB moves away: its timer fires and wakes nothing
        queue.reclaim()
        await asyncio.sleep(0.15)
        assert passes == [WEB] and queue.scheduled == 0
        mine.update({WEB, API})  # both come (back) to this replica
        queue.reclaim()
        await until(
            lambda: sorted(passes[1:]) == sorted([WEB, API]), "sorted(passes[1:]) == sorted([WEB, API])"
        )
        queue.forget(WEB)
        queue.forget(API)

    asyncio.run(scenario())


def test_with_sharding_a_gained_release_gets_its_pass_even_if_its_next_event_is_an_echo() -> None:
    """A replica gains a Release (its shard was taken back) and, before `reclaim` runs, a watch event
    comes that would be an echo (a Service the watch shows before any pass here met it): the pass the
    gain owes is started all the same. Seen at 3,000 Releases: 17 of a restarted replica's Releases
    never had a pass, the event dropped as an echo and `reclaim` taking them as already woken."""

    async def scenario() -> None:
        passes: list[ReleaseKey] = []
        mine: set[ReleaseKey] = set()

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            return None

        queue = ReconcileQueue(reconcile, owns=lambda key: key in mine)
        queue.notify(WEB)  # seen while another replica owns it
        mine.add(WEB)
        queue.notify(WEB, echo=lambda: True)
        queue.reclaim()
        await until(lambda: passes == [WEB], "passes == [WEB]")
        queue.notify(WEB, echo=lambda: True)  # once ours, an echo is an echo again
        await asyncio.sleep(0.05)
        assert passes == [WEB]

    asyncio.run(scenario())


def test_with_sharding_each_gain_is_told_once_whether_an_event_or_reclaim_finds_it() -> None:
    """The first pass after a gain takes what the watch showed (FirstLook.gained): told once per gain,
    by the event or by `reclaim`, whichever looks first; never for a Release another replica owns."""

    async def scenario() -> None:
        passes, reconcile = recorded_passes()
        told: list[ReleaseKey] = []
        mine: set[ReleaseKey] = set()
        queue = ReconcileQueue(reconcile, owns=lambda key: key in mine, gained=told.append)
        queue.notify(WEB)
        queue.notify(API)
        assert told == []
        mine.add(WEB)
        queue.notify(WEB)  # an event finds it first
        queue.reclaim()
        await until(lambda: passes == [WEB], "passes == [WEB]")
        mine.add(API)
        queue.reclaim()  # reclaim finds it first
        queue.notify(API)
        await until(lambda: sorted(passes) == sorted([WEB, API]), "sorted(passes) == sorted([WEB, API])")
        assert told == [WEB, API]
        mine.discard(WEB)
        queue.reclaim()
        mine.add(WEB)
        queue.reclaim()  # gained again
        await until(lambda: passes.count(WEB) == 2, "passes.count(WEB) == 2")
        assert told == [WEB, API, WEB]

    asyncio.run(scenario())


def recorded_passes(delay: float | None = None) -> tuple[list[ReleaseKey], Reconcile]:
    """A pass that only records which Release it was for, and asks for the next after `delay`."""
    passes: list[ReleaseKey] = []

    async def reconcile(key: ReleaseKey) -> float | None:
        passes.append(key)
        return delay

    return passes, reconcile


def held_passes(delay: float | None) -> tuple[list[ReleaseKey], asyncio.Event, Reconcile]:
    """A pass that records its Release, then waits for the event before it returns `delay`."""
    passes: list[ReleaseKey] = []
    release = asyncio.Event()

    async def reconcile(key: ReleaseKey) -> float | None:
        passes.append(key)
        await release.wait()
        return delay

    return passes, release, reconcile


def test_a_closed_queue_starts_no_pass_until_opened_then_one_per_release_told() -> None:
    """At start the operator keeps its queue closed until the watch has shown what the cluster holds
    (controller/first_look.py): what it is told meanwhile makes one pass each once it opens."""

    async def scenario() -> None:
        passes, reconcile = recorded_passes()
        queue = ReconcileQueue(reconcile, opened=False)
        for _ in range(3):
            queue.notify(WEB)
        queue.notify(API)
        for _ in range(20):  # turns of the loop in which an open queue would have made both passes
            await asyncio.sleep(0)
        assert passes == [] and queue.busy == 2
        queue.open()
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert sorted(passes) == [API, WEB]

    asyncio.run(scenario())


def test_draining_a_closed_queue_ends_at_once_without_a_pass() -> None:
    async def scenario() -> None:
        passes, reconcile = recorded_passes()
        queue = ReconcileQueue(reconcile, opened=False)
        queue.notify(WEB)
        async with asyncio.timeout(5):
            await queue.drain()
        assert passes == [] and queue.busy == 0

    asyncio.run(scenario())


def test_keys_of_one_namespace_share_its_name() -> None:
    """Every sharded replica keeps a key of each Release in several indexes: each made of the body a
    watch event brought, they held a copy of the namespace's name each."""
    first, second = (ReleaseKey(json.loads('"shop"'), name) for name in ("web", "api"))
    assert first.namespace is second.namespace
    assert first == ReleaseKey("shop", "web") and hash(first) == hash(ReleaseKey("shop", "web"))


def test_no_pass_starts_after_a_drain_though_one_in_flight_asked_for_one_soon() -> None:
    """On shutdown the operator drains the queue, then hands its Lease over: a pass started after that
    would write beside the next owner."""

    async def scenario() -> None:
        passes, release, reconcile = held_passes(0.01)
        queue = ReconcileQueue(reconcile)
        queue.notify(WEB)
        await until(lambda: passes == [WEB], "passes == [WEB]")
        draining = asyncio.create_task(queue.drain())
        release.set()
        await draining
        await asyncio.sleep(0.1)
        assert passes == [WEB] and queue.scheduled == 0 and queue.busy == 0

    asyncio.run(scenario())


def test_a_pass_cancelled_before_it_began_leaves_the_queue_drainable() -> None:
    """Only a shutdown cancels passes: one cancelled before its first step ran none of its body, and
    the queue still forgets it, so the drain ends."""

    async def scenario() -> None:
        passes, reconcile = recorded_passes()
        queue = ReconcileQueue(reconcile, max_concurrent_passes=1)
        queue.notify(WEB)
        queue.notify(API)
        for task in asyncio.all_tasks():
            if task.get_name().startswith("reconcile"):
                task.cancel()  # WEB's, before its first step
        await until(lambda: queue.busy == 1, "WEB's pass forgotten, API's waiting")
        async with asyncio.timeout(5):
            await queue.drain()
        assert passes == []

    asyncio.run(scenario())


def test_a_failing_question_of_what_the_watch_showed_stops_no_pass() -> None:
    async def scenario() -> None:
        passes, reconcile = recorded_passes()

        def on_shown(key: ReleaseKey) -> bool:
            if key == WEB:
                raise KeyError(key)
            return False

        queue = ReconcileQueue(reconcile, max_concurrent_passes=1, on_shown=on_shown)
        for key in (API, WEB, ReleaseKey("shop", "cart")):
            queue.notify(key)
        await until(lambda: queue.busy == 0, "queue.busy == 0")
        assert passes == [API, WEB, ReleaseKey("shop", "cart")]

    asyncio.run(scenario())


def test_an_event_as_a_pass_ends_makes_one_more_pass() -> None:
    """An event may come between a pass's last step and the queue's noting that it ended (a watch
    event delivered from another thread, say): it is not lost."""

    async def scenario() -> None:
        passes: list[ReleaseKey] = []

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            if len(passes) == 1:
                asyncio.get_running_loop().call_soon(queue.notify, WEB)  # runs before the task's end is seen
            return None

        queue = ReconcileQueue(reconcile)
        queue.notify(WEB)
        await until(lambda: len(passes) == 2 and queue.busy == 0, "a second pass")

    asyncio.run(scenario())


def test_a_metric_that_raises_costs_no_pass_its_next_timer() -> None:
    async def scenario() -> None:
        passes, reconcile = recorded_passes(0.01)

        def broken(seconds: float) -> None:
            raise ValueError("a histogram's bucket")

        queue = ReconcileQueue(reconcile, queued=broken, started_late=broken)
        queue.notify(WEB)
        await until(lambda: len(passes) >= 3, "passes its own timers started")
        await queue.drain()

    asyncio.run(scenario())


def test_an_echo_that_cannot_say_makes_one_more_pass() -> None:
    async def scenario() -> None:
        passes, release, reconcile = held_passes(None)

        def echo() -> bool:
            raise KeyError("the write's resourceVersion")

        queue = ReconcileQueue(reconcile)
        queue.notify(WEB)
        await until(lambda: passes == [WEB], "the first pass")
        queue.notify(WEB, echo)  # during the pass: judged as it ends
        release.set()
        await until(lambda: len(passes) == 2 and queue.busy == 0, "one more pass")
        queue.notify(WEB, echo)  # between passes: judged at once
        await until(lambda: len(passes) == 3 and queue.busy == 0, "a pass at once")

    asyncio.run(scenario())


def test_a_pass_cancelled_from_inside_is_tried_again() -> None:
    """Only a shutdown's drain cancels passes on purpose; a cancellation from inside a pass (a future it
    awaited, cancelled by someone else) must not leave its Release without a next pass."""

    async def scenario() -> None:
        passes: list[ReleaseKey] = []

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            if len(passes) == 1:
                raise asyncio.CancelledError
            return None

        queue = ReconcileQueue(reconcile, retry_after_error_seconds=0.01)
        queue.notify(WEB)
        await until(lambda: len(passes) == 2 and queue.busy == 0, "the pass tried again")
        assert queue.retry_delay(WEB) is None  # its success forgave the cancellation
        await queue.drain()

    asyncio.run(scenario())


def test_a_pass_cancelled_from_inside_during_a_drain_hands_its_slot_on() -> None:
    """The drain waits for the passes waiting as well: one cancelled from inside (not by a shutdown)
    gives its slot to the next, as any pass that ends does."""

    async def scenario() -> None:
        passes: list[ReleaseKey] = []
        release = asyncio.Event()

        async def reconcile(key: ReleaseKey) -> float | None:
            passes.append(key)
            if key == WEB:
                await release.wait()
                raise asyncio.CancelledError
            return None

        queue = ReconcileQueue(reconcile, max_concurrent_passes=1)
        queue.notify(WEB)
        queue.notify(API)
        await until(lambda: passes == [WEB], "WEB's pass holding the only slot")
        draining = asyncio.ensure_future(queue.drain())
        await asyncio.sleep(0)
        release.set()
        async with asyncio.timeout(5):
            await draining
        assert passes == [WEB, API] and queue.busy == 0

    asyncio.run(scenario())
