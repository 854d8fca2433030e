"""The money rule in _outcome: what a failed submit proves, and the error the caller sees."""

from __future__ import annotations

import pytest

from onechat_async._errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    InvalidRequestError,
    OneChatError,
    RateLimitError,
    ServerError,
    SubmitOutcomeUnknownError,
)
from onechat_async._outcome import may_resend, proves_no_task, settle, unknown
from onechat_async._requests import Request

CHANGE = Request(
    "POST",
    "/submit/change",
    "change",
    {"taskId": "42", "action": "UPSCALE", "index": 1},
    is_submit=True,
    task_id="42",
    state="mine",
)


@pytest.mark.parametrize(
    ("error", "proves"),
    [
        pytest.param(InvalidRequestError("bad prompt"), True, id="refused-locally"),
        pytest.param(ClientClosedError("closed"), True, id="client-closed"),
        pytest.param(APIConnectionError("refused", request_sent=False), True, id="never-left"),
        pytest.param(APIConnectionError("reset", request_sent=True), False, id="broke-after"),
        pytest.param(ServerError("502", status=502), False, id="5xx"),
        pytest.param(RateLimitError("slow down", status=429), True, id="rate-limited"),
        pytest.param(
            SubmitOutcomeUnknownError("maybe", reason="timeout"), False, id="already-unknown"
        ),
        pytest.param(OneChatError("bare"), False, id="root-error"),
    ],
)
def test_what_each_failure_proves(error: OneChatError, proves: bool) -> None:
    """Only a refusal read whole, or a request that never left, proves no task exists."""
    assert proves_no_task(error) is proves


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(APITimeoutError("read timed out", request_sent=True), "timeout", id="timeout"),
        pytest.param(APIConnectionError("reset", request_sent=True), "connection_lost", id="reset"),
        pytest.param(ServerError("no id", status=200, code=1), "no_task_id", id="accepted-code-1"),
        pytest.param(ServerError("no id", status=200, code=22), "no_task_id", id="queued-code-22"),
        pytest.param(ServerError("lost upstream", status=200, code=5), "server_error", id="code-5"),
        pytest.param(ServerError("bad gateway", status=502), "server_error", id="http-502"),
        pytest.param(ServerError("busy", status=500, code=4), "server_error", id="http-500"),
        pytest.param(ServerError("not JSON", status=200), "unreadable_answer", id="garbage-200"),
        pytest.param(ServerError("not JSON", status=None), "unreadable_answer", id="no-status"),
    ],
)
def test_a_doubtful_failure_settles_as_unknown_with_its_reason(
    error: OneChatError, reason: str
) -> None:
    """Each doubtful failure becomes SubmitOutcomeUnknownError naming what happened."""
    settled = settle(error, CHANGE)
    assert isinstance(settled, SubmitOutcomeUnknownError)
    assert settled.reason == reason
    assert not may_resend(settled)


def test_a_refusal_settles_as_itself() -> None:
    """A refusal read whole is handed back unchanged, so its type and fields reach the caller."""
    refusal = AuthenticationError("bad key", status=401)
    assert settle(refusal, CHANGE) is refusal
    already = SubmitOutcomeUnknownError("maybe", reason="cancelled")
    assert settle(already, CHANGE) is already


def test_the_unknown_error_says_what_happened_and_carries_the_exchange() -> None:
    """The message names the endpoint, what went wrong and the cause; the fields are kept."""
    cause = ServerError("bad gateway", status=502, code=7)
    error = unknown(CHANGE, "server_error", cause=cause)
    assert error.message == (
        "change may have created a task, but the server failed after receiving it "
        "(bad gateway). It was not sent again; look for the task by its state before "
        "submitting again"
    )
    assert (error.reason, error.endpoint, error.task_id, error.state) == (
        "server_error",
        "change",
        "42",
        "mine",
    )
    assert (error.status, error.code) == (502, 7)
    assert error.retryable is False


def test_the_unknown_error_without_a_cause_has_no_status_and_no_detail() -> None:
    """Without a cause (a cancelled submit) the message has no parentheses and no status."""
    error = unknown(CHANGE, "cancelled")
    assert error.message.startswith(
        "change may have created a task, but it was cancelled while in flight. It was not"
    )
    assert (error.status, error.code) == (None, None)


def test_a_cause_without_a_message_adds_no_empty_parentheses() -> None:
    """A cause whose message is empty leaves the sentence whole rather than adding ``()``."""
    error = unknown(CHANGE, "timeout", cause=APITimeoutError("", status=None))
    assert "in time. It was not sent again" in error.message
    assert "()" not in error.message


def test_an_unlisted_reason_is_named_as_given() -> None:
    """A reason without a prepared phrase still appears in the message, as itself."""
    error = unknown(CHANGE, "power_cut")
    assert "but power_cut. It was not sent again" in error.message
    assert error.reason == "power_cut"
