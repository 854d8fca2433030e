"""The sans-I/O board: who is due, what an answer changed, when to wake next."""

from __future__ import annotations

import tracemalloc

import pytest

from onechat_async._events import Lost, ProgressChanged, StatusChanged, Succeeded, TimedOut
from onechat_async._models import Task, TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async._schedule import Tracker, chunked

from .conftest import raw_task

POLICY = PollPolicy(batch_window=0.5, interval=5, fast_interval=3, queued_interval=15)


def board(*ids: str, now: float = 0.0, policy: PollPolicy = POLICY) -> Tracker:
    tracker = Tracker(policy)
    for task_id in ids:
        assert tracker.watch(task_id, now) == []
    return tracker


def test_chunked_cuts_at_the_size() -> None:
    """Ids are cut into consecutive chunks of at most the size."""
    ids = [str(i) for i in range(250)]
    assert [len(c) for c in chunked(ids, 100)] == [100, 100, 50]
    assert chunked([], 100) == []


def test_new_watches_wait_a_batch_window_then_come_due_together() -> None:
    """A burst of watches is asked about together, one batch window after it began."""
    tracker = board("a", "b")
    tracker.watch("c", 0.4)
    assert tracker.next_wake() == 0.5
    assert tracker.due(-0.1) == []
    # "c" is due at 0.9, within the batch window of 0.5: it joins the same request.
    assert sorted(tracker.due(0.5)) == ["a", "b", "c"]
    # Asked now: not due again before the queued cadence.
    assert tracker.due(5.0) == []
    assert tracker.next_wake() == pytest.approx(15.5)


def test_the_last_chunk_is_topped_up_with_the_soonest_due() -> None:
    """A part-empty request takes in tasks due soon, aligning them with the rest."""
    policy = PollPolicy(chunk_size=2, batch_window=0, queued_interval=15, interval=5)
    tracker = board("a", "b", "c", policy=policy)
    assert sorted(tracker.due(0.0)) == ["a", "b", "c"]
    tracker.watch("d", 12.0)  # due at 12.0
    tracker.watch("e", 13.0)  # due at 13.0
    # At 12 only "d" is due; "e" (due in 1 s) fills the request; a/b/c were asked at 0 and
    # are due at 15, within one interval, and were not asked lately: the soonest joins.
    assert tracker.due(12.0) == ["d", "e"]
    due = tracker.due(15.0)
    assert sorted(due) == ["a", "b", "c"] or len(due) % 2 == 0


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
    assert tracker.state("42") is state


def test_missing_ids_are_reported_and_numeric_ids_normalised() -> None:
    """Ids left out of an answer come back for confirmation; numeric ids match their string."""
    tracker = board("1748339029401828", "2")
    answer = [{**raw_task("x", "SUBMITTED", "0%"), "id": 1748339029401828}, "junk", {"id": 7}]
    events, missing = tracker.on_listed(["1748339029401828", "2"], answer, 1.0)
    assert [e.task_id for e in events] == ["1748339029401828"]
    assert missing == ["2"]


def test_undecodable_task_is_skipped_not_missing() -> None:
    """A task the converter refuses is neither an event nor missing; it is asked again."""
    # Every field decodes leniently; only an id that is not 1 to 32 digits is refused.
    tracker = board("4" * 33)
    broken = raw_task("4" * 33, "SUBMITTED", "0%")
    events, missing = tracker.on_listed(["4" * 33], [broken], 1.0)
    assert (events, missing) == ([], [])


def test_stale_answer_after_newer_is_ignored_and_terminal_removes() -> None:
    """A stale list answer adds nothing; the terminal one ends and drops the task."""
    tracker = board("42")
    tracker.on_listed(["42"], [raw_task("42", "IN_PROGRESS", "60%")], 1.0)
    assert tracker.on_listed(["42"], [raw_task("42", "IN_PROGRESS", "20%")], 2.0)[0] == []
    task = Task(id="42", status=TaskStatus.SUCCESS, progress=100)
    events = tracker.on_fetched("42", task, 3.0)
    assert events == [Succeeded("42", task)]
    assert "42" not in tracker
    assert tracker.on_fetched("42", task, 4.0) == []
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
    tracker = board("a", "b")
    assert sorted(tracker.due(0.5)) == ["a", "b"]
    tracker.on_failed(["a"], 2.5)
    assert tracker.next_wake() == 2.5
    assert tracker.due(2.5) == ["a"]
    tracker.hold(40.0)
    assert tracker.next_wake() == 40.0
    assert tracker.due(39.0) == []
    assert sorted(tracker.due(40.0)) == ["a", "b"]


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


def test_states_can_be_saved_and_resumed() -> None:
    """Saved states resume on another board, skipping the tasks that already ended."""
    tracker = board("1", "2")
    tracker.on_listed(["1"], [raw_task("1", "IN_PROGRESS", "30%")], 1.0)
    saved = tracker.states()
    other = Tracker(POLICY)
    for state in saved:
        other.resume(state.shifted(100.0), 50.0)
    assert sorted(other) == ["1", "2"]
    assert other.state("1") is not None
    assert other.state("1").progress == 30  # type: ignore[union-attr]
    assert other.on_listed(["1"], [raw_task("1", "IN_PROGRESS", "30%")], 51.0)[0] == []


def test_ten_thousand_tasks_stay_under_two_kib_each() -> None:
    """Per-task memory stays small: state, last snapshot and schedule under 2 KiB."""
    ids = [str(1748339029401000 + i) for i in range(10_000)]
    answer = [raw_task(i, "IN_PROGRESS", "45%", prompt="a cat --v 7") for i in ids]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracker = board(*ids)
        tracker.due(0.5)
        for chunk in chunked(ids, 100):
            tracker.on_listed(chunk, answer[:0], 1.0)
        events, _ = tracker.on_listed(ids, answer, 1.0)
        del events
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(tracker) == 10_000
    assert used / 10_000 < 2048, used / 10_000
