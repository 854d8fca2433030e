"""The client's defaults against a 3 running + 10 queued account: every job passes.

``OneChatClient()`` (no ``max_in_flight``), with and without a store, runs 20, 200 and 2,000
jobs at once, plain submits and fan-outs mixed, against the simulator in virtual time; no
``QueueFullError`` may reach the caller, every job must end with one task, and the account is
asked for room it does not have only now and then (each such refusal proves no task exists,
so it is sent again later; none is paid for). Without a store admission sleeps until the
account first refuses: the jobs' first burst overflows once, then never again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import attrs
import pytest

from onechat_async import (
    OneChatClient,
    OneChatError,
    PollPolicy,
    QueueFullError,
    SubmitFailed,
    Submitted,
)
from onechat_async.stores import MemoryStore
from onechat_async.testing import ManualClock, Simulator

KEY = "sk-test"
RUNNING, WAITING = 3, 10
#: One job in this many is a fan-out: a grid, then its eight children (U1-U4, V1-V4).
FAN_OUT_EVERY = 20


@attrs.frozen
class Run:
    """What a batch of jobs did, from the caller's side and the server's."""

    outcomes: list[object]
    refused: int
    submits: int
    created: int
    peak: int


async def run_batch(jobs: int, *, store: bool = False) -> Run:
    """Run ``jobs`` jobs at once through one client with the default admission."""
    clock = ManualClock(auto_advance=True)
    async with Simulator(
        api_key=KEY, clock=clock, running_limit=RUNNING, waiting_limit=WAITING
    ) as sim:
        async with OneChatClient(
            api_key=KEY,
            base_url=sim.url,
            clock=clock,
            # Polls are not what is tested: a slow cadence keeps 2,000 jobs' worth of them
            # (some 20 hours of account time) within seconds of real time.
            poll=PollPolicy(interval=30.0),
            store=MemoryStore() if store else None,
        ) as client:

            async def job(i: int) -> object:
                try:
                    if i % FAN_OUT_EVERY:
                        task = await client.submit_and_wait(
                            client.imagine(f"job {i}", state=f"job-{i}")
                        )
                        return task.status.value
                    grid = await client.submit_and_wait(
                        client.imagine(f"grid {i}", state=f"job-{i}")
                    )
                    stream = client.fan_out(grid.id, state=f"job-{i}")
                    async with stream:
                        events = [event async for event in stream]
                    failed = [e.error for e in events if isinstance(e, SubmitFailed)]
                    if failed:
                        return failed[0]
                    ends = Counter(type(e).__name__ for e in events if e.is_terminal)
                    submitted = sum(isinstance(e, Submitted) for e in events)
                    return "fan-out" if (submitted, ends["Succeeded"]) == (8, 8) else ends
                except OneChatError as exc:  # reported per job, never cancelling the others
                    return exc

            outcomes = await asyncio.gather(*(job(i) for i in range(jobs)))
        await sim.wait_idle()
        refused = sum(1 for s in sim.submits if s.task_id is None)
        return Run(
            outcomes=list(outcomes),
            refused=refused,
            submits=len(sim.submits),
            created=len(sim.created),
            peak=peak_in_flight(sim),
        )


def peak_in_flight(sim: Simulator) -> int:
    """The most places the account ever held at once, counted as the simulator counts them.

    A task holds a slot while it runs (start to finish), and a waiting place from its queueing
    to its start if it had to wait. One handed to a slot that frees within the dispatch time
    waits for nothing: it holds no waiting place while it is dispatched (``_store.schedule``),
    so counting it from its queueing would put one task more than the room at such instants.
    """
    ledger = sim._store.records()
    dispatch = sim._store.timings.dispatch
    # At one instant a task that ends frees its place before one that arrives takes it.
    changes = []
    for record in ledger:
        plan = record.plan
        if plan.queued_at is None:
            continue
        waited = plan.start_at > plan.queued_at + dispatch
        changes += [(plan.queued_at if waited else plan.start_at, 1), (plan.finish_at, -1)]
    changes.sort()
    held = peak = 0
    for _at, step in changes:
        held += step
        peak = max(peak, held)
    return peak


def admission_awake(client: OneChatClient) -> bool:
    """Whether the client sends every submit through the journal and admission now."""
    awake: bool = client._durable.journal_all
    return awake


def expected_tasks(jobs: int) -> int:
    """Plain jobs make one task, fan-outs nine (a grid and its eight children)."""
    fan_outs = len(range(0, jobs, FAN_OUT_EVERY))
    return jobs + 8 * fan_outs


@pytest.mark.parametrize(
    ("jobs", "store"),
    [
        pytest.param(20, False, id="20"),
        pytest.param(200, False, id="200"),
        pytest.param(2000, False, id="2000"),
        pytest.param(200, True, id="200-with-a-store"),
    ],
)
async def test_default_client_runs_any_batch_through_a_3_plus_10_account(
    jobs: int, store: bool
) -> None:
    """20, 200 or 2,000 jobs, fan-outs mixed: none sees QueueFullError, all end, one task each."""
    started = time.monotonic()
    run = await run_batch(jobs, store=store)
    elapsed = time.monotonic() - started
    errors = [o for o in run.outcomes if isinstance(o, BaseException)]
    assert errors == []
    assert Counter(run.outcomes) == Counter(
        {
            "SUCCESS": jobs - len(range(0, jobs, FAN_OUT_EVERY)),
            "fan-out": len(range(0, jobs, FAN_OUT_EVERY)),
        }
    )
    # One task per request that was not refused, and exactly the tasks the jobs asked for.
    assert run.created == expected_tasks(jobs)
    assert run.submits == run.created + run.refused
    # The account never held more than it has room for, and it was asked beyond its room
    # only while the window probed for more (a few refusals per hundred tasks at most),
    # plus, without a store, once by the jobs' first burst, which woke admission.
    first_burst = 0 if store else max(0, jobs - (RUNNING + WAITING))
    assert run.peak <= RUNNING + WAITING
    assert run.refused <= first_burst + max(2, run.created // 20), run.refused
    assert elapsed < 120, elapsed


async def test_without_admission_the_same_burst_overflows_the_account() -> None:
    """The control: max_in_flight=None sends all 20 at once and 7 get QueueFullError."""
    clock = ManualClock(auto_advance=True)
    async with (
        Simulator(api_key=KEY, clock=clock, running_limit=RUNNING, waiting_limit=WAITING) as sim,
        OneChatClient(api_key=KEY, base_url=sim.url, clock=clock, max_in_flight=None) as client,
    ):
        answers = await asyncio.gather(
            *(client.imagine(f"job {i}") for i in range(20)), return_exceptions=True
        )
    assert sum(isinstance(a, QueueFullError) for a in answers) == 7


async def test_a_learned_window_does_not_grow_while_the_account_is_idle() -> None:
    """Jobs one at a time never fill the window, so a later burst starts from ten, not 100."""
    clock = ManualClock(auto_advance=True)
    async with (
        Simulator(api_key=KEY, clock=clock, running_limit=RUNNING, waiting_limit=WAITING) as sim,
        OneChatClient(api_key=KEY, base_url=sim.url, clock=clock, store=MemoryStore()) as client,
    ):
        for i in range(100):
            await client.submit_and_wait(client.imagine(f"alone {i}"))
        gate = client._durable.gate
        assert gate is not None
        assert gate.window.limit == 10
        tasks = await asyncio.gather(
            *(client.submit_and_wait(client.imagine(f"burst {i}")) for i in range(40))
        )
    assert [t.status.value for t in tasks] == ["SUCCESS"] * 40
    assert sum(1 for s in sim.submits if s.task_id is None) == 0


async def test_without_a_store_admission_sleeps_until_the_account_first_refuses() -> None:
    """Below the account's room nothing is journaled or followed; the first refusal wakes it."""
    clock = ManualClock(auto_advance=True)
    async with (
        Simulator(api_key=KEY, clock=clock, running_limit=RUNNING, waiting_limit=WAITING) as sim,
        OneChatClient(api_key=KEY, base_url=sim.url, clock=clock) as client,
    ):
        made = [await client.imagine(f"early {i}") for i in range(RUNNING + WAITING)]
        assert not admission_awake(client)
        assert await client.store.unfinished() == []
        # One more: refused for a full queue, admission wakes, counts the 13 and waits.
        late = await client.imagine("late")
        assert admission_awake(client)
        # The thirteen were counted (journaled and followed to their ends), the late one too.
        for result in [*made, late]:
            assert await client.store.get_task(result.task_id) is not None
    refused = [s for s in sim.submits if s.task_id is None]
    assert len(refused) == 1
