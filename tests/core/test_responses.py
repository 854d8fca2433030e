"""Reading answers in _responses: the error each answer becomes, with the fields it carries."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable
from typing import Any

import pytest

from onechat_async import _requests as rq
from onechat_async._errors import (
    APIError,
    AuthenticationError,
    BannedPromptError,
    OneChatError,
    QueueFullError,
    RateLimitError,
    ServerError,
    SubmitRejectedError,
    TaskNotFoundError,
)
from onechat_async._responses import (
    Response,
    is_missing_route,
    read_raw_task,
    read_raw_task_list,
    read_seed,
    read_submit,
    read_task,
    read_task_list,
)

SUBMIT = rq.imagine("x", [], bot_type=None, account_filter=None, notify_hook=None, state="s-1")
FETCH = rq.fetch("42")
LIST = rq.list_by_condition(["42"])
SEED = rq.image_seed("42")
NOW = 1_700_000_000.0
Reader = Callable[..., Any]


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
    return Response(status, headers or {}, raw)


def failure(reader: Reader, response: Response, request: rq.Request) -> OneChatError:
    with pytest.raises(OneChatError) as info:
        reader(response, request, now_wall=NOW)
    return info.value


@pytest.mark.parametrize(
    ("reader", "request_"),
    [
        pytest.param(read_submit, SUBMIT, id="submit"),
        pytest.param(read_raw_task, FETCH, id="raw-task"),
        pytest.param(read_task, FETCH, id="task"),
        pytest.param(read_raw_task_list, LIST, id="raw-list"),
        pytest.param(read_task_list, LIST, id="list"),
        pytest.param(read_seed, SEED, id="seed"),
    ],
)
def test_every_reader_counts_a_retry_after_date_from_the_wall_clock(
    reader: Reader, request_: rq.Request
) -> None:
    """A 429 whose Retry-After is an HTTP date waits until that date, whatever the endpoint."""
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    error = failure(reader, answer(429, headers={"Retry-After": date}), request_)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 30.0
    assert error.message == "HTTP 429: too many requests"


@pytest.mark.parametrize(
    ("response", "kind", "message", "code"),
    [
        pytest.param(
            answer(401, {"msg": "bad key"}), AuthenticationError, "bad key", None, id="msg-key"
        ),
        pytest.param(
            answer(429, []), RateLimitError, "HTTP 429: too many requests", None, id="list"
        ),
        pytest.param(answer(429, {}), RateLimitError, "HTTP 429: too many requests", None, id="{}"),
        pytest.param(
            answer(500, {"code": 4, "description": "busy"}), ServerError, "busy", 4, id="5xx"
        ),
        pytest.param(
            answer(300, {"id": "42", "status": "SUCCESS"}),
            APIError,
            "unexpected HTTP 300",
            None,
            id="http-300",
        ),
        pytest.param(
            answer(418, {"message": "teapot", "code": 7}), APIError, "teapot", 7, id="http-418"
        ),
        pytest.param(
            answer(400, {"message": "bad request"}), APIError, "bad request", None, id="http-400"
        ),
        pytest.param(
            answer(400, {"message": "Task Not Found"}),
            TaskNotFoundError,
            "Task Not Found",
            None,
            id="http-400-not-found",
        ),
        pytest.param(
            Response(200, {"Content-Type": "text/html"}, b"<html></html>"),
            ServerError,
            "the server answered with an HTML page: is the base URL right?",
            None,
            id="html",
        ),
        pytest.param(
            answer(200, {"code": 3, "description": "task_not_found"}),
            TaskNotFoundError,
            "task_not_found",
            None,
            id="refusal-not-found",
        ),
        pytest.param(
            answer(200, {"code": 3}), APIError, "the server refused the query", 3, id="refusal"
        ),
        pytest.param(
            answer(200, {"error": {"message": "denied"}}),
            APIError,
            "denied",
            None,
            id="error-shape",
        ),
        pytest.param(
            Response(204, {}, b""),
            TaskNotFoundError,
            "the server does not know task 42",
            None,
            id="http-204",
        ),
    ],
)
def test_a_fetch_answer_becomes_the_right_error(
    response: Response, kind: type[OneChatError], message: str, code: int | None
) -> None:
    """Each failed fetch is one exact error type with the server's text (or ours) and code."""
    error = failure(read_task, response, FETCH)
    assert type(error) is kind
    assert (error.message, error.code) == (message, code)
    assert (error.status, error.endpoint, error.task_id) == (response.status, "fetch", "42")


def test_a_refused_query_is_never_a_submit_refusal() -> None:
    """A 4xx to a query is an APIError, even with a JSON body; to a submit it is a refusal."""
    teapot = answer(418, {"message": "teapot"})
    assert type(failure(read_task, teapot, FETCH)) is APIError
    assert type(failure(read_submit, teapot, SUBMIT)) is SubmitRejectedError
    assert type(failure(read_submit, answer(418), SUBMIT)) is APIError


def test_a_task_that_carries_a_code_field_is_still_a_task() -> None:
    """Only an object without an id is read as a refusal; other objects are handed on as is."""
    task = {"id": "42", "code": 1, "status": "SUCCESS"}
    assert read_raw_task(answer(200, task), FETCH, now_wall=NOW) == task
    odd = {"foo": 1}
    assert read_raw_task(answer(200, odd), FETCH, now_wall=NOW) == odd


def test_an_undecodable_task_says_why() -> None:
    """A fetched object without a usable id is a ServerError naming that, with the context."""
    error = failure(read_task, answer(200, {"id": "", "status": "SUCCESS"}), FETCH)
    assert type(error) is ServerError
    assert error.message.startswith("task has no usable id")
    assert (error.status, error.task_id) == (200, "42")


@pytest.mark.parametrize(
    ("body", "kind", "message", "code"),
    [
        pytest.param(
            {"code": 4, "description": "denied"}, APIError, "denied", 4, id="refusal-object"
        ),
        pytest.param("text", ServerError, "task list is not a JSON array", None, id="a-string"),
    ],
)
def test_a_list_answer_that_is_not_a_list(
    body: object, kind: type[OneChatError], message: str, code: int | None
) -> None:
    """A refusal object keeps its text and code; anything else is a ServerError in context."""
    error = failure(read_raw_task_list, answer(200, body), LIST)
    assert type(error) is kind
    assert (error.message, error.code, error.status, error.endpoint) == (
        message,
        code,
        200,
        "list-by-condition",
    )


@pytest.mark.parametrize(
    ("result", "seed"),
    [
        pytest.param("7", "7", id="one-character"),
        pytest.param("9" * 64, "9" * 64, id="64-characters"),
        pytest.param(10**64 - 1, "9" * 64, id="largest-int"),
    ],
)
def test_seeds_at_the_edges_are_read(result: object, seed: str) -> None:
    """A seed of one to 64 characters, or an int below 10**64, is read as text."""
    assert read_seed(answer(200, {"code": 1, "result": result}), SEED, now_wall=NOW) == seed


@pytest.mark.parametrize(
    ("body", "kind", "message", "code"),
    [
        pytest.param(
            {"code": 1, "result": 10**64},
            ServerError,
            "seed answer has no usable seed",
            1,
            id="int-too-long",
        ),
        pytest.param(
            {"code": 1, "result": "9" * 65},
            ServerError,
            "seed answer has no usable seed",
            1,
            id="text-too-long",
        ),
        pytest.param(
            {"code": 1, "result": ""}, APIError, "the server refused the query", 1, id="empty"
        ),
        pytest.param(
            {"code": 1, "result": None, "description": "no seed yet"},
            APIError,
            "no seed yet",
            1,
            id="none-with-text",
        ),
        pytest.param({"code": 4, "description": "nope"}, APIError, "nope", 4, id="refused"),
        pytest.param(
            ["7"], ServerError, "seed answer is not a JSON object", None, id="not-an-object"
        ),
    ],
)
def test_a_seed_answer_without_a_seed(
    body: object, kind: type[OneChatError], message: str, code: int | None
) -> None:
    """No seed is a refusal when the server says nothing usable, else a ServerError, in context."""
    error = failure(read_seed, answer(200, body), SEED)
    assert type(error) is kind
    assert (error.message, error.code, error.status, error.endpoint) == (
        message,
        code,
        200,
        "image-seed",
    )


@pytest.mark.parametrize(
    ("headers", "body", "content_type", "html"),
    [
        pytest.param(
            {"Content-Type": "application/json"}, b"{}", "application/json", False, id="json"
        ),
        pytest.param({"CONTENT-TYPE": "text/html"}, b"{}", "text/html", True, id="name-any-case"),
        pytest.param(
            {"content-type": "text/plain", "Content-Type": "text/html"},
            b"{}",
            "text/plain",
            False,
            id="first-spelling-wins",
        ),
        pytest.param({"Content-Typo": "text/html"}, b"{}", None, False, id="other-name"),
        pytest.param({}, b" \r\n\t<!DOCTYPE html>", None, True, id="doctype-upper"),
        pytest.param({}, b"<HTML>", None, True, id="html-tag-upper"),
        pytest.param({}, b" " * 256 + b"<html>", None, False, id="markup-past-256-bytes"),
        pytest.param({}, b"", None, False, id="empty"),
    ],
)
def test_headers_and_pages_are_recognised_in_any_case(
    headers: dict[str, str], body: bytes, content_type: str | None, html: bool
) -> None:
    """A header is found by any spelling of its name (the first one sent); markup in any case."""
    response = Response(200, headers, body)
    assert response.header("content-type") == content_type
    assert response.header("Content-Type") == content_type
    assert response.looks_like_html is html


def test_a_json_submit_answer_labelled_html_proves_no_task() -> None:
    """An accepted-looking body under an HTML Content-Type is the gateway's page: rejected."""
    page = answer(200, {"code": 1, "result": "7"}, headers={"content-type": "text/html"})
    assert type(failure(read_submit, page, SUBMIT)) is SubmitRejectedError


def test_an_empty_or_blank_submit_answer_is_said_to_be_empty() -> None:
    """A 200 with no body, or only whitespace, is a ServerError naming the empty body."""
    for body in (b"", b" \r\n"):
        error = failure(read_submit, Response(200, {}, body), SUBMIT)
        assert type(error) is ServerError
        assert str(error).startswith("the server answered with an empty body")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        pytest.param({"success": False, "code": 1, "result": "123"}, SubmitRejectedError, id="no"),
        pytest.param({"code": 9, "description": "Queue is full"}, QueueFullError, id="queue-en"),
    ],
)
def test_a_submit_refusal_is_read_from_success_and_code(
    body: dict[str, Any], kind: type[OneChatError]
) -> None:
    """``success: false`` refuses whatever the code; code 9 saying "queue full" is a full queue."""
    assert type(failure(read_submit, answer(200, body), SUBMIT)) is kind


def test_success_true_with_an_accepted_code_is_accepted() -> None:
    """``success: true`` (the C# server's shape) with code 1 is an accepted submit."""
    body = {"success": True, "code": 1, "result": "1234"}
    assert read_submit(answer(200, body), SUBMIT, now_wall=NOW).task_id == "1234"


def test_a_banned_prompt_carries_the_english_prompt() -> None:
    """Code 24 keeps the banned word and the prompt in English; junk properties give None."""
    body = {"code": 24, "description": "banned", "properties": {"bannedWord": "x", "promptEn": "a"}}
    error = failure(read_submit, answer(200, body), SUBMIT)
    assert isinstance(error, BannedPromptError)
    assert (error.banned_word, error.prompt_en) == ("x", "a")
    junk = failure(read_submit, answer(200, {"code": 24, "properties": "junk"}), SUBMIT)
    assert isinstance(junk, BannedPromptError)
    assert (junk.banned_word, junk.prompt_en) == (None, None)


def test_code_5_on_a_submit_is_not_retryable() -> None:
    """The gateway's "lost the upstream answer" may hide a task: never marked retryable."""
    error = failure(read_submit, answer(200, {"code": 5, "description": "lost"}), SUBMIT)
    assert type(error) is ServerError
    assert error.retryable is False


@pytest.mark.parametrize("code", [1, 22])
def test_an_accepted_submit_without_an_id_keeps_its_code(code: int) -> None:
    """The ServerError for an accepted answer without a task id carries the accepted code."""
    error = failure(read_submit, answer(200, {"code": code, "result": ""}), SUBMIT)
    assert type(error) is ServerError
    assert error.code == code


def test_a_submit_answer_that_is_not_an_object_says_what_it_is() -> None:
    """A JSON list, or nothing, where the submit answer belongs is a ServerError saying so."""
    error = failure(read_submit, answer(200, [1]), SUBMIT)
    assert error.message == "submit answer is not a JSON object: list"
    blank = failure(read_submit, Response(200, {}, b"  "), SUBMIT)
    assert (type(blank), blank.message) == (ServerError, "the server answered with an empty body")


def test_no_available_channel_in_english_is_a_missing_route() -> None:
    """new-api's 503 "No available channel" is recognised whatever its capitals."""
    assert is_missing_route(answer(503, {"message": "No Available Channel for mj_imagine"}))
