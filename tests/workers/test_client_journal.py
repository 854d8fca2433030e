"""The journal wired into the client, in one process, against the simulator over loopback."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onechat_async import OneChatClient, SubmitOutcomeUnknownError
from onechat_async._events import Submitted, Succeeded
from onechat_async._journal import KeyState
from onechat_async._store import KeyRecord
from onechat_async.stores import SQLiteStore
from onechat_async.testing import ManualClock, ScaledClock, Simulator

KEY = "sk-test"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A gateway fronting one 3 + 10 account, its minutes passing in milliseconds."""
    async with Simulator(
        api_key=KEY, clock=ScaledClock(speed=1000), running_limit=3, waiting_limit=10
    ) as simulator:
        yield simulator


def queue_full_answers(sim: Simulator) -> int:
    """How many submits the server refused for a full queue (code 23, or 9 behind C#)."""
    return sum(1 for record in sim.submits if record.task_id is None)


@pytest.mark.parametrize("max_in_flight", [10, 13])
async def test_two_hundred_jobs_pass_a_3_plus_10_account_without_queue_full(
    sim: Simulator, max_in_flight: int
) -> None:
    """200 concurrent jobs through max_in_flight: all succeed, no QueueFullError escapes.

    A submit sent in the moment between a task's end and the next one's start may still be
    refused (rarely at 10, the waiting room; now and then at 13, the account's exact size;
    how often depends on the machine's load): each refusal is sent again after the window
    shrinks, and none reaches the caller.
    """
    async with OneChatClient(
        api_key=KEY, base_url=sim.url, clock=sim.clock, max_in_flight=max_in_flight
    ) as client:

        async def job(i: int) -> str:
            task = await client.submit_and_wait(client.imagine(f"job {i}", state=f"job-{i}"))
            return task.id

        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(job(i)) for i in range(200)]
    ids = [j.result() for j in jobs]
    assert len(set(ids)) == 200
    assert len(sim.created) == 200
    # Every request the server received either made one of the 200 tasks or was refused for
    # a full queue (which proves no task, so sending it again was safe).
    assert len(sim.submits) == 200 + queue_full_answers(sim)


async def test_a_key_sent_twice_makes_one_task_and_replays_its_result(sim: Simulator) -> None:
    """The same idempotency key, concurrently and later, sends one request and one task."""
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock) as client:
        first, second = await asyncio.gather(
            client.imagine("a cat", idempotency_key="job-1"),
            client.imagine("a cat", idempotency_key="job-1"),
        )
        third = await client.imagine("a cat", idempotency_key="job-1")
    assert first == second == third
    assert len(sim.submits) == 1


async def test_an_unknown_outcome_is_raised_and_never_sent(sim: Simulator, tmp_path: Path) -> None:
    """A key left SENDING by a dead worker raises SubmitOutcomeUnknownError; nothing is sent."""
    store = SQLiteStore(tmp_path / "j.db")
    dead = KeyRecord(key="job-9", state=KeyState.SENDING, owner="gone", lease_until=0.0)
    assert await store.swap_key(0, dead) is not None
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock, store=store) as client:
        with pytest.raises(SubmitOutcomeUnknownError):
            await client.imagine("a cat", idempotency_key="job-9")
    await store.aclose()
    assert sim.submits == ()


async def test_events_are_numbered_and_resume_finds_what_a_closed_worker_left(
    tmp_path: Path,
) -> None:
    """Journaled events carry (task id, seq); a new client resumes the unfinished tasks."""
    # Tasks that live about a second of real time, so that all three are still running when
    # the first worker closes (at the shared fixture's speed, 55 ms, a busy machine let the
    # first worker's background follower see some of them end).
    async with Simulator(
        api_key=KEY, clock=ScaledClock(speed=50), running_limit=3, waiting_limit=10
    ) as slow_sim:
        await _numbered_then_resumed(slow_sim, tmp_path)


async def _numbered_then_resumed(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = SQLiteStore(path)
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock, store=store) as client:
        stream = client.submit_and_track(client.imagine("a cat", idempotency_key="k1"))
        first = await anext(stream)
        second = await anext(stream)
        await stream.aclose()
        ids = [(await client.imagine(f"dog {i}", idempotency_key=f"d{i}")).task_id for i in (1, 2)]
    await store.aclose()
    assert isinstance(first, Submitted)
    assert first.identity == (first.task_id, 0)
    assert second.identity == (first.task_id, 1)

    store = SQLiteStore(path)
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock, store=store) as client:
        events = [event async for event in client.resume()]
        assert await store.unfinished() == []
    await store.aclose()
    ends = Counter(e.task_id for e in events if isinstance(e, Succeeded))
    assert ends == Counter({first.task_id: 1, ids[0]: 1, ids[1]: 1})
    seqs = [e.identity for e in events]
    assert len(seqs) == len(set(seqs))
    assert all(seq is not None and seq >= 2 for task, seq in seqs if task == first.task_id)


async def test_settled_keys_and_ended_tasks_are_dropped_after_key_ttl() -> None:
    """key_ttl later the client prunes the store: the key is new again, its task forgotten."""
    clock = ManualClock(auto_advance=True)
    async with (
        Simulator(api_key=KEY, clock=clock) as sim,
        OneChatClient(api_key=KEY, base_url=sim.url, clock=clock, key_ttl=600.0) as client,
    ):
        first = await client.submit_and_wait(client.imagine("a cat", idempotency_key="a"))
        assert await client.store.get_key("a") is not None
        await clock.sleep(700.0)
        # Still kept: the first look for expired records came with the first submit.
        assert await client.store.get_task(first.id) is not None
        await client.imagine("a dog", idempotency_key="b")
        pruner = client._durable._pruner
        assert pruner is not None
        await pruner
        assert await client.store.get_key("a") is None
        assert await client.store.get_task(first.id) is None
        assert await client.store.get_key("b") is not None
        again = await client.imagine("a cat", idempotency_key="a")
    assert again.task_id != first.id
    assert len(sim.submits) == 3
