"""The soak's rules, on made-up records: each rule holds when it should and fails when not."""

from __future__ import annotations

import pytest

from onechat_async import (
    APIConnectionError,
    ServerError,
    StatusChanged,
    SubmitFailed,
    SubmitOutcomeUnknownError,
    SubmitResult,
    Submitted,
    Succeeded,
    Task,
    TaskStatus,
)
from onechat_async.testing import CreatedTask, Fault, SubmitRecord
from tests.soak.ledger import (
    Ledger,
    check_escapes,
    check_reported_once,
    check_sent_once,
    group,
    proves_no_task,
)

IMAGINED = CreatedTask("101", "imagine", "s1", "IMAGINE")
CHILD = CreatedTask("202", "simple-change", "s2", "VARIATION", "101", 3)


def unknown(state: str | None) -> SubmitOutcomeUnknownError:
    return SubmitOutcomeUnknownError("lost", reason="connection_lost", state=state)


def done(task_id: str) -> Succeeded:
    return Succeeded(task_id, Task(task_id, TaskStatus.SUCCESS))


def running(task_id: str) -> StatusChanged:
    return StatusChanged(task_id, Task(task_id), TaskStatus.IN_PROGRESS)


def test_a_returned_task_with_one_terminal_event_is_reported_once() -> None:
    """Returned by its submit, then one terminal event: nothing to say."""
    ledger = Ledger()
    ledger.submit_returned(("s1", None), "101")
    ledger.event("s1", None, running("101"))
    ledger.event("s1", None, done("101"))
    assert check_reported_once([IMAGINED], ledger) == []
    assert (ledger.submit_calls, ledger.events) == (1, 2)


@pytest.mark.parametrize(("terminals", "said"), [(0, "0 terminal events"), (2, "2 terminal")])
def test_a_returned_task_needs_exactly_one_terminal_event(terminals: int, said: str) -> None:
    """No terminal event, or two, for a returned task is a violation naming the task."""
    ledger = Ledger()
    ledger.submit_returned(("s1", None), "101")
    for _ in range(terminals):
        ledger.terminal("101")
    [violation] = check_reported_once([IMAGINED], ledger)
    assert (violation.rule, violation.subject) == ("reported-once", "task 101 (state=s1, imagine)")
    assert said in violation.detail


def test_a_stream_that_stopped_is_named() -> None:
    """When the stream ended with an error instead, the violation says which."""
    ledger = Ledger()
    ledger.submit_returned(("s1", None), "101")
    ledger.stream_failed(("s1", None), ServerError("tracking stopped: the poller crashed"))
    [violation] = check_reported_once([IMAGINED], ledger)
    assert "poller crashed" in violation.detail


def test_an_outcome_unknown_error_with_the_state_reports_the_task() -> None:
    """A created task whose submit raised SubmitOutcomeUnknownError(state) is reported."""
    ledger = Ledger()
    ledger.submit_failed(("s1", None), unknown("s1"))
    assert check_reported_once([IMAGINED], ledger) == []
    assert ledger.outcome_unknown == 1


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (unknown(None), "lacks its state"),
        (ServerError("HTTP 502", state="s1"), "not SubmitOutcomeUnknownError"),
        (APIConnectionError("reset", state="s1"), "APIConnectionError"),
    ],
)
def test_other_errors_for_a_created_task_are_violations(error: Exception, said: str) -> None:
    """Any other error, or an outcome-unknown one without the state, hides a paid task."""
    ledger = Ledger()
    assert isinstance(error, SubmitOutcomeUnknownError | ServerError | APIConnectionError)
    ledger.submit_failed(("s1", None), error)
    [violation] = check_reported_once([IMAGINED], ledger)
    assert said in violation.detail


def test_one_unknown_error_covers_one_task_only() -> None:
    """Two tasks for one key and one outcome-unknown error: the second is unreported."""
    ledger = Ledger()
    ledger.submit_failed(("s1", None), unknown("s1"))
    twin = CreatedTask("102", "imagine", "s1", "IMAGINE")
    [violation] = check_reported_once([IMAGINED, twin], ledger)
    assert violation.subject.startswith("task 102")


def test_nothing_heard_and_never_created_ids() -> None:
    """A created task with no outcome at all, and a returned id never created, are both named."""
    ledger = Ledger()
    ledger.submit_returned(("s9", None), "999")
    ledger.terminal("999")
    found = check_reported_once([IMAGINED], ledger)
    assert [v.subject for v in found] == ["task 101 (state=s1, imagine)", "task 999 (state=s9)"]
    assert "never returned" in found[0].detail
    assert "never created" in found[1].detail


def test_fan_out_events_are_filed_by_their_op() -> None:
    """Submitted and SubmitFailed of a fan-out are filed under (state, op)."""
    ledger = Ledger()
    ledger.event("s2", None, Submitted("202", SubmitResult("202"), "101", op="V3"))
    ledger.event("s2", None, SubmitFailed("101", unknown("s2"), op="U1"))
    ledger.event("s2", None, done("202"))
    assert check_reported_once([CHILD], ledger) == []
    assert ledger.returned["202"] == [("s2", "V3")]
    assert ledger.outcome_unknown == 1
    assert ledger.terminals["101"] == 0


def test_events_after_the_terminal_one_are_violations() -> None:
    """Anything after a task's terminal event breaks "exactly once"."""
    ledger = Ledger()
    ledger.submit_returned(("s1", None), "101")
    ledger.event("s1", None, done("101"))
    ledger.event("s1", None, running("101"))
    [violation] = check_reported_once([IMAGINED], ledger)
    assert "StatusChanged came after its terminal event" in violation.detail


def record(
    state: str | None = "s1",
    status: int | None = 200,
    code: int | None = 1,
    task_id: str | None = None,
    fault: Fault | None = None,
) -> SubmitRecord:
    return SubmitRecord("imagine", state, status, code, task_id, fault)


@pytest.mark.parametrize(
    ("answer", "proof"),
    [
        (record(status=429, code=30, fault=Fault(kind="http_429")), True),
        (record(status=200, code=23), True),
        (record(status=400, code=4), True),
        (record(status=401, code=None), True),
        (record(status=200, code=1, task_id="101"), False),
        (record(status=200, code=None, fault=Fault(kind="empty_body")), False),
        (record(status=502, code=None, fault=Fault(kind="http_5xx_html")), False),
        (record(status=None, code=None, fault=Fault(kind="reset")), False),
        (record(status=200, code=23, fault=Fault(kind="slow")), False),
        (record(status=None, code=None), False),
        (record(status=200, code=1), False),
    ],
)
def test_which_answers_prove_no_task(answer: SubmitRecord, proof: bool) -> None:
    """Only a refusal the client could read proves no task; lost or late answers do not."""
    assert proves_no_task(answer) is proof


def test_sending_again_after_a_proof_is_fine() -> None:
    """A resend after a 429 and a queue-full answer breaks nothing."""
    submits = [
        record(status=429, code=30, fault=Fault(kind="http_429")),
        record(status=200, code=23),
        record(task_id="101"),
    ]
    assert check_sent_once(submits) == []


def test_sending_again_after_a_lost_answer_is_a_violation() -> None:
    """A resend after an empty body is named with the whole history of that key."""
    submits = [record(status=200, code=None, fault=Fault(kind="empty_body")), record(task_id="1")]
    [violation] = check_sent_once(submits)
    assert (violation.rule, violation.subject) == ("sent-once", "state=s1")
    assert "empty_body/before] then [HTTP 200 code 1 created 1]" in violation.detail


def test_two_tasks_for_one_key_and_a_lost_state_are_violations() -> None:
    """Two created tasks for one (state, op), or a submit without its state, are named."""
    submits = [
        record(task_id="1", fault=Fault(kind="empty_body", phase="after")),
        record(task_id="2"),
        record(state=None, task_id="3"),
    ]
    found = check_sent_once(submits)
    assert [v.subject for v in found] == ["imagine", "state=s1"]
    assert "arrived without its state" in found[0].detail
    assert "2 tasks created ['1', '2']" in found[1].detail


def test_escapes_and_grouping() -> None:
    """Non-OneChatError exceptions become violations; group() counts them by rule."""
    ledger = Ledger()
    ledger.escaped("stream", ("s1", None), "OverflowError: boom")
    found = check_escapes(ledger)
    assert [str(v) for v in found] == [
        "[only-onechat-errors] stream (state=s1): OverflowError: boom"
    ]
    assert group(found * 12, examples=1).splitlines() == [
        "only-onechat-errors: 12 violation(s)",
        "  stream (state=s1): OverflowError: boom",
        "  ... and 11 more",
    ]


def test_a_task_hidden_by_a_resend_names_the_one_given_instead() -> None:
    """When a re-send's task was returned, the first, unreported task names it."""
    ledger = Ledger()
    ledger.submit_returned(("s1", None), "102")
    ledger.terminal("102")
    twin = CreatedTask("102", "imagine", "s1", "IMAGINE")
    [violation] = check_reported_once([IMAGINED, twin], ledger)
    assert violation.subject.startswith("task 101")
    assert "given ['102'] for this submit instead" in violation.detail
