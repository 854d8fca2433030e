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
