"""The asyncio shell: batching, confirmation of missing ids, fallback, backoff, subscriptions."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

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
)
from onechat_async._follow import track, track_many
from onechat_async._policy import PollPolicy
from onechat_async._poller import Poller, Subscription

from .conftest import FakeClient, FakeClock


async def collect(stream: object) -> list[Event]:
    return [event async for event in stream]  # type: ignore[attr-defined]


def kinds(events: list[Event]) -> list[str]:
    return [type(event).__name__ for event in events]


def other_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


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
    assert client._poller.watched == frozenset()


async def test_many_tasks_share_list_requests(client: FakeClient) -> None:
    """250 tasks cost at most three list requests per tick, each of at most 100 ids."""
    ids = [client.add(str(1000 + i)) for i in range(250)]
    events = await collect(track_many(client, ids))
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
    events = await collect(track_many(client, ["7001", "7002"]))
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


async def test_falls_back_to_fetch_without_list_endpoint(clock: FakeClock) -> None:
    """A 404 on list-by-condition switches to one fetch per id with bounded concurrency."""
    client = FakeClient(clock, PollPolicy(fetch_concurrency=3, backoff_jitter=0))
    client.list_fault = lambda ids: ServerError("not found", status=404, retryable=False)
    ids = [client.add(str(i)) for i in range(10)]
    try:
        events = await collect(track_many(client, ids))
    finally:
        await client.aclose()
    assert sorted(e.task_id for e in events if isinstance(e, Succeeded)) == sorted(ids)
    assert len(client.list_calls) == 1
    assert client.max_in_flight <= 3
    assert len(client.fetch_calls) > len(ids)


async def test_html_page_also_means_no_list_endpoint(client: FakeClient) -> None:
    """An HTML page (a ServerError that retrying cannot fix) also triggers the fallback."""
    client.list_fault = lambda ids: ServerError("HTML page", status=200, retryable=False)
    client.add("42")
    events = await collect(track(client, "42"))
    assert isinstance(events[-1], Succeeded)
    assert len(client.list_calls) == 1


async def test_query_errors_back_off_and_never_escape(client: FakeClient) -> None:
    """Every other list request failing slows the poller down; no exception reaches us."""
    calls = iter(range(10_000))
    client.list_fault = lambda ids: (
        ServerError("boom", status=500) if next(calls) % 2 == 0 else None
    )
    ids = [client.add(str(i)) for i in range(30)]
    events = await collect(track_many(client, ids))
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
    assert client._poller.watched == frozenset()
    # Each stream began watching on its first read: one request each, none retried.
    assert client.list_calls == [["41"], ["42"]]


async def test_retry_after_holds_every_query(client: FakeClient, clock: FakeClock) -> None:
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


async def test_rate_cap_spaces_requests(clock: FakeClock) -> None:
    """With a cap of 2 requests a second, 6 chunks take at least 2 s of clock time."""
    policy = PollPolicy(chunk_size=10, max_requests_per_second=2, backoff_jitter=0)
    client = FakeClient(clock, policy)
    times: list[float] = []
    client.list_fault = lambda ids: times.append(clock.now())
    ids = [client.add(str(i), [(0, "SUCCESS", "100%")]) for i in range(60)]
    try:
        await collect(track_many(client, ids))
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
    assert client._poller.watched == frozenset()
    assert len(client._poller.tracker) == 0
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


async def test_stalled_then_timed_out(clock: FakeClock) -> None:
    """A stuck task raises Stalled once, keeps being tracked, then ends TimedOut."""
    client = FakeClient(clock, PollPolicy(stall_after=60, deadline=300, backoff_jitter=0))
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

    client._poller.tracker.expire = explode  # type: ignore[method-assign]
    with pytest.raises(OneChatError, match="crashed"):
        await collect(track(client, "42"))


async def test_subscription_without_ids_is_finished_at_once(client: FakeClient) -> None:
    """An empty track_many ends immediately without starting anything."""
    assert await collect(track_many(client, [])) == []
    sub = Subscription(client._poller)
    assert sub.finished
    assert isinstance(client._poller, Poller)
