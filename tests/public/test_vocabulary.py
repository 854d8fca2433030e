"""The public vocabulary: op on fan-out events, one way to match failures, per-call timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import onechat_async
from onechat_async import (
    FAILURE_EVENTS,
    TASK_FAILURES,
    APITimeoutError,
    Cancelled,
    Failed,
    InvalidRequestError,
    Lost,
    OneChatClient,
    OneChatError,
    PollPolicy,
    RetryPolicy,
    ServerError,
    SubmitFailed,
    SubmitOutcomeUnknownError,
    Submitted,
    Succeeded,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
    TimedOut,
    Unreadable,
)
from onechat_async.testing import Fault, ManualClock, ScaledClock, Simulator, Timings
from tests.helpers import API_KEY, ScriptedServer

KEY = "sk-test"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A gateway whose minutes pass in milliseconds."""
    async with Simulator(api_key=KEY, clock=ScaledClock(speed=1000)) as simulator:
        yield simulator


async def test_every_child_event_names_its_op(sim: Simulator) -> None:
    """Each event of a fan-out child carries the op that made it, from Submitted to the end."""
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock) as client:
        grid = await client.submit_and_wait(client.imagine("a cat"), deadline=600)
        events = [e async for e in client.fan_out(grid.id, ["U1", "V3"], deadline=600)]
    children = {e.task_id: e.op for e in events if isinstance(e, Submitted)}
    assert sorted(str(op) for op in children.values()) == ["U1", "V3"]
    assert all(e.op == children[e.task_id] for e in events)
    assert {e.op for e in events if isinstance(e, Succeeded)} == {"U1", "V3"}
    assert len(events) > 4  # progress and status events were named too, not only the ends


async def test_events_of_plain_tracking_have_no_op(sim: Simulator) -> None:
    """A task that is not a fan-out child has op None on every event."""
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock) as client:
        events = [e async for e in client.submit_and_track(client.imagine("a cat"))]
    assert events
    assert all(e.op is None for e in events)


async def test_a_failed_child_is_named_by_parent_and_op(sim: Simulator) -> None:
    """SubmitFailed names the child by parent_id and op, and claims no task id."""
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock) as client:
        grid = await client.submit_and_wait(client.imagine("a cat"), deadline=600)
        sim.inject(Fault(endpoint="simple-change", kind="reset", count=1))
        events = [e async for e in client.fan_out(grid.id, ["U2"], deadline=600)]
    [failed] = events
    assert isinstance(failed, SubmitFailed)
    assert (failed.parent_id, failed.op, failed.task_id) == (grid.id, "U2", "")
    assert isinstance(failed.error, SubmitOutcomeUnknownError)
    assert isinstance(failed, FAILURE_EVENTS)


async def test_fan_out_deadline_ends_unfinished_children() -> None:
    """fan_out(deadline=) ends children still running then with TimedOut, named by op."""
    # Variations take an hour here: the deadline passes while the child runs, and leaves
    # a loaded machine ample time to submit it first.
    slow = Simulator(
        api_key=KEY,
        clock=ScaledClock(speed=1000),
        timings=Timings(variation=3600, task_timeout=7200),
    )
    async with slow, OneChatClient(api_key=KEY, base_url=slow.url, clock=slow.clock) as client:
        grid = await client.submit_and_wait(client.imagine("a cat"), deadline=600)
        events = [e async for e in client.fan_out(grid.id, ["V1"], deadline=600)]
    ends = [e for e in events if e.is_terminal]
    assert [type(e) for e in ends] == [TimedOut]
    assert ends[0].op == "V1"


def test_failure_events_are_every_terminal_event_but_success() -> None:
    """FAILURE_EVENTS holds exactly the terminal event classes other than Succeeded."""
    terminal = {
        cls
        for name in onechat_async.__all__
        if isinstance(cls := getattr(onechat_async, name), type)
        and getattr(cls, "is_terminal", False) is True
    }
    assert set(FAILURE_EVENTS) == terminal - {Succeeded}
    assert set(FAILURE_EVENTS) == {Failed, Cancelled, TimedOut, Lost, Unreadable, SubmitFailed}


RUNNING = {"id": "17", "status": "IN_PROGRESS"}


@pytest.mark.parametrize(
    ("lists", "raised"),
    [
        pytest.param(
            [[{"id": "17", "status": "FAILURE", "failReason": "banned"}]],
            TaskFailedError,
            id="failure",
        ),
        pytest.param([[{"id": "17", "status": "CANCEL"}]], TaskFailedError, id="cancel"),
        pytest.param([[RUNNING]], TaskTimeoutError, id="deadline"),
        pytest.param([[RUNNING], []], TaskNotFoundError, id="forgotten"),
        pytest.param([[RUNNING], []], ServerError, id="unreadable"),
    ],
)
async def test_task_failures_catch_what_wait_raises(
    server: ScriptedServer,
    clock: ManualClock,
    lists: list[list[dict[str, Any]]],
    raised: type[OneChatError],
) -> None:
    """Every way wait() reports a task without an image is caught by except TASK_FAILURES."""
    for body in lists:
        server.reply("POST", "/mj/task/list-by-condition", json_body=body)
    # The bare Java proxy's answer for an id it does not know is an empty 200; a JSON
    # string cannot be read as a task.
    fetched = b'"not a task"' if raised is ServerError else b""
    server.reply("GET", "/mj/task/17/fetch", body=fetched)
    async with OneChatClient(
        api_key=API_KEY, base_url=server.url, clock=clock, poll=PollPolicy(deadline=3600)
    ) as client:
        with pytest.raises(TASK_FAILURES) as info:
            # Long enough for a forgotten task's grace, short for the one still running.
            await client.wait("17", deadline=1800)
    assert type(info.value) is raised


SLOW_CALLS: list[Any] = [
    pytest.param(
        "POST", "/mj/submit/imagine", lambda c: c.imagine("x", timeout=0.05), id="imagine"
    ),
    pytest.param(
        "POST",
        "/mj/submit/simple-change",
        lambda c: c.simple_change("17", "U1", timeout=0.05),
        id="simple_change",
    ),
    pytest.param(
        "POST",
        "/mj/submit/action",
        lambda c: c.action("17", "MJ::JOB::upsample::1::h", timeout=0.05),
        id="action",
    ),
    pytest.param("GET", "/mj/task/17/fetch", lambda c: c.fetch("17", timeout=0.05), id="fetch"),
    pytest.param(
        "POST",
        "/mj/task/list-by-condition",
        lambda c: c.list_tasks(["17"], timeout=0.05),
        id="list_tasks",
    ),
    pytest.param("POST", "/mj/task/17/cancel", lambda c: c.cancel("17", timeout=0.05), id="cancel"),
]


@pytest.mark.parametrize(("method", "path", "call"), SLOW_CALLS)
async def test_a_per_call_timeout_overrides_the_clients(
    server: ScriptedServer,
    method: str,
    path: str,
    call: Callable[[OneChatClient], Awaitable[object]],
) -> None:
    """timeout= on a call bounds its request, however long the client's own timeouts are."""
    server.reply(method, path, json_body={"code": 1, "result": "18"}, delay=0.5)
    async with OneChatClient(
        api_key=API_KEY,
        base_url=server.url,
        timeout=60,
        submit_timeout=60,
        retry=RetryPolicy.off(),
    ) as client:
        with pytest.raises((APITimeoutError, SubmitOutcomeUnknownError)) as info:
            await asyncio.wait_for(call(client), timeout=10)
    assert "0.05" in str(info.value) or getattr(info.value, "reason", None) == "timeout"


@pytest.mark.parametrize("value", [0, -1, "5", float("nan"), True])
async def test_a_bad_per_call_timeout_sends_nothing(server: ScriptedServer, value: object) -> None:
    """A per-call timeout that is not a positive duration is refused before sending."""
    async with OneChatClient(api_key=API_KEY, base_url=server.url) as client:
        with pytest.raises(InvalidRequestError, match="timeout"):
            await client.imagine("x", timeout=value)  # type: ignore[arg-type]
    assert server.seen == []


async def test_children_not_yet_sent_at_the_deadline_are_never_sent(
    server: ScriptedServer, clock: ManualClock
) -> None:
    """A child whose retry falls after fan_out's deadline is not submitted: SubmitFailed."""
    # Refused with "come back in 30 s": past the 20 s deadline.
    server.reply(
        "POST",
        "/mj/submit/simple-change",
        status=429,
        json_body={"code": 30, "description": "slow down"},
        headers={"Retry-After": "30"},
    )
    async with OneChatClient(api_key=API_KEY, base_url=server.url, clock=clock) as client:
        events = [e async for e in client.fan_out("17", ["U1"], deadline=20)]
    [failed] = events
    assert isinstance(failed, SubmitFailed)
    assert failed.op == "U1"
    assert isinstance(failed.error, TaskTimeoutError)
    assert server.paths() == ["/mj/submit/simple-change"]  # nothing sent after the deadline
