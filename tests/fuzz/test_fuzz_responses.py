"""Property tests of the answer readers: any answer gives a value or a OneChatError."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from onechat_async import OneChatError, SubmitResult, Task
from onechat_async import _requests as rq
from onechat_async._requests import Request
from onechat_async._responses import (
    Response,
    is_missing_route,
    read_raw_task_list,
    read_seed,
    read_submit,
    read_task,
    read_task_list,
    read_task_rows,
    retry_after,
)
from onechat_async._wire import Row
from tests.fuzz.strategies import fuzz, responses

NOW = 1_700_000_000.0
SUBMIT = rq.imagine("x", [], bot_type=None, account_filter=None, notify_hook=None, state="s-1")
ACTION = rq.action("1", "MJ::JOB::upsample::1::x", notify_hook=None, state=None)
FETCH = rq.fetch("123")
LIST = rq.list_by_condition(["1", "2"])
SEED = rq.image_seed("5")


def _is_submit(value: object) -> bool:
    return isinstance(value, SubmitResult)


def _is_task(value: object) -> bool:
    return isinstance(value, Task)


def _is_raw_list(value: object) -> bool:
    return isinstance(value, list) and all(type(item) is dict for item in value)


def _is_rows(value: object) -> bool:
    return isinstance(value, list) and all(type(item) is Row for item in value)


def _is_task_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, Task) for item in value)


def _is_seed(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= 64


READERS: list[tuple[str, Callable[..., Any], Request, Callable[[object], bool]]] = [
    ("read_submit", read_submit, SUBMIT, _is_submit),
    ("read_submit action", read_submit, ACTION, _is_submit),
    ("read_task", read_task, FETCH, _is_task),
    ("read_raw_task_list", read_raw_task_list, LIST, _is_raw_list),
    ("read_task_list", read_task_list, LIST, _is_task_list),
    ("read_task_rows", read_task_rows, LIST, _is_rows),
    ("read_seed", read_seed, SEED, _is_seed),
]


def _check_reader(
    name: str,
    reader: Callable[..., Any],
    request: Request,
    well_formed: Callable[[object], bool],
    response: Response,
) -> None:
    outcome = _outcome(reader, request, response)
    if isinstance(outcome, OneChatError):
        # Whatever the server sent, the error stays small enough to log.
        assert len(outcome.message) <= 600, name
        retry = getattr(outcome, "retry_after", None)
        assert retry is None or (math.isfinite(retry) and retry >= 0), name
    else:
        assert well_formed(outcome), f"{name} returned {outcome!r:.200}"


def _outcome(reader: Callable[..., Any], request: Request, response: Response) -> object:
    """What the reader returned, or the OneChatError it raised; anything else propagates."""
    try:
        return reader(response, request, now_wall=NOW)
    except OneChatError as exc:
        return exc


# One drawn answer goes through every reader: drawing is the slow part of a fuzz test.
@fuzz(60)
@given(response=responses)
@example(response=Response(200, {}, b'{"id": "1", "finishTime": 1e400}'))
@example(response=Response(200, {}, b"[" * 200_000 + b"]" * 200_000))
@example(response=Response(400, {}, b'{"code": "\xc2\xb2", "description": {"a": [1]}}'))
@example(response=Response(429, {"Retry-After": "1e400"}, b""))
@example(response=Response(401, {}, b'{"error": {"message": "' + b"x" * 5000 + b'"}}'))
@example(response=Response(200, {}, b'{"code": 1, "result": 1e400}'))
@example(response=Response(200, {}, b'[{"id": "1", "buttons": [{"customId": "a", "type": null}]}]'))
def test_readers_are_total(response: Response) -> None:
    """Each reader returns a value of its type or raises a OneChatError, for any answer."""
    for name, reader, request, well_formed in READERS:
        _check_reader(name, reader, request, well_formed, response)
    assert type(is_missing_route(response)) is bool


@fuzz(100)
@given(
    value=st.none()
    | st.text(max_size=40)
    | st.from_regex(r"\s*-?[0-9]{0,400}(\.[0-9]*)?([eE][+-]?[0-9]{1,4})?\s*", fullmatch=True)
    | st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "1_0"])
    | st.just(5000).map(lambda digits: "9" * digits)
    | st.builds(
        "{}, {} {} {} {:02}:{:02}:{:02} {}".format,
        st.sampled_from(["Mon", "Tue", "Xyz"]),
        st.integers(-1, 40),
        st.sampled_from(["Jan", "Feb", "Nov", "Foo"]),
        st.integers(-1, 100_000),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.sampled_from(["GMT", "-0000", "+0000", "+2359", "-2359", "+9999", "EST", "junk"]),
    ),
    now_wall=st.floats() | st.just(NOW),
)
def test_retry_after_is_finite_or_none(value: str | None, now_wall: float) -> None:
    """Retry-After is a finite number of seconds, at least 0, or None; it never raises."""
    seconds = retry_after(value, now_wall=now_wall)
    assert seconds is None or (type(seconds) is float and math.isfinite(seconds) and seconds >= 0)
