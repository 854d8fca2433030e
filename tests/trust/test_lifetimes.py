"""Structured lifetimes: a stream stops submitting and polling as soon as its consumer leaves.

Against the simulator, over loopback, on a clock shared with the client: a fan-out of the
eight children of a grid (two submits at a time) or a tracking stream is broken out of,
cancelled, closed or dropped, with and without ``async with``. Afterwards no submit begins,
none reaches the server for the next hour of clock time beyond those already in flight
(which are cancelled), the driver is done, nothing is polled for the stream and no task is
left pending. The same scenarios run once more in a subprocess under ``PYTHONASYNCIODEBUG``,
``-X dev`` and ``-W error`` (tests/trust/lifetime_script.py).
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onechat_async import EventStream
from tests.trust.lifetime_script import (
    CONCURRENCY,
    OPENERS,
    World,
    async_with_break,
    break_out,
    cancel_consumer,
    drop_stream,
    track_break,
    tracking_stream,
    world,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def w() -> AsyncIterator[World]:
    async with world() as running:
        yield running


@pytest.mark.parametrize("after", [1, 3])
async def test_breaking_out_of_a_bare_fan_out_stops_it(w: World, after: int) -> None:
    """``async for ... : break`` without ``async with``: no submit begins or arrives after it."""
    stop = await break_out(w, after=after)
    assert stop.started_after == 0
    assert stop.reached_later == 0
    # Only the submits under way when the consumer left could still arrive; they were cancelled.
    assert stop.in_flight_at_leave <= CONCURRENCY
    assert stop.cancelled == stop.in_flight_at_leave
    assert stop.reached <= stop.started_at_leave < 8
    assert stop.drivers_done
    assert stop.watched == frozenset()


async def test_a_consumer_cancelled_in_anext_stops_the_fan_out(w: World) -> None:
    """Cancelling the consumer while it waits for an event cancels the submits in flight."""
    stop = await cancel_consumer(w)
    assert stop.started_at_leave == CONCURRENCY
    assert stop.answered_at_leave == 0
    assert stop.started_after == 0
    assert stop.cancelled == CONCURRENCY
    assert stop.reached <= CONCURRENCY
    assert stop.reached_later == 0
    assert stop.drivers_done
    assert stop.watched == frozenset()


async def test_async_with_and_break_leaves_nothing_pending(w: World) -> None:
    """Leaving ``async with`` (aclose) returns only once the driver and its submits are done."""
    stop, left = await async_with_break(w)
    assert left == set()
    assert stop.started_after == 0
    assert stop.reached_later == 0
    assert stop.cancelled == stop.in_flight_at_leave <= CONCURRENCY
    assert stop.drivers_done
    assert stop.watched == frozenset()


async def test_a_dropped_fan_out_is_freed_and_stopped_at_once(w: World) -> None:
    """With the collector off, ``del`` frees the stream and cancels its driver on the spot."""
    drop = await drop_stream(w)
    assert drop.freed
    assert drop.cancelled_at_once
    assert drop.leave.started_after == 0
    assert drop.leave.reached_later == 0
    assert drop.leave.cancelled == drop.leave.in_flight_at_leave <= CONCURRENCY
    assert drop.leave.drivers_done
    assert drop.leave.watched == frozenset()


@pytest.mark.parametrize("opener", OPENERS)
async def test_a_dropped_tracking_stream_is_freed_and_unfollowed_at_once(
    w: World, opener: str
) -> None:
    """With the collector off, ``del`` on a started tracking stream unfollows its ids at once."""
    gc.disable()
    try:
        stream: EventStream | None = await tracking_stream(w, opener)
        assert stream is not None
        await anext(stream)
        assert w.client.poller.watched
        ref = weakref.ref(stream)
        stream = None
        assert ref() is None
        assert w.client.poller.watched == frozenset()
        assert len(w.client.poller.tracker) == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("opener", OPENERS)
async def test_breaking_out_of_a_tracking_stream_stops_polling(w: World, opener: str) -> None:
    """track, track_many and submit_and_track: after ``break`` their ids are never asked about."""
    watched, tracked, asked_later = await track_break(w, opener)
    assert watched == frozenset()
    assert tracked == 0
    assert asked_later == 0


async def test_a_cancelled_submit_and_track_sends_one_submit_at_most(w: World) -> None:
    """A consumer cancelled while submit_and_track's submit is in flight leaves nothing behind."""
    stream = w.client.submit_and_track(w.client.imagine("a cancelled fox"))
    before = len(w.sim.created)
    consumer = asyncio.create_task(anext(stream))
    for _ in range(3):
        await asyncio.sleep(0)
    consumer.cancel()
    await asyncio.wait({consumer})
    assert consumer.cancelled()
    await w.sim.wait_idle(timeout=30)
    assert len(w.sim.created) - before <= 1
    assert w.client.poller.watched == frozenset()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


def test_every_scenario_holds_under_asyncio_debug_with_warnings_as_errors() -> None:
    """The script's scenarios pass under PYTHONASYNCIODEBUG, -X dev and -W error, silently."""
    env = {**os.environ, "PYTHONASYNCIODEBUG": "1"}
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-m", "tests.trust.lifetime_script"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for symptom in ("Task was destroyed but it is pending", "never awaited", "Unclosed", "Warning"):
        assert symptom not in done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("ok:")
