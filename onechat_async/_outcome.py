"""The money rule: what a failed submit says about the task it may have created.

A submit is paid. Every failure of one passes through :func:`settle` exactly once, and the
error it returns is the one the caller sees; :func:`may_resend` is the only question any part
of the library (``submit_retry``, fan-out, the command line) asks before sending the same
submit again. The rule:

- a failure **proves that no task exists** when the request never left (refused locally, the
  connection could not be opened) or when the server's answer was read whole and is an
  explicit refusal (401/403, 429 or code 30, queue full, banned prompt, any other refusal code,
  a route the server does not have);
- anything else **may have created a task**: the connection broke or timed out after the
  request left, a 2xx answer was empty, cut short or not JSON, an accepted answer had no usable
  task id, a 5xx came from a gateway that may have forwarded the request, the caller cancelled
  it in flight. That becomes :class:`SubmitOutcomeUnknownError`, which is never re-sent;
- of the refusals, only those that a later try can turn into a task are worth re-sending
  (``retryable``: rate limited, queue full, connection refused).
"""

from __future__ import annotations

from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    InvalidRequestError,
    OneChatError,
    ServerError,
    SubmitOutcomeUnknownError,
)
from ._requests import Request

__all__ = ["may_resend", "proves_no_task", "settle", "unknown"]

_ACCEPTED = frozenset({1, 21, 22})
#: new-api's code for "I could not get an answer from the upstream" (do_request_failed, ...).
_GATEWAY_TRANSPORT = 5
_REASONS = {
    "timeout": "no answer came in time",
    "connection_lost": "the connection broke after the request was sent",
    "unreadable_answer": "the answer could not be read",
    "server_error": "the server failed after receiving it",
    "no_task_id": "the server accepted it without a usable task id",
    "cancelled": "it was cancelled while in flight",
}


def proves_no_task(error: OneChatError) -> bool:
    """Whether a submit failure shows beyond doubt that the server created no task."""
    if isinstance(error, SubmitOutcomeUnknownError):
        return False
    if isinstance(error, InvalidRequestError | ClientClosedError):
        # Refused before anything was sent.
        return True
    if isinstance(error, APIConnectionError):
        return not error.request_sent
    if isinstance(error, ServerError):
        # A 5xx, an empty or unreadable answer: the server may have acted before failing.
        return False
    return isinstance(error, APIError)


def unknown(
    request: Request, reason: str, *, cause: OneChatError | None = None
) -> SubmitOutcomeUnknownError:
    """The error for a submit to ``request`` whose fate is unknown for ``reason``."""
    what = _REASONS.get(reason, reason)
    detail = f" ({cause.message})" if cause is not None and cause.message else ""
    return SubmitOutcomeUnknownError(
        f"{request.endpoint} may have created a task, but {what}{detail}. It was not sent "
        "again; look for the task by its state before submitting again",
        reason=reason,
        endpoint=request.endpoint,
        task_id=request.task_id,
        state=request.state,
        status=cause.status if cause is not None else None,
        code=cause.code if cause is not None else None,
    )


def _reason(error: OneChatError) -> str:
    if isinstance(error, APITimeoutError):
        return "timeout"
    if isinstance(error, APIConnectionError):
        return "connection_lost"
    if error.code in _ACCEPTED:
        # The server said yes, but the answer did not say to what.
        return "no_task_id"
    if error.code == _GATEWAY_TRANSPORT or (error.status or 0) >= 500:
        return "server_error"
    return "unreadable_answer"


def settle(error: OneChatError, request: Request) -> OneChatError:
    """The error a failed submit raises: the refusal itself, or SubmitOutcomeUnknownError."""
    if proves_no_task(error) or isinstance(error, SubmitOutcomeUnknownError):
        return error
    return unknown(request, _reason(error), cause=error)


def may_resend(error: OneChatError) -> bool:
    """Whether a settled submit error allows the same submit to be sent again."""
    return error.retryable and proves_no_task(error)
