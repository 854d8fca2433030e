"""The tracker's board in _tracker: who is due, what an answer changes, when to wake up."""

from __future__ import annotations

import json
from typing import Any

import pytest

from onechat_async import _tracker as _tracker_module
from onechat_async import _wire
from onechat_async._events import (
    Event,
    Failed,
    ProgressChanged,
    Stalled,
    StatusChanged,
    Succeeded,
    TimedOut,
)
from onechat_async._models import Task, TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async._task_state import fingerprint
from onechat_async._tracker import Tracker
from onechat_async._wire import WireError

#: Queued tasks on the running cadence, so that every delay below is easy to follow.
POLICY = PollPolicy(
    interval=5,
    fast_interval=3,
    queued_interval=5,
    batch_window=0.5,
    deadline=None,
    stall_after=None,
)


def raw(task_id: str, status: str, progress: str = "") -> dict[str, Any]:
    return {"id": task_id, "status": status, "progress": progress}


def test_an_untracked_id_has_no_state_and_no_task() -> None:
    """Asking about an id nobody tracks gives None, not an error."""
    tracker = Tracker(POLICY)
    assert tracker.state("99") is None
    assert tracker.task("99") is None


def test_a_part_empty_request_is_topped_up_with_the_tasks_due_soonest() -> None:
    """Three due tasks leave room in a chunk of 100: the five due within the interval join."""
    tracker = Tracker(POLICY)
    for task_id in ("1", "2", "3"):
        tracker.watch(task_id, 0.0)
    for task_id in ("4", "5", "6", "7", "8"):
        tracker.watch(task_id, 2.0)
    assert sorted(tracker.due(0.5)) == ["1", "2", "3", "4", "5", "6", "7", "8"]


def test_a_task_due_exactly_one_interval_ahead_joins_the_top_up() -> None:
    """The top-up window includes its far end: now + interval."""
    tracker = Tracker(POLICY)
    tracker.watch("1", 0.0)
    tracker.watch("2", 5.0)  # first due at 5.5, exactly one interval after 0.5
    assert tracker.due(0.5) == ["1", "2"]


def asked_at_zero() -> Tracker:
    """A board where task 1 was asked about at 0 and answered (next due at 5)."""
    tracker = Tracker(POLICY)
    tracker.watch("1", -0.5)
    assert tracker.due(0.0) == ["1"]
    tracker.on_fetched("1", raw("1", "SUBMITTED"), 0.0)
    return tracker


def test_a_task_asked_about_lately_does_not_top_up() -> None:
    """A task asked about less than fast_interval ago waits for its own turn."""
    tracker = asked_at_zero()
    tracker.watch("2", 1.5)
    assert tracker.due(2.0) == ["2"]


def test_a_task_asked_about_exactly_fast_interval_ago_may_top_up() -> None:
    """Exactly fast_interval after its last question a task may join another request."""
    tracker = asked_at_zero()
    tracker.watch("2", 2.5)
    assert tracker.due(3.0) == ["2", "1"]


def test_a_task_near_its_end_is_asked_about_sooner() -> None:
    """Once progress and its rate are known, the next question comes at the fast cadence."""
    tracker = Tracker(POLICY)
    tracker.watch("1", -0.5)
    assert tracker.due(0.0) == ["1"]
    tracker.on_fetched("1", raw("1", "IN_PROGRESS", "90%"), 0.0)
    assert tracker.due(5.0) == ["1"]
    # 6% in 6 s: 4% left takes 4 s, so the answer asked for at 5 is followed up at 5 + 3.
    tracker.on_fetched("1", raw("1", "IN_PROGRESS", "96%"), 6.0)
    assert tracker.due(7.0) == []
    assert tracker.due(8.0) == ["1"]
    # The question sent at 8 sets the next one by the same rate: 8 + 3.
    tracker.on_fetched("1", raw("1", "IN_PROGRESS", "96%"), 8.5)
    assert tracker.due(10.0) == []
    assert tracker.due(10.5) == ["1"]


@pytest.mark.parametrize("deadline", [None, 100])
def test_a_stalled_task_that_moves_can_stall_again(deadline: int | None) -> None:
    """A change after Stalled re-arms the alarm, so a new quiet stretch is reported too."""
    tracker = Tracker(PollPolicy(interval=5, deadline=deadline, stall_after=10))
    tracker.watch("1", 0.0)
    assert [type(e) for e in tracker.expire(10.0)] == [Stalled]
    events = tracker.on_fetched("1", raw("1", "IN_PROGRESS", "10%"), 12.0)
    assert [type(e) for e in events] == [StatusChanged, ProgressChanged]
    assert tracker.expire(21.0) == []
    assert [type(e) for e in tracker.expire(22.0)] == [Stalled]


def test_every_task_past_its_deadline_times_out_in_one_pass() -> None:
    """A task that times out does not stop the pass: the others past their deadline follow."""
    tracker = Tracker(PollPolicy(interval=5, deadline=10, stall_after=None))
    tracker.watch("1", 0.0)
    tracker.watch("2", 0.0)
    events = tracker.expire(10.0)
    assert [(type(e), e.task_id) for e in events] == [(TimedOut, "1"), (TimedOut, "2")]
    assert len(tracker) == 0


def test_nothing_to_wake_up_for_while_every_task_is_in_flight() -> None:
    """Without deadlines or stalls, a board whose tasks are all being asked about sleeps."""
    tracker = Tracker(POLICY)
    tracker.watch("1", 0.0)
    assert tracker.due(0.5) == ["1"]
    assert tracker.next_wake() is None


def test_junk_and_strangers_in_a_list_answer_do_not_hide_the_rest() -> None:
    """Items that are not objects, or about untracked ids, are skipped, not the end of the list."""
    tracker = Tracker(POLICY)
    tracker.watch("42", 0.0)
    tracker.due(0.5)
    answer = ["junk", raw("999", "SUCCESS"), raw("42", "IN_PROGRESS", "5%")]
    events, confirm = tracker.on_listed(["42"], answer, 1.0)
    assert [type(e) for e in events] == [StatusChanged, ProgressChanged]
    assert confirm == []


def test_a_listed_answer_is_remembered_by_its_fingerprint() -> None:
    """The raw fields of a decoded list item are kept, so the same item is not decoded twice."""
    tracker = Tracker(POLICY)
    tracker.watch("42", 0.0)
    tracker.due(0.5)
    item = raw("42", "IN_PROGRESS", "5%")
    tracker.on_listed(["42"], [item], 1.0)
    state = tracker.state("42")
    assert state is not None
    assert state.fingerprint == fingerprint(item)


def test_each_pass_over_the_clock_sets_the_next_alarm() -> None:
    """After one task stalls, the next task's stall is still reported when its time comes."""
    tracker = Tracker(PollPolicy(interval=5, deadline=None, stall_after=10))
    tracker.watch("1", 0.0)
    tracker.watch("2", 5.0)
    assert [e.task_id for e in tracker.expire(10.0)] == ["1"]
    assert [e.task_id for e in tracker.expire(15.0)] == ["2"]


def listed_twice(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """The statuses the events carry for task 1 after one answer that lists it twice."""
    tracker = Tracker(POLICY)
    tracker.watch("1", -0.5)
    assert tracker.due(0.0) == ["1"]
    events, confirm = tracker.on_listed(["1"], [first, second], 0.0)
    assert confirm == []
    return sorted({str(t.status) for e in events if (t := getattr(e, "task", None)) is not None})


DUPLICATE_ROWS = [
    # (first row, second row, the status that must win): the gateway's frozen MODAL row
    # beside the live one, in either order, and rows level on status told apart by progress.
    (raw("1", "MODAL"), raw("1", "IN_PROGRESS", "40%"), "IN_PROGRESS"),
    (raw("1", "IN_PROGRESS", "40%"), raw("1", "MODAL"), "IN_PROGRESS"),
    (raw("1", "SUBMITTED"), raw("1", "SUCCESS", "100%"), "SUCCESS"),
    (raw("1", "SUCCESS", "100%"), raw("1", "SUBMITTED"), "SUCCESS"),
    (raw("1", "IN_PROGRESS", "10%"), raw("1", "IN_PROGRESS", "60%"), "IN_PROGRESS"),
]


def test_of_two_rows_for_one_task_the_one_further_along_wins() -> None:
    """A list answer naming a task twice is read as its row further along, in either order."""
    for first, second, winner in DUPLICATE_ROWS:
        assert listed_twice(first, second) == [winner], (first, second)


def test_of_two_rows_level_on_status_the_higher_progress_is_kept() -> None:
    """Two IN_PROGRESS rows: the 60% one is the task's state whichever comes first."""
    for rows in (
        [raw("1", "IN_PROGRESS", "10%"), raw("1", "IN_PROGRESS", "60%")],
        [raw("1", "IN_PROGRESS", "60%"), raw("1", "IN_PROGRESS", "10%")],
    ):
        tracker = Tracker(POLICY)
        tracker.watch("1", -0.5)
        tracker.due(0.0)
        tracker.on_listed(["1"], rows, 0.0)
        task = tracker.task("1")
        assert task is not None
        assert task.progress == 60, rows


def _gateway_row(task_id: str, **changes: Any) -> dict[str, Any]:
    """A running task as the gateway lists it, with ``changes`` applied."""
    row: dict[str, Any] = {
        "id": task_id,
        "action": "IMAGINE",
        "status": "IN_PROGRESS",
        "progress": "10%",
        "prompt": "a lighthouse",
        "promptEn": "a lighthouse",
        "description": "提交成功",
        "submitTime": 1_750_000_000_000,
        "finishTime": 0,
        "failReason": "",
        "imageUrl": f"https://example.invalid/{task_id}?rand=1",
        "properties": {"finalPrompt": "", "finalZhPrompt": ""},
        "buttons": [],
    }
    return row | changes


def _listed_tracker(
    monkeypatch: pytest.MonkeyPatch, ids: list[str]
) -> tuple[Tracker, list[object]]:
    """A tracker that has seen ``ids`` once, and the ids of the rows it decodes from then on."""
    tracker = Tracker(POLICY)
    for task_id in ids:
        tracker.watch(task_id, 0.0)
    tracker.due(0.5)
    tracker.on_listed(ids, [_gateway_row(task_id) for task_id in ids], 1.0)
    decoded: list[object] = []

    real = _wire.decode_row

    def counting(row: _wire.Row, **kwargs: Any) -> Task:
        decoded.append(row.id)
        return real(row, **kwargs)

    monkeypatch.setattr(_tracker_module, "decode_row", counting)
    tracker.due(6.0)
    return tracker, decoded


def test_a_row_whose_fingerprint_did_not_move_is_not_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another image URL, prompt and properties but the same four fields: no decode, no event."""
    tracker, decoded = _listed_tracker(monkeypatch, ["42"])
    before = tracker.task("42")
    row = _gateway_row(
        "42", imageUrl="https://example.invalid/42?rand=2", prompt="x", properties={"a": "b"}
    )
    events, confirm = tracker.on_listed(["42"], [row], 7.0)
    assert (events, confirm, decoded) == ([], [], [])
    assert tracker.task("42") is before


@pytest.mark.parametrize(
    ("changes", "event"),
    [
        pytest.param({"progress": "20%"}, ProgressChanged, id="progress"),
        pytest.param({"status": "SUCCESS", "progress": "100%"}, Succeeded, id="status"),
        pytest.param({"status": "FAILURE", "failReason": "banned"}, Failed, id="fail-reason"),
        pytest.param({"status": "SUCCESS", "finishTime": 1_750_000_100_000}, Succeeded, id="end"),
    ],
)
def test_a_row_whose_fingerprint_moved_is_decoded_into_its_event(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], event: type[Event]
) -> None:
    """A change in any of status, progress, failReason or finishTime is decoded and told."""
    tracker, decoded = _listed_tracker(monkeypatch, ["42"])
    row = _gateway_row("42", **changes)
    events, confirm = tracker.on_listed(["42"], [row], 7.0)
    assert ([type(e) for e in events], confirm, decoded) == ([event], [], ["42"])


def test_a_status_change_at_the_same_progress_is_seen_on_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SUBMITTED 0% then IN_PROGRESS 0%: only the status moved, and that is news."""
    tracker = Tracker(POLICY)
    tracker.watch("42", 0.0)
    tracker.due(0.5)
    tracker.on_listed(["42"], [_gateway_row("42", status="SUBMITTED", progress="0%")], 1.0)
    tracker.due(6.0)
    events, _ = tracker.on_listed(["42"], [_gateway_row("42", progress="0%")], 7.0)
    assert [(type(e), e.status) for e in events if isinstance(e, StatusChanged)] == [
        (StatusChanged, TaskStatus.IN_PROGRESS)
    ]
    assert len(events) == 1


def test_a_bad_row_in_a_fast_path_batch_touches_only_its_own_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Among moving rows, one that cannot be read is confirmed alone; the others are told."""
    ids = ["1", "2", "3", "4"]
    tracker, _ = _listed_tracker(monkeypatch, ids)
    real = _wire.decode_row

    def failing_on_3(row: _wire.Row, **kwargs: Any) -> Task:
        if row.id == "3":
            raise WireError("unreadable")
        return real(row, **kwargs)

    monkeypatch.setattr(_tracker_module, "decode_row", failing_on_3)
    answer: list[object] = [
        _gateway_row("1", progress="20%"),
        "junk",
        {"id": 2.5, "status": "SUCCESS"},
        _gateway_row("3", progress="20%"),
        _gateway_row("4", progress=["hostile"], status={"x": 1}, properties=[[[]]]),
    ]
    events, confirm = tracker.on_listed(ids, answer, 7.0)
    assert [(type(e), e.task_id) for e in events] == [(ProgressChanged, "1")]
    assert confirm == ["2", "3"]
    assert tracker.state("4") is not None


def test_a_decoded_task_keeps_the_trackers_id_and_shares_repeated_values() -> None:
    """The Task's id is the watched str, promptEn the prompt, equal properties one dict."""
    tracker = Tracker(POLICY)
    ids = ["".join(["4", "2"]), "".join(["4", "3"])]
    for task_id in ids:
        tracker.watch(task_id, 0.0)
    tracker.due(0.5)
    # Equal prompts, as two str objects the way a parser makes them.
    prompts = {"prompt": "".join(["a ", "cat"]), "promptEn": "".join(["a c", "at"])}
    rows = [_gateway_row("42", **prompts), _gateway_row("43", properties={})]
    tracker.on_listed(ids, rows, 1.0)
    first, second = tracker.task("42"), tracker.task("43")
    assert first is not None
    assert second is not None
    assert first.id is ids[0]
    assert first.prompt_en is first.prompt
    assert second.properties == {}
    assert first.description is second.description
    other = Tracker(POLICY)
    other.watch("42", 0.0)
    other.due(0.5)
    other.on_listed(["42"], [_gateway_row("42")], 1.0)
    again = other.task("42")
    assert again is not None
    assert again.properties is first.properties
    assert other.state("42").fingerprint is tracker.state("42").fingerprint  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param(PollPolicy(interval=5, deadline=None, stall_after=None), None, id="never"),
        pytest.param(PollPolicy(interval=5, deadline=None, stall_after=10), 12.0, id="stall"),
        pytest.param(PollPolicy(interval=5, deadline=7, stall_after=10), 9.0, id="deadline"),
    ],
)
def test_the_next_alarm_is_the_earliest_one_or_none(
    policy: PollPolicy, expected: float | None
) -> None:
    """next_alarm is when the first stall or deadline falls due, and None when none can."""
    tracker = Tracker(policy)
    assert tracker.next_alarm() is None
    tracker.watch("1", 2.0)
    assert tracker.next_alarm() == expected


def _answer_events(answer: list[object]) -> tuple[list[tuple[str, str, int | None]], list[str]]:
    """What a tracker that watches "1" to "3" tells from ``answer``, and what it confirms."""
    tracker = Tracker(POLICY)
    for task_id in ("1", "2", "3"):
        tracker.watch(task_id, 0.0)
    tracker.due(0.5)
    events, confirm = tracker.on_listed(["1", "2", "3"], answer, 1.0)
    return [(type(e).__name__, e.task_id, getattr(e, "progress", None)) for e in events], confirm


@pytest.mark.parametrize(
    "objects",
    [
        pytest.param([_gateway_row("1"), _gateway_row("2")], id="str-ids"),
        pytest.param([_gateway_row("1") | {"id": 1}, _gateway_row("2")], id="an-int-id"),
        pytest.param(
            [_gateway_row("1", progress="30%"), _gateway_row("1", status="MODAL")],
            id="listed-twice",
        ),
        pytest.param([_gateway_row("1"), {"status": "SUCCESS"}, _gateway_row("9")], id="no-id"),
    ],
)
def test_rows_read_by_msgspec_tell_what_parsed_objects_tell(objects: list[Any]) -> None:
    """An answer read into rows gives the events and confirmations its parsed dicts give."""
    rows = _wire.read_rows(json.dumps(objects).encode())
    assert rows is not None
    assert _answer_events(list(rows)) == _answer_events(list(objects))
