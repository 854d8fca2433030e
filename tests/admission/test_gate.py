"""The admission gate: submits wait in order until the account, as the store counts it, has room."""

from __future__ import annotations

import asyncio

import pytest

from onechat_async._admission import AdmissionGate, Ticket
from onechat_async.stores import MemoryStore
from onechat_async.testing import ManualClock

RECHECK = 2.0
TTL = 60.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def gate(store: MemoryStore, clock: ManualClock, max_in_flight: int) -> AdmissionGate:
    return AdmissionGate(store, max_in_flight=max_in_flight, clock=clock, ttl=TTL, recheck=RECHECK)


class Recorder:
    """Starts acquisitions as tasks and records the order in which they are admitted."""

    def __init__(self, gate: AdmissionGate) -> None:
        self.gate = gate
        self.admitted: list[str] = []
        self.tickets: dict[str, Ticket] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, *, first: bool = False) -> None:
        async def run() -> None:
            self.tickets[name] = await self.gate.acquire(name, first=first)
            self.admitted.append(name)

        self.tasks[name] = asyncio.create_task(run())


async def test_submits_within_the_window_are_admitted_at_once(
    store: MemoryStore, clock: ManualClock
) -> None:
    """Up to max_in_flight submits get a permit without waiting."""
    admission = gate(store, clock, 3)
    tickets = [await admission.acquire(name) for name in "abc"]
    assert tickets == [Ticket("a", 0), Ticket("b", 0), Ticket("c", 0)]
    assert await store.count_permits(now=clock.wall()) == 3


async def test_waiters_are_admitted_in_arrival_order_as_permits_come_back(
    store: MemoryStore, clock: ManualClock
) -> None:
    """Past the window, submits wait; each permit given back admits the longest waiter."""
    admission = gate(store, clock, 1)
    await admission.acquire("a")
    recorder = Recorder(admission)
    for name in "bcd":
        recorder.start(name)
    await clock.settle()
    assert recorder.admitted == []
    assert admission.waiting == 2
    for holder in "abc":
        await admission.release(holder)
        await clock.settle()
    assert recorder.admitted == ["b", "c", "d"]


async def test_a_refused_submit_tried_again_goes_before_the_waiting_queue(
    store: MemoryStore, clock: ManualClock
) -> None:
    """acquire(first=True) is served before every waiter that is not already asking the store."""
    admission = gate(store, clock, 1)
    ticket = await admission.acquire("a")
    recorder = Recorder(admission)
    for name in "bcd":
        recorder.start(name)
    await clock.settle()
    await admission.refused(ticket, queue_full=False)
    recorder.start("a", first=True)
    await clock.settle()
    for holder in "bacd":
        await admission.release(holder)
        await clock.settle()
    assert recorder.admitted == ["b", "a", "c", "d"]


async def test_cancelled_waiters_do_not_block_those_behind_them(
    store: MemoryStore, clock: ManualClock
) -> None:
    """Cancelling the waiter that asks the store and one in the queue lets the next one in."""
    admission = gate(store, clock, 1)
    await admission.acquire("a")
    recorder = Recorder(admission)
    for name in "bcd":
        recorder.start(name)
    await clock.settle()
    for name in "bc":
        recorder.tasks[name].cancel()
    await clock.settle()
    await admission.release("a")
    await clock.settle()
    assert recorder.admitted == ["d"]
    assert recorder.tasks["b"].cancelled()


async def test_workers_on_one_store_share_the_count(store: MemoryStore, clock: ManualClock) -> None:
    """A second worker's gate waits while the first holds every permit, and notices a release."""
    first, second = gate(store, clock, 2), gate(store, clock, 2)
    await first.acquire("a")
    await first.acquire("b")
    recorder = Recorder(second)
    recorder.start("c")
    await clock.wait_for_sleepers()
    await first.release("a")
    await clock.settle()
    assert recorder.admitted == []  # the other gate learns of it on its next look
    clock.advance(RECHECK)
    await clock.settle()
    assert recorder.admitted == ["c"]


async def test_permits_of_a_dead_worker_expire_and_free_their_slots(
    store: MemoryStore, clock: ManualClock
) -> None:
    """A permit nobody renews stops counting after its ttl, and a waiter takes the slot."""
    await store.acquire_permit("dead", limit=None, now=clock.wall(), ttl=TTL)
    admission = gate(store, clock, 1)
    recorder = Recorder(admission)
    recorder.start("a")
    await clock.wait_for_sleepers()
    clock.advance(TTL - RECHECK)
    await clock.settle()
    assert recorder.admitted == []
    clock.advance(RECHECK)
    await clock.settle()
    assert recorder.admitted == ["a"]


async def test_renewed_permits_outlive_their_first_ttl(
    store: MemoryStore, clock: ManualClock
) -> None:
    """renew() keeps a task's permit counted past the ttl it was taken with."""
    admission = gate(store, clock, 1)
    await admission.acquire("a")
    clock.advance(TTL - 1)
    await admission.renew(["a"])
    clock.advance(TTL - 1)
    assert await store.count_permits(now=clock.wall()) == 1


async def test_a_queue_full_refusal_shrinks_the_window_and_holds_new_submits_back(
    store: MemoryStore, clock: ManualClock
) -> None:
    """After queue-full refusals the window halves once, and submits wait below the new limit."""
    admission = gate(store, clock, 4)
    tickets = [await admission.acquire(name) for name in "abcd"]
    await admission.refused(tickets[0], queue_full=True)
    await admission.refused(tickets[1], queue_full=True)
    assert admission.window.limit == 2
    recorder = Recorder(admission)
    recorder.start("e")
    await clock.settle()
    assert recorder.admitted == []
    await admission.release("c")
    await clock.settle()
    assert recorder.admitted == ["e"]
    assert recorder.tickets["e"] == Ticket("e", 1)


async def test_an_accepted_submit_hands_its_permit_to_the_task_and_grows_the_window(
    store: MemoryStore, clock: ManualClock
) -> None:
    """accepted() renames the permit to the task id (the count stays) and widens the window."""
    admission = gate(store, clock, 4)
    tickets = [await admission.acquire(name) for name in "ab"]
    await admission.refused(tickets[1], queue_full=True)
    ticket = await admission.acquire("c")
    await admission.accepted(ticket, "task-1")
    assert admission.window.size == 2.5
    assert await store.count_permits(now=clock.wall()) == 2
    await admission.release("c")
    assert await store.count_permits(now=clock.wall()) == 2
    await admission.release("task-1")
    assert await store.count_permits(now=clock.wall()) == 1
    await admission.accepted(tickets[0], "a")
    assert await store.count_permits(now=clock.wall()) == 1


async def test_an_adopted_task_counts_whatever_the_window(
    store: MemoryStore, clock: ManualClock
) -> None:
    """A task taken over from a dead worker is counted even when the window is full."""
    admission = gate(store, clock, 1)
    await admission.acquire("a")
    await admission.adopt("taken-over")
    assert await store.count_permits(now=clock.wall()) == 2
    assert "limit=1" in repr(admission)


@pytest.mark.parametrize(
    ("held", "grows"),
    [
        pytest.param(0, False, id="idle"),
        pytest.param(8, False, id="room-left"),
        pytest.param(9, True, id="last-slot"),
        pytest.param(10, True, id="had-to-wait"),
    ],
)
async def test_only_a_submit_that_found_the_window_full_grows_it(
    store: MemoryStore, clock: ManualClock, held: int, grows: bool
) -> None:
    """An accepted submit grows a learned window only if it took its last slot or waited."""
    admission = AdmissionGate(store, max_in_flight=None, clock=clock, ttl=TTL, recheck=RECHECK)
    assert admission.window.limit == 10
    for i in range(held):
        await admission.acquire(f"held-{i}")
    size = admission.window.size
    recorder = Recorder(admission)
    recorder.start("mine")
    await clock.settle()
    if held == 10:
        assert recorder.admitted == []
        await admission.release("held-0")
        await clock.settle()
    assert recorder.admitted == ["mine"]
    await admission.accepted(recorder.tickets["mine"], "task-1")
    assert (admission.window.size > size) is grows
