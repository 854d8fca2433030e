"""The journal's pure rules: what a submit with a known key does, and who may track a task."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from onechat_async import _journal as journal
from onechat_async._errors import (
    APIConnectionError,
    APITimeoutError,
    BannedPromptError,
    InvalidRequestError,
    OneChatError,
    QueueFullError,
    ServerError,
    SubmitOutcomeUnknownError,
)
from onechat_async._journal import Claim, KeyState, Replay, Unknown, Wait
from onechat_async._models import SubmitResult
from onechat_async._store import KeyRecord, TaskRecord

NOW = 1_000.0
TTL = 30.0
RESULT = SubmitResult(task_id="1748339029401828", code=1, description="ok", properties={"a": 1})


def found(state: str, *, lease_until: float = 0.0, **changes: Any) -> KeyRecord:
    record = KeyRecord(key="job", state=state, owner="other", lease_until=lease_until, version=4)
    return attrs.evolve(record, **changes)


def decide(record: KeyRecord | None) -> journal.Decision:
    return journal.decide(record, key="job", owner="me", now=NOW, ttl=TTL, tag="order-1")


MINE = KeyRecord(
    key="job", state=KeyState.CLAIMED, owner="me", lease_until=NOW + TTL, tag="order-1"
)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, Claim(MINE, 0)),
        (found(KeyState.REFUSED), Claim(MINE, 4)),
        (found(KeyState.CLAIMED, lease_until=NOW), Claim(MINE, 4)),
        (found(KeyState.CLAIMED, lease_until=NOW + 1), Wait(NOW + 1)),
        (found(KeyState.SENDING, lease_until=NOW + 5), Wait(NOW + 5)),
        (
            found(KeyState.ACCEPTED, result=journal.result_to_data(RESULT)),
            Replay(RESULT),
        ),
    ],
    ids=["new", "refused", "claim-expired", "claim-live", "sending-live", "accepted"],
)
def test_a_submit_claims_waits_or_replays_by_the_state_of_its_key(
    record: KeyRecord | None, expected: journal.Decision
) -> None:
    """No task yet: claim; somebody live holds the key: wait; a task exists: replay it."""
    assert decide(record) == expected


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (found(KeyState.SENDING, lease_until=NOW), "interrupted"),
        (found(KeyState.UNKNOWN, detail="timeout"), "timeout"),
        (found(KeyState.UNKNOWN), "interrupted"),
        (found(KeyState.ACCEPTED), "interrupted"),
        (found("from-a-later-version"), "interrupted"),
    ],
    ids=["sending-expired", "unknown", "unknown-no-detail", "accepted-no-result", "unheard-of"],
)
def test_a_submit_whose_task_may_exist_raises_outcome_unknown(
    record: KeyRecord, reason: str
) -> None:
    """A key whose submit may have made a task is never sent again: the error says why."""
    decision = decide(attrs.evolve(record, tag="order-7"))
    assert isinstance(decision, Unknown)
    assert decision.error.reason == reason
    assert decision.error.state == "order-7"
    assert not decision.error.retryable
    assert "'job'" in decision.error.message


def sent() -> KeyRecord:
    return journal.sending(MINE, now=NOW, ttl=90.0)


def test_sending_holds_the_key_for_the_request_s_whole_timeout() -> None:
    """The SENDING record's lease is the one given, so no one decides while it may be alive."""
    assert sent() == attrs.evolve(MINE, state=KeyState.SENDING, lease_until=NOW + 90.0)
    assert decide(sent()) == Wait(NOW + 90.0)


def test_an_accepted_submit_is_recorded_with_its_result() -> None:
    """accepted() keeps the result as plain data that reads back as the same SubmitResult."""
    record = journal.accepted(sent(), RESULT)
    assert record.state == KeyState.ACCEPTED
    assert record.result == {
        "task_id": "1748339029401828",
        "code": 1,
        "description": "ok",
        "properties": {"a": 1},
    }
    assert decide(record) == Replay(RESULT)


@pytest.mark.parametrize(
    ("error", "state", "detail"),
    [
        (QueueFullError("full", code=23), KeyState.REFUSED, "QueueFullError"),
        (BannedPromptError("no", code=24), KeyState.REFUSED, "BannedPromptError"),
        (InvalidRequestError("bad"), KeyState.REFUSED, "InvalidRequestError"),
        (APIConnectionError("refused", request_sent=False), KeyState.REFUSED, "APIConnectionError"),
        (SubmitOutcomeUnknownError("?", reason="timeout"), KeyState.UNKNOWN, "timeout"),
        (APITimeoutError("slow"), KeyState.UNKNOWN, "unknown"),
        (ServerError("502", status=502), KeyState.UNKNOWN, "unknown"),
    ],
)
def test_a_failed_submit_is_refused_only_when_the_money_rule_proves_no_task(
    error: OneChatError, state: KeyState, detail: str
) -> None:
    """failed() asks _outcome.proves_no_task: refusals may be re-sent, the rest are unknown."""
    record = journal.failed(sent(), error)
    assert (record.state, record.detail, record.lease_until) == (state, detail, 0.0)
    assert isinstance(decide(record), Claim if state == KeyState.REFUSED else Unknown)


def test_a_claim_given_up_before_sending_may_be_claimed_again() -> None:
    """not_sent() marks a claim that never left as refused, so the next submit sends it."""
    record = journal.not_sent(MINE)
    assert record.state == KeyState.REFUSED
    assert isinstance(decide(attrs.evolve(record, owner="other")), Claim)


def test_a_claim_is_renewed_while_it_waits() -> None:
    """renew_claim() moves the claim's lease end and nothing else."""
    assert journal.renew_claim(MINE, now=NOW + 10, ttl=TTL) == attrs.evolve(
        MINE, lease_until=NOW + 10 + TTL
    )


@pytest.mark.parametrize(
    ("transition", "record"),
    [
        (lambda r: journal.sending(r, now=NOW, ttl=TTL), sent()),
        (lambda r: journal.renew_claim(r, now=NOW, ttl=TTL), sent()),
        (lambda r: journal.accepted(r, RESULT), MINE),
        (lambda r: journal.failed(r, QueueFullError("full")), MINE),
        (journal.not_sent, sent()),
    ],
    ids=["sending-twice", "renew-sending", "accept-unsent", "fail-unsent", "unsend-sent"],
)
def test_transitions_from_the_wrong_state_are_refused(
    transition: object, record: KeyRecord
) -> None:
    """A shell bug that skips a step raises instead of writing a record that could re-send."""
    assert callable(transition)
    with pytest.raises(ValueError, match="not"):
        transition(record)


def test_a_stored_result_without_optional_fields_reads_back() -> None:
    """result_from_data() fills what an older record lacks and keeps ids as strings."""
    assert journal.result_from_data({"task_id": 17}) == SubmitResult(task_id="17")


TASK = TaskRecord(task_id="t", owner="other", lease_until=NOW + 1, seq=3, version=2)


@pytest.mark.parametrize(
    ("record", "taken"),
    [
        (TASK, False),
        (attrs.evolve(TASK, lease_until=NOW), True),
        (attrs.evolve(TASK, owner=""), True),
        (attrs.evolve(TASK, owner="me"), True),
        (attrs.evolve(TASK, owner="", terminal=True), False),
    ],
    ids=["held-live", "expired", "free", "mine", "terminal"],
)
def test_a_task_lease_is_taken_only_when_free_expired_or_already_ours(
    record: TaskRecord, taken: bool
) -> None:
    """take_task() takes over a dead worker's task and never a live one's or a finished one."""
    result = journal.take_task(record, owner="me", now=NOW, ttl=TTL)
    if taken:
        assert result == attrs.evolve(record, owner="me", lease_until=NOW + TTL)
    else:
        assert result is None


def test_only_the_owner_renews_releases_or_journals_a_task() -> None:
    """renew_task, release and observe answer None for a worker that does not hold the lease."""
    assert journal.renew_task(TASK, owner="me", now=NOW, ttl=TTL) is None
    assert journal.release(TASK, owner="me") is None
    assert journal.observe(TASK, owner="me", snapshot={}, terminal=False) is None
    assert journal.renew_task(TASK, owner="other", now=NOW, ttl=TTL) == attrs.evolve(
        TASK, lease_until=NOW + TTL
    )
    assert journal.release(TASK, owner="other") == attrs.evolve(TASK, owner="", lease_until=0.0)


def test_each_observation_gets_the_next_sequence_number_and_a_terminal_one_ends_the_lease() -> None:
    """observe() numbers events 4, 5, ... and a terminal state frees the task for good."""
    progress = journal.observe(TASK, owner="other", snapshot={"progress": "46%"}, terminal=False)
    assert progress is not None
    assert (progress.seq, progress.snapshot, progress.owner) == (4, {"progress": "46%"}, "other")
    done = journal.observe(progress, owner="other", snapshot={"status": "SUCCESS"}, terminal=True)
    assert done is not None
    assert (done.seq, done.terminal, done.owner, done.lease_until) == (5, True, "", 0.0)
    assert journal.observe(done, owner="other", snapshot={}, terminal=True) is None
    assert journal.renew_task(done, owner="other", now=NOW, ttl=TTL) is None


def test_a_new_task_is_tracked_by_the_worker_that_submitted_it() -> None:
    """new_task() names the submitting worker and its key, with no event journaled yet."""
    record = journal.new_task("t", key="job", owner="me", now=NOW, ttl=TTL)
    assert record == TaskRecord(task_id="t", key="job", owner="me", lease_until=NOW + TTL)
