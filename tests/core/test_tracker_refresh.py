"""PollPolicy.refresh_interval in the tracker: after a change, no question before the next."""

from __future__ import annotations

from typing import Any
from zlib import crc32

import pytest

from onechat_async._models import Task, TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async._tracker import (
    _WATCH_ONE_IN,
    _WATCH_ONE_IN_MAX,
    _WATCHERS_AT_LEAST,
    _WATCHES_FIRST,
    Tracker,
)

#: The gateway's shape: asked every 5 s, a task's copy refreshed every 15 s (the default
#: refresh_interval, 3 x interval), questions batched within half a second.
POLICY = PollPolicy(interval=5, batch_window=0.5, stall_after=None, deadline=None)


def row(progress: int, task_id: str = "1") -> dict[str, Any]:
    return {"id": task_id, "status": "IN_PROGRESS", "progress": f"{progress}%"}


def ask_and_answer(tracker: Tracker, at: float, progress: int, task_id: str = "1") -> None:
    """Ask at ``at`` (the task must be due), answered 0.1 s later at ``progress``."""
    assert tracker.due(at) == [task_id]
    tracker.on_listed([task_id], [row(progress, task_id)], at + 0.1)


def next_question(tracker: Tracker, task_id: str = "1") -> float:
    return tracker._entries[task_id].next_at


def started(policy: PollPolicy = POLICY) -> Tracker:
    """A tracker that saw task 1 once at 10%, asked at 0.5 (a first sighting: no wait)."""
    tracker = Tracker(policy)
    tracker.watch("1", 0.0)
    ask_and_answer(tracker, 0.5, 10)
    assert next_question(tracker) == pytest.approx(5.5)
    return tracker


def test_after_a_change_the_task_waits_for_the_next_refresh() -> None:
    """A change seen at 5.5 came after 0.5, so the next comes at 15.5: asked at 15.0, not 10.5."""
    tracker = started()
    ask_and_answer(tracker, 5.5, 20)
    assert next_question(tracker) == pytest.approx(15.0)
    assert tracker.due(10.5) == []
    assert tracker.due(14.4) == []
    assert tracker.due(14.5) == ["1"]  # due within the batch window


def test_changes_that_keep_to_the_refresh_keep_the_rule() -> None:
    """A change 15 s after the last one's bound is what a refreshing server does: it waits again."""
    tracker = started()
    ask_and_answer(tracker, 5.5, 20)
    ask_and_answer(tracker, 15.0, 20)  # the probe: nothing yet
    assert next_question(tracker) == pytest.approx(20.0)
    ask_and_answer(tracker, 20.0, 30)  # changed after the probe at 15.0
    assert not tracker.refresh_disproved
    assert next_question(tracker) == pytest.approx(15.0 + 15 - 0.5)


def test_a_change_sooner_than_the_refresh_drops_the_rule_for_good() -> None:
    """A second change within 15 s of the first's bound disproves the rule: cadence from then."""
    tracker = started()
    ask_and_answer(tracker, 5.5, 20)
    ask_and_answer(tracker, 15.0, 30)  # answered at 15.1 < 0.5 + 15: too soon for a refresh
    assert tracker.refresh_disproved
    assert next_question(tracker) == pytest.approx(20.0)
    ask_and_answer(tracker, 20.0, 40)
    assert next_question(tracker) == pytest.approx(25.0)  # no wait any more


def test_without_refresh_interval_a_change_changes_nothing() -> None:
    """refresh_interval=None: the task is asked about at the cadence after a change."""
    tracker = started(PollPolicy(interval=5, batch_window=0.5, refresh_interval=None))
    ask_and_answer(tracker, 5.5, 20)
    assert next_question(tracker) == pytest.approx(10.5)


def test_a_first_sighting_or_a_snapshot_after_a_callback_sets_no_wait() -> None:
    """Only a change between two polled answers is timed: a callback's snapshot is not one."""
    tracker = started()
    task = Task(id="1", status=TaskStatus.IN_PROGRESS, progress=15)
    tracker.on_pushed(task, 3.0)
    tracker._entries["1"].next_at = 5.5  # asked at the cadence again (as if pushes stopped)
    tracker._push(5.5, "1")
    ask_and_answer(tracker, 5.5, 20)
    assert next_question(tracker) == pytest.approx(10.5)
    ask_and_answer(tracker, 10.5, 30)  # a change between two polls: timed again
    assert not tracker.refresh_disproved
    assert next_question(tracker) == pytest.approx(5.5 + 15 - 0.5)


def test_a_waiting_task_does_not_top_up_a_request() -> None:
    """A part-empty request is not filled with a task whose next change cannot have come."""
    tracker = Tracker(PollPolicy(interval=5, batch_window=0.5, chunk_size=2, deadline=None))
    tracker.watch("1", 0.0)
    tracker.watch("2", 0.0)
    assert sorted(tracker.due(0.5)) == ["1", "2"]
    tracker.on_listed(["1", "2"], [row(10, "1"), row(10, "2")], 0.6)
    assert sorted(tracker.due(5.5)) == ["1", "2"]
    tracker.on_listed(["1", "2"], [row(20, "1"), row(10, "2")], 5.6)  # 1 changed, 2 did not
    # At 10.5 task 2 is due and task 1 waits until 15.0: though within an interval and not
    # asked lately, it does not fill the request's second place.
    assert tracker.due(10.5) == ["2"]


def settled(task_id: str) -> Tracker:
    """A tracker whose rule has held for every watched change, then task ``task_id`` changed.

    Task ``task_id`` was seen at 10% (asked at 0.5) and at 20% (asked at 5.5).
    """
    tracker = Tracker(POLICY)
    tracker._watches_left = 0  # as after _WATCHES_FIRST changes kept to the rule
    tracker.watch(task_id, 0.0)
    ask_and_answer(tracker, 0.5, 10, task_id)
    ask_and_answer(tracker, 5.5, 20, task_id)
    return tracker


def test_once_the_rule_held_most_tasks_are_asked_just_before_the_change_is_due() -> None:
    """The change seen at 5.5 came after 0.5: the next comes by 20.5, so it is asked at 20.0."""
    assert crc32(b"1") % _WATCH_ONE_IN  # not a watch task
    tracker = settled("1")
    assert next_question(tracker, "1") == pytest.approx(5.5 + 15 - 0.5)
    assert tracker.due(19.4) == []


def test_one_task_in_eight_keeps_watching_for_a_faster_server() -> None:
    """A watch task is still asked just before the span opens, where a faster server shows."""
    assert not crc32(b"4") % _WATCH_ONE_IN
    tracker = settled("4")
    assert next_question(tracker, "4") == pytest.approx(0.5 + 15 - 0.5)
    ask_and_answer(tracker, 15.0, 30, "4")  # a change within 15 s of the last one's bound
    assert tracker.refresh_disproved


def test_the_first_timed_changes_are_watched_whatever_the_task() -> None:
    """The first _WATCHES_FIRST timed changes are watched; they are counted as handed out."""
    assert crc32(b"1") % _WATCH_ONE_IN  # not a watch task once the first ones are used up
    tracker = started()
    assert tracker._watches_left == _WATCHES_FIRST
    ask_and_answer(tracker, 5.5, 20)  # timed, and watched
    assert tracker._watches_left == _WATCHES_FIRST - 1
    assert next_question(tracker) == pytest.approx(0.5 + 15 - 0.5)
    tracker._watches_left = 1
    ask_and_answer(tracker, 15.0, 20)
    ask_and_answer(tracker, 20.0, 30)  # the last watch handed out
    assert tracker._watches_left == 0
    assert next_question(tracker) == pytest.approx(15.0 + 15 - 0.5)
    ask_and_answer(tracker, 30.0, 30)
    ask_and_answer(tracker, 35.0, 40)  # none left: asked just before the span closes
    assert next_question(tracker) == pytest.approx(35.0 + 15 - 0.5)


def test_a_task_set_that_starts_together_does_not_all_watch() -> None:
    """Tasks whose first changes come together use up the first watches, then mostly wait."""
    tracker = Tracker(POLICY)
    ids = [str(i) for i in range(1, 41)]
    for task_id in ids:
        tracker.watch(task_id, 0.0)
    assert sorted(tracker.due(0.5)) == sorted(ids)
    tracker.on_listed(ids, [row(10, i) for i in ids], 0.6)
    assert sorted(tracker.due(5.5)) == sorted(ids)
    tracker.on_listed(ids, [row(20, i) for i in ids], 5.6)  # every task changed at once
    watching = [i for i in ids if next_question(tracker, i) == pytest.approx(0.5 + 15 - 0.5)]
    chosen = [i for i in ids if not crc32(i.encode()) % _WATCH_ONE_IN]
    assert len(watching) == _WATCHES_FIRST + len(set(chosen) - set(ids[:_WATCHES_FIRST]))
    assert len(watching) < len(ids) // 2


@pytest.mark.parametrize(
    ("tracked", "one_in"),
    [
        (10, _WATCH_ONE_IN),
        (_WATCHERS_AT_LEAST * 2 * _WATCH_ONE_IN - 1, _WATCH_ONE_IN),
        (_WATCHERS_AT_LEAST * 2 * _WATCH_ONE_IN, 2 * _WATCH_ONE_IN),
        (_WATCHERS_AT_LEAST * _WATCH_ONE_IN_MAX - 1, _WATCH_ONE_IN_MAX // 2),
        (_WATCHERS_AT_LEAST * _WATCH_ONE_IN_MAX, _WATCH_ONE_IN_MAX),
        (100_000, _WATCH_ONE_IN_MAX),
    ],
)
def test_a_large_watch_set_keeps_fewer_watchers_but_never_few(tracked: int, one_in: int) -> None:
    """One task in 8 watches, one in 16 or 32 of a large set, leaving at least 32 watchers."""
    tracker = Tracker(POLICY)
    for i in range(tracked):
        tracker.watch(str(i), 0.0)
    assert tracker._watch_one_in() == one_in
    assert tracked // one_in >= min(tracked // _WATCH_ONE_IN, _WATCHERS_AT_LEAST)


def test_when_the_rule_is_disproved_every_waiting_task_is_back_on_the_cadence() -> None:
    """The tasks still waiting for a refresh are asked at their cadence once it is disproved."""
    tracker = Tracker(POLICY)
    tracker._watches_left = 0
    for task_id in ("1", "4"):  # 1 waits until the span closes, 4 watches
        tracker.watch(task_id, 0.0)
    assert sorted(tracker.due(0.5)) == ["1", "4"]
    tracker.on_listed(["1", "4"], [row(10, "1"), row(10, "4")], 0.6)
    assert sorted(tracker.due(5.5)) == ["1", "4"]
    tracker.on_listed(["1", "4"], [row(20, "1"), row(20, "4")], 5.6)
    assert next_question(tracker, "1") == pytest.approx(20.0)
    assert tracker.due(15.0) == ["4"]
    tracker.on_listed(["4"], [row(30, "4")], 15.1)  # too soon: disproved
    assert tracker.refresh_disproved
    assert next_question(tracker, "1") == pytest.approx(10.5)  # polled at 5.5, every 5 s
    assert tracker.due(15.1) == ["1"]
