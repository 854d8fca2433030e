"""``python -m tests.trust.lifetime_script``: streams stop as soon as their consumer leaves.

Run from the repository root, ideally as ``python -X dev -W error -m
tests.trust.lifetime_script`` with ``PYTHONASYNCIODEBUG=1`` (tests/trust/test_lifetimes.py
does). Against the simulator it breaks out of, cancels and drops fan-outs and tracking
streams, asserts after each that nothing was submitted or polled for them any more, and at
the end that no asyncio task is left. Exit status 0 means every rule held; an assertion
says which did not. The scenarios are shared with the in-process tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import attrs

from onechat_async import ALL_CHILDREN, EventStream, OneChatClient, SubmitResult
from onechat_async._poller import Poller
from onechat_async.testing import ManualClock, Simulator

__all__ = [
    "CONCURRENCY",
    "DRIVER",
    "OPENERS",
    "Drop",
    "Leave",
    "TallyClient",
    "World",
    "async_with_break",
    "break_out",
    "cancel_consumer",
    "drop_stream",
    "fan_out_drivers",
    "queries",
    "settle",
    "strays",
    "track_break",
    "tracking_stream",
    "world",
]

KEY = "sk-lifetimes"
CONCURRENCY = 2
#: The asyncio task name of a fan-out's driver (set in onechat_async._follow).
DRIVER = "onechat-async fan-out"
#: Loop turns given to the stream's shutdown before looking: "a few", as a consumer would.
_YIELDS = 5
#: An hour of clock time: on the auto-advancing clock it passes at once unless work is due.
_LATER = 3600.0


@attrs.define
class SubmitTally:
    """The client's own count of child submits: begun, answered, and cancelled in flight."""

    started: int = 0
    answered: int = 0
    cancelled: int = 0
    #: Set each time a submit begins, so a test can act while submits are in flight.
    begun: asyncio.Event = attrs.Factory(asyncio.Event)


class TallyClient(OneChatClient):
    """A OneChatClient that counts the child submits its fan-outs make."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.tally = SubmitTally()

    async def simple_change(
        self,
        task_id: str,
        op: str | None = None,
        *,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """The real submit, counted."""
        self.tally.started += 1
        self.tally.begun.set()
        try:
            result = await super().simple_change(
                task_id,
                op,
                notify_hook=notify_hook,
                state=state,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        except asyncio.CancelledError:
            self.tally.cancelled += 1
            raise
        except BaseException:
            self.tally.answered += 1
            raise
        self.tally.answered += 1
        return result

    @property
    def poller(self) -> Poller:
        """The client's poller (a private part, inspected by the checks)."""
        return self._poller


@attrs.frozen
class World:
    """A simulator, a client sharing its auto-advancing clock, and a finished grid."""

    sim: Simulator
    client: TallyClient
    clock: ManualClock
    grid: str


@contextlib.asynccontextmanager
async def world() -> AsyncIterator[World]:
    """A running simulator and client with a finished grid to fan out from."""
    clock = ManualClock(auto_advance=True)
    async with Simulator(api_key=KEY, clock=clock) as sim:
        client = TallyClient(api_key=KEY, base_url=sim.url, clock=clock)
        async with client:
            grid = await client.submit_and_wait(client.imagine("a lighthouse"))
            yield World(sim, client, clock, grid.id)


@attrs.frozen
class Leave:
    """What happened to a fan-out after its consumer left it."""

    #: Submits begun, and of those answered, when the consumer left.
    started_at_leave: int
    answered_at_leave: int
    #: Submits begun after the consumer left (must be 0).
    started_after: int
    #: Submits cancelled in flight (the ones not answered when the consumer left).
    cancelled: int
    #: Child submits that reached the server, once the shutdown settled.
    reached: int
    #: Child submits that reached it during the next hour of clock time (must be 0).
    reached_later: int
    #: Whether every fan-out driver seen was done after a few loop turns.
    drivers_done: bool
    #: Ids the poller still followed after a few loop turns (must be empty).
    watched: frozenset[str]

    @property
    def in_flight_at_leave(self) -> int:
        """Submits under way when the consumer left."""
        return self.started_at_leave - self.answered_at_leave

    def check(self) -> None:
        """Assert every rule of a stopped fan-out."""
        assert self.started_after == 0, f"{self.started_after} submits begun after leaving"
        assert self.in_flight_at_leave <= CONCURRENCY, self
        assert self.cancelled == self.in_flight_at_leave, self
        assert self.reached <= self.started_at_leave, self
        assert self.reached_later == 0, self
        assert self.drivers_done, self
        assert self.watched == frozenset(), self


def fan_out_drivers() -> set[asyncio.Task[Any]]:
    """The fan-out drivers still running."""
    return {t for t in asyncio.all_tasks() if t.get_name() == DRIVER and not t.done()}


def child_submits(w: World) -> int:
    """Submit requests naming the grid that reached the server."""
    return sum(1 for record in w.sim.submits if record.parent_id == w.grid)


def queries(w: World) -> int:
    """Query requests (list-by-condition and fetch) that reached the server."""
    return w.sim.counters["list-by-condition"] + w.sim.counters["fetch"]


async def settle(w: World) -> None:
    """A few loop turns, then until the server serves nothing, then a few more."""
    for _ in range(_YIELDS):
        await asyncio.sleep(0)
    await w.sim.wait_idle(timeout=30)
    for _ in range(_YIELDS):
        await asyncio.sleep(0)


async def _stopped(w: World, drivers: set[asyncio.Task[Any]], started: int, answered: int) -> Leave:
    tally = w.client.tally
    for _ in range(_YIELDS):
        await asyncio.sleep(0)
    drivers_done = all(d.done() for d in drivers)
    watched = w.client.poller.watched
    await settle(w)
    reached = child_submits(w)
    await w.clock.sleep(_LATER)
    await settle(w)
    return Leave(
        started_at_leave=started,
        answered_at_leave=answered,
        started_after=tally.started - started,
        cancelled=tally.cancelled,
        reached=reached,
        reached_later=child_submits(w) - reached,
        drivers_done=drivers_done,
        watched=watched,
    )


async def break_out(w: World, after: int = 1) -> Leave:
    """``async for event in client.fan_out(...): break`` after ``after`` events."""
    seen = 0
    drivers: set[asyncio.Task[Any]] = set()
    async for _event in w.client.fan_out(w.grid, ALL_CHILDREN, concurrency=CONCURRENCY):
        seen += 1
        drivers |= fan_out_drivers()
        if seen == after:
            break
    assert drivers, "the fan-out ran no driver"
    tally = w.client.tally
    return await _stopped(w, drivers, tally.started, tally.answered)


async def cancel_consumer(w: World) -> Leave:
    """The consumer is cancelled while it waits in ``__anext__``, submits in flight."""
    tally = w.client.tally

    async def consume() -> None:
        async for _event in w.client.fan_out(w.grid, ALL_CHILDREN, concurrency=CONCURRENCY):
            pass

    consumer = asyncio.create_task(consume())
    while tally.started - tally.answered < CONCURRENCY:
        tally.begun.clear()
        await tally.begun.wait()
    drivers = fan_out_drivers()
    started, answered = tally.started, tally.answered
    consumer.cancel()
    await asyncio.wait({consumer})
    assert consumer.cancelled(), "the consumer was not cancelled"
    return await _stopped(w, drivers, started, answered)


@attrs.frozen
class Drop:
    """A fan-out dropped by its consumer: what stopped, and whether at once."""

    leave: Leave
    #: The stream was freed right at ``del`` (no reference cycle keeps it).
    freed: bool
    #: Its driver was told to stop right at ``del``, before any loop turn.
    cancelled_at_once: bool


async def drop_stream(w: World) -> Drop:
    """The consumer drops a fan-out it read one event from, with the garbage collector off."""
    tally = w.client.tally
    gc.disable()
    try:
        stream: EventStream | None = w.client.fan_out(w.grid, ALL_CHILDREN, concurrency=CONCURRENCY)
        assert stream is not None
        await anext(stream)
        drivers = fan_out_drivers()
        started, answered = tally.started, tally.answered
        ref = weakref.ref(stream)
        stream = None
        freed = ref() is None
        at_once = bool(drivers) and all(d.cancelling() or d.done() for d in drivers)
        return Drop(await _stopped(w, drivers, started, answered), freed, at_once)
    finally:
        gc.enable()


async def async_with_break(w: World) -> tuple[Leave, set[asyncio.Task[Any]]]:
    """``async with`` + ``break``; also the tasks left right after the block (must be none)."""
    tally = w.client.tally
    async with w.client.fan_out(w.grid, ALL_CHILDREN, concurrency=CONCURRENCY) as events:
        drivers: set[asyncio.Task[Any]] = set()
        async for _event in events:
            drivers |= fan_out_drivers()
            break
        started, answered = tally.started, tally.answered
    left = strays(w.client.poller)
    return await _stopped(w, drivers, started, answered), left


def strays(poller: Poller) -> set[asyncio.Task[Any]]:
    """Pending tasks that belong neither to the test (its own, the server's) nor the poller."""
    mine = {poller._task, *poller._requests}
    current = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if not t.done()
        and t is not current
        and t not in mine
        and not _waits_on(t, poller)
        and not _serves(t)
    }


def _waits_on(task: asyncio.Task[Any], poller: Poller) -> bool:
    # The idle poller waits for news in a helper task of its own (Poller._sleep).
    frame = getattr(task.get_coro(), "cr_frame", None)
    return frame is not None and frame.f_locals.get("self") is poller._wake


def _serves(task: asyncio.Task[Any]) -> bool:
    # The simulator's side of a connection the client just closed winds down on its own.
    code = getattr(task.get_coro(), "cr_code", None)
    where = "" if code is None else code.co_filename.replace("\\", "/")
    return "/aiohttp/web_" in where or "/onechat_async/testing/" in where


OPENERS = ("track", "track_many", "submit_and_track")


async def tracking_stream(w: World, opener: str) -> EventStream:
    """A not yet iterated stream over running tasks, opened by ``client.<opener>``."""
    client = w.client
    if opener == "submit_and_track":
        return client.submit_and_track(client.imagine("a submitted fox"))
    ids = [(await client.imagine(f"fox {n}")).task_id for n in range(2)]
    return client.track(ids[0]) if opener == "track" else client.track_many(ids)


async def track_break(w: World, opener: str) -> tuple[frozenset[str], int, int]:
    """Break out of a tracking stream at its first event.

    Returns the ids still followed a few loop turns later, how many tasks the poller still
    tracks, and the queries that reached the server in the hour after the shutdown settled.
    """
    async for _event in await tracking_stream(w, opener):
        break
    for _ in range(_YIELDS):
        await asyncio.sleep(0)
    poller = w.client.poller
    watched, tracked = poller.watched, len(poller.tracker)
    await settle(w)
    asked = queries(w)
    await w.clock.sleep(_LATER)
    await settle(w)
    return watched, tracked, queries(w) - asked


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _main() -> None:
    # Debug mode logs callbacks slower than 0.1 s; a busy machine is not a lifetime bug.
    asyncio.get_running_loop().slow_callback_duration = 30.0
    assert asyncio.get_running_loop().get_debug(), "run with PYTHONASYNCIODEBUG=1"
    async with world() as w:
        stop = await break_out(w)
        stop.check()
    async with world() as w:
        stop = await break_out(w, after=3)
        stop.check()
    async with world() as w:
        stop = await cancel_consumer(w)
        stop.check()
        assert stop.started_at_leave <= CONCURRENCY, stop
    async with world() as w:
        drop = await drop_stream(w)
        drop.leave.check()
        assert drop.freed, "a dropped fan-out outlived its last reference"
        assert drop.cancelled_at_once, "a dropped fan-out's driver was not stopped at once"
    async with world() as w:
        stop, left = await async_with_break(w)
        stop.check()
        assert left == set(), left
    async with world() as w:
        # A submit stream dropped before its first __anext__ sends nothing, and its submit
        # coroutine is closed rather than left "never awaited".
        before = len(w.sim.submits)
        w.client.submit_and_track(w.client.imagine("never sent"))
        gc.collect()
        await settle(w)
        assert len(w.sim.submits) == before
    for opener in OPENERS:
        async with world() as w:
            watched, tracked, asked = await track_break(w, opener)
            assert (watched, tracked, asked) == (frozenset(), 0, 0), (opener, watched, asked)
    current = asyncio.current_task()
    assert {t for t in asyncio.all_tasks() if t is not current} == set()


def main() -> int:
    """Run every scenario; the exit status is 0 when all rules held."""
    # Cancelled in-flight submits are logged as "may have created a task": expected here,
    # so they are kept off stderr, which must stay empty.
    records = _Records()
    library = logging.getLogger("onechat_async")
    library.addHandler(records)
    library.propagate = False
    asyncio.run(_main())
    gc.collect()
    unexpected = [r for r in records.records if "cancelled in flight" not in r.getMessage()]
    assert unexpected == [], [r.getMessage() for r in unexpected]
    sys.stdout.write(f"ok: {len(records.records)} in-flight submits cancelled\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
