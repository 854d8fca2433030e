"""The asyncio shell: batching, confirmation of missing ids, fallback, backoff, subscriptions."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from onechat_async import OneChatClient
from onechat_async._errors import (
    APIConnectionError,
    AuthenticationError,
    ClientClosedError,
    OneChatError,
    RateLimitError,
    ServerError,
)
from onechat_async._events import (
    Event,
    Lost,
    ProgressChanged,
    Stalled,
    StatusChanged,
    Succeeded,
    TimedOut,
    Unreadable,
)
from onechat_async._models import TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async._poller import _REPROBE_AFTER, _WARN_AFTER_FAILURES
from onechat_async.testing import ManualClock
from tests.helpers import API_KEY, ScriptedServer

from .conftest import (
    NO_JITTER,
    FakeClient,
    Step,
    collect,
    kinds,
    other_tasks,
    raw_task,
    track,
    within,
)


async def test_one_task_is_followed_to_success(client: FakeClient) -> None:
    """A task's stream shows every step once, in order, and ends after Succeeded."""
    client.add("42")
    events = await collect(track(client, "42"))
    assert kinds(events) == [
        "StatusChanged",
        "StatusChanged",
        "StatusChanged",
        "ProgressChanged",
        "ProgressChanged",
        "Succeeded",
    ]
    assert [e.status for e in events if isinstance(e, StatusChanged)] == [
        "NOT_START",
        "SUBMITTED",
        "IN_PROGRESS",
    ]
    assert [e.progress for e in events if isinstance(e, ProgressChanged)] == [20, 60]
    assert isinstance(events[-1], Succeeded)
    assert events[-1].task.progress == 100
    assert client.poller.watched == frozenset()


async def test_many_tasks_share_list_requests(clock: ManualClock) -> None:
    """250 tasks cost at most three list requests per tick, each of at most 100 ids."""
    # At the cadence alone: the refresh wait puts some tasks on a rhythm of their own.
    client = FakeClient(clock, PollPolicy(backoff=NO_JITTER, refresh_interval=None))
    ids = [client.add(str(1000 + i)) for i in range(250)]
    try:
        events = await collect(track(client, *ids))
    finally:
        await client.aclose()
    ends = [e for e in events if e.is_terminal]
    assert sorted(e.task_id for e in ends) == sorted(ids)
    assert all(len(call) <= 100 for call in client.list_calls)
    per_tick = Counter(client.list_times)
    assert max(per_tick.values()) <= math.ceil(250 / 100)
    # Every task is asked about in every tick: nobody is polled on a request of its own.
    assert len(client.list_calls) == 3 * len(per_tick)
    assert client.fetch_calls == []


async def test_missing_id_is_confirmed_by_fetch_before_lost(client: FakeClient) -> None:
    """Left out of a list answer but fetchable: tracked on; unknown to fetch: Lost."""
    client.add("7001")
    client.add("7002")
    client.omit = {"7001", "7002"}
    client.vanish("7002")
    events = await collect(track(client, "7001", "7002"))
    by_id = {e.task_id: e for e in events if e.is_terminal}
    assert isinstance(by_id["7001"], Succeeded)
    assert isinstance(by_id["7002"], Lost)
    assert by_id["7002"].task is None
    assert "7002" in client.fetch_calls


async def test_confirmation_errors_keep_the_task(client: FakeClient) -> None:
    """A failing confirmation fetch is not a loss: the task is asked about again."""
    client.add("42")
    client.omit = {"42"}
    failures = iter([APIConnectionError("reset"), ServerError("502", status=502)])
    client.fetch_fault = lambda task_id: next(failures, None)
    events = await collect(track(client, "42"))
    assert isinstance(events[-1], Succeeded)


async def test_falls_back_to_fetch_without_list_endpoint(clock: ManualClock) -> None:
    """A server without list-by-condition is polled one fetch per id, with bounded concurrency."""
    client = FakeClient(clock, PollPolicy(fetch_concurrency=3, backoff=NO_JITTER))
    client.list_missing = True
    ids = [client.add(str(i)) for i in range(10)]
    try:
        events = await collect(track(client, *ids))
    finally:
        await client.aclose()
    assert sorted(e.task_id for e in events if isinstance(e, Succeeded)) == sorted(ids)
    assert len(client.list_calls) == 1
    assert client.max_in_flight <= 3
    assert len(client.fetch_calls) > len(ids)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    srv = ScriptedServer()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        pytest.param(200, "<html><body>new-api</body></html>", "text/html", id="html-page"),
        pytest.param(404, "404 page not found", "text/plain", id="http-404"),
    ],
)
async def test_an_html_page_or_404_also_means_no_list_endpoint(
    scripted: ScriptedServer, clock: ManualClock, status: int, body: str, content_type: str
) -> None:
    """The real client reads an HTML page or a 404 on list-by-condition as "no such endpoint"."""
    scripted.reply(
        "POST", "/mj/task/list-by-condition", status=status, body=body, content_type=content_type
    )
    done = raw_task("1748339029401828", "SUCCESS", "100%")
    scripted.reply("GET", "/mj/task/1748339029401828/fetch", json_body=done)
    # No deadline and no stall alarm: nothing sleeps on the test clock while a loopback
    # request is in flight, so its time cannot jump past one.
    policy = PollPolicy(deadline=None, stall_after=None, backoff=NO_JITTER)
    async with OneChatClient(
        api_key=API_KEY, base_url=scripted.url, clock=clock, poll=policy
    ) as client:
        task = await client.wait("1748339029401828")
    assert task.status is TaskStatus.SUCCESS
    assert scripted.paths().count("/mj/task/list-by-condition") == 1
    assert scripted.paths()[-1] == "/mj/task/1748339029401828/fetch"


async def test_query_errors_back_off_and_never_escape(client: FakeClient) -> None:
    """Every other list request failing slows the poller down; no exception reaches us."""
    calls = iter(range(10_000))
    client.list_fault = lambda ids: (
        ServerError("boom", status=500) if next(calls) % 2 == 0 else None
    )
    ids = [client.add(str(i)) for i in range(30)]
    events = await collect(track(client, *ids))
    assert sorted(e.task_id for e in events if isinstance(e, Succeeded)) == sorted(ids)


async def test_a_refused_key_ends_every_stream_with_the_error(client: FakeClient) -> None:
    """A 401 while polling raises AuthenticationError from every open stream at once."""
    client.list_fault = lambda ids: AuthenticationError("无效的令牌", status=401)
    client.add("41")
    client.add("42")
    first, second = track(client, "41"), track(client, "42")
    with pytest.raises(AuthenticationError, match="无效的令牌"):
        await first.__anext__()
    with pytest.raises(AuthenticationError):
        await second.__anext__()
    assert client.poller.watched == frozenset()
    # Each stream began watching on its first read: one request each, none retried.
    assert client.list_calls == [["41"], ["42"]]


async def test_retry_after_holds_every_query(client: FakeClient, clock: ManualClock) -> None:
    """A 429 with Retry-After stops all queries until it has passed."""
    client.add("42")
    times: list[float] = []
    first = [True]

    def fault(ids: object) -> Exception | None:
        times.append(clock.now())
        if first[0]:
            first[0] = False
            return RateLimitError("slow down", status=429, retry_after=40.0)
        return None

    client.list_fault = fault
    events = await collect(track(client, "42"))
    assert isinstance(events[-1], Succeeded)
    assert times[1] - times[0] >= 40.0


async def test_a_429_holds_the_ids_it_was_not_about_too(clock: ManualClock) -> None:
    """After a 429 about some ids, no query about any id leaves before the backoff has passed."""
    client = FakeClient(clock, PollPolicy(chunk_size=1, backoff=NO_JITTER))
    refused: list[float] = []

    def fault(ids: object) -> Exception | None:
        if ids == ["101"] and not refused:
            refused.append(clock.now())
            return RateLimitError("slow down", status=429, retry_after=40.0)
        return None

    client.list_fault = fault
    client.add("101")
    client.add("102")
    try:
        events = await collect(track(client, "101", "102"))
    finally:
        await client.aclose()
    assert sorted(e.task_id for e in events if isinstance(e, Succeeded)) == ["101", "102"]
    (at,) = refused
    asked_b = [
        t for t, ids in zip(client.list_times, client.list_calls, strict=True) if ids == ["102"]
    ]
    # "b" was asked in the same tick as "a", answered fine, and then waited out the hold
    # although its own cadence (15 s for a queued task) would have come sooner.
    assert asked_b[0] == at
    assert asked_b[1] >= at + 40.0
    assert all(not at < t < at + 40.0 for t in client.list_times + client.fetch_times)


async def test_rate_cap_spaces_requests(clock: ManualClock) -> None:
    """With a cap of 2 requests a second, 6 chunks take at least 2 s of clock time."""
    policy = PollPolicy(chunk_size=10, max_requests_per_second=2, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    times: list[float] = []

    def note(ids: object) -> None:
        times.append(clock.now())

    client.list_fault = note
    ids = [client.add(str(i), [(0, "SUCCESS", "100%")]) for i in range(60)]
    try:
        await collect(track(client, *ids))
    finally:
        await client.aclose()
    assert len(times) == 6
    assert times[-1] - times[0] >= 2.0


async def test_every_subscriber_gets_every_event(client: FakeClient) -> None:
    """Two consumers of one id each get the full stream; the task is polled once per tick."""
    client.add("42")
    first, second = await asyncio.gather(collect(track(client, "42")), collect(track(client, "42")))
    assert kinds(first) == kinds(second)
    assert isinstance(first[-1], Succeeded)
    assert all(call.count("42") == 1 for call in client.list_calls)


async def test_late_subscriber_hears_where_the_task_stands(client: FakeClient) -> None:
    """One who joins mid-way first gets the current status and progress, then what follows."""
    client.add("42")
    early = track(client, "42")
    seen = []
    async for event in early:
        seen.append(event)
        if isinstance(event, ProgressChanged):
            break
    late = await collect(track(client, "42"))
    assert isinstance(late[0], StatusChanged)
    assert late[0].previous is None
    assert late[0].status == "IN_PROGRESS"
    assert isinstance(late[1], ProgressChanged)
    assert isinstance(late[-1], Succeeded)


async def test_breaking_out_stops_polling_and_leaves_no_tasks(client: FakeClient) -> None:
    """Leaving an async for unwatches the id at once; after aclose nothing is left running."""
    client.add("42")
    async for _event in track(client, "42"):
        break
    assert client.poller.watched == frozenset()
    assert len(client.poller.tracker) == 0
    await client.aclose()
    assert other_tasks() == set()


async def test_unwatched_ids_are_not_polled(client: FakeClient) -> None:
    """Once its only consumer leaves, an id is no longer asked about."""
    client.add("a")
    client.add("b", [(0, "SUBMITTED", "0%"), (100, "SUCCESS", "100%")])
    stream = track(client, "a")
    await stream.__anext__()
    await stream.aclose()
    calls_before = len(client.list_calls)
    await collect(track(client, "b"))
    assert all("a" not in call for call in client.list_calls[calls_before:])


async def test_aclose_ends_open_streams_with_an_error(client: FakeClient) -> None:
    """Closing the client makes open streams raise instead of hang, and refuses new ones."""
    client.add("42", [(0, "SUBMITTED", "0%")])
    stream = track(client, "42")
    await stream.__anext__()
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed"):
        await stream.__anext__()
    with pytest.raises(ClientClosedError, match="closed"):
        await track(client, "42").__anext__()
    assert other_tasks() == set()


async def test_stalled_then_timed_out(clock: ManualClock) -> None:
    """A stuck task raises Stalled once, keeps being tracked, then ends TimedOut."""
    client = FakeClient(clock, PollPolicy(stall_after=60, deadline=300, backoff=NO_JITTER))
    client.add("42", [(0, "SUBMITTED", "0%")])
    try:
        events = await collect(track(client, "42"))
    finally:
        await client.aclose()
    assert kinds(events) == ["StatusChanged", "Stalled", "TimedOut"]
    stalled, timed_out = events[1], events[2]
    assert isinstance(stalled, Stalled)
    assert stalled.seconds >= 60
    assert isinstance(timed_out, TimedOut)
    assert timed_out.seconds == pytest.approx(300, abs=1)
    assert timed_out.task is not None


async def test_a_callers_deadline_ends_only_its_stream(client: FakeClient) -> None:
    """track(deadline=) times out that stream; another consumer of the id goes on."""
    client.add("42", [(0, "SUBMITTED", "0%"), (200, "SUCCESS", "100%")])
    short, patient = await asyncio.gather(
        collect(track(client, "42", deadline=30)), collect(track(client, "42"))
    )
    assert isinstance(short[-1], TimedOut)
    assert short[-1].seconds == pytest.approx(30, abs=1)
    assert isinstance(patient[-1], Succeeded)


async def test_a_crashed_poller_fails_streams_instead_of_hanging(client: FakeClient) -> None:
    """A bug in the poller ends every open stream with an error naming the crash."""
    client.add("42")

    def explode(now: float) -> list[Event]:
        raise ZeroDivisionError("bug")

    client.poller.tracker.expire = explode  # type: ignore[method-assign]
    with pytest.raises(OneChatError, match="crashed"):
        await collect(track(client, "42"))


async def test_subscription_without_ids_is_finished_at_once(client: FakeClient) -> None:
    """A stream of no ids ends immediately without starting anything."""
    assert await collect(track(client)) == []
    sub = client.poller.open()
    assert sub.finished
    sub.close()
    assert not client.poller.running
    assert client.list_calls == []


# -- what the new core promises on top ------------------------------------------------------

#: Hostile fields laid over one task's snapshots, and the terminal event that task must end with.
HOSTILE: list[Any] = [
    pytest.param({"buttons": [{"customId": "x", "type": None}]}, Succeeded, id="button-type-null"),
    pytest.param({"status": {"a": 1}}, TimedOut, id="status-object"),
    pytest.param({"finishTime": float("inf")}, Succeeded, id="finish-time-1e400"),
    pytest.param({"startTime": 1e20}, Succeeded, id="start-time-1e20"),
    pytest.param({"id": "2x"}, Unreadable, id="id-unusable"),
]


@pytest.mark.parametrize(("hostile", "ending"), HOSTILE)
async def test_a_hostile_item_in_a_list_answer_stops_no_other_stream(
    clock: ManualClock, hostile: dict[str, Any], ending: type[Event]
) -> None:
    """One task's hostile snapshot ends (at worst) that task; the others' streams go on."""
    client = FakeClient(clock, PollPolicy(deadline=300, backoff=NO_JITTER))
    client.add("1")
    client.add("2")
    client.add("3")
    client.overrides["2"] = hostile
    try:
        fine, bad, also_fine = await asyncio.gather(
            collect(track(client, "1")), collect(track(client, "2")), collect(track(client, "3"))
        )
    finally:
        await client.aclose()
    assert isinstance(fine[-1], Succeeded)
    assert isinstance(also_fine[-1], Succeeded)
    assert kinds(fine) == kinds(also_fine)
    assert [type(e) for e in bad if e.is_terminal] == [ending]
    # They shared list requests, and the hostile item never cost the others their answer:
    # only the hostile task was ever asked for alone.
    assert client.list_calls[0] == ["1", "2", "3"]
    assert set(client.fetch_calls) <= {"2"}


async def test_a_hanging_list_request_does_not_delay_a_callers_deadline(
    client: FakeClient, clock: ManualClock
) -> None:
    """While a list request never answers, track(deadline=1) still ends TimedOut at t+1."""
    client.add("42")
    client.hang_lists = True
    start = clock.now()
    # The guard turns a regression into a failure instead of a hang.
    events = await within(clock, 3600, collect(track(client, "42", deadline=1)))
    assert kinds(events) == ["TimedOut"]
    assert isinstance(events[0], TimedOut)
    assert events[0].seconds == pytest.approx(1.0)
    assert clock.now() - start == pytest.approx(1.0)
    assert client.list_calls == [["42"]]
    assert client.in_flight == 1  # still hanging


@pytest.mark.parametrize("failures", [_WARN_AFTER_FAILURES - 1, _WARN_AFTER_FAILURES])
async def test_polling_trouble_is_logged_as_a_warning_after_five_failures(
    client: FakeClient, caplog: pytest.LogCaptureFixture, failures: int
) -> None:
    """The fifth failed query in a row logs one WARNING, and the recovery another; four do not."""
    caplog.set_level(logging.DEBUG, logger="onechat_async.poller")
    calls = iter(range(10_000))
    client.list_fault = lambda ids: (
        ServerError("boom", status=500) if next(calls) < failures else None
    )
    client.add("42")
    events = await collect(track(client, "42"))
    assert isinstance(events[-1], Succeeded)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if failures < _WARN_AFTER_FAILURES:
        assert warnings == []
    else:
        assert len(warnings) == 2
        assert "polling keeps failing (5 queries in a row; last: boom" in warnings[0]
        assert "polling recovered after 5 failed queries" in warnings[1]


async def test_a_status_change_at_the_same_progress_reaches_the_stream(client: FakeClient) -> None:
    """SUBMITTED "0%" then IN_PROGRESS "0%" yields StatusChanged, though progress did not move."""
    client.add(
        "42",
        [(0, "SUBMITTED", "0%"), (20, "IN_PROGRESS", "0%"), (40, "SUCCESS", "100%")],
    )
    events = await collect(track(client, "42"))
    assert kinds(events) == ["StatusChanged", "StatusChanged", "Succeeded"]
    assert [e.status for e in events if isinstance(e, StatusChanged)] == [
        TaskStatus.SUBMITTED,
        TaskStatus.IN_PROGRESS,
    ]


async def test_the_list_endpoint_is_asked_again_after_a_while(clock: ManualClock) -> None:
    """After falling back to fetches, list-by-condition is probed again after _REPROBE_AFTER."""
    client = FakeClient(clock, PollPolicy(deadline=None, stall_after=None, backoff=NO_JITTER))
    client.list_missing = True
    client.add("42", [(0, "IN_PROGRESS", "10%"), (_REPROBE_AFTER + 300, "SUCCESS", "100%")])
    try:
        events = await collect(track(client, "42"))
    finally:
        await client.aclose()
    assert isinstance(events[-1], Succeeded)
    first, second, *_ = client.list_times
    assert _REPROBE_AFTER <= second - first <= _REPROBE_AFTER + client.poller.policy.interval
    # In between, the task was fetched on its own cadence.
    between = [t for t in client.fetch_times if first < t < second]
    assert len(between) >= _REPROBE_AFTER / client.poller.policy.interval - 1


async def test_the_failure_count_resets_after_a_success(client: FakeClient) -> None:
    """Backoff grows over failures in a row, and starts small again after one success."""
    client.add("42", [(0, "SUBMITTED", "0%"), (1000, "SUCCESS", "100%")])
    outcomes = iter("xxx.x")  # x: the list request fails; then every request succeeds
    client.list_fault = lambda ids: (
        ServerError("boom", status=500) if next(outcomes, ".") == "x" else None
    )
    events = await collect(track(client, "42"))
    assert isinstance(events[-1], Succeeded)
    t = client.list_times
    gaps = [later - earlier for earlier, later in itertools.pairwise(t)]
    # 2, 4, 8 s after three failures in a row; then the success; then 2 s again, not 16.
    assert gaps[:3] == [2.0, 4.0, 8.0]
    assert gaps[4] == 2.0


async def test_a_retracked_finished_task_ends_once_for_the_new_stream(
    client: FakeClient,
) -> None:
    """Tracking a task that ended, again, gives the new stream its terminal event once."""
    client.add("42")
    client.add("43", [(0, "SUBMITTED", "0%"), (300, "SUCCESS", "100%")])
    # The first stream still follows "43" long after "42" ended. Events are read one at a
    # time: with the deadlines, a stream that failed to end yields TimedOut instead of a hang.
    first = track(client, "42", "43", deadline=600)
    async for event in first:
        if isinstance(event, Succeeded) and event.task_id == "42":
            break
    again = track(client, "42", deadline=600)
    ended = await anext(again)
    assert isinstance(ended, Succeeded)
    assert ended.task_id == "42"
    with pytest.raises(StopAsyncIteration):
        await anext(again)
    rest: list[Event] = []
    while not rest or rest[-1].task_id != "43" or not rest[-1].is_terminal:
        rest.append(await anext(first))
    with pytest.raises(StopAsyncIteration):
        await anext(first)
    assert [e for e in rest if e.task_id == "42"] == []
    assert isinstance(rest[-1], Succeeded)
    assert client.poller.watched == frozenset()
    assert len(client.poller.tracker) == 0


async def test_fetch_concurrency_caps_every_fetch_in_flight(clock: ManualClock) -> None:
    """Without list-by-condition, no more than fetch_concurrency fetches are ever in flight."""
    policy = PollPolicy(fetch_concurrency=2, deadline=None, stall_after=None, backoff=NO_JITTER)
    client = FakeClient(clock, policy)
    client.list_missing = True
    fetch = client.fetch_raw
    in_flight, peak = 0, 0

    async def slow_fetch(task_id: str) -> object:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await clock.sleep(8)  # each answer takes 8 s
            return await fetch(task_id)
        finally:
            in_flight -= 1

    client.fetch_raw = slow_fetch  # type: ignore[method-assign]
    try:
        early = asyncio.ensure_future(
            collect(track(client, *[client.add(f"1{i}") for i in "0123"]))
        )
        await clock.sleep(3)  # a second batch comes due while the first is being fetched
        late = await collect(track(client, *[client.add(f"2{i}") for i in "0123"]))
        events = await early + late
    finally:
        await client.aclose()
    assert sum(isinstance(e, Succeeded) for e in events) == 8
    assert peak <= 2, f"{peak} fetches in flight"


async def _follow_with(
    clock: ManualClock, policy: PollPolicy, steps: list[Step], tasks: int = 1
) -> tuple[FakeClient, list[str]]:
    """Follow tasks along ``steps`` to their end; the client and the kinds of their events."""
    client = FakeClient(clock, policy)
    ids = [client.add(str(4200 + i), steps) for i in range(tasks)]
    try:
        events = await within(clock, 600, collect(track(client, *ids)))
    finally:
        await client.aclose()
    return client, sorted(kinds(events))


@pytest.mark.parametrize("tasks", [1, 40])
async def test_behind_a_refreshing_server_fewer_questions_see_the_same_events(
    clock: ManualClock, caplog: pytest.LogCaptureFixture, tasks: int
) -> None:
    """Changes 15 s apart (the gateway's refresh): the same events for fewer list requests."""
    caplog.set_level(logging.INFO, logger="onechat_async.poller")
    steps: list[Step] = [
        (0, "SUBMITTED", "0%"),
        (15, "IN_PROGRESS", "10%"),
        (30, "IN_PROGRESS", "40%"),
        (45, "IN_PROGRESS", "70%"),
        (60, "SUCCESS", "100%"),
    ]
    waiting, seen = await _follow_with(
        clock, PollPolicy(backoff=NO_JITTER, fast_interval=5), steps, tasks
    )
    cadence, also_seen = await _follow_with(
        clock, PollPolicy(backoff=NO_JITTER, fast_interval=5, refresh_interval=None), steps, tasks
    )
    assert seen == also_seen
    assert len(waiting.list_calls) < len(cadence.list_calls)
    assert not waiting.poller.tracker.refresh_disproved
    assert not [r for r in caplog.records if "refresh_interval" in r.getMessage()]


async def test_a_server_that_changes_sooner_is_noticed_and_polled_at_the_cadence(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Changes 5 s apart disprove the 15 s refresh: logged once at INFO, every step still seen."""
    caplog.set_level(logging.INFO, logger="onechat_async.poller")
    steps: list[Step] = [(0, "SUBMITTED", "0%")]
    steps += [(5.0 * k, "IN_PROGRESS", f"{5 * k}%") for k in range(1, 15)]
    steps.append((75, "SUCCESS", "100%"))
    client, seen = await _follow_with(clock, PollPolicy(backoff=NO_JITTER, fast_interval=5), steps)
    told = [r for r in caplog.records if "refresh_interval" in r.getMessage()]
    assert [r.levelno for r in told] == [logging.INFO]
    assert client.poller.tracker.refresh_disproved
    assert seen.count("Succeeded") == 1
    # After the one long wait that disproved it, the task was asked every 5 s again.
    assert seen.count("ProgressChanged") >= 10
