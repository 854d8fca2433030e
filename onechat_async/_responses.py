"""Reading answers: from (status, headers, body) to a value or the right exception.

One pure function per kind of answer. The servers speak three error shapes (new-api's
``{"error": {...}}``, midjourney-proxy's ``{"code", "description"}`` and the C# rewrite's
``{"success": false, ...}``), answer wrong paths with an HTML page and HTTP 200, and leave
bodies empty when they feel like it. All of that is sorted out here, with no I/O.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from datetime import UTC
from typing import Any, Final

import attrs

from ._errors import (
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
from ._models import SubmitResult, Task
from ._requests import Request
from ._secrets import shorten
from ._wire import (
    Row,
    WireError,
    decode_submit_result,
    decode_task,
    parse_json,
    read_rows,
    row_of,
    wire_code,
)

__all__ = [
    "Response",
    "is_missing_route",
    "read_cancelled",
    "read_raw_task",
    "read_raw_task_list",
    "read_seed",
    "read_submit",
    "read_task",
    "read_task_list",
    "read_task_rows",
    "read_uploaded",
    "retry_after",
]

_ACCEPTED = frozenset({1, 21, 22})
_QUEUE_FULL_WORDS = ("队列已满", "queue is full", "queue full")
_NO_CHANNEL_WORDS = ("无可用渠道", "no available channel")
#: new-api's code for "the upstream could not be reached or answered nothing usable".
_TRANSPORT_CODE: Final = 5
#: The proxies' "no such task / no account" code; with HTTP 404 it is trueai's "parent gone".
_NOT_FOUND_CODE: Final = 3
_NOT_FOUND_WORDS = ("task_no_found", "task_not_found", "not found", "不存在")
# A hostile server must not be able to make an error message, or a log line, huge.
_MAX_MESSAGE: Final = 500
_MAX_SEED: Final = 64


@attrs.frozen
class Response:
    """One HTTP answer, as data: the shell fills it in, the functions below read it."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name (the first one, should a server send it twice)."""
        headers = self.headers
        names = list(headers)
        # Every submit's answer asks for its Content-Type: matched in C, not in a Python loop.
        try:
            return headers[names[list(map(str.lower, names)).index(name.lower())]]
        except ValueError:
            return None

    @property
    def looks_like_html(self) -> bool:
        """Whether the body is a web page rather than an API answer."""
        # Any markup, "<!doctype" and "<html" in whatever case included, starts with "<".
        if self.body[:256].lstrip().startswith(b"<"):
            return True
        content_type = self.header("content-type")
        return content_type is not None and "html" in content_type


def retry_after(value: str | None, *, now_wall: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date).

    Always a finite number of seconds, at least 0, or None when the header says nothing
    usable (absent, ``NaN``, ``inf``, ``1e400``, a date that does not parse). It is not capped
    here: the backoff that uses it decides how long is too long.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, now_wall)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _seconds_until(date: str, now_wall: float) -> float:
    """Seconds from ``now_wall`` to an HTTP date; NaN when it is not one."""
    try:
        when = email.utils.parsedate_to_datetime(date)
        if when.tzinfo is None:
            # "-0000" parses as a naive datetime; RFC 5322 means UTC by it, not local time.
            when = when.replace(tzinfo=UTC)
        return when.timestamp() - now_wall
    except (TypeError, ValueError, OverflowError, IndexError):
        return math.nan


def _scalar_text(value: object) -> str | None:
    """Text for a field that is a word or a prompt: a str or a number, else None."""
    if isinstance(value, dict | list):
        return None
    return _text(value) or None


def _text(value: object) -> str:
    """A value a server put where text belongs, as text of bounded length."""
    if not value:
        return ""
    if type(value) is str:
        return shorten(value.strip(), _MAX_MESSAGE)
    if type(value) in (int, float, bool):
        # A number's text is short unless an int is absurd; str() refuses those past the
        # interpreter's digit limit.
        try:
            return shorten(str(value), _MAX_MESSAGE)
        except ValueError:
            return ""
    # An object or a list is no text: rendering it could cut a key in two.
    return f"(a {type(value).__name__} where text was expected)"


def _message(data: object) -> str:
    """The human part of any of the three error shapes, at most about 500 characters."""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        text = _text(error.get("message"))
        if text:
            return text
    for key in ("description", "message", "msg"):
        text = _text(data.get(key))
        if text:
            return text
    return ""


def _code(data: object) -> int | None:
    return wire_code(data.get("code")) if isinstance(data, dict) else None


def _json_or_none(response: Response) -> object:
    try:
        return parse_json(response.body) if response.body.strip() else None
    except WireError:
        return None


def is_missing_route(response: Response) -> bool:
    """Whether the answer says "no such endpoint here" rather than anything about the task.

    Such answers certainly created no task, so another route may be tried: a 404 with no API
    code (the C# upstream dropped ``/change`` and ``/simple-change``: an empty 404), an HTML
    page (the gateway's answer to unknown paths), or new-api's 503 "no channel" (its
    simple-change routing defect). A 404 that carries a code is about the task: trueai answers
    ``404 {"code": 3}`` when the parent task is gone.
    """
    if response.status in (404, 405):
        return _code(_json_or_none(response)) is None
    if response.status == 200 and response.looks_like_html:
        return True
    if response.status == 503:
        message = _message(_json_or_none(response)).lower()
        return any(word in message for word in _NO_CHANNEL_WORDS)
    return False


def _context(response: Response, request: Request, code: int | None = None) -> dict[str, Any]:
    """What every error raised here carries about the exchange it came from."""
    return {
        "status": response.status,
        "code": code,
        "task_id": request.task_id,
        "state": request.state,
        "endpoint": request.endpoint,
    }


def _http_error(response: Response, request: Request, *, now_wall: float) -> OneChatError | None:
    """The error that the HTTP layer alone decides, or None when the body must be read."""
    status = response.status
    if 200 <= status < 300:
        # The hot path (every poll tick): decide without parsing the body a first time.
        if not response.looks_like_html:
            return None
        # For a submit, only the gateway's page for an unknown path proves nothing was made.
        page = (
            SubmitRejectedError if request.is_submit and is_missing_route(response) else ServerError
        )
        return page(
            "the server answered with an HTML page: is the base URL right?",
            **_context(response, request),
            retryable=False,
        )
    data = _json_or_none(response)
    message = _message(data)
    code = _code(data)
    common = _context(response, request, code)
    if status in (401, 403):
        return AuthenticationError(message or f"HTTP {status}: the key was refused", **common)
    if status == 429:
        wait = retry_after(response.header("retry-after"), now_wall=now_wall)
        return RateLimitError(message or "HTTP 429: too many requests", retry_after=wait, **common)
    if not request.is_submit and (
        (status == 400 and any(w in message.lower() for w in _NOT_FOUND_WORDS))
        or (status == 404 and code == _NOT_FOUND_CODE)
    ):
        return TaskNotFoundError(message or "task not found", **common)
    if code == _TRANSPORT_CODE:
        # new-api could not reach the upstream (do_request_failed, empty_response_body...):
        # retryable for a query; for a submit, _outcome decides what it means.
        return ServerError(message or f"HTTP {status}: the gateway lost the upstream", **common)
    if status >= 500:
        if request.is_submit and is_missing_route(response):
            # new-api's "no channel": it found nowhere to send the submit.
            return SubmitRejectedError(message or f"HTTP {status}: no channel", **common)
        # Retryable for queries; for a submit, _outcome decides what it means.
        return ServerError(message or f"HTTP {status} from the server", **common)
    if status >= 300:
        cls = SubmitRejectedError if request.is_submit and data is not None else APIError
        return cls(message or f"unexpected HTTP {status}", **common)
    return None


def _body(response: Response, request: Request) -> object:
    try:
        return parse_json(response.body)
    except WireError as exc:
        # No whitespace-only body is JSON: the empty body is told apart only once refused.
        empty = not response.body.strip()
        raise ServerError(
            "the server answered with an empty body" if empty else str(exc),
            **_context(response, request),
        ) from None


def _submit_refusal(data: dict[str, Any], response: Response, request: Request) -> OneChatError:
    code = _code(data)
    message = _message(data) or f"submit refused with code {code}"
    common = _context(response, request, code)
    properties = data.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    if code == 30:
        return RateLimitError(message, **common)
    if code == 23 or (code == 9 and any(w in message.lower() for w in _QUEUE_FULL_WORDS)):
        return QueueFullError(message, **common)
    if code == 24:
        return BannedPromptError(
            message,
            banned_word=_scalar_text(properties.get("bannedWord")),
            prompt_en=_scalar_text(properties.get("promptEn")),
            **common,
        )
    if code == _TRANSPORT_CODE:
        return ServerError(
            f"{message} (the gateway lost the upstream answer: the task may exist)",
            retryable=False,
            **common,
        )
    return SubmitRejectedError(message, **common)


def _accepted(
    response: Response, request: Request, *, now_wall: float
) -> tuple[dict[str, Any], int | None]:
    """A submit answer's object and code once it says "accepted", or the error that says why not."""
    status = response.status
    # A 2xx that is no web page is decided by its body alone: skip the HTTP layer's checks.
    if not 200 <= status < 300 or response.looks_like_html:
        error = _http_error(response, request, now_wall=now_wall)
        if error is not None:
            raise error
    data = _body(response, request)
    if not isinstance(data, dict):
        raise ServerError(
            f"submit answer is not a JSON object: {type(data).__name__}",
            **_context(response, request),
        )
    code = wire_code(data.get("code"))
    if code not in _ACCEPTED or data.get("success") is False:
        raise _submit_refusal(data, response, request)
    return data, code


def read_submit(response: Response, request: Request, *, now_wall: float) -> SubmitResult:
    """The accepted submit, or the error that says why it was refused."""
    data, code = _accepted(response, request, now_wall=now_wall)
    try:
        return decode_submit_result(data, code=code)
    except WireError as exc:
        raise ServerError(str(exc), **_context(response, request, code)) from None


def read_uploaded(response: Response, request: Request, *, now_wall: float) -> list[str]:
    """The URLs an ``upload-discord-images`` answer lists in ``result``."""
    data, code = _accepted(response, request, now_wall=now_wall)
    result = data.get("result")
    urls = [u for u in result if isinstance(u, str) and u] if isinstance(result, list) else []
    if not urls:
        # Accepted (and charged) without a usable URL: as unknown as a lost answer.
        raise ServerError(
            "the upload was accepted but its answer lists no URL",
            **_context(response, request, code),
        )
    return urls


def read_cancelled(response: Response, request: Request, *, now_wall: float) -> None:
    """A cancel answer (trueai: 200, empty): None, or why the server would not cancel."""
    if 200 <= response.status < 300 and not response.looks_like_html:
        return
    if response.status in (200, 404, 405) and is_missing_route(response):
        raise APIError(
            "this server offers no task cancel: only a bare trueai proxy does, for an admin key",
            **_context(response, request),
            retryable=False,
        )
    if response.status == 400 and _json_or_none(response) is None:
        # trueai's refusal is plain text ("演示模式" etc.: not an admin key).
        text = shorten(response.body.decode("utf-8", "replace").strip(), 200)
        raise APIError(
            f"the server refused the cancel ({text or 'HTTP 400'}); trueai cancels only for an "
            "admin key",
            **_context(response, request),
        )
    error = _http_error(response, request, now_wall=now_wall)
    raise error or APIError(f"unexpected HTTP {response.status}", **_context(response, request))


def _not_found(response: Response, request: Request, message: str = "") -> TaskNotFoundError:
    return TaskNotFoundError(
        message or f"the server does not know task {request.task_id}",
        **_context(response, request),
    )


def _query_data(response: Response, request: Request, *, now_wall: float) -> object:
    if request.task_id is not None and (
        response.status == 204 or (response.status == 200 and not response.body.strip())
    ):
        # The C# upstream answers 204, the bare Java proxy an empty 200, for an unknown id.
        raise _not_found(response, request)
    error = _http_error(response, request, now_wall=now_wall)
    if error is not None:
        raise error
    return _body(response, request)


def _query_refusal(data: dict[str, Any], response: Response, request: Request) -> OneChatError:
    message = _message(data)
    if any(w in message.lower() for w in _NOT_FOUND_WORDS):
        return _not_found(response, request, message)
    return APIError(
        message or "the server refused the query", **_context(response, request, _code(data))
    )


def read_raw_task(response: Response, request: Request, *, now_wall: float) -> object:
    """One task object from ``/task/{id}/fetch``, still in wire form (the poller decodes it)."""
    data = _query_data(response, request, now_wall=now_wall)
    if data is None:
        raise _not_found(response, request)
    if isinstance(data, dict) and "id" not in data and ("code" in data or "error" in data):
        raise _query_refusal(data, response, request)
    return data


def read_task(response: Response, request: Request, *, now_wall: float) -> Task:
    """One task from ``/task/{id}/fetch``."""
    data = read_raw_task(response, request, now_wall=now_wall)
    try:
        return decode_task(data)
    except WireError as exc:
        raise ServerError(str(exc), **_context(response, request)) from None


def read_raw_task_list(
    response: Response, request: Request, *, now_wall: float
) -> list[dict[str, Any]]:
    """The task objects from ``/task/list-by-condition``, still in wire form.

    The poller compares these cheaply and decodes only the ones that changed.
    """
    data = _query_data(response, request, now_wall=now_wall)
    if isinstance(data, dict):
        raise _query_refusal(data, response, request)
    if not isinstance(data, list):
        raise ServerError("task list is not a JSON array", **_context(response, request))
    return [item for item in data if isinstance(item, dict)]


def read_task_rows(response: Response, request: Request, *, now_wall: float) -> list[Row]:
    """The task objects from ``/task/list-by-condition`` as :class:`~onechat_async._wire.Row` s.

    What :func:`read_raw_task_list` reads, the same errors and the same values, but read by
    msgspec straight into rows where it can (the poller's hot path: it compares every row
    and decodes only the ones that moved).
    """
    if request.task_id is None and _http_error(response, request, now_wall=now_wall) is None:
        rows = read_rows(response.body)
        if rows is not None:
            return rows
    return [row_of(item) for item in read_raw_task_list(response, request, now_wall=now_wall)]


def read_task_list(response: Response, request: Request, *, now_wall: float) -> list[Task]:
    """The tasks from ``/task/list-by-condition``: any order, unknown ids left out.

    An item that cannot be decoded is dropped rather than failing the whole chunk; whoever
    asked for it notices its absence and asks for that id alone.
    """
    tasks = []
    for item in read_raw_task_list(response, request, now_wall=now_wall):
        try:
            tasks.append(decode_task(item))
        except WireError:
            continue
    return tasks


def read_seed(response: Response, request: Request, *, now_wall: float) -> str:
    """The seed from ``/task/{id}/image-seed``."""
    data = _query_data(response, request, now_wall=now_wall)
    if not isinstance(data, dict):
        raise ServerError("seed answer is not a JSON object", **_context(response, request))
    if _code(data) != 1:
        raise _query_refusal(data, response, request)
    result = data.get("result")
    if type(result) is int and abs(result) < 10**_MAX_SEED:
        return str(result)
    if type(result) is str and 0 < len(result.strip()) <= _MAX_SEED:
        return result.strip()
    if result in (None, ""):
        raise _query_refusal(data, response, request)
    raise ServerError("seed answer has no usable seed", **_context(response, request, 1))
