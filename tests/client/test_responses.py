"""Reading answers: every error shape of the three server kinds maps to the right exception."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from onechat_async import (
    APIError,
    AuthenticationError,
    BannedPromptError,
    OneChatError,
    QueueFullError,
    RateLimitError,
    ServerError,
    SubmitOutcomeUnknownError,
    SubmitRejectedError,
    TaskNotFoundError,
    _responses,
)
from onechat_async import _requests as rq
from onechat_async._outcome import may_resend, settle
from onechat_async._responses import (
    Response,
    is_missing_route,
    read_seed,
    read_submit,
    read_task,
    read_task_list,
    retry_after,
)

SUBMIT = rq.imagine("x", [], bot_type=None, account_filter=None, notify_hook=None, state="s-1")
FETCH = rq.fetch("123")
LIST = rq.list_by_condition(["1", "2"])
NOW = 1_700_000_000.0


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body, ensure_ascii=False).encode()
    return Response(status, headers or {}, raw)


SUBMIT_CASES = [
    (
        "new-api bad key",
        answer(401, {"error": {"message": "无效的令牌", "type": "new_api_error"}}),
        AuthenticationError,
        "无效的令牌",
    ),
    (
        "new-api no key",
        answer(401, {"error": {"message": "未提供令牌", "type": "new_api_error"}}),
        AuthenticationError,
        "未提供令牌",
    ),
    (
        "quota",
        answer(403, {"error": {"message": "该令牌额度已用尽", "type": "new_api_error"}}),
        AuthenticationError,
        "额度",
    ),
    ("java empty 401", answer(401), AuthenticationError, "401"),
    (
        "429",
        answer(429, {"code": 30, "description": "当前负载已饱和"}, {"Retry-After": "7"}),
        RateLimitError,
        "负载",
    ),
    ("csharp empty 429", answer(429), RateLimitError, "429"),
    ("code 30", answer(200, {"code": 30, "description": "busy"}), RateLimitError, "busy"),
    (
        "code 23",
        answer(200, {"code": 23, "description": "队列已满，请稍后尝试"}),
        QueueFullError,
        "队列",
    ),
    ("code 9 queue", answer(200, {"code": 9, "description": "队列已满"}), QueueFullError, "队列"),
    (
        "code 9 other",
        answer(200, {"code": 9, "description": "系统异常"}),
        SubmitRejectedError,
        "系统异常",
    ),
    (
        "code 24",
        answer(
            200,
            {
                "code": 24,
                "description": "可能包含敏感词",
                "properties": {"promptEn": "x", "bannedWord": "gore"},
            },
        ),
        BannedPromptError,
        "敏感词",
    ),
    (
        "code 3",
        answer(200, {"code": 3, "description": "关联任务不存在或已失效"}),
        SubmitRejectedError,
        "关联任务",
    ),
    (
        "code 4",
        answer(200, {"code": 4, "description": "prompt不能为空"}),
        SubmitRejectedError,
        "prompt",
    ),
    (
        "csharp shape",
        answer(200, {"success": False, "code": -1, "message": "账号不可用", "timestamp": "2025"}),
        SubmitRejectedError,
        "账号不可用",
    ),
    (
        "gateway 400",
        answer(400, {"description": "参数错误", "type": "upstream_error", "code": 4}),
        SubmitRejectedError,
        "参数错误",
    ),
    (
        "no channel",
        answer(
            503,
            {
                "error": {
                    "message": "当前分组 default 下对于模型 mj_ 无可用渠道",
                    "type": "new_api_error",
                }
            },
        ),
        SubmitRejectedError,
        "无可用渠道",
    ),
    (
        "panic",
        answer(500, {"error": {"message": "panic", "type": "new_api_panic"}}),
        ServerError,
        "panic",
    ),
    (
        "html",
        answer(200, b"<!DOCTYPE html><html></html>", {"Content-Type": "text/html"}),
        SubmitRejectedError,
        "HTML",
    ),
    ("empty 200", answer(200), ServerError, "empty"),
    ("truncated", answer(200, b'{"code": 1, "descr'), ServerError, "not JSON"),
    ("array", answer(200, [1]), ServerError, "not a JSON object"),
    (
        "code 5",
        answer(200, {"code": 5, "description": "do_request_failed"}),
        ServerError,
        "may exist",
    ),
    ("no result", answer(200, {"code": 1, "description": "ok"}), ServerError, "task id"),
]


@pytest.mark.parametrize(
    ("case", "response", "error", "text"), SUBMIT_CASES, ids=[c[0] for c in SUBMIT_CASES]
)
def test_submit_errors(case: str, response: Response, error: type[OneChatError], text: str) -> None:
    """Each refusal shape raises its class, with the status, code, message and state."""
    with pytest.raises(error, match=text) as info:
        read_submit(response, SUBMIT, now_wall=NOW)
    exc = info.value
    assert type(exc) is error
    assert exc.status == response.status
    assert exc.state == "s-1"
    assert exc.endpoint == "imagine"


def test_submit_money_verdicts() -> None:
    """Each answer is settled once: refusals prove no task, doubtful answers become unknown."""
    proves, resend = {}, {}
    for case, response, _, _ in SUBMIT_CASES:
        with pytest.raises(OneChatError) as info:
            read_submit(response, SUBMIT, now_wall=NOW)
        settled = settle(info.value, SUBMIT)
        proves[case] = not isinstance(settled, SubmitOutcomeUnknownError)
        resend[case] = may_resend(settled)
    assert {case for case, sure in proves.items() if not sure} == {
        "panic",
        "empty 200",
        "truncated",
        "array",
        "code 5",
        "no result",
    }
    assert {case for case, again in resend.items() if again} == {
        "429",
        "csharp empty 429",
        "code 30",
        "code 23",
        "code 9 queue",
    }


def test_rate_limit_carries_retry_after_and_banned_word() -> None:
    """RateLimitError has retry_after from the header; BannedPromptError the banned word."""
    with pytest.raises(RateLimitError) as limited:
        read_submit(answer(429, None, {"retry-after": "7"}), SUBMIT, now_wall=NOW)
    assert limited.value.retry_after == 7.0
    with pytest.raises(BannedPromptError) as banned:
        read_submit(SUBMIT_CASES[10][1], SUBMIT, now_wall=NOW)
    assert banned.value.banned_word == "gore"
    assert banned.value.code == 24


@pytest.mark.parametrize(
    ("code", "description"),
    [(1, "提交成功"), (22, "排队中，前面还有1个任务"), (21, "窗口等待")],
)
def test_accepted_codes(code: int, description: str) -> None:
    """Codes 1, 22 and 21 are accepted submits with a task id."""
    result = read_submit(
        answer(200, {"code": code, "description": description, "result": 1320098173412546}),
        SUBMIT,
        now_wall=NOW,
    )
    assert result.task_id == "1320098173412546"
    assert result.code == code


FETCH_CASES = [
    (
        "gateway",
        answer(400, {"description": "task_no_found ", "type": "upstream_error", "code": 4}),
        TaskNotFoundError,
    ),
    ("java", answer(200), TaskNotFoundError),
    ("csharp", answer(204), TaskNotFoundError),
    ("null", answer(200, b"null"), TaskNotFoundError),
    ("coded", answer(200, {"code": 4, "description": "task_no_found"}), TaskNotFoundError),
    ("other coded", answer(200, {"code": 9, "description": "boom"}), APIError),
    ("500", answer(500, b"<html>bad gateway</html>"), ServerError),
    ("502 empty", answer(502), ServerError),
    ("html", answer(200, b"<html>home</html>"), ServerError),
    ("float id", answer(200, {"id": 1.7e15, "status": "SUCCESS"}), ServerError),
    ("object id", answer(200, {"id": {"a": 1}}), ServerError),
    ("deep", answer(200, b"[" * 200_000 + b"]" * 200_000), ServerError),
    ("bad utf-8", answer(200, b'{"id": "\xff"}'), ServerError),
    ("401", answer(401), AuthenticationError),
]


@pytest.mark.parametrize(
    ("case", "response", "error"), FETCH_CASES, ids=[c[0] for c in FETCH_CASES]
)
def test_fetch_errors(case: str, response: Response, error: type[OneChatError]) -> None:
    """Unknown tasks of all three server kinds raise TaskNotFoundError; others map by kind."""
    with pytest.raises(error) as info:
        read_task(response, FETCH, now_wall=NOW)
    assert type(info.value) is error
    assert info.value.task_id == "123"


def test_query_5xx_is_retryable() -> None:
    """A 5xx on a query is retryable; an HTML page with 200 is not."""
    with pytest.raises(ServerError) as five:
        read_task(answer(503, {"error": {"message": "x"}}), FETCH, now_wall=NOW)
    with pytest.raises(ServerError) as html:
        read_task(answer(200, b"<html></html>"), FETCH, now_wall=NOW)
    assert five.value.retryable
    assert not html.value.retryable


def test_task_list_skips_bad_items_and_refuses_objects() -> None:
    """A list answer drops undecodable items; an object answer is an error."""
    tasks = read_task_list(
        answer(200, [{"id": 1}, {"nope": 1}, 5, {"id": "2"}]), LIST, now_wall=NOW
    )
    assert [t.id for t in tasks] == ["1", "2"]
    with pytest.raises(APIError):
        read_task_list(answer(200, {"code": 9, "description": "x"}), LIST, now_wall=NOW)
    with pytest.raises(ServerError):
        read_task_list(answer(200, b'"x"'), LIST, now_wall=NOW)
    with pytest.raises(ServerError):
        read_task_list(answer(200), LIST, now_wall=NOW)


def test_seed() -> None:
    """image-seed returns the result string; a refusal raises."""
    seed = rq.image_seed("5")
    assert read_seed(answer(200, {"code": 1, "result": "1234"}), seed, now_wall=NOW) == "1234"
    with pytest.raises(APIError):
        read_seed(answer(200, {"code": 4, "description": "no seed"}), seed, now_wall=NOW)
    with pytest.raises(ServerError):
        read_seed(answer(200, [1]), seed, now_wall=NOW)


@pytest.mark.parametrize(
    ("response", "missing"),
    [
        (answer(404), True),
        (answer(405), True),
        (answer(200, b"<html></html>", {"Content-Type": "text/html"}), True),
        (answer(503, {"error": {"message": "模型 mj_ 无可用渠道"}}), True),
        (answer(503, {"error": {"message": "upstream down"}}), False),
        (answer(200, {"code": 1, "result": "1"}), False),
        (answer(500), False),
    ],
)
def test_missing_route(response: Response, missing: bool) -> None:
    """Only answers proving the endpoint is absent count as a missing route."""
    assert is_missing_route(response) is missing


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("86400", 86400.0),
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-inf", None),
        ("Infinity", None),
        ("1e400", None),
        ("9" * 5000, None),
        ("Tue, 14 Nov 2023 22:13:30 GMT", 10.0),
        ("Tue, 14 Nov 2023 22:13:30 -0000", 10.0),
        ("Tue, 14 Nov 2023 22:13:20 GMT", 0.0),
        ("Tue, 14 Nov 99999 22:13:30 GMT", None),
        ("Tue, 14 Nov 2023 22:13:30 +9999", None),
        ("Tue, 14 Nov 2023 99:13:30 GMT", None),
        ("Tue, 31 Feb 2023 22:13:30 GMT", None),
        ("Tue, 14 Nov", None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is finite seconds, from a number or an HTTP date, or None; never raises."""
    assert retry_after(value, now_wall=NOW) == expected


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to UTC+8 (a POSIX TZ string: no tz database)."""
    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_retry_after_date_without_zone_is_utc_whatever_the_local_zone() -> None:
    """A '-0000' date means UTC (RFC 5322), not the machine's local time."""
    assert time.localtime(0).tm_hour == 8
    assert retry_after("Tue, 14 Nov 2023 22:13:30 -0000", now_wall=NOW) == 10.0


@pytest.mark.parametrize("now_wall", [float("nan"), float("inf"), -float("inf")])
def test_retry_after_with_a_bad_clock_is_none(now_wall: float) -> None:
    """A date against a non-finite wall clock gives None rather than NaN or infinity."""
    assert retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now_wall=now_wall) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [("²", None), ("-", None), ("9" * 5000, None), (4.0, 4), (1.5, None), (1e400, None)],
)
def test_odd_codes_are_unknown_not_fatal(code: object, expected: int | None) -> None:
    """A code that is not a plain integer is None on the error, never an exception."""
    body = b'{"code": ' + json.dumps(code).encode() + b', "description": "nope"}'
    with pytest.raises(SubmitRejectedError) as info:
        read_submit(answer(200, body), SUBMIT, now_wall=NOW)
    assert info.value.code == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"zh": "错误"}, "(a dict where text was expected)"),
        (["a", "b"], "(a list where text was expected)"),
        (42, "42"),
        (1e400, "inf"),
        (True, "True"),
        ("  spaced  ", "spaced"),
    ],
)
def test_messages_of_any_type_become_text(message: object, expected: str) -> None:
    """A message that is not a string becomes text: a number as written, a container named.

    A container is not rendered: cutting its rendering could cut a key in two.
    """
    with pytest.raises(SubmitRejectedError) as info:
        read_submit(answer(200, {"code": 4, "description": message}), SUBMIT, now_wall=NOW)
    assert info.value.message == expected


def test_messages_are_bounded() -> None:
    """A huge or deeply nested server message is cut to about 500 characters."""
    with pytest.raises(AuthenticationError) as long:
        read_submit(answer(401, {"error": {"message": "x" * 100_000}}), SUBMIT, now_wall=NOW)
    assert len(long.value.message) <= 503
    deep: object = "x"
    for _ in range(900):
        deep = [deep]
    with pytest.raises(ServerError) as nested:
        read_task(answer(500, {"message": deep}), FETCH, now_wall=NOW)
    assert len(nested.value.message) <= 503


def test_message_of_an_int_past_the_digit_limit_is_empty() -> None:
    """An int too long to write out (a Python caller's, not JSON's) gives no message."""
    assert _responses._text(10**5000) == ""


def test_banned_word_of_another_type_is_text() -> None:
    """A banned word or English prompt that is not a string is text or None, never a dict."""
    body = {"code": 24, "description": "banned", "properties": {"bannedWord": {"w": 1}}}
    with pytest.raises(BannedPromptError) as info:
        read_submit(answer(200, body), SUBMIT, now_wall=NOW)
    assert info.value.banned_word is None
    assert info.value.prompt_en is None


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        ("1234", "1234"),
        (" 1234 ", "1234"),
        (1234, "1234"),
        ("", APIError),
        (None, APIError),
        ({"seed": 1}, ServerError),
        ([1], ServerError),
        (1.5, ServerError),
        (True, ServerError),
        ("9" * 65, ServerError),
    ],
)
def test_seed_values(result: object, outcome: str | type[OneChatError]) -> None:
    """A seed is a short string or an integer; anything else is an error, never a crash."""
    seed = rq.image_seed("5")
    response = answer(200, {"code": 1, "result": result})
    if isinstance(outcome, str):
        assert read_seed(response, seed, now_wall=NOW) == outcome
    else:
        with pytest.raises(outcome):
            read_seed(response, seed, now_wall=NOW)


@pytest.mark.parametrize(
    "result", [None, "", "abc", 1.7e15, 1e400, {"a": 1}, [1], 0, "0", True, "1" * 33]
)
def test_accepted_submit_without_usable_id_is_a_server_error(result: object) -> None:
    """An accepted answer whose result is not a task id raises ServerError saying so."""
    response = answer(200, {"code": 1, "description": "ok", "result": result})
    with pytest.raises(ServerError, match="no usable task id"):
        read_submit(response, SUBMIT, now_wall=NOW)


def test_task_list_with_one_bad_task_keeps_the_others() -> None:
    """One task with absurd fields decodes leniently; one without a usable id is dropped."""
    body = (
        b'[{"id": "1", "finishTime": 1e400, "startTime": 1e20, "status": 5,'
        b' "buttons": [{"customId": "a", "type": null}, {"customId": "b", "type": 1e400}]},'
        b' {"id": 1.7e15}, {"id": "2", "submitTime": ' + b"9" * 5000 + b"}]"
    )
    tasks = read_task_list(answer(200, body), LIST, now_wall=NOW)
    assert [t.id for t in tasks] == ["1", "2"]
    assert tasks[0].finish_time is None
    assert tasks[0].start_time is None
    assert not tasks[0].is_terminal
    assert [b.type for b in tasks[0].buttons] == [2, 2]
