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
    read_cancelled,
    read_raw_task,
    read_raw_task_list,
    read_seed,
    read_submit,
    read_task,
    read_task_list,
    read_uploaded,
)

SUBMIT = rq.imagine("x", [], bot_type=None, account_filter=None, notify_hook=None, state="s-1")
FETCH = rq.fetch("42")
LIST = rq.list_by_condition(["42"])
SEED = rq.image_seed("42")
UPLOAD = rq.upload_images(["data:a"], account_filter=None)
CANCEL = rq.cancel("42")
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
        pytest.param(read_uploaded, UPLOAD, id="upload"),
        pytest.param(read_cancelled, CANCEL, id="cancel"),
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
        pytest.param(
            answer(404, {"code": 3}), TaskNotFoundError, "task not found", 3, id="404-code-3"
        ),
        pytest.param(answer(404), APIError, "unexpected HTTP 404", None, id="404-without-code"),
        pytest.param(
            answer(500, {"code": 3}), ServerError, "HTTP 500 from the server", 3, id="500-code-3"
        ),
        pytest.param(
            answer(502, {"code": 5}),
            ServerError,
            "HTTP 502: the gateway lost the upstream",
            5,
            id="code-5",
        ),
        pytest.param(
            answer(502, {"code": 5, "description": "do_request_failed"}),
            ServerError,
            "do_request_failed",
            5,
            id="code-5-with-text",
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


@pytest.mark.parametrize(
    ("response", "missing"),
    [
        pytest.param(answer(404), True, id="empty-404"),
        pytest.param(answer(405), True, id="empty-405"),
        pytest.param(answer(404, {"message": "no route"}), True, id="404-without-code"),
        pytest.param(answer(404, {"code": 3}), False, id="404-code-3"),
        pytest.param(answer(405, {"code": 3}), False, id="405-code-3"),
        pytest.param(Response(200, {}, b"<html></html>"), True, id="html-200"),
        pytest.param(answer(200, {"code": 1}), False, id="json-200"),
        pytest.param(answer(503, {"message": "无可用渠道"}), True, id="no-channel-zh"),
        pytest.param(answer(503, {"message": "busy"}), False, id="other-503"),
        pytest.param(answer(500), False, id="500"),
    ],
)
def test_a_missing_route_is_told_from_an_answer_about_the_task(
    response: Response, missing: bool
) -> None:
    """A code-less 404/405, an HTML page or "no channel" is a missing route; a code is not."""
    assert is_missing_route(response) is missing


def test_an_upload_answer_keeps_only_its_usable_urls() -> None:
    """Non-empty strings in ``result`` are the URLs, in order; anything else there is dropped."""
    body = {"code": 1, "result": ["https://a/1.png", "", 7, None, "https://a/2.png"]}
    urls = read_uploaded(answer(200, body), UPLOAD, now_wall=NOW)
    assert urls == ["https://a/1.png", "https://a/2.png"]


@pytest.mark.parametrize(
    ("response", "kind", "message", "code"),
    [
        pytest.param(
            answer(200, {"code": 1, "result": []}),
            ServerError,
            "the upload was accepted but its answer lists no URL",
            1,
            id="empty-list",
        ),
        pytest.param(
            answer(200, {"code": 1, "result": "https://a/1.png"}),
            ServerError,
            "the upload was accepted but its answer lists no URL",
            1,
            id="not-a-list",
        ),
        pytest.param(
            answer(200, {"code": 1, "result": ["", 7]}),
            ServerError,
            "the upload was accepted but its answer lists no URL",
            1,
            id="no-usable-url",
        ),
        pytest.param(
            answer(200, {"code": 4, "description": "too big"}),
            SubmitRejectedError,
            "too big",
            4,
            id="refused",
        ),
        pytest.param(
            answer(429, {}), RateLimitError, "HTTP 429: too many requests", None, id="http-429"
        ),
    ],
)
def test_an_upload_without_urls_is_an_error_in_context(
    response: Response, kind: type[OneChatError], message: str, code: int | None
) -> None:
    """An upload accepted without a URL, or refused, is one exact error in the upload's context."""
    error = failure(read_uploaded, response, UPLOAD)
    assert type(error) is kind
    assert (error.message, error.code) == (message, code)
    assert (error.status, error.endpoint) == (response.status, "upload-discord-images")


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(Response(200, {}, b""), id="empty-200"),
        pytest.param(Response(204, {}, b""), id="204"),
        pytest.param(answer(200, {"code": 1}), id="json-200"),
    ],
)
def test_a_cancel_answered_with_success_is_done(response: Response) -> None:
    """Any 2xx that is not a web page means the task was cancelled."""
    read_cancelled(response, CANCEL, now_wall=NOW)


NO_CANCEL = "this server offers no task cancel: only a bare trueai proxy does, for an admin key"


@pytest.mark.parametrize(
    ("response", "kind", "message", "retryable"),
    [
        pytest.param(Response(200, {}, b"<html></html>"), APIError, NO_CANCEL, False, id="html"),
        pytest.param(answer(404), APIError, NO_CANCEL, False, id="empty-404"),
        pytest.param(answer(405), APIError, NO_CANCEL, False, id="empty-405"),
        pytest.param(
            answer(404, {"code": 3, "description": "gone"}),
            TaskNotFoundError,
            "gone",
            False,
            id="404-code-3",
        ),
        pytest.param(
            Response(400, {}, "演示模式".encode()),
            APIError,
            "the server refused the cancel (演示模式); trueai cancels only for an admin key",
            False,
            id="plain-text-400",
        ),
        pytest.param(
            Response(400, {}, b"  "),
            APIError,
            "the server refused the cancel (HTTP 400); trueai cancels only for an admin key",
            False,
            id="empty-400",
        ),
        pytest.param(
            Response(400, {}, b"\xff denied"),
            APIError,
            "the server refused the cancel (\ufffd denied); trueai cancels only for an admin key",
            False,
            id="400-not-utf8",
        ),
        pytest.param(
            Response(400, {}, b"x" * 201),
            APIError,
            f"the server refused the cancel ({'x' * 200}...); trueai cancels only for an admin key",
            False,
            id="400-cut-to-200",
        ),
        pytest.param(
            Response(400, {}, b"x" * 200),
            APIError,
            f"the server refused the cancel ({'x' * 200}); trueai cancels only for an admin key",
            False,
            id="400-of-200",
        ),
        pytest.param(answer(300, {}), APIError, "unexpected HTTP 300", False, id="http-300"),
        pytest.param(Response(199, {}, b""), APIError, "unexpected HTTP 199", False, id="http-199"),
        pytest.param(answer(400, {"message": "bad id"}), APIError, "bad id", False, id="json-400"),
        pytest.param(
            answer(403, {}), AuthenticationError, "HTTP 403: the key was refused", False, id="403"
        ),
        pytest.param(answer(500), ServerError, "HTTP 500 from the server", True, id="500"),
        pytest.param(
            Response(201, {}, b"<html></html>"),
            ServerError,
            "the server answered with an HTML page: is the base URL right?",
            False,
            id="html-201",
        ),
    ],
)
def test_a_cancel_that_failed_says_why(
    response: Response, kind: type[OneChatError], message: str, retryable: bool
) -> None:
    """No cancel route, a plain-text refusal and HTTP failures are each one exact error."""
    error = failure(read_cancelled, response, CANCEL)
    assert type(error) is kind
    assert (error.message, error.retryable) == (message, retryable)
    assert (error.status, error.endpoint, error.task_id) == (response.status, "cancel", "42")
