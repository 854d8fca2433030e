"""The test clocks: ManualClock moves only when told, ScaledClock runs faster than real time."""

from __future__ import annotations

import asyncio
import time

import pytest

from onechat_async.testing import ManualClock, ScaledClock


def test_manual_clock_moves_only_by_advance() -> None:
    """now() and wall() stay put until advance(), then move together."""
    clock = ManualClock(start_wall=1_000.0)
    assert (clock.now(), clock.wall()) == (0.0, 1_000.0)
    clock.advance(2.5)
    assert (clock.now(), clock.wall()) == (2.5, 1_002.5)


def test_manual_clock_refuses_to_go_back() -> None:
    """A negative advance is a bug in the test, so it raises."""
    with pytest.raises(ValueError, match="never goes back"):
        ManualClock().advance(-1)


async def test_manual_sleep_returns_once_advanced_past_the_deadline() -> None:
    """A sleeper wakes only when the clock passes its deadline, not before."""
    clock = ManualClock()
    sleeper = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    clock.advance(9)
    await asyncio.sleep(0)
    assert not sleeper.done()
    assert clock.sleepers == 1
    clock.advance(1)
    await asyncio.wait_for(sleeper, 1)
    assert clock.sleepers == 0


async def test_manual_sleep_can_be_cancelled() -> None:
    """A cancelled sleeper is dropped quietly when the clock later passes its deadline."""
    clock = ManualClock()
    sleeper = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    clock.advance(10)
    assert clock.sleepers == 0


async def test_auto_advance_moves_the_clock_itself() -> None:
    """With auto_advance a sleep jumps the clock forward and returns at once."""
    clock = ManualClock(auto_advance=True)
    await clock.sleep(3600)
    await clock.sleep(0)
    assert clock.now() == 3600
    assert "auto_advance=True" in repr(clock)


async def test_auto_advance_wakes_every_sleeper_in_turn() -> None:
    """A sleeper later than one that never sleeps again still wakes, at its own deadline."""
    clock = ManualClock(auto_advance=True)
    woke: list[float] = []

    async def nap(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.now())

    first, second = asyncio.create_task(nap(10)), asyncio.create_task(nap(20))
    # Nobody sleeps after the first wakes: the clock must move on to the second by itself.
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert woke == [10, 20]


async def test_auto_advance_holds_still_while_busy() -> None:
    """While someone holds busy() time does not move; it jumps once the work is done."""
    clock = ManualClock(auto_advance=True)
    sleeper = asyncio.create_task(clock.sleep(30))
    work_done = asyncio.Event()
    with clock.busy():
        # Real work in flight (a request on loopback), simulated by a 20 ms timer: the loop
        # is idle meanwhile, which alone would let the clock jump.
        asyncio.get_running_loop().call_later(0.02, work_done.set)
        await work_done.wait()
        assert (clock.now(), sleeper.done()) == (0, False)
    await asyncio.wait_for(sleeper, 1)
    assert clock.now() == 30


async def test_record_keeps_every_wait_asked_for() -> None:
    """record=True lists each sleep's seconds in order, zero ones too; without it, it refuses."""
    clock = ManualClock(auto_advance=True, record=True)
    await clock.sleep(0.5)
    await clock.sleep(0)
    await clock.sleep(7)
    assert clock.slept == [0.5, 0, 7]
    assert clock.now() == 7.5
    with pytest.raises(RuntimeError, match="record=True"):
        _ = ManualClock().slept


async def test_record_is_bounded() -> None:
    """A long run keeps only the latest 10,000 waits."""
    clock = ManualClock(record=True)
    for i in range(10_005):
        await clock.sleep(-i)
    assert len(clock.slept) == 10_000
    assert clock.slept[0] == -5


async def test_settle_runs_what_is_ready_and_moves_no_time() -> None:
    """settle() returns once a chain of ready work is done, without moving an auto clock."""
    clock = ManualClock(auto_advance=True)
    sleeper = asyncio.create_task(clock.sleep(60))
    done: list[int] = []

    async def chain(n: int) -> None:
        for i in range(n):
            await asyncio.sleep(0)
            done.append(i)

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(chain(50)))
    await clock.settle()
    assert done == list(range(50))
    assert (clock.now(), sleeper.done(), clock.sleepers) == (0, False, 1)
    await sleeper
    assert clock.now() == 60


async def test_wait_for_sleepers_returns_once_enough_block_on_the_clock() -> None:
    """wait_for_sleepers(n) waits until n coroutines sleep on the clock; at once if they do."""
    clock = ManualClock()
    waiter = asyncio.create_task(clock.wait_for_sleepers(2))
    first = asyncio.create_task(clock.sleep(5))
    await clock.settle()
    assert not waiter.done()
    second = asyncio.create_task(clock.sleep(5))
    await asyncio.wait_for(waiter, 1)
    await asyncio.wait_for(clock.wait_for_sleepers(1), 1)
    clock.advance(5)
    await asyncio.gather(first, second)


async def test_scaled_clock_runs_speed_times_faster() -> None:
    """At speed 1000 a 20 s clock sleep takes about 20 ms of real time."""
    clock = ScaledClock(1000, start_wall=5_000.0)
    started, wall = time.monotonic(), clock.wall()
    await clock.sleep(20)
    real = time.monotonic() - started
    assert 0.015 <= real < 1.0
    assert clock.now() >= 20
    assert clock.wall() - wall >= 20
    assert repr(clock) == "ScaledClock(speed=1000.0)"


def test_scaled_clock_needs_a_positive_speed() -> None:
    """A zero speed would freeze time forever."""
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)
