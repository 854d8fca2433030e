"""The poller against the simulated gateway over loopback HTTP, with the real client."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from onechat_async import OneChatClient, TaskStatus
from onechat_async._backoff import Backoff
from onechat_async._events import Event, Lost, Stalled, SubmitFailed, Submitted, Succeeded, TimedOut
from onechat_async._policy import PollPolicy
from onechat_async._poller import Poller
from onechat_async.testing import Fault, ScaledClock, Simulator, Timings

pytestmark = pytest.mark.filterwarnings("error")


async def start(sim: Simulator, policy: PollPolicy) -> tuple[OneChatClient, Poller]:
    client = OneChatClient(api_key=sim.api_key, base_url=sim.url, clock=sim.clock, poll=policy)
    return client, client._poller


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(
        api_key="sk-test", clock=ScaledClock(speed=300), running_limit=2000, waiting_limit=2000
    ) as simulator:
        yield simulator


@pytest.fixture
async def bare_sim() -> AsyncIterator[Simulator]:
    """A bare proxy: only there is a task the upstream forgot gone (the gateway freezes it)."""
    async with Simulator(
        api_key="sk-test",
        flavour="java-plus",
        clock=ScaledClock(speed=300),
        running_limit=2000,
        waiting_limit=2000,
    ) as simulator:
        yield simulator


async def submit_many(client: OneChatClient, n: int) -> list[str]:
    ids: list[str] = []
    for first in range(0, n, 50):
        batch = [client.imagine(f"cat number {i}") for i in range(first, min(n, first + 50))]
        ids.extend(result.task_id for result in await asyncio.gather(*batch))
    return ids


def count_ticks(poller: Poller) -> list[int]:
    ticks: list[int] = []
    due = poller.tracker.due

    def counting(now: float) -> list[str]:
        ids = due(now)
        if ids:
            ticks.append(len(ids))
        return ids

    poller.tracker.due = counting  # type: ignore[method-assign]
    return ticks


async def collect(stream: Any) -> list[Event]:
    return [event async for event in stream]


async def test_a_thousand_tasks_end_once_with_batched_lists(sim: Simulator) -> None:
    """1,000 tasks each end exactly once; list requests never exceed ceil(due/100) a tick."""
    client, poller = await start(sim, PollPolicy())
    try:
        ids = await submit_many(client, 1000)
        sim.reset_counters()
        ticks = count_ticks(poller)
        events = await collect(client.track_many(ids))
    finally:
        await poller.aclose()
        await client.aclose()
    terminal = [e for e in events if e.is_terminal]
    assert sorted(e.task_id for e in terminal) == sorted(ids)
    assert all(isinstance(e, Succeeded) for e in terminal)
    assert sim.counters["list-by-condition"] <= sum(math.ceil(n / 100) for n in ticks)
    assert max(ticks) <= 1000
    assert sim.counters["fetch"] == 0


async def test_ten_percent_query_faults_change_nothing_but_time() -> None:
    """With 10% of queries failing in assorted ways, every task still ends, silently."""
    # Long tasks on a slower clock, so that there are enough queries for faults to strike.
    async with Simulator(
        api_key="sk-test",
        clock=ScaledClock(speed=100),
        running_limit=1000,
        waiting_limit=1000,
        timings=Timings(imagine=200),
    ) as sim:
        await _faulty_run(sim)


async def _faulty_run(sim: Simulator) -> None:
    kinds = ("http_5xx_html", "http_429", "reset", "truncated_body")
    # One sure strike of each kind, so the run never passes untouched however few queries a
    # busy machine lets it make (10% of a load-dependent count once fired only twice) ...
    for kind in kinds:
        sim.inject(Fault(endpoint="list-by-condition", kind=kind, count=1, retry_after=2))
    # ... and 10% of queries failing at random for the rest of the run.
    for kind in kinds:
        sim.inject(Fault(endpoint="list-by-condition", kind=kind, rate=0.025, retry_after=2))
        sim.inject(Fault(endpoint="fetch", kind=kind, rate=0.025, retry_after=2))
    client, poller = await start(
        sim, PollPolicy(backoff=Backoff(wait_initial=1, wait_max=60, wait_jitter=0.5))
    )
    try:
        ids = await submit_many(client, 300)
        events = await collect(client.track_many(ids))
    finally:
        await poller.aclose()
        await client.aclose()
    terminal = [e for e in events if e.is_terminal]
    assert sorted(e.task_id for e in terminal) == sorted(ids)
    assert all(isinstance(e, Succeeded) for e in terminal)
    assert sim.faults_fired >= len(kinds), (sim.counters, sim.faults_fired)
    assert sim.counters["list-by-condition"] >= 30


async def test_vanished_tasks_end_lost_and_stuck_ones_stall_then_time_out(
    bare_sim: Simulator,
) -> None:
    """A forgotten task ends Lost; a frozen one raises Stalled, then TimedOut at the deadline."""
    sim = bare_sim
    client, poller = await start(sim, PollPolicy(stall_after=120, deadline=600))
    try:
        gone, stuck, fine = await submit_many(client, 3)
        sim.vanish(gone)
        sim.stall(stuck)
        events = await collect(client.track_many([gone, stuck, fine]))
    finally:
        await poller.aclose()
        await client.aclose()
    by_id: dict[str, list[str]] = {}
    for event in events:
        by_id.setdefault(event.task_id, []).append(type(event).__name__)
    assert by_id[gone][-1] == Lost.__name__
    assert by_id[stuck].count(Stalled.__name__) == 1
    assert by_id[stuck][-1] == TimedOut.__name__
    assert by_id[fine][-1] == Succeeded.__name__


async def test_fan_out_of_eight_children_all_succeed(sim: Simulator) -> None:
    """U1-U4 and V1-V4 of a finished grid are submitted and all reach Succeeded."""
    client, poller = await start(sim, PollPolicy())
    try:
        parent = (await client.imagine("a lighthouse")).task_id
        await client.wait(parent)
        events = await collect(client.fan_out(parent))
    finally:
        await poller.aclose()
        await client.aclose()
    submitted = {e.task_id: e.op for e in events if isinstance(e, Submitted)}
    assert sorted(op or "" for op in submitted.values()) == [
        "U1",
        "U2",
        "U3",
        "U4",
        "V1",
        "V2",
        "V3",
        "V4",
    ]
    assert {e.task_id for e in events if isinstance(e, Succeeded)} == set(submitted)


async def test_fan_out_reports_a_failing_child_while_the_rest_finish(
    bare_sim: Simulator,
) -> None:
    """A child the server keeps refusing ends SubmitFailed; one it forgets ends Lost."""
    sim = bare_sim
    client, poller = await start(sim, PollPolicy())
    try:
        parent = (await client.imagine("a lighthouse")).task_id
        await client.wait(parent)
        for endpoint in ("simple-change", "change", "action"):
            sim.inject(Fault(endpoint=endpoint, kind="http_429", count=2, retry_after=1))
        sim.inject(Fault(endpoint="*", kind="vanish", count=1, after=5))
        events = await collect(client.fan_out(parent, concurrency=1, attempts=2))
    finally:
        await poller.aclose()
        await client.aclose()
    failed = [e for e in events if isinstance(e, SubmitFailed)]
    assert [e.op for e in failed] == ["U1"]
    terminal = [e for e in events if e.is_terminal and not isinstance(e, SubmitFailed)]
    assert len(terminal) == 7
    assert sum(isinstance(e, Lost) for e in terminal) == 1
    assert sum(isinstance(e, Succeeded) for e in terminal) == 6


async def test_submit_and_wait(sim: Simulator) -> None:
    """The client's shortcut awaits the submit and waits for the task it created."""
    client, poller = await start(sim, PollPolicy())
    try:
        task = await client.submit_and_wait(client.imagine("a cat"), deadline=600)
    finally:
        await poller.aclose()
        await client.aclose()
    assert task.status is TaskStatus.SUCCESS
    assert sim.task_count == 1


async def test_track_normalises_numeric_ids(sim: Simulator) -> None:
    """An id passed to the client as a number is tracked as its decimal string."""
    client, poller = await start(sim, PollPolicy())
    try:
        (task_id,) = await submit_many(client, 1)
        events = await collect(client.track(int(task_id)))  # type: ignore[arg-type]
    finally:
        await poller.aclose()
        await client.aclose()
    assert events[-1].task_id == task_id
    assert isinstance(events[-1], Succeeded)
