"""Large watch sets: a rate that follows them, a pipeline of chunks, bounded inboxes, GC."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter, defaultdict
from typing import Any

import pytest

from onechat_async._errors import RateLimitError
from onechat_async._events import (
    Event,
    ProgressChanged,
    StatusChanged,
    Submitted,
    Succeeded,
)
from onechat_async._gc import GcGuard
from onechat_async._models import SubmitResult, Task, TaskStatus
from onechat_async._policy import Pacer, PollPolicy
from onechat_async._poller import COALESCE_FROM, _Inbox, _Stop
from onechat_async.testing import ManualClock

from .conftest import NO_JITTER, FakeClient, Step, collect, track, within

# -- the request rate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tracked", "policy", "expected"),
    [
        (0, PollPolicy(), 10.0),
        (1_000, PollPolicy(), 10.0),
        (10_000, PollPolicy(), 40.0),
        (50_000, PollPolicy(), 200.0),
        (100_000, PollPolicy(), 400.0),
        (1_000_000, PollPolicy(), 500.0),
        (100_000, PollPolicy(interval=10), 200.0),
        (100_000, PollPolicy(chunk_size=50), 500.0),
        (100_000, PollPolicy(max_requests_per_second=50), 50.0),
        (10, PollPolicy(max_requests_per_second=2), 2.0),
    ],
)
def test_the_request_rate_follows_the_watch_set_up_to_the_ceiling(
    tracked: int, policy: PollPolicy, expected: float
) -> None:
    """Twice chunks per interval, at least 10 and never above max_requests_per_second."""
    assert policy.request_rate(tracked) == expected


def test_a_429_halves_the_pace_and_answers_win_it_back() -> None:
    """Throttle halves the pace down to 1/64; each recover gives back 1/64 of the rate."""
    pacer = Pacer(rate=64.0)
    pacer.throttle()
    assert pacer.pace == 32.0
    for _ in range(10):
        pacer.throttle()
    assert pacer.pace == 1.0
    for _ in range(31):
        pacer.recover()
    assert pacer.pace == 32.0
    for _ in range(100):
        pacer.recover()
    assert pacer.pace == 64.0


def test_a_throttled_pacer_spaces_requests_further_apart() -> None:
    """After a 429 the same rate sends half as many requests per second."""
    pacer = Pacer(rate=2.0)
    pacer.throttle()
    assert [pacer.reserve(0.0) for _ in range(3)] == [0.0, 1.0, 2.0]


async def test_thousands_of_tasks_are_all_asked_about_within_an_interval(
    clock: ManualClock,
) -> None:
    """5,000 tasks in 500 chunks are all first asked within one interval, not at 10 req/s."""
    policy = PollPolicy(chunk_size=10, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    ids = [client.add(str(1000 + i), [(0, "IN_PROGRESS", "10%")]) for i in range(5_000)]
    stream = track(client, *ids)
    try:
        await within(clock, 60, stream.__anext__())
        asked: set[str] = set()
        while len(asked) < len(ids):
            await within(clock, 60, client.listed.wait())
            client.listed.clear()
            asked.update(i for call in client.list_calls for i in call)
        first = client.list_times[0]
        assert client.list_times[-1] - first <= policy.interval
    finally:
        await stream.aclose()
        await client.aclose()


# -- the pipeline ----------------------------------------------------------------------------


async def test_chunks_in_flight_are_bounded_and_overlap(clock: ManualClock) -> None:
    """Never more than max_in_flight list requests at once, yet more than one at a time."""
    policy = PollPolicy(chunk_size=5, max_in_flight=3, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    ids = [client.add(str(1000 + i)) for i in range(100)]
    try:
        events = await within(clock, 600, collect(track(client, *ids)))
    finally:
        await client.aclose()
    assert Counter(type(e) for e in events)[Succeeded] == 100
    assert client.max_in_flight == 3


async def test_an_answer_is_routed_while_other_chunks_are_still_in_flight(
    clock: ManualClock,
) -> None:
    """A chunk's events reach the consumer though another chunk's request still hangs."""
    policy = PollPolicy(chunk_size=1, max_in_flight=4, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    client.add("101", [(0, "IN_PROGRESS", "10%")])
    client.add("102", [(0, "SUCCESS", "100%")])
    gate = asyncio.Event()
    answered = client.list_raw

    async def slow_for_101(task_ids: list[str]) -> object:
        if "101" in task_ids:
            await gate.wait()
        return await answered(task_ids)

    client.list_raw = slow_for_101  # type: ignore[assignment,method-assign]
    stream = track(client, "101", "102")
    try:
        event = await within(clock, 10, stream.__anext__())
        assert isinstance(event, Succeeded)
        assert event.task_id == "102"
    finally:
        gate.set()
        await stream.aclose()
        await client.aclose()


async def test_an_answer_waiting_to_be_applied_keeps_its_place_in_flight(
    clock: ManualClock,
) -> None:
    """While answers wait their turn to be applied, no further chunk goes out behind them."""
    policy = PollPolicy(chunk_size=1, max_in_flight=2, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    ids = [client.add(str(1000 + i), [(0, "SUCCESS", "100%")]) for i in range(6)]
    applying = client.poller._applying
    # Answers landing faster than they are applied: here, not applied at all for a while.
    await applying.acquire()
    stream = track(client, *ids)
    consumer = asyncio.ensure_future(collect(stream))
    try:
        with pytest.raises(TimeoutError):
            await within(clock, 60, asyncio.Event().wait())
        # Two answers parsed and waiting; the other four chunks still queued, unparsed.
        assert len(client.list_calls) == 2
        applying.release()
        events = await within(clock, 600, consumer)
    finally:
        await client.aclose()
    assert Counter(type(e) for e in events)[Succeeded] == 6


async def test_queued_chunks_wait_out_a_429_hold(clock: ManualClock) -> None:
    """Chunks already queued when a 429 comes are not sent before its hold ends."""
    policy = PollPolicy(chunk_size=1, max_in_flight=1, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    ids = [client.add(str(1000 + i), [(0, "SUCCESS", "100%")]) for i in range(4)]
    refused: list[float] = []

    def once(task_ids: object) -> Exception | None:
        if refused:
            return None
        refused.append(clock.now())
        return RateLimitError("slow down", status=429, retry_after=30)

    client.list_fault = once
    try:
        await within(clock, 600, collect(track(client, *ids)))
    finally:
        await client.aclose()
    (at,) = refused
    assert [t for t in client.list_times if t < at + 30] == [at]
    assert len(client.list_times) == 5


async def test_requests_refused_together_slow_the_pace_once(clock: ManualClock) -> None:
    """Four requests in flight all answered 429 halve the pace once, not four times."""
    policy = PollPolicy(chunk_size=1, max_in_flight=4, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    ids = [client.add(str(1000 + i), [(0, "SUCCESS", "100%")]) for i in range(4)]

    def first_four(task_ids: object) -> Exception | None:
        if len(client.list_calls) > 4:
            return None
        return RateLimitError("slow down", status=429, retry_after=30)

    client.list_fault = first_four
    stream = track(client, *ids)
    try:
        await within(clock, 600, stream.__anext__())
        pace = client.poller._pacer.pace
        await within(clock, 600, collect(stream))
    finally:
        await client.aclose()
    assert len(client.list_calls) >= 8
    # Halved once, then a little won back by the answers since.
    assert policy.request_rate(4) / 2 <= pace < policy.request_rate(4)


async def test_a_saturated_pipeline_keeps_its_chunks_full(clock: ManualClock) -> None:
    """When the ceiling is below what the watch set needs, answers cause no tiny chunks."""
    policy = PollPolicy(chunk_size=10, max_in_flight=2, max_requests_per_second=10)
    client = FakeClient(clock, policy)
    ids = [client.add(str(1000 + i), [(0, "IN_PROGRESS", "10%")]) for i in range(1_000)]
    scans = [0]
    due = client.poller.tracker.due

    def counting(now: float) -> list[str]:
        scans[0] += 1
        return due(now)

    client.poller.tracker.due = counting  # type: ignore[method-assign]
    stream = track(client, *ids)
    try:
        await within(clock, 60, stream.__anext__())
        until = clock.now() + 60
        while clock.now() < until:
            await within(clock, 60, client.listed.wait())
            client.listed.clear()
    finally:
        await stream.aclose()
        await client.aclose()
    # 60 s at 10 requests a second: about 600 requests, each of a full chunk.
    assert len(client.list_calls) >= 500
    assert Counter(len(call) for call in client.list_calls) == {10: len(client.list_calls)}
    assert scans[0] <= len(client.list_calls) / 10


async def test_answers_that_land_together_are_applied_in_separate_loop_turns(
    clock: ManualClock,
) -> None:
    """Four answers landing at once are applied one per turn of the event loop, not in one."""
    policy = PollPolicy(chunk_size=1, max_in_flight=4, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    ids = [client.add(str(1000 + i), [(0, "SUCCESS", "100%")]) for i in range(4)]
    loop = asyncio.get_running_loop()
    turn = [0]
    applied_in: list[int] = []

    def tick() -> None:
        turn[0] += 1
        handle[0] = loop.call_soon(tick)

    handle = [loop.call_soon(tick)]
    on_listed = client.poller.tracker.on_listed

    def noting(*args: Any, **kwargs: Any) -> Any:
        applied_in.append(turn[0])
        return on_listed(*args, **kwargs)

    client.poller.tracker.on_listed = noting  # type: ignore[method-assign]
    try:
        await within(clock, 60, collect(track(client, *ids)))
    finally:
        handle[0].cancel()
        await client.aclose()
    assert client.max_in_flight == 4
    assert len(applied_in) == 4
    assert len(set(applied_in)) == 4


# -- bounded inboxes -------------------------------------------------------------------------


def _running(task_id: str, progress: int) -> Task:
    return Task(id=task_id, status=TaskStatus.IN_PROGRESS, progress=progress)


def _progress(task_id: str, progress: int, previous: int | None) -> ProgressChanged:
    return ProgressChanged(task_id, _running(task_id, progress), progress, previous)


async def _drain(inbox: _Inbox) -> list[Event]:
    out: list[Event] = []
    while not inbox.empty():
        item = await inbox.get()
        assert not isinstance(item, _Stop)
        out.append(item)
    return out


async def test_a_queued_progress_is_replaced_by_a_newer_one_of_the_same_task() -> None:
    """Progress 10->20->30->40 queued unread is one event 10->40, in the first one's place."""
    inbox = _Inbox(coalesce_from=0)
    inbox.put(_progress("1", 20, 10))
    inbox.put(_progress("2", 50, None))
    inbox.put(_progress("1", 30, 20))
    inbox.put(_progress("1", 40, 30))
    events = await _drain(inbox)
    assert [(e.task_id, e.progress, e.previous) for e in events] == [  # type: ignore[union-attr]
        ("1", 40, 10),
        ("2", 50, None),
    ]


async def test_a_progress_never_jumps_ahead_of_a_later_status_change_or_end() -> None:
    """After a status change or terminal event, a progress queues behind it, not in front."""
    inbox = _Inbox(coalesce_from=0)
    running = _running("1", 0)
    done = Task(id="1", status=TaskStatus.SUCCESS, progress=100)
    submitted = Submitted("1", SubmitResult(task_id="1"))
    inbox.put(submitted)
    inbox.put(_progress("1", 10, 0))
    inbox.put(StatusChanged("1", running, TaskStatus.IN_PROGRESS, TaskStatus.SUBMITTED))
    inbox.put(_progress("1", 20, 10))
    inbox.put(_progress("1", 30, 20))
    inbox.put(Succeeded("1", done))
    inbox.put(_progress("1", 100, 30))
    got = await _drain(inbox)
    assert [type(e).__name__ for e in got] == [
        "Submitted",
        "ProgressChanged",
        "StatusChanged",
        "ProgressChanged",
        "Succeeded",
        "ProgressChanged",
    ]
    assert [e.progress for e in got if isinstance(e, ProgressChanged)] == [10, 30, 100]


async def test_a_progress_taken_out_is_not_replaced_any_more() -> None:
    """Once the consumer took a progress, the next one is queued anew, not lost."""
    inbox = _Inbox(coalesce_from=0)
    inbox.put(_progress("1", 20, 10))
    assert (await _drain(inbox))[0].progress == 20  # type: ignore[union-attr]
    inbox.put(_progress("1", 30, 20))
    (event,) = await _drain(inbox)
    assert (event.progress, event.previous) == (30, 20)  # type: ignore[union-attr]


async def test_below_the_mark_every_progress_is_queued_as_it_is() -> None:
    """A consumer that keeps up (fewer than COALESCE_FROM queued) gets every progress step."""
    inbox = _Inbox()
    steps = [_progress("1", p, p - 10) for p in range(20, 20 + 10 * (COALESCE_FROM - 1), 10)]
    for event in steps:
        inbox.put(event)
    assert await _drain(inbox) == steps


async def test_past_the_mark_a_progress_is_merged_and_order_is_kept() -> None:
    """From COALESCE_FROM queued on, a task's queued progress is replaced, never reordered."""
    inbox = _Inbox()
    filler = [_progress(str(100 + i), 50, None) for i in range(COALESCE_FROM)]
    for event in filler:
        inbox.put(event)
    inbox.put(_progress("1", 20, 10))
    inbox.put(_progress("1", 30, 20))
    inbox.put(_progress("1", 40, 30))
    got = (await _drain(inbox))[COALESCE_FROM:]
    assert [(e.progress, e.previous) for e in got] == [(40, 10)]  # type: ignore[union-attr]


async def test_a_progress_queued_below_the_mark_is_not_overtaken_by_a_merged_one() -> None:
    """A plain progress queued after a mergeable one ends its merging: progress never goes back."""
    inbox = _Inbox(coalesce_from=2)
    inbox.put(_progress("9", 50, None))
    inbox.put(_progress("8", 50, None))
    inbox.put(_progress("1", 20, 10))  # mergeable: two queued
    await inbox.get()
    await inbox.get()
    inbox.put(_progress("1", 30, 20))  # one queued: queued as it is
    inbox.put(_progress("1", 40, 30))  # two queued: must not replace the 20
    got = await _drain(inbox)
    assert [e.progress for e in got] == [20, 30, 40]  # type: ignore[union-attr]


def _many_steps(steps: int) -> list[Step]:
    path: list[Step] = [(0.0, "SUBMITTED", "0%")]
    path += [(5.0 * k, "IN_PROGRESS", f"{k}%") for k in range(1, steps + 1)]
    path.append((5.0 * (steps + 1), "SUCCESS", "100%"))
    return path


async def test_a_consumer_that_never_reads_keeps_at_most_one_progress_per_task(
    clock: ManualClock,
) -> None:
    """1,000 tasks moving 30 times unread leave <= one progress per task plus status changes."""
    tasks = 1_000
    policy = PollPolicy(interval=5, fast_interval=5, backoff=NO_JITTER, stall_after=None)
    client = FakeClient(clock, policy)
    ids = [client.add(str(10_000 + i), _many_steps(30)) for i in range(tasks)]
    stream = track(client, *ids)
    first = await within(clock, 60, stream.__anext__())
    inbox = client.poller._inboxes[stream._handle.sub.id]  # type: ignore[union-attr]
    try:
        largest, until = 0, clock.now() + 140
        # 30 progress steps, 5 s apart: the consumer reads nothing for 140 s.
        while clock.now() < until:
            await within(clock, 60, client.listed.wait())
            client.listed.clear()
            largest = max(largest, len(inbox))
        # Each task: its status changes (SUBMITTED, IN_PROGRESS) and at most one progress.
        assert largest <= 3 * tasks
        assert len(client.list_calls) >= 25 * tasks / 100
        events = [first, *await within(clock, 600, collect(stream))]
    finally:
        await stream.aclose()
        await client.aclose()
    per_task: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        per_task[event.task_id].append(event)
    assert len(per_task) == tasks
    for seen in per_task.values():
        assert sum(e.is_terminal for e in seen) == 1
        assert seen[-1].is_terminal
        progress = [e.progress for e in seen if isinstance(e, ProgressChanged)]
        assert progress == sorted(progress)


# -- garbage collection ----------------------------------------------------------------------


@pytest.fixture
def clean_gc() -> object:
    """No freeze and no callback of ours before or after the test."""
    assert gc.get_freeze_count() == 0
    yield None
    gc.unfreeze()


def engaged(guard: GcGuard) -> bool:
    """Whether ``guard`` is engaged (a call, so that a type checker does not narrow it)."""
    return guard.engaged


def test_a_large_watch_set_freezes_after_full_collections_and_lets_go_below_half(
    clean_gc: object,
) -> None:
    """Over the threshold a full collection is followed by a freeze; under half, unfreeze."""
    guard = GcGuard(100)
    guard.update(99)
    gc.collect()
    guard.update(99)
    assert gc.get_freeze_count() == 0
    guard.update(100)
    assert engaged(guard)
    keep = [[i] for i in range(1_000)]
    gc.collect()
    guard.update(60)
    assert gc.get_freeze_count() >= len(keep)
    guard.update(49)
    assert not engaged(guard)
    assert gc.get_freeze_count() == 0


def test_a_young_collection_alone_means_no_freeze_and_none_means_never(clean_gc: object) -> None:
    """The youngest generation's passes freeze nothing, the middle one's do; None never engages."""
    guard = GcGuard(10)
    guard.update(10)
    keep = [[i] for i in range(1_000)]
    gc.collect(0)
    guard.update(10)
    assert gc.get_freeze_count() == 0
    gc.collect(1)
    guard.update(10)
    assert gc.get_freeze_count() >= len(keep)
    guard.release()
    never = GcGuard(None)
    never.update(10**9)
    assert not never.engaged


def test_a_process_that_froze_objects_itself_is_left_alone(clean_gc: object) -> None:
    """If something else froze objects already, the guard neither freezes nor unfreezes."""
    gc.freeze()
    frozen = gc.get_freeze_count()
    guard = GcGuard(1)
    guard.update(5)
    assert not guard.engaged
    guard.release()
    assert gc.get_freeze_count() == frozen
