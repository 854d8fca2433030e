"""The sans-I/O board: who is due, what an answer changed, when to wake next."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from onechat_async._errors import ServerError
from onechat_async._events import (
    Lost,
    ProgressChanged,
    StatusChanged,
    Succeeded,
    TimedOut,
    Unreadable,
)
from onechat_async._models import TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async._tracker import Tracker, chunked
from onechat_async._wire import decode_task

from .conftest import raw_task

POLICY = PollPolicy(batch_window=0.5, interval=5, fast_interval=3, queued_interval=15)

#: Hostile values in a wire item with a readable id: each decodes leniently.
HOSTILE: list[Any] = [
    pytest.param({"buttons": [{"customId": "x", "type": None}]}, id="button-type-null"),
    pytest.param({"buttons": [{"customId": "x", "type": "big"}]}, id="button-type-word"),
    pytest.param({"finishTime": float("inf")}, id="finish-time-1e400"),
    pytest.param({"startTime": 1e20}, id="start-time-1e20"),
    pytest.param({"buttons": [{"customId": "x", "type": float("inf")}]}, id="button-type-1e400"),
    pytest.param({"status": {"a": 1}, "progress": [1]}, id="status-an-object"),
]


def board(*ids: str, now: float = 0.0, policy: PollPolicy = POLICY) -> Tracker:
    tracker = Tracker(policy)
    for task_id in ids:
        assert tracker.watch(task_id, now) == []
    return tracker


def answer(tracker: Tracker, ids: list[str], now: float, status: str = "SUBMITTED") -> None:
    """Hand back a list answer that has every one of ``ids`` in ``status``."""
    tracker.on_listed(ids, [raw_task(task_id, status) for task_id in ids], now)


def test_chunked_cuts_at_the_size() -> None:
    """Ids are cut into consecutive chunks of at most the size."""
    ids = [str(i) for i in range(250)]
    assert [len(c) for c in chunked(ids, 100)] == [100, 100, 50]
    assert chunked([], 100) == []


def test_new_watches_wait_a_batch_window_then_come_due_together() -> None:
    """A burst of watches is asked about together, one batch window after it began."""
    tracker = board("101", "102")
    tracker.watch("103", 0.4)
    assert tracker.next_wake() == 0.5
    assert tracker.due(-0.1) == []
    # "103" is due at 0.9, within the batch window of 0.5: it joins the same request.
    assert sorted(tracker.due(0.5)) == ["101", "102", "103"]
    answer(tracker, ["101", "102", "103"], 1.0)
    # Asked now: not due again before the queued cadence.
    assert tracker.due(5.0) == []
    assert tracker.next_wake() == pytest.approx(15.5)
    assert sorted(tracker.due(15.5)) == ["101", "102", "103"]


def test_the_last_chunk_is_topped_up_with_the_soonest_due() -> None:
    """A part-empty request takes in tasks due soon, aligning them with the rest."""
    policy = PollPolicy(chunk_size=2, batch_window=0, queued_interval=15, interval=5)
    tracker = board("101", "102", "103", policy=policy)
    assert sorted(tracker.due(0.0)) == ["101", "102", "103"]
    answer(tracker, ["101", "102", "103"], 1.0)  # due again at 15
    tracker.watch("d", 12.0)  # due at 12.0
    tracker.watch("e", 13.0)  # due at 13.0
    # At 12 only "d" is due; "e" (due in 1 s) fills the request; a/b/c were asked at 0 and
    # are due at 15, within one interval, and were not asked lately: the soonest joins.
    assert tracker.due(12.0) == ["d", "e"]
    answer(tracker, ["d", "e"], 12.5)
    # d and e were asked lately, so they do not top up the chunk of a, b and c.
    assert sorted(tracker.due(15.0)) == ["101", "102", "103"]


def test_quiet_answers_are_skipped_without_decoding() -> None:
    """An answer whose fingerprint did not move changes nothing, whatever else it holds."""
    tracker = board("42")
    tracker.due(0.5)
    events, _ = tracker.on_listed(["42"], [raw_task("42", "IN_PROGRESS", "20%")], 1.0)
    assert [type(e) for e in events] == [StatusChanged, ProgressChanged]
    state = tracker.state("42")
    # A different prompt and image URL but the same fingerprint: skipped, state untouched.
    quiet = raw_task("42", "IN_PROGRESS", "20%", prompt="other", imageUrl="x?rand=9")
    assert tracker.on_listed(["42"], [quiet], 2.0) == ([], [])
    # Not even decoded: an item that would not decode is not sent for confirmation.
    broken = raw_task("42", "IN_PROGRESS", "20%", buttons=[{"customId": "x", "type": None}])
    assert tracker.on_listed(["42"], [broken], 3.0) == ([], [])
    assert tracker.state("42") is state


def test_missing_ids_are_reported_and_numeric_ids_normalised() -> None:
    """Ids left out of an answer come back for confirmation; numeric ids match their string."""
    tracker = board("1748339029401828", "2")
    answer_ = [{**raw_task("x", "SUBMITTED", "0%"), "id": 1748339029401828}, "junk", {"id": 7}]
    events, missing = tracker.on_listed(["1748339029401828", "2"], answer_, 1.0)
    assert [e.task_id for e in events] == ["1748339029401828"]
    assert missing == ["2"]


def test_stale_answer_after_newer_is_ignored_and_terminal_removes() -> None:
    """A stale list answer adds nothing; the terminal one ends and drops the task."""
    tracker = board("42")
    tracker.on_listed(["42"], [raw_task("42", "IN_PROGRESS", "60%")], 1.0)
    assert tracker.on_listed(["42"], [raw_task("42", "IN_PROGRESS", "20%")], 2.0)[0] == []
    raw = raw_task("42", "SUCCESS", "100%")
    events = tracker.on_fetched("42", raw, 3.0)
    assert events == [Succeeded("42", decode_task(raw))]
    assert "42" not in tracker
    assert tracker.on_fetched("42", raw, 4.0) == []
    assert tracker.next_wake() is None


def test_unknown_ends_lost_with_the_last_sighting() -> None:
    """A confirmed unknown id yields Lost with the last snapshot and stops being tracked."""
    tracker = board("42")
    tracker.on_listed(["42"], [raw_task("42", "SUBMITTED", "0%")], 1.0)
    last = tracker.task("42")
    assert tracker.on_unknown("42") == [Lost("42", last)]
    assert tracker.on_unknown("42") == []
    assert len(tracker) == 0


def test_failures_reschedule_and_hold_blocks_everything() -> None:
    """Failed ids are asked again at the retry time; a hold stops all asking until it ends."""
    tracker = board("101", "102")
    assert sorted(tracker.due(0.5)) == ["101", "102"]
    tracker.on_failed(["101"], 2.5)
    assert tracker.next_wake() == 2.5
    assert tracker.due(2.5) == ["101"]  # "102" is still in flight
    tracker.on_failed(["101", "102"], 3.0)
    tracker.hold(40.0)
    assert tracker.next_wake() == 40.0
    assert tracker.due(39.0) == []
    assert sorted(tracker.due(40.0)) == ["101", "102"]


def test_moving_task_is_polled_sooner_after_it_starts() -> None:
    """A queued task that starts running gets the base cadence at once, not after 15 s."""
    tracker = board("42")
    tracker.due(0.5)  # next at 15.5 for a task not seen yet
    tracker.on_listed(["42"], [raw_task("42", "IN_PROGRESS", "10%")], 1.0)
    assert tracker.next_wake() == pytest.approx(5.5)


def test_expire_times_out_and_drops() -> None:
    """The policy deadline ends a task with TimedOut and removes it."""
    tracker = board("42", policy=PollPolicy(deadline=60, stall_after=None))
    assert tracker.expire(59.0) == []
    assert tracker.expire(60.0) == [TimedOut("42", None, 60.0)]
    assert "42" not in tracker


def test_watching_a_tracked_task_replays_it() -> None:
    """A second watcher of a known task hears where it stands."""
    tracker = board("42")
    tracker.on_listed(["42"], [raw_task("42", "SUBMITTED", "0%")], 1.0)
    assert [type(e) for e in tracker.watch("42", 2.0)] == [StatusChanged]


def test_ten_thousand_tasks_stay_under_two_kib_each() -> None:
    """Per-task memory stays small: state, last snapshot and schedule under 2 KiB."""
    ids = [str(1748339029401000 + i) for i in range(10_000)]
    answer_ = [raw_task(i, "IN_PROGRESS", "45%", prompt="a cat --v 7") for i in ids]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracker = board(*ids)
        tracker.due(0.5)
        for chunk in chunked(ids, 100):
            tracker.on_listed(chunk, answer_[:0], 1.0)
        events, _ = tracker.on_listed(ids, answer_, 1.0)
        del events
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(tracker) == 10_000
    assert used / 10_000 < 2048, used / 10_000


# -- in flight: asked once until the answer comes back ---------------------------------------


def _listed(tracker: Tracker, now: float) -> None:
    tracker.on_listed(["101"], [raw_task("101", "SUBMITTED", "0%")], now)


def _fetched(tracker: Tracker, now: float) -> None:
    tracker.on_fetched("101", raw_task("101", "SUBMITTED", "0%"), now)


def _failed(tracker: Tracker, now: float) -> None:
    tracker.on_failed(["101"], now)


@pytest.mark.parametrize(
    "hand_back",
    [
        pytest.param(_listed, id="on_listed"),
        pytest.param(_fetched, id="on_fetched"),
        pytest.param(_failed, id="on_failed"),
    ],
)
def test_an_id_in_flight_is_not_due_again_until_its_answer_is_handed_back(
    hand_back: Callable[[Tracker, float], None],
) -> None:
    """due() marks ids in flight: however late it gets, none is asked again before its answer."""
    tracker = board("101", "102")
    assert sorted(tracker.due(0.5)) == ["101", "102"]
    # "102" fails and comes due again and again; "101" stays in flight all along.
    tracker.on_failed(["102"], 100.0)
    assert tracker.due(100.0) == ["102"]
    tracker.on_failed(["102"], 500.0)
    assert tracker.due(500.0) == ["102"]
    hand_back(tracker, 500.0)
    assert tracker.due(600.0) == ["101"]


def test_ids_to_confirm_stay_in_flight_and_unknown_ends_them() -> None:
    """An id left out of a list answer stays in flight until its confirmation is handed back."""
    tracker = board("101", "102")
    assert sorted(tracker.due(0.5)) == ["101", "102"]
    _, confirm = tracker.on_listed(["101", "102"], [raw_task("102", "SUBMITTED", "0%")], 1.0)
    assert confirm == ["101"]
    # "102" was answered and comes due again; "101" waits for its confirmation.
    assert tracker.due(100.0) == ["102"]
    assert tracker.on_unknown("101") == [Lost("101", None)]
    assert "101" not in tracker
    assert tracker.due(200.0) == []


@pytest.mark.parametrize("hostile", HOSTILE)
def test_one_hostile_item_in_a_list_touches_no_other_task(hostile: dict[str, Any]) -> None:
    """A hostile item decodes leniently for its own task; its neighbours' news is kept."""
    tracker = board("6", "7", "8")
    tracker.due(0.5)
    items = [
        raw_task("6", "IN_PROGRESS", "20%"),
        {**raw_task("7", "IN_PROGRESS", "30%"), **hostile},
        raw_task("8", "SUCCESS", "100%"),
        {"status": "SUCCESS", "progress": "100%"},  # an item without an id
        {"id": "7\n", "status": "SUCCESS"},  # an id that is not quite "7"
    ]
    events, confirm = tracker.on_listed(["6", "7", "8"], items, 1.0)
    seen = [(type(e).__name__, e.task_id) for e in events]
    assert seen[:2] == [("StatusChanged", "6"), ("ProgressChanged", "6")]
    assert seen[-1] == ("Succeeded", "8")
    assert ("StatusChanged", "7") in seen
    assert confirm == []
    assert sorted(tracker) == ["6", "7"]
    state = tracker.state("7")
    assert state is not None
    assert not state.ended


@pytest.mark.parametrize(
    ("make_raw", "problem"),
    [
        pytest.param(lambda: "<html>", "not a JSON object", id="not-an-object"),
        pytest.param(lambda: {"status": "SUCCESS"}, "usable id", id="no-id"),
        pytest.param(lambda: raw_task("6", "SUCCESS", "100%"), "about task 6", id="other-task"),
        pytest.param(lambda: {"id": "7x", "status": "SUCCESS"}, "usable id", id="id-not-digits"),
    ],
)
def test_an_unreadable_fetch_ends_that_task_alone_unreadable(
    make_raw: Callable[[], object], problem: str
) -> None:
    """A fetch answer that cannot be read, or is about another task, ends only its task."""
    tracker = board("6", "7")
    tracker.due(0.5)
    tracker.on_listed(["6", "7"], [raw_task(i, "IN_PROGRESS", "30%") for i in ("6", "7")], 1.0)
    last = tracker.task("7")
    before = tracker.state("6")
    events = tracker.on_fetched("7", make_raw(), 2.0)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Unreadable)
    assert event.is_terminal
    assert (event.task_id, event.task) == ("7", last)
    assert isinstance(event.error, ServerError)
    assert not event.error.retryable
    assert event.error.task_id == "7"
    assert problem in str(event.error)
    assert "7" not in tracker
    # The other task is untouched: same state, still tracked, still due on its own cadence.
    assert tracker.state("6") is before
    assert tracker.on_fetched("7", raw_task("7", "SUCCESS", "100%"), 3.0) == []


def test_the_fingerprint_sees_a_status_change_at_the_same_progress() -> None:
    """SUBMITTED "0%" then IN_PROGRESS "0%" in list answers yields StatusChanged."""
    tracker = board("42")
    tracker.due(0.5)
    events, _ = tracker.on_listed(["42"], [raw_task("42", "SUBMITTED", "0%")], 1.0)
    assert [type(e) for e in events] == [StatusChanged]
    events, _ = tracker.on_listed(["42"], [raw_task("42", "IN_PROGRESS", "0%")], 2.0)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, StatusChanged)
    assert (event.status, event.previous) == (TaskStatus.IN_PROGRESS, TaskStatus.SUBMITTED)
