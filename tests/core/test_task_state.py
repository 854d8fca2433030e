"""One task's state machine in _task_state: progress, rate, fingerprints, ends and alarms."""

from __future__ import annotations

import pytest

from onechat_async import _task_state
from onechat_async._errors import ServerError
from onechat_async._events import Cancelled, Failed, ProgressChanged, StatusChanged, Unreadable
from onechat_async._models import Task, TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async._task_state import (
    Fingerprint,
    TrackedTask,
    alarm,
    observe,
    replay,
    start,
    time_out,
    unreadable,
)

POLICY = PollPolicy(deadline=None, stall_after=None)


def snap(status: str, progress: int | None = None, reason: str | None = None) -> Task:
    return Task(id="42", status=TaskStatus(status), progress=progress, fail_reason=reason)


def test_the_first_percent_is_news() -> None:
    """1% seen first is a ProgressChanged from nothing, and the state remembers 1."""
    state, events = observe(start("42", 0.0, POLICY), snap("IN_PROGRESS", 1), 1.0)
    assert events[-1] == ProgressChanged("42", snap("IN_PROGRESS", 1), 1, None)
    assert state.progress == 1


def test_progress_events_carry_the_previous_value() -> None:
    """Each ProgressChanged says where the progress came from."""
    state, _ = observe(start("42", 0.0, POLICY), snap("IN_PROGRESS", 20), 1.0)
    _, events = observe(state, snap("IN_PROGRESS", 60), 2.0)
    assert events == [ProgressChanged("42", snap("IN_PROGRESS", 60), 60, 20)]


def test_a_status_change_without_progress_keeps_the_progress_known() -> None:
    """A new status that says no progress keeps the last one, so lower numbers stay stale."""
    state, _ = observe(start("42", 0.0, POLICY), snap("SUBMITTED", 30), 1.0)
    state, events = observe(state, snap("IN_PROGRESS"), 2.0)
    assert events == [
        StatusChanged("42", snap("IN_PROGRESS"), TaskStatus.IN_PROGRESS, TaskStatus.SUBMITTED)
    ]
    assert state.progress == 30
    _, events = observe(state, snap("IN_PROGRESS", 20), 3.0)
    assert events == []


def test_two_snapshots_at_the_same_instant_give_no_rate() -> None:
    """Progress seen twice at the same time moves the progress but cannot give a rate."""
    state, _ = observe(start("42", 0.0, POLICY), snap("IN_PROGRESS", 10), 5.0)
    state, events = observe(state, snap("IN_PROGRESS", 20), 5.0)
    assert [type(e) for e in events] == [ProgressChanged]
    assert (state.progress, state.rate) == (20, None)
    state, _ = observe(state, snap("IN_PROGRESS", 40), 7.0)
    assert state.rate == 10.0


def test_a_snapshot_without_news_is_remembered_by_its_fingerprint() -> None:
    """Answers that change nothing keep their fingerprint, so the same one is not decoded again."""
    first: Fingerprint = ("SUBMITTED", "0%", None, None)
    state, _ = observe(start("42", 0.0, POLICY), snap("SUBMITTED", 0), 1.0, seen=first)
    assert state.fingerprint == first
    sideways: Fingerprint = ("WEIRD", "0%", None, None)
    state, events = observe(state, snap("WEIRD", 0), 2.0, seen=sideways)
    assert (events, state.fingerprint) == ([], sideways)
    same: Fingerprint = ("SUBMITTED", 0, None, None)
    state, events = observe(state, snap("SUBMITTED", 0), 3.0, seen=same)
    assert (events, state.fingerprint) == ([], same)
    # An answer whose fingerprint was not taken (fetched alone) leaves the last one in place.
    state, events = observe(state, snap("SUBMITTED", 0), 4.0)
    assert (events, state.fingerprint) == ([], same)


def test_a_failure_without_a_reason_has_an_empty_reason() -> None:
    """A FAILURE whose failReason is missing ends Failed with reason "", not a made-up text."""
    _, events = observe(start("42", 0.0, POLICY), snap("FAILURE"), 1.0)
    assert events == [Failed("42", snap("FAILURE"), "")]


def test_replay_says_nothing_about_an_ended_or_unseen_task() -> None:
    """A late joiner hears nothing of a task that ended, or that no snapshot described yet."""
    seen, _ = observe(start("42", 0.0, POLICY), snap("IN_PROGRESS", 5), 1.0)
    assert replay(seen, None) == []
    ended, _ = observe(seen, snap("SUCCESS", 100), 2.0)
    assert replay(ended, snap("SUCCESS", 100)) == []
    assert [type(e) for e in replay(seen, snap("IN_PROGRESS", 5))] == [
        StatusChanged,
        ProgressChanged,
    ]


def test_the_alarm_is_the_earlier_of_stall_and_deadline() -> None:
    """The next alarm is the stall time, or the deadline when that comes first or alone."""
    stalls = PollPolicy(deadline=None, stall_after=60)
    assert alarm(start("42", 0.0, stalls), stalls) == 60.0
    both = PollPolicy(deadline=30, stall_after=60)
    assert alarm(start("42", 0.0, both), both) == 30.0
    late = PollPolicy(deadline=90, stall_after=60)
    assert alarm(start("42", 0.0, late), late) == 60.0


def test_a_timeout_counts_the_time_tracked() -> None:
    """TimedOut carries the seconds since the task was first watched, even under one."""
    assert time_out(start("42", 10.0, POLICY), 10.5, None).seconds == 0.5


def test_an_unreadable_task_ends() -> None:
    """After Unreadable the state is ended, so nothing more is said about the task."""
    error = ServerError("cannot read")
    state, events = unreadable(start("42", 0.0, POLICY), None, error)
    assert events == [Unreadable("42", None, error)]
    assert state.ended is True
    assert unreadable(state, None, error) == (state, [])
    assert isinstance(state, TrackedTask)


def test_a_cancel_ends_the_task_it_is_about() -> None:
    """CANCEL gives Cancelled for this task's id."""
    _, events = observe(start("42", 0.0, POLICY), snap("CANCEL"), 1.0)
    assert events == [Cancelled("42", snap("CANCEL"))]


def test_news_keeps_the_deadline() -> None:
    """A snapshot that changes the state leaves the deadline where watching set it."""
    policy = PollPolicy(deadline=30, stall_after=None)
    state, events = observe(start("42", 5.0, policy), snap("IN_PROGRESS", 10), 6.0)
    assert events
    assert state.deadline_at == 35.0


def test_kept_fingerprints_are_shared_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal fingerprints are kept as one tuple, unhashable ones as they are, in a bounded table."""
    monkeypatch.setattr(_task_state, "_SHARED_FINGERPRINTS", {})
    monkeypatch.setattr(_task_state, "_SHARED_FINGERPRINTS_MAX", 2)
    first = ("IN_PROGRESS", "5%", "", 0)
    assert _task_state._shared(("IN_PROGRESS", "5%", "", 0)) is _task_state._shared(first)
    odd = (["IN_PROGRESS"], None, None, None)
    assert _task_state._shared(odd) is odd
    for progress in ("6%", "7%"):
        _task_state._shared(("IN_PROGRESS", progress, "", 0))
    assert len(_task_state._SHARED_FINGERPRINTS) == 1


@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        pytest.param(snap("IN_PROGRESS"), snap("IN_PROGRESS"), "a", id="level-no-progress"),
        pytest.param(snap("IN_PROGRESS", 0), snap("IN_PROGRESS"), "a", id="level-0-and-none"),
        pytest.param(snap("IN_PROGRESS", 40), snap("IN_PROGRESS", 40), "a", id="level-40"),
        pytest.param(snap("IN_PROGRESS"), snap("IN_PROGRESS", 1), "b", id="1-beats-none"),
        pytest.param(snap("IN_PROGRESS", 0), snap("IN_PROGRESS", 1), "b", id="1-beats-0"),
        pytest.param(snap("IN_PROGRESS", 1), snap("IN_PROGRESS", 0), "a", id="1-kept-over-0"),
        pytest.param(snap("MODAL", 90), snap("IN_PROGRESS"), "b", id="status-first"),
    ],
)
def test_the_snapshot_further_along_wins_and_a_level_one_keeps_the_first(
    a: Task, b: Task, winner: str
) -> None:
    """Of two snapshots, the later status or higher progress wins; when level, the first stays."""
    assert _task_state.further(a, b) is {"a": a, "b": b}[winner]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({}, (None, None, None, None), id="none"),
        pytest.param({"status": "SUCCESS"}, ("SUCCESS", None, None, None), id="status-only"),
        pytest.param({"progress": "5%"}, (None, "5%", None, None), id="progress-only"),
        pytest.param({"failReason": "no"}, (None, None, "no", None), id="reason-only"),
        pytest.param({"finishTime": 9}, (None, None, None, 9), id="finish-only"),
        pytest.param(
            {"status": "FAILURE", "progress": "", "failReason": "x", "imageUrl": "u"},
            ("FAILURE", "", "x", None),
            id="finish-missing",
        ),
    ],
)
def test_a_row_missing_fields_is_fingerprinted_by_the_fields_it_has(
    raw: dict[str, object], expected: Fingerprint
) -> None:
    """A field a row leaves out counts as null, and each field is read from its own wire name."""
    assert _task_state.fingerprint(raw) == expected


def test_a_new_fingerprint_is_kept_as_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the shared table empty, the state keeps the fingerprint it was given, equal to it."""
    monkeypatch.setattr(_task_state, "_SHARED_FINGERPRINTS", {})
    seen: Fingerprint = ("IN_PROGRESS", "12%", "", None)
    state, _ = observe(start("42", 0.0, POLICY), snap("IN_PROGRESS", 12), 1.0, seen=seen)
    assert state.fingerprint == seen
