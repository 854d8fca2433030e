"""Task leases through a real store: one worker tracks a task, a dead one's tasks are taken over."""

from __future__ import annotations

import asyncio

from onechat_async import _journal as journal
from onechat_async._admission import AdmissionGate
from onechat_async._store import Store
from onechat_async._task_journal import TaskJournal
from onechat_async.testing import ManualClock

TTL = 60.0


def worker(store: Store, clock: ManualClock, owner: str) -> TaskJournal:
    return TaskJournal(store, owner=owner, clock=clock, ttl=TTL)


async def journaled(store: Store, clock: ManualClock, task_id: str, owner: str = "a") -> None:
    new = journal.new_task(task_id, key="job", owner=owner, now=clock.wall(), ttl=TTL)
    assert await store.swap_task(0, new) is not None


async def test_a_tracked_task_numbers_its_events_and_lets_go_when_it_ends(store: Store) -> None:
    """Observations get seq 1, 2, 3; the terminal one ends the lease and the task's permit."""
    clock = ManualClock()
    gate = AdmissionGate(store, max_in_flight=3, clock=clock)
    tasks = TaskJournal(store, owner="a", clock=clock, ttl=TTL, gate=gate)
    await journaled(store, clock, "t")
    assert await tasks.take("t") is not None
    assert await store.count_permits(now=clock.wall()) == 1
    seqs = [
        await tasks.observe("t", {"status": "SUBMITTED"}, terminal=False),
        await tasks.observe("t", {"status": "IN_PROGRESS"}, terminal=False),
        await tasks.observe("t", {"status": "SUCCESS"}, terminal=True),
    ]
    assert seqs == [1, 2, 3]
    assert tasks.held == frozenset()
    assert await store.unfinished() == []
    assert await store.count_permits(now=clock.wall()) == 0
    assert await tasks.observe("t", {}, terminal=True) is None
    assert await tasks.take("missing") is None


async def test_a_live_worker_s_task_is_not_taken_and_a_dead_one_s_is(store: Store) -> None:
    """Another worker cannot take a live lease; once it expires, it takes the task over."""
    clock = ManualClock()
    a, b = worker(store, clock, "a"), worker(store, clock, "b")
    await journaled(store, clock, "t")
    await a.take("t")
    await a.observe("t", {"status": "IN_PROGRESS", "progress": "46%"}, terminal=False)
    assert await b.take_unfinished() == []
    clock.advance(TTL)
    [taken] = await b.take_unfinished()
    # The replayed event keeps its identity: (task id, seq) of the last journaled state.
    assert (taken.task_id, taken.seq, taken.snapshot["progress"]) == ("t", 1, "46%")
    assert await b.observe("t", {"status": "SUCCESS"}, terminal=True) == 2
    # The old owner learns it lost the task on its next write, and stops.
    assert await a.observe("t", {"status": "IN_PROGRESS"}, terminal=False) is None
    assert a.held == frozenset()


async def test_a_renewed_lease_keeps_the_task_and_a_lost_one_is_reported(store: Store) -> None:
    """renew() keeps a live worker's tasks; one that missed its renewals is told what it lost."""
    clock = ManualClock()
    a, b = worker(store, clock, "a"), worker(store, clock, "b")
    for task_id in ("t1", "t2"):
        await journaled(store, clock, task_id)
        await a.take(task_id)
    clock.advance(TTL - 1)
    assert await a.renew() == []
    clock.advance(TTL - 1)
    assert await b.take_unfinished() == []
    clock.advance(1)
    assert sorted(r.task_id for r in await b.take_unfinished()) == ["t1", "t2"]
    assert sorted(await a.renew()) == ["t1", "t2"]
    assert "held=0" in repr(a)


async def test_a_worker_that_stops_hands_its_tasks_over_at_once(store: Store) -> None:
    """release_all() frees every lease, so another worker takes them without waiting."""
    clock = ManualClock()
    a, b = worker(store, clock, "a"), worker(store, clock, "b")
    await journaled(store, clock, "t")
    await a.take("t")
    await a.release_all()
    assert [r.task_id for r in await b.take_unfinished()] == ["t"]
    record = b.record("t")
    assert record is not None
    assert record.owner == "b"


async def test_a_heartbeat_during_an_observation_is_not_mistaken_for_a_lost_lease(
    store: Store,
) -> None:
    """renew() and observe() on one task at once both succeed: writes to a task take turns."""
    clock = ManualClock()
    a = worker(store, clock, "a")
    await journaled(store, clock, "t")
    await a.take("t")
    for _ in range(5):
        seq, lost = await asyncio.gather(a.observe("t", {}, terminal=False), a.renew())
        assert seq is not None
        assert lost == []
    assert a.held == frozenset({"t"})
