"""Bad input from the caller: a OneChatError with a sentence that says what to do, sent nowhere.

Durations that are zero, negative, NaN, infinite or not numbers; counts that are not whole
numbers; arguments of the wrong type; one id where a list belongs and the other way round;
keys that would break a header; a borrowed session that was closed; a client used from a
second event loop or after it was closed. Each must raise :class:`InvalidRequestError` or
:class:`ClientClosedError` (never a bare TypeError, AttributeError, ValueError or
RuntimeError), name what was wrong, and leave the server untouched.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import attrs
import pytest

from onechat_async import (
    Backoff,
    ClientClosedError,
    EventStream,
    InvalidRequestError,
    OneChatClient,
    OneChatError,
    PollPolicy,
    RetryPolicy,
    SubmitFailed,
)
from onechat_async.testing import ManualClock, Simulator

KEY = "sk-trust"
#: A well-formed id: nothing here may reach the server to find out it does not exist.
ID = "1749945600000359"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
Call = Callable[[Any], object]
#: A call given the client and the bad value.
Valued = Callable[[Any, Any], object]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(api_key=KEY, clock=ManualClock(auto_advance=True)) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[OneChatClient]:
    async with OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock) as c:
        yield c


async def refusal(call: Callable[[], object]) -> OneChatError:
    """The OneChatError ``call()`` raises, called or awaited; anything else escapes."""
    try:
        result = call()
        if inspect.isawaitable(result):
            await result
    except OneChatError as error:
        return error
    raise AssertionError(f"accepted: {result!r}")


def assert_says(error: OneChatError, kind: type[OneChatError], *fragments: str) -> None:
    """``error`` is exactly ``kind`` (a OneChatError) and its sentence holds every fragment."""
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    assert isinstance(error, OneChatError)
    for fragment in fragments:
        assert fragment in str(error), f"{fragment!r} not in {str(error)!r}"


# -- durations ------------------------------------------------------------------------------

OUT_OF_RANGE = "must be a finite number of seconds"
NOT_A_NUMBER = "must be seconds (a number) or a timedelta"
#: Values no duration accepts, and the words of the refusal.
BAD_DURATIONS = [
    pytest.param(-1, OUT_OF_RANGE, id="negative"),
    pytest.param(math.nan, OUT_OF_RANGE, id="nan"),
    pytest.param(math.inf, OUT_OF_RANGE, id="inf"),
    pytest.param(-math.inf, OUT_OF_RANGE, id="-inf"),
    pytest.param(timedelta(seconds=-1), OUT_OF_RANGE, id="negative_timedelta"),
    pytest.param("5", NOT_A_NUMBER, id="str"),
    pytest.param(True, NOT_A_NUMBER, id="bool"),
    pytest.param([1], NOT_A_NUMBER, id="list"),
]
#: Zero too, for the durations that must be above zero.
ZERO_DURATIONS = [
    pytest.param(0, OUT_OF_RANGE, id="zero"),
    pytest.param(0.0, OUT_OF_RANGE, id="zero_float"),
    pytest.param(timedelta(0), OUT_OF_RANGE, id="zero_timedelta"),
]


def _policy(kind: type[Any], field: str) -> Valued:
    return lambda _, value: kind(**{field: value})


#: Every place a caller hands over a duration: (name in the sentence, call, zero allowed).
DURATIONS: dict[str, tuple[str, Valued, bool]] = {
    "client.timeout": (
        "timeout",
        lambda _, v: OneChatClient(api_key=KEY, base_url="http://127.0.0.1:9", timeout=v),
        False,
    ),
    "client.submit_timeout": (
        "submit_timeout",
        lambda _, v: OneChatClient(api_key=KEY, base_url="http://127.0.0.1:9", submit_timeout=v),
        False,
    ),
    "track.deadline": ("deadline", lambda c, v: c.track(ID, deadline=v), False),
    "track_many.deadline": ("deadline", lambda c, v: c.track_many([ID], deadline=v), False),
    "wait.deadline": ("deadline", lambda c, v: c.wait(ID, deadline=v), False),
    "image_seed.timeout": ("timeout", lambda c, v: c.image_seed(ID, timeout=v), False),
    **{
        f"PollPolicy.{field}": (field, _policy(PollPolicy, field), field == "batch_window")
        for field in (
            "interval",
            "fast_interval",
            "queued_interval",
            "batch_window",
            "max_requests_per_second",
            "deadline",
            "stall_after",
        )
    },
    **{
        f"RetryPolicy.{field}": (field, _policy(RetryPolicy, field), field.startswith("wait_"))
        for field in ("timeout", "wait_initial", "wait_max", "wait_jitter", "retry_after_max")
    },
    **{
        f"Backoff.{field}": (field, _policy(Backoff, field), field.startswith("wait_"))
        for field in ("wait_initial", "wait_max", "wait_jitter", "retry_after_max")
    },
}


def _duration_cases() -> list[Any]:
    cases = []
    for target, (_, _, zero_ok) in DURATIONS.items():
        values = BAD_DURATIONS if zero_ok else [*ZERO_DURATIONS, *BAD_DURATIONS]
        for value in values:
            bad, says = value.values
            cases.append(pytest.param(target, bad, says, id=f"{target}-{value.id}"))
    return cases


@pytest.mark.parametrize(("target", "value", "says"), _duration_cases())
async def test_bad_duration_is_refused_before_sending(
    sim: Simulator, client: OneChatClient, target: str, value: object, says: str
) -> None:
    """A zero, negative, NaN, infinite or mistyped duration is an InvalidRequestError naming it."""
    name, call, _ = DURATIONS[target]
    error = await refusal(lambda: call(client, value))
    # A timedelta is shown as given or in seconds (the policies convert it first).
    shown = () if isinstance(value, timedelta) else (f"got {value!r}",)
    assert_says(error, InvalidRequestError, f"{name} {says}", *shown)
    assert sim.counters["total"] == 0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(
            lambda c, s: c.submit_and_wait(s, deadline=0), "deadline", id="submit_and_wait"
        ),
        pytest.param(
            lambda c, s: c.submit_and_track(s, deadline=0), "deadline", id="submit_and_track"
        ),
    ],
)
async def test_bad_submit_follow_duration_is_refused_before_sending(
    sim: Simulator, client: OneChatClient, call: Valued, name: str
) -> None:
    """submit_and_wait/submit_and_track with a zero duration are refused; nothing is sent."""
    submit = client.imagine("a cat")
    try:
        error = await refusal(lambda: call(client, submit))
    finally:
        submit.close()
    assert_says(error, InvalidRequestError, f"{name} must be a finite number of seconds")
    assert sim.counters["total"] == 0


# "pass None for no limit" is advice; it must be given exactly where None works.
NONE_ADVICE = [
    "track.deadline",
    "track_many.deadline",
    "wait.deadline",
    "PollPolicy.deadline",
    "PollPolicy.stall_after",
]
NO_NONE = [
    "client.timeout",
    "client.submit_timeout",
    "image_seed.timeout",
    "PollPolicy.interval",
    "PollPolicy.fast_interval",
    "PollPolicy.queued_interval",
    "PollPolicy.max_requests_per_second",
    "RetryPolicy.timeout",
    "RetryPolicy.retry_after_max",
    "Backoff.retry_after_max",
]


@pytest.mark.parametrize("target", NO_NONE)
async def test_no_advice_to_pass_none_where_none_is_refused(
    client: OneChatClient, target: str
) -> None:
    """A duration that has no "no limit" says nothing about None when zero is refused."""
    _, call, _ = DURATIONS[target]
    error = await refusal(lambda: call(client, 0))
    assert "pass None" not in str(error)
    refused = await refusal(lambda: call(client, None))
    assert isinstance(refused, InvalidRequestError)


@pytest.mark.parametrize("target", NONE_ADVICE)
async def test_advice_to_pass_none_works(client: OneChatClient, target: str) -> None:
    """Where a refused zero duration says "pass None for no limit", None is accepted."""
    _, call, _ = DURATIONS[target]
    error = await refusal(lambda: call(client, 0))
    assert "pass None for no limit" in str(error)
    try:
        result = call(client, None)
        if inspect.isawaitable(result):
            # wait and image_seed ask about an unknown task: any answer but a refusal will do.
            result = await asyncio.wait_for(result, timeout=10)
    except InvalidRequestError as refused:
        raise AssertionError(f"None refused too: {refused}") from None
    except OneChatError:
        return
    if isinstance(result, OneChatClient | EventStream):
        await result.aclose()


# -- counts ---------------------------------------------------------------------------------

BAD_COUNTS = [0, -1, 1.5, 2.0, "2", True, None]
COUNTS: dict[str, tuple[str, Valued]] = {
    "fan_out.concurrency": ("concurrency", lambda c, v: c.fan_out(ID, concurrency=v)),
    "fan_out.attempts": ("attempts", lambda c, v: c.fan_out(ID, attempts=v)),
    "RetryPolicy.attempts": ("attempts", _policy(RetryPolicy, "attempts")),
    "PollPolicy.fetch_concurrency": ("fetch_concurrency", _policy(PollPolicy, "fetch_concurrency")),
    "PollPolicy.chunk_size": ("chunk_size", _policy(PollPolicy, "chunk_size")),
}


@pytest.mark.parametrize("value", BAD_COUNTS, ids=repr)
@pytest.mark.parametrize("target", COUNTS)
async def test_bad_count_is_refused_before_sending(
    sim: Simulator, client: OneChatClient, target: str, value: object
) -> None:
    """A count that is not a whole number of at least one is an InvalidRequestError naming it."""
    name, call = COUNTS[target]
    error = await refusal(lambda: call(client, value))
    assert_says(error, InvalidRequestError, f"{name} must be a whole number of at least 1")
    assert sim.counters["total"] == 0


async def test_chunk_size_above_a_hundred_is_refused() -> None:
    """list-by-condition takes at most 100 ids, so chunk_size=101 says so."""
    error = await refusal(lambda: PollPolicy(chunk_size=101))
    assert_says(error, InvalidRequestError, "chunk_size must be at most 100")


# -- wrong types, and one id where a list belongs (or the other way round) ------------------

DIGITS = "task id must be a string of digits"
ONE_NOT_LIST = "takes a list of ids, not one id"


@attrs.frozen
class Misuse:
    """A call with a wrong argument, and the words its refusal must contain."""

    call: Call
    says: str


def _fetching(task_id: object) -> Call:
    return lambda c: c.fetch(task_id)


MISUSES = [
    # prompts, images and options of the wrong type
    pytest.param(Misuse(lambda c: c.imagine(5), "non-blank prompt"), id="imagine(prompt=5)"),
    pytest.param(Misuse(lambda c: c.imagine(None), "non-blank prompt"), id="imagine(None)"),
    pytest.param(Misuse(lambda c: c.imagine(b"a cat"), "non-blank prompt"), id="imagine(bytes)"),
    pytest.param(Misuse(lambda c: c.shorten(5), "non-blank prompt"), id="shorten(5)"),
    pytest.param(
        Misuse(lambda c: c.imagine("a", images="cat.png"), "pass a list of images"),
        id="imagine(images=str)",
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", images=[5]), "an image must be bytes, a path"),
        id="imagine(images=[5])",
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", images=None), "pass a list of images"),
        id="imagine(images=None)",
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", images=5), "pass a list of images"),
        id="imagine(images=5)",
    ),
    # Empty but not a list: the no-images shortcut must not wave these through.
    pytest.param(
        Misuse(lambda c: c.imagine("a", images=""), "pass a list of images"),
        id="imagine(images='')",
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", images=b""), "pass a list of images"),
        id="imagine(images=b'')",
    ),
    pytest.param(
        Misuse(lambda c: c.blend(None), "pass a list of images"),
        id="blend(None)",
    ),
    pytest.param(
        Misuse(lambda c: c.blend(PNG), "pass a list of images"), id="blend(one image bytes)"
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", state=5), "state must be a str"), id="imagine(state=5)"
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", notify_hook=5), "notify_hook must be an http(s) URL"),
        id="imagine(notify_hook=5)",
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", bot_type=5), "bot_type must be one of"),
        id="imagine(bot_type=5)",
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", bot_type=["MID_JOURNEY"]), "bot_type must be one of"),
        id="imagine(bot_type=list)",
    ),
    pytest.param(
        Misuse(lambda c: c.imagine("a", account_filter=5), "account_filter"),
        id="imagine(account_filter=5)",
    ),
    pytest.param(
        Misuse(lambda c: c.blend([PNG, PNG], dimensions=["SQUARE"]), "dimensions must be one of"),
        id="blend(dimensions=list)",
    ),
    pytest.param(
        Misuse(lambda c: c.change(ID, ["UPSCALE"], 1), "action must be one of"),
        id="change(action=list)",
    ),
    pytest.param(
        Misuse(lambda c: c.change(ID, "UPSCALE", "1"), "needs an index from 1 to 4"),
        id="change(index=str)",
    ),
    pytest.param(
        Misuse(lambda c: c.modal(ID, prompt=5), "prompt"),
        id="modal(prompt=5)",
    ),
    pytest.param(
        Misuse(lambda c: c.action(ID, 5), "non-empty custom_id"), id="action(custom_id=5)"
    ),
    pytest.param(
        Misuse(lambda c: c.simple_change(5), "content must be a str"), id="simple_change(5)"
    ),
    pytest.param(
        Misuse(lambda c: c.simple_change(ID, "U9"), "must be U1..U4, V1..V4 or R"),
        id="simple_change(op=U9)",
    ),
    pytest.param(
        Misuse(lambda c: c.fan_out(ID, "U1"), "ops must be a list of operations"),
        id="fan_out(ops=str)",
    ),
    pytest.param(
        Misuse(lambda c: c.fan_out(ID, 5), "ops must be a list of operations"),
        id="fan_out(ops=5)",
    ),
    pytest.param(
        Misuse(lambda c: c.fan_out(ID, ["U9"]), "must be U1..U4, V1..V4 or R"),
        id="fan_out(ops=[U9])",
    ),
    pytest.param(
        Misuse(lambda c: c.fan_out(ID, state=5), "state must be a str"),
        id="fan_out(state=5)",
    ),
    pytest.param(
        Misuse(lambda c: c.submit_and_wait(5), "submit"),
        id="submit_and_wait(5)",
    ),
    pytest.param(
        Misuse(lambda c: c.submit_and_wait(c.imagine), "submit"),
        id="submit_and_wait(method not called)",
    ),
    # task ids that are not digits
    *(
        pytest.param(Misuse(_fetching(bad), DIGITS), id=f"fetch({bad!r})")
        for bad in ("abc", "", "12 3", "../1", "-5", None, 1.5, True)
    ),
    pytest.param(Misuse(lambda c: c.fetch("１２３"), DIGITS), id="fetch(fullwidth digits)"),
    pytest.param(Misuse(lambda c: c.fetch("123\n"), DIGITS), id="fetch(trailing newline)"),
    pytest.param(Misuse(lambda c: c.wait("abc"), DIGITS), id="wait('abc')"),
    pytest.param(Misuse(lambda c: c.track("abc"), DIGITS), id="track('abc')"),
    pytest.param(Misuse(lambda c: c.image_seed("x"), DIGITS), id="image_seed('x')"),
    pytest.param(
        Misuse(lambda c: c.action("abc", "MJ::JOB::upsample::1::h"), DIGITS), id="action('abc')"
    ),
    pytest.param(Misuse(lambda c: c.simple_change("abc U1"), DIGITS), id="simple_change('abc')"),
    pytest.param(Misuse(lambda c: c.list_tasks(["abc"]), DIGITS), id="list_tasks(['abc'])"),
    pytest.param(Misuse(lambda c: c.track_many(["abc"]), DIGITS), id="track_many(['abc'])"),
    pytest.param(Misuse(lambda c: c.fan_out("abc"), DIGITS), id="fan_out('abc')"),
    # a list where one id belongs
    pytest.param(Misuse(lambda c: c.fetch([ID]), DIGITS), id="fetch([id])"),
    pytest.param(Misuse(lambda c: c.wait([ID]), DIGITS), id="wait([id])"),
    pytest.param(Misuse(lambda c: c.track([ID, ID]), DIGITS), id="track([id, id])"),
    pytest.param(Misuse(lambda c: c.image_seed([ID]), DIGITS), id="image_seed([id])"),
    pytest.param(Misuse(lambda c: c.action([ID], "MJ::x"), DIGITS), id="action([id])"),
    pytest.param(Misuse(lambda c: c.change([ID], "UPSCALE", 1), DIGITS), id="change([id])"),
    pytest.param(Misuse(lambda c: c.simple_change([ID], "U1"), DIGITS), id="simple_change([id])"),
    pytest.param(Misuse(lambda c: c.fan_out([ID]), DIGITS), id="fan_out([id])"),
    # one id where a list belongs
    pytest.param(Misuse(lambda c: c.list_tasks(ID), ONE_NOT_LIST), id="list_tasks(id)"),
    pytest.param(Misuse(lambda c: c.track_many(ID), ONE_NOT_LIST), id="track_many(id)"),
    pytest.param(Misuse(lambda c: c.track_many(5), ONE_NOT_LIST), id="track_many(5)"),
    pytest.param(
        Misuse(lambda c: c.list_tasks(5), ONE_NOT_LIST),
        id="list_tasks(5)",
    ),
    pytest.param(
        Misuse(lambda c: c.list_tasks(None), ONE_NOT_LIST),
        id="list_tasks(None)",
    ),
]


@pytest.mark.parametrize("misuse", MISUSES)
async def test_wrong_argument_is_refused_before_sending(
    sim: Simulator, client: OneChatClient, misuse: Misuse
) -> None:
    """A wrong argument type or shape is an InvalidRequestError saying what is expected."""
    error = await refusal(lambda: misuse.call(client))
    assert_says(error, InvalidRequestError, misuse.says)
    assert sim.counters["total"] == 0


async def test_fan_out_with_bad_state_sends_nothing(sim: Simulator, client: OneChatClient) -> None:
    """A bad fan-out state never reaches the server: refused at the call, or per child."""
    bad: Any = 5
    try:
        stream = client.fan_out(ID, state=bad)
    except InvalidRequestError as error:
        assert_says(error, InvalidRequestError, "state must be a str")
    else:
        async with stream as events:
            failed = [e async for e in events]
        assert len(failed) == 8
        for event in failed:
            assert isinstance(event, SubmitFailed)
            assert_says(event.error, InvalidRequestError, "state must be a str")
    assert sim.counters["total"] == 0


# -- the client's own options ---------------------------------------------------------------

HEADER_KEY = "paste the key alone (sk-...), without 'Bearer ' or a trailing newline"
OPTIONS = [
    pytest.param({"api_key": 5}, "api_key must be a str", id="api_key=5"),
    pytest.param({"api_key": b"sk-a"}, "api_key must be a str", id="api_key=bytes"),
    pytest.param({"api_key": "sk-a\n"}, HEADER_KEY, id="api_key_newline"),
    pytest.param({"api_key": "sk-a\r\nX-Evil: 1"}, HEADER_KEY, id="api_key_header_injection"),
    pytest.param({"api_key": "sk a"}, HEADER_KEY, id="api_key_space"),
    pytest.param({"api_key": "Bearer sk-a"}, HEADER_KEY, id="api_key_bearer"),
    pytest.param({"api_key": "sk-ключ"}, HEADER_KEY, id="api_key_non_ascii"),
    pytest.param({"base_url": 5}, "base_url must be a str", id="base_url=5"),
    pytest.param({"base_url": "ftp://x"}, "base_url must be an http(s) URL", id="base_url=ftp"),
    pytest.param({"retry": "x"}, "retry must be a RetryPolicy or None", id="retry=str"),
    pytest.param(
        {"submit_retry": 3}, "submit_retry must be a RetryPolicy or None", id="submit_retry=3"
    ),
    pytest.param({"retry": PollPolicy()}, "retry must be a RetryPolicy", id="retry=PollPolicy"),
    pytest.param({"poll": 3}, "poll must be a PollPolicy or None", id="poll=3"),
    pytest.param({"poll": RetryPolicy()}, "poll must be a PollPolicy", id="poll=RetryPolicy"),
    pytest.param({"mode": "slow"}, "mode must be 'fast', 'relax', 'turbo' or None", id="mode"),
    pytest.param(
        {"mode": ["fast"]},
        "mode must be",
        id="mode=list",
    ),
    pytest.param(
        {"session": 5},
        "session",
        id="session=5",
    ),
    pytest.param(
        {"clock": 5},
        "clock",
        id="clock=5",
    ),
    pytest.param(
        {"transport": 5},
        "transport",
        id="transport=5",
    ),
]


@pytest.mark.parametrize(("options", "says"), OPTIONS)
async def test_bad_client_option_is_refused(options: dict[str, Any], says: str) -> None:
    """A mistyped option or a header-breaking key is refused when the client is made."""
    error = await refusal(
        lambda: OneChatClient(**{"api_key": KEY, "base_url": "http://127.0.0.1:9", **options})
    )
    assert_says(error, InvalidRequestError, says)
    key = options.get("api_key")
    if isinstance(key, str):
        # A refused key is not repeated, not even in part.
        assert key.strip().removeprefix("Bearer ") not in str(error)


# -- a borrowed session that was closed ----------------------------------------------------

LENT_CLOSED = (
    "the aiohttp session you lent to this client is closed: keep it open until the client "
    "is closed, or pass no session"
)


@pytest.fixture
async def lent(sim: Simulator) -> AsyncIterator[tuple[OneChatClient, aiohttp.ClientSession]]:
    """A client on a borrowed session, and that session (open until the test closes it)."""
    session = aiohttp.ClientSession()
    try:
        async with OneChatClient(
            api_key=KEY, base_url=sim.url, clock=sim.clock, session=session
        ) as client:
            yield client, session
    finally:
        await session.close()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.fetch(ID), id="fetch"),
        pytest.param(lambda c: c.list_tasks([ID]), id="list_tasks"),
        pytest.param(lambda c: c.image_seed(ID), id="image_seed"),
        pytest.param(lambda c: c.imagine("a cat", state="lent"), id="imagine"),
        pytest.param(lambda c: c.simple_change(ID, "U1"), id="simple_change"),
        pytest.param(lambda c: c.action(ID, "MJ::JOB::upsample::1::h"), id="action"),
    ],
)
async def test_closed_borrowed_session_says_keep_it_open(
    sim: Simulator, lent: tuple[OneChatClient, aiohttp.ClientSession], call: Call
) -> None:
    """A call through a lent session that was closed is a ClientClosedError saying what to do."""
    client, session = lent
    await session.close()
    error = await refusal(lambda: call(client))
    assert_says(error, ClientClosedError, LENT_CLOSED)
    assert sim.counters["total"] == 0


@pytest.mark.parametrize(
    "follow",
    [
        pytest.param(lambda c, task_id: c.wait(task_id, deadline=600), id="wait"),
        pytest.param(lambda c, task_id: _drain(c.track(task_id)), id="track"),
    ],
)
async def test_closed_borrowed_session_ends_tracking(
    sim: Simulator,
    lent: tuple[OneChatClient, aiohttp.ClientSession],
    follow: Callable[[OneChatClient, str], Awaitable[object]],
) -> None:
    """Following a task through a lent session closed meanwhile ends with ClientClosedError."""
    client, session = lent
    submitted = await client.imagine("a cat")
    await session.close()
    error = await refusal(lambda: follow(client, submitted.task_id))
    assert_says(error, ClientClosedError, LENT_CLOSED)


async def _drain(events: Any) -> list[object]:
    return [event async for event in events]


# -- another event loop ---------------------------------------------------------------------

LOOP_CALLS = [
    pytest.param(lambda c: c.fetch(ID), id="fetch"),
    pytest.param(lambda c: c.imagine("a cat"), id="imagine"),
    pytest.param(lambda c: c.list_tasks([ID]), id="list_tasks"),
    pytest.param(lambda c: c.image_seed(ID), id="image_seed"),
    pytest.param(lambda c: c.wait(ID), id="wait"),
    pytest.param(lambda c: c.track(ID), id="track"),
    pytest.param(lambda c: c.fan_out(ID), id="fan_out"),
    pytest.param(lambda c: c.simple_change(ID, "U1"), id="simple_change"),
]


async def _bounded(refused: Awaitable[OneChatError]) -> OneChatError:
    """``refused`` within ten real seconds: a missing check must fail the test, not hang it."""
    return await asyncio.wait_for(refused, timeout=10)


def _unreachable_client() -> OneChatClient:
    """A client for the loop tests: should a check be missing, its calls fail fast, not hang."""
    return OneChatClient(
        api_key=KEY,
        base_url=f"http://127.0.0.1:{_closed_port()}",
        clock=ManualClock(auto_advance=True),
        poll=PollPolicy(deadline=60),
    )


def _closed_port() -> int:
    """A loopback port nobody listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _bind(client: OneChatClient) -> None:
    """Tie the client to the running loop the way any first call does, sending nothing."""
    client.track(ID).close()


@pytest.mark.parametrize("call", LOOP_CALLS)
def test_second_asyncio_run_says_make_a_new_client(call: Call) -> None:
    """A client used again in a second asyncio.run is a ClientClosedError saying what to do."""
    client = _unreachable_client()
    asyncio.run(_bind(client))

    async def again() -> OneChatError:
        try:
            return await _bounded(refusal(lambda: call(client)))
        finally:
            await client.aclose()

    error = asyncio.run(again())
    assert_says(
        error,
        ClientClosedError,
        "belongs to an event loop that has closed (a second asyncio.run?)",
        "make a new client inside the loop that uses it",
    )


@pytest.mark.parametrize("call", LOOP_CALLS)
def test_second_live_loop_says_one_client_per_loop(call: Call) -> None:
    """A client used from another running loop is an InvalidRequestError saying what to do."""
    client = _unreachable_client()
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first.run_until_complete(_bind(client))
        error = second.run_until_complete(_bounded(refusal(lambda: call(client))))
        first.run_until_complete(asyncio.wait_for(client.aclose(), timeout=10))
    finally:
        first.close()
        second.close()
    assert_says(
        error,
        InvalidRequestError,
        "belongs to another event loop",
        "make one client per event loop, inside the loop that uses it",
    )


# -- a closed client ------------------------------------------------------------------------

CLOSED_CALLS = [
    *LOOP_CALLS,
    pytest.param(lambda c: c.track_many([ID]), id="track_many"),
    pytest.param(lambda c: c.action(ID, "MJ::JOB::upsample::1::h"), id="action"),
    pytest.param(lambda c: c.change(ID, "UPSCALE", 1), id="change"),
    pytest.param(lambda c: c.describe(PNG), id="describe"),
    pytest.param(lambda c: c.__aenter__(), id="async_with"),
]


@pytest.mark.parametrize("call", CLOSED_CALLS)
async def test_closed_client_says_make_a_new_one(sim: Simulator, call: Call) -> None:
    """Every call on a closed client is a ClientClosedError, and nothing is sent."""
    client = OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock)
    await client.aclose()
    error = await refusal(lambda: call(client))
    assert_says(error, ClientClosedError, "this OneChatClient is closed; make a new one")
    assert sim.counters["total"] == 0
    await client.aclose()  # closing twice is fine


# -- a refused call leaves the caller's submit coroutine closed, not dangling ----------------

SUBMIT_REFUSALS = [
    pytest.param(
        lambda c, submit: c.submit_and_wait(submit, deadline=0),
        False,
        id="submit_and_wait(deadline=0)",
    ),
    pytest.param(
        lambda c, submit: c.submit_and_track(submit, deadline=-1),
        False,
        id="submit_and_track(deadline=-1)",
    ),
    pytest.param(
        lambda c, submit: c.submit_and_track(submit),
        True,
        id="submit_and_track(on a closed client)",
    ),
]


@pytest.mark.parametrize(("call", "closed"), SUBMIT_REFUSALS)
async def test_refused_submit_call_closes_the_submit(
    sim: Simulator, call: Valued, closed: bool
) -> None:
    """A submit_and_* call refused up front closes the submit it was handed, unsent."""
    client = OneChatClient(api_key=KEY, base_url=sim.url, clock=sim.clock)
    if closed:
        await client.aclose()
    submit = client.imagine("a cat")
    try:
        error = await refusal(lambda: call(client, submit))
        assert isinstance(error, InvalidRequestError | ClientClosedError)
        assert inspect.getcoroutinestate(submit) == inspect.CORO_CLOSED
    finally:
        submit.close()
        await client.aclose()
    assert sim.counters["total"] == 0
