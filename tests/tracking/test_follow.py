"""The user-facing coroutines: wait, fan-out and the submit-and-follow shortcut."""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections import Counter

import pytest

from onechat_async import OneChatClient
from onechat_async._errors import (
    APIConnectionError,
    InvalidRequestError,
    OneChatError,
    QueueFullError,
    RateLimitError,
    ServerError,
    SubmitOutcomeUnknownError,
    SubmitRejectedError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
)
from onechat_async._events import SubmitFailed, Submitted, Succeeded
from onechat_async._follow import ALL_CHILDREN
from onechat_async._models import TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async.testing import ManualClock

from .conftest import (
    NO_JITTER,
    FakeClient,
    collect,
    fan_out,
    other_tasks,
    submit_and_track,
    wait,
    within,
)


async def test_wait_returns_the_finished_task(client: FakeClient) -> None:
    """wait() gives the SUCCESS snapshot."""
    client.add("42")
    task = await wait(client, "42")
    assert task.id == "42"
    assert task.status is TaskStatus.SUCCESS


@pytest.mark.parametrize(
    ("steps", "error", "match"),
    [
        ([(0, "SUBMITTED", "0%"), (20, "FAILURE", "")], TaskFailedError, "Invalid parameter"),
        ([(0, "SUBMITTED", "0%"), (20, "CANCEL", "")], TaskFailedError, "cancelled"),
    ],
)
async def test_wait_raises_for_failure_and_cancel(
    client: FakeClient, steps: list[tuple[float, str, str]], error: type[Exception], match: str
) -> None:
    """A task ending in FAILURE or CANCEL raises TaskFailedError carrying the snapshot."""
    client.add("42", steps)
    with pytest.raises(error, match=match) as info:
        await wait(client, "42")
    assert isinstance(info.value, TaskFailedError)
    assert info.value.task.id == "42"


async def test_wait_timeout_raises_task_timeout(client: FakeClient) -> None:
    """A timeout on the client's clock raises TaskTimeoutError, also a TimeoutError."""
    client.add("42", [(0, "SUBMITTED", "0%")])
    with pytest.raises(TimeoutError) as info:
        await wait(client, "42", timeout=45)
    assert isinstance(info.value, TaskTimeoutError)
    assert info.value.task_id == "42"
    assert info.value.task is not None
    assert client.poller.watched == frozenset()


async def test_wait_for_a_lost_task_raises_not_found(client: FakeClient) -> None:
    """A task the server no longer knows raises TaskNotFoundError."""
    with pytest.raises(TaskNotFoundError) as info:
        await wait(client, "404404")
    assert info.value.task_id == "404404"


async def test_cancelled_wait_unwatches(client: FakeClient) -> None:
    """Cancelling a wait stops polling its id and leaves only the idle poller running."""
    client.add("42", [(0, "SUBMITTED", "0%")])
    waiter = asyncio.create_task(wait(client, "42"))
    await client.listed.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert client.poller.watched == frozenset()
    await client.aclose()
    assert other_tasks() == set()


async def test_fan_out_of_eight_children_all_succeed(client: FakeClient) -> None:
    """Eight children are submitted with bounded concurrency and each reaches Succeeded."""
    events = await collect(fan_out(client, "parent", concurrency=3))
    submitted = [e for e in events if isinstance(e, Submitted)]
    assert sorted(e.op for e in submitted if e.op) == sorted(ALL_CHILDREN)
    assert all(e.parent_id == "parent" for e in submitted)
    children = {e.task_id for e in submitted}
    succeeded = [e for e in events if isinstance(e, Succeeded)]
    assert {e.task_id for e in succeeded} == children
    assert client.max_submitting <= 3
    for child in children:
        mine = [e for e in events if e.task_id == child]
        assert isinstance(mine[0], Submitted)
        assert sum(e.is_terminal for e in mine) == 1


async def test_fan_out_reports_a_failing_child_and_finishes_the_rest(client: FakeClient) -> None:
    """A refused child yields SubmitFailed; the seven others still finish."""

    def refuse_v3(parent: str, op: str, attempt: int) -> Exception | None:
        return SubmitRejectedError("invalid", code=4) if op == "V3" else None

    client.submit_fault = refuse_v3
    events = await collect(fan_out(client, "parent"))
    failed = [e for e in events if isinstance(e, SubmitFailed)]
    assert [(e.op, e.parent_id, e.task_id) for e in failed] == [("V3", "parent", "")]
    assert isinstance(failed[0].error, SubmitRejectedError)
    assert len([e for e in events if isinstance(e, Succeeded)]) == 7
    assert Counter(op for _, op in client.submits)["V3"] == 1


async def test_fan_out_backs_off_on_queue_full_and_rate_limit(client: FakeClient) -> None:
    """Queue-full and rate-limited submits are retried after the wait the server asked for."""

    def busy(parent: str, op: str, attempt: int) -> Exception | None:
        if op == "U1" and attempt == 1:
            return QueueFullError("queue full", code=23, retry_after=20.0)
        if op == "U2" and attempt <= 2:
            return RateLimitError("429", status=429, retry_after=5.0)
        return None

    client.submit_fault = busy
    events = await collect(fan_out(client, "parent", ["U1", "U2"]))
    assert Counter(op for _, op in client.submits) == {"U1": 2, "U2": 3}
    assert len([e for e in events if isinstance(e, Succeeded)]) == 2
    sent = {op: [at for kind, _, at in client.submit_times if kind == op] for op in ("U1", "U2")}
    # Each resend leaves exactly the server's wait after the refusal, not the backoff's
    # 2 s and 4 s (the clock moves only when everything waits, so the gaps are exact).
    assert [b - a for a, b in itertools.pairwise(sent["U1"])] == [20.0]
    assert [b - a for a, b in itertools.pairwise(sent["U2"])] == [5.0, 5.0]


async def test_fan_out_gives_up_after_attempts_and_never_resends_ambiguous(
    client: FakeClient,
) -> None:
    """A submit that may have reached the server is not resent; retries are bounded."""

    def fault(parent: str, op: str, attempt: int) -> Exception | None:
        if op == "U1":
            return APIConnectionError("reset after send", request_sent=True)
        return QueueFullError("queue full", retry_after=1.0)

    client.submit_fault = fault
    events = await collect(fan_out(client, "parent", ["U1", "U2"], attempts=3))
    assert sorted(e.op for e in events if isinstance(e, SubmitFailed)) == ["U1", "U2"]
    assert Counter(op for _, op in client.submits) == {"U1": 1, "U2": 3}


async def test_closing_a_fan_out_cancels_its_submits(client: FakeClient) -> None:
    """aclose() on a fan-out in progress cancels and awaits its submits."""
    async with fan_out(client, "parent", concurrency=2) as events:
        first = await events.__anext__()
        assert isinstance(first, Submitted)
    assert client.poller.watched == frozenset()
    await client.aclose()
    assert other_tasks() == set()


async def test_fan_out_arguments_are_checked() -> None:
    """Nonsense concurrency or attempts are refused before anything is sent."""
    # The client checks them (the core takes them as given); port 9 is never contacted.
    async with OneChatClient(api_key="sk-test", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(InvalidRequestError, match="concurrency"):
            client.fan_out("1748339029401828", concurrency=0)
        with pytest.raises(InvalidRequestError, match="attempts"):
            client.fan_out("1748339029401828", attempts=0)


async def test_submit_and_track_starts_with_submitted(client: FakeClient) -> None:
    """The stream opens with Submitted (the new id) and follows the task to its end."""
    events = await collect(submit_and_track(client, client.imagine("a cat")))
    assert isinstance(events[0], Submitted)
    assert events[0].op is None
    assert isinstance(events[-1], Succeeded)
    assert events[-1].task_id == events[0].task_id


async def test_submit_and_track_raises_a_failed_submit(client: FakeClient) -> None:
    """A submit that fails raises from the stream, which then ends."""
    stream = submit_and_track(client, client.imagine(""))
    with pytest.raises(Exception, match="blank prompt"):
        await stream.__anext__()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_unstarted_submit_stream_closes_its_coroutine(client: FakeClient) -> None:
    """Dropping a never-iterated submit stream sends nothing and warns about nothing."""
    stream = submit_and_track(client, client.imagine("a cat"))
    del stream
    gc.collect()
    assert client.timelines == {}


async def test_wait_uses_the_policy_deadline(clock: ManualClock) -> None:
    """Without a timeout, the policy's deadline still ends a stuck wait."""
    client = FakeClient(clock, PollPolicy(deadline=120, backoff=NO_JITTER))
    client.add("42", [(0, "IN_PROGRESS", "10%")])
    try:
        with pytest.raises(TaskTimeoutError):
            await wait(client, "42")
    finally:
        await client.aclose()


async def test_fan_out_waits_at_least_the_retry_after_before_sending_again(
    client: FakeClient,
) -> None:
    """A rate-limited child is sent again no sooner than the Retry-After the server gave."""

    def busy(parent: str, op: str, attempt: int) -> Exception | None:
        if attempt == 1:
            return RateLimitError("429", status=429, retry_after=30.0)
        return None

    client.submit_fault = busy
    events = await collect(fan_out(client, "parent", ["U1"]))
    assert [type(e) for e in events if e.is_terminal] == [Succeeded]
    (_, _, first), (_, _, second) = client.submit_times
    # The backoff alone would have waited 2 s (wait_initial, no jitter).
    assert second - first >= 30.0


REFUSED_FOR_GOOD = [
    pytest.param(
        SubmitOutcomeUnknownError("may exist", reason="connection_lost"), id="outcome-unknown"
    ),
    pytest.param(APIConnectionError("reset after send", request_sent=True), id="reset-after-send"),
    pytest.param(ServerError("502 from the gateway", status=502), id="server-error"),
    pytest.param(ServerError("empty 200 body", status=200), id="unreadable-answer"),
    pytest.param(SubmitRejectedError("invalid", code=4), id="rejected"),
]


@pytest.mark.parametrize("error", REFUSED_FOR_GOOD)
async def test_fan_out_never_resends_a_child_that_may_exist(
    client: FakeClient, error: OneChatError
) -> None:
    """A child whose submit may have created a task, or was refused for good, is sent once."""
    client.submit_fault = lambda parent, op, attempt: error if op == "U1" else None
    events = await collect(fan_out(client, "parent", ["U1", "U2"], attempts=5))
    assert client.submits.count(("parent", "U1")) == 1
    failed = [e for e in events if isinstance(e, SubmitFailed)]
    assert [(e.op, e.error) for e in failed] == [("U1", error)]
    assert [e.op for e in events if isinstance(e, Submitted)] == ["U2"]


MAY_RESEND = [
    pytest.param(QueueFullError("queue full", code=23, retry_after=5.0), id="queue-full"),
    pytest.param(RateLimitError("429", status=429, retry_after=5.0), id="rate-limited"),
    pytest.param(APIConnectionError("refused", request_sent=False), id="connection-refused"),
]


@pytest.mark.parametrize("error", MAY_RESEND)
async def test_fan_out_resends_a_child_refused_without_a_task(
    client: FakeClient, error: OneChatError
) -> None:
    """A refusal that proves no task exists (queue full, 429, refused connection) is retried."""
    client.submit_fault = lambda parent, op, attempt: error if attempt == 1 else None
    events = await collect(fan_out(client, "parent", ["U1"], attempts=5))
    assert client.submits == [("parent", "U1"), ("parent", "U1")]
    assert [type(e).__name__ for e in events if e.is_terminal] == ["Succeeded"]


async def test_fan_out_survives_a_child_whose_submit_raises_something_else(
    client: FakeClient, clock: ManualClock
) -> None:
    """A submit failing with a non-OneChatError ends that child SubmitFailed, unsent again."""
    client.submit_fault = lambda parent, op, attempt: RuntimeError("bug") if op == "U2" else None
    events = await within(
        clock, 3600, collect(fan_out(client, "parent", ["U1", "U2", "U3"], concurrency=1))
    )
    failed = [e for e in events if isinstance(e, SubmitFailed)]
    assert [e.op for e in failed] == ["U2"]
    assert isinstance(failed[0].error, OneChatError)
    assert Counter(op for _, op in client.submits) == {"U1": 1, "U2": 1, "U3": 1}
    assert sum(isinstance(e, Succeeded) for e in events) == 2
