"""Tracker.on_pushed: a callback's snapshot through the same rules as a poll's, pure."""

from __future__ import annotations

import pytest

from onechat_async._events import Event, ProgressChanged, StatusChanged, Succeeded
from onechat_async._models import Task
from onechat_async._policy import PollPolicy
from onechat_async._tracker import Tracker
from onechat_async._wire import decode_task

POLICY = PollPolicy(interval=5, fast_interval=3, queued_interval=15, batch_window=0.5)
ID = "1750000000000001"


def snap(status: str, progress: int | None = None, task_id: str = ID) -> Task:
    return decode_task(
        {
            "id": task_id,
            "status": status,
            "progress": "" if progress is None else f"{progress}%",
            "state": "oc-s",
        }
    )


def tracked(now: float = 0.0) -> Tracker:
    tracker = Tracker(POLICY)
    tracker.watch(ID, now)
    return tracker


def kinds(events: list[Event]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for event in events:
        if isinstance(event, StatusChanged):
            out.append(("status", event.status.value))
        elif isinstance(event, ProgressChanged):
            out.append(("progress", event.progress))
        else:
            out.append((type(event).__name__, None))
    return out


def test_a_push_gives_the_events_a_poll_would() -> None:
    """Each pushed change is an event, in order, ending with the terminal one."""
    tracker = tracked()
    got = []
    for n, task in enumerate([snap("SUBMITTED"), snap("IN_PROGRESS", 9), snap("SUCCESS", 100)]):
        got += kinds(tracker.on_pushed(task, 1.0 + n))
    assert got == [
        ("status", "SUBMITTED"),
        ("status", "IN_PROGRESS"),
        ("progress", 9),
        ("Succeeded", None),
    ]
    assert ID not in tracker  # ended: no longer tracked


@pytest.mark.parametrize(
    "late",
    [snap("IN_PROGRESS", 40), snap("IN_PROGRESS", 20), snap("SUBMITTED"), snap("NOT_START")],
    ids=["duplicate", "older-progress", "older-status", "oldest"],
)
def test_duplicates_and_late_old_states_change_nothing(late: Task) -> None:
    """After 40%, the same or any older snapshot gives no event and keeps the state."""
    tracker = tracked()
    tracker.on_pushed(snap("IN_PROGRESS", 40), 1.0)
    before = tracker.state(ID)
    assert tracker.on_pushed(late, 2.0) == []
    after = tracker.state(ID)
    assert after is not None
    assert before is not None
    assert (after.status, after.progress) == (before.status, before.progress)


def test_a_push_for_a_task_not_tracked_gives_nothing() -> None:
    """Only tracked tasks take pushes; another id is ignored and not added."""
    tracker = tracked()
    assert tracker.on_pushed(snap("SUCCESS", 100, task_id="1750000000000002"), 1.0) == []
    assert "1750000000000002" not in tracker


def test_pushes_defer_polls_until_they_stop_then_the_cadence_resumes() -> None:
    """While pushes come the task is asked about a reconcile interval after the last one."""
    tracker = tracked()
    reconcile = POLICY.reconcile_interval
    tracker.on_pushed(snap("IN_PROGRESS", 10), 1.0)
    assert tracker.due(1.0 + POLICY.interval) == []
    tracker.on_pushed(snap("IN_PROGRESS", 20), 10.0)
    assert tracker.due(10.0 + reconcile - 1) == []
    # No push for a reconcile interval: the task is asked about again...
    asked = 10.0 + reconcile
    assert tracker.due(asked) == [ID]
    row = {"id": ID, "status": "IN_PROGRESS", "progress": "20%", "state": "oc-s"}
    tracker.on_listed([ID], [row], asked)
    # ...and from then on at its polling cadence, not the reconcile one.
    assert tracker.due(asked + POLICY.interval - 1) == []
    assert tracker.due(asked + POLICY.interval) == [ID]


def test_a_terminal_push_is_final_for_polls_too() -> None:
    """Once a push ended the task, a poll's older answer for it changes nothing."""
    tracker = tracked()
    events = tracker.on_pushed(snap("SUCCESS", 100), 1.0)
    assert isinstance(events[-1], Succeeded)
    assert tracker.on_fetched(ID, {"id": ID, "status": "IN_PROGRESS"}, 2.0) == []
