"""The state machine of one tracked task: snapshots and time in, state and events out.

Pure functions over :class:`TrackedTask`, a plain-data record of what is known about one task.
Nothing here awaits, reads a clock or touches the network: ``now`` is always handed in, on the
scale of the poller's clock. The rules:

- a task's events never go backwards: a snapshot ranking below the last accepted one (status
  rank NOT_START < MODAL < SUBMITTED < IN_PROGRESS < terminal, then progress) is stale and
  ignored; progress never decreases;
- the same state never yields a second event;
- one terminal event at most, and nothing after it;
- ``Stalled`` once per stretch without change, re-armed by the next change;
- ``TimedOut`` at the deadline, ``Lost`` when the server says it does not know the task,
  ``Unreadable`` when the server's snapshots of it cannot be read even when asked for it alone.

MODAL ranks below SUBMITTED because a ``/modal`` call sends a MODAL task back to SUBMITTED;
unknown statuses rank with SUBMITTED, so they are shown but cannot undo real progress.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._errors import OneChatError
from ._events import (
    Cancelled,
    Event,
    Failed,
    Lost,
    NeedsModal,
    ProgressChanged,
    Stalled,
    StatusChanged,
    Succeeded,
    TimedOut,
    Unreadable,
    progress_changed,
)
from ._models import Task, TaskStatus
from ._policy import PollPolicy

__all__ = [
    "Fingerprint",
    "TrackedTask",
    "alarm",
    "expire",
    "fingerprint",
    "further",
    "lose",
    "observe",
    "rank",
    "replay",
    "start",
    "time_out",
    "unreadable",
]

#: The few raw fields whose change can produce an event; compared before anything is decoded.
Fingerprint = tuple[Any, Any, Any, Any]

_RANK = {
    TaskStatus.NOT_START: 0,
    TaskStatus.MODAL: 1,
    TaskStatus.SUBMITTED: 2,
    TaskStatus.IN_PROGRESS: 3,
    TaskStatus.SUCCESS: 4,
    TaskStatus.FAILURE: 4,
    TaskStatus.CANCEL: 4,
}
_UNKNOWN_RANK = _RANK[TaskStatus.SUBMITTED]
#: TaskStatus.is_terminal as a set: observe() asks for every task that moved on every tick,
#: and a property call costs several times a set lookup.
_TERMINAL = frozenset(status for status in TaskStatus if status.is_terminal)


def rank(status: TaskStatus) -> int:
    """Where a status sits on the one-way road from queued to ended."""
    return _RANK.get(status, _UNKNOWN_RANK)


def further(a: Task, b: Task) -> Task:
    """Of two snapshots of one task, the one further along (``a`` when they are level).

    The gateway answers a task twice after a ``/modal``: the old row frozen in MODAL and the
    row that moves. The one further along the road is the live one.
    """
    if (rank(b.status), b.progress or 0) > (rank(a.status), a.progress or 0):
        return b
    return a


_FINGERPRINT_FIELDS = operator.itemgetter("status", "progress", "failReason", "finishTime")


def fingerprint(raw: Mapping[str, Any]) -> Fingerprint:
    """The raw fields that matter to tracking, as found: cheap enough to take for every task.

    ``imageUrl`` is left out on purpose: the gateway appends a fresh ``?rand=`` to it on
    every answer while a task runs, which would make every snapshot look new. A field that
    is missing counts as null.
    """
    try:
        # One C call for the usual row, which has all four: a poll tick takes 10,000 of these.
        fields: Fingerprint = _FINGERPRINT_FIELDS(raw)
    except KeyError:
        return (
            raw.get("status"),
            raw.get("progress"),
            raw.get("failReason"),
            raw.get("finishTime"),
        )
    return fields


#: Fingerprints kept by tracked tasks, one tuple per distinct value: thousands of running
#: tasks share a few dozen (``("IN_PROGRESS", "45%", "", 0)``), and the raw strings in each
#: would otherwise be kept once per task. Emptied when full, so hostile values stay bounded.
_SHARED_FINGERPRINTS: dict[Fingerprint, Fingerprint] = {}
_SHARED_FINGERPRINTS_MAX: Final = 4096


def _shared(seen: Fingerprint) -> Fingerprint:
    """``seen`` or an equal fingerprint already kept; only ever compared with ``==``."""
    try:
        shared = _SHARED_FINGERPRINTS.get(seen)
    except TypeError:
        # A list or an object where a status or a progress belongs: not shareable.
        return seen
    if shared is None:
        if len(_SHARED_FINGERPRINTS) >= _SHARED_FINGERPRINTS_MAX:
            _SHARED_FINGERPRINTS.clear()
        _SHARED_FINGERPRINTS[seen] = shared = seen
    return shared


# Not attrs.frozen, though it is treated as immutable (every function here returns a new
# one, nothing assigns to a field): a frozen class's __init__ sets each field through
# object.__setattr__, which made building one cost 3.0 us against 0.8 us, and observe()
# builds one for every task that moved on every tick. Hashable like the frozen class was.
@attrs.define(unsafe_hash=True, weakref_slot=False)
class TrackedTask:
    """What is known about one tracked task; plain data, so a store can keep and resume it.

    Times are on the poller clock's scale (``Clock.now()``). Treat it as immutable: a new
    record replaces the old one. Build it with keywords: the field order is only relied on
    by :func:`observe`, which builds one for every task that moved on every tick and passes
    them by position because that costs half as much.
    """

    task_id: str
    started_at: float
    changed_at: float
    deadline_at: float | None = None
    status: TaskStatus | None = None
    progress: int | None = None
    progress_at: float | None = None
    rate: float | None = None
    stalled: bool = False
    ended: bool = False
    fingerprint: Fingerprint | None = None


def start(task_id: str, now: float, policy: PollPolicy) -> TrackedTask:
    """A fresh record for a task first watched at ``now``."""
    deadline = None if policy.deadline is None else now + policy.deadline
    return TrackedTask(task_id=task_id, started_at=now, changed_at=now, deadline_at=deadline)


def _terminal_event(task: Task) -> Event:
    if task.status is TaskStatus.SUCCESS:
        return Succeeded(task.id, task)
    if task.status is TaskStatus.FAILURE:
        return Failed(task.id, task, task.fail_reason or "")
    return Cancelled(task.id, task)


def _status_event(task: Task, previous: TaskStatus | None) -> Event:
    if task.status.is_terminal:
        return _terminal_event(task)
    if task.status is TaskStatus.MODAL:
        return NeedsModal(task.id, task)
    return StatusChanged(task.id, task, task.status, previous)


def observe(
    state: TrackedTask, task: Task, now: float, *, seen: Fingerprint | None = None
) -> tuple[TrackedTask, list[Event]]:
    """Take in a snapshot; return the new state and what it tells that was not known yet.

    ``seen`` is the raw snapshot's fingerprint, remembered so that the same answer is not
    decoded again. A snapshot that is stale, or news of nothing, returns no events.
    """
    if state.ended:
        return state, []
    status, progress = task.status, task.progress
    last = state.status
    terminal = status in _TERMINAL
    events: list[Event] = []
    # The same status, the usual case, costs no rank lookups.
    if status != last:
        if last is None or _RANK.get(status, _UNKNOWN_RANK) > _RANK.get(last, _UNKNOWN_RANK):
            events.append(_status_event(task, last))
        else:
            # Stale, or the same rank under another name (an unknown status next to
            # SUBMITTED): not provably newer.
            return _remember(state, seen), []
    if not terminal and progress is not None and progress > (state.progress or 0):
        events.append(progress_changed(task.id, task, progress, state.progress))
    if not events:
        return _remember(state, seen), []
    new_progress = state.progress
    progress_at, rate = state.progress_at, state.rate
    if progress is not None and progress > (state.progress or 0):
        if state.progress is not None and state.progress_at is not None and now > state.progress_at:
            rate = (progress - state.progress) / (now - state.progress_at)
        new_progress, progress_at = progress, now
    return (
        # Built directly rather than by attrs.evolve, which costs several times more and
        # runs for every changed task of every tick.
        TrackedTask(
            state.task_id,
            state.started_at,
            now,  # changed_at
            state.deadline_at,
            status,
            new_progress,
            progress_at,
            rate,
            False,  # stalled  # noqa: FBT003 - by position on purpose, see the class
            terminal,  # ended
            None if seen is None else _shared(seen),  # fingerprint
        ),
        events,
    )


def _remember(state: TrackedTask, seen: Fingerprint | None) -> TrackedTask:
    if seen is None or seen == state.fingerprint:
        return state
    return attrs.evolve(state, fingerprint=_shared(seen))


def replay(state: TrackedTask, task: Task | None) -> list[Event]:
    """The events that tell a late subscriber where the task stands, as if first seen now."""
    if task is None or state.ended or state.status is None:
        return []
    events: list[Event] = [_status_event(task, None)]
    if state.progress:
        events.append(ProgressChanged(task.id, task, state.progress, None))
    return events


def expire(
    state: TrackedTask, now: float, policy: PollPolicy, task: Task | None
) -> tuple[TrackedTask, list[Event]]:
    """Apply the clock: ``TimedOut`` at the deadline, ``Stalled`` after a quiet stretch."""
    if state.ended:
        return state, []
    if state.deadline_at is not None and now >= state.deadline_at:
        return attrs.evolve(state, ended=True), [time_out(state, now, task)]
    if (
        not state.stalled
        and policy.stall_after is not None
        and now - state.changed_at >= policy.stall_after
    ):
        stalled = Stalled(state.task_id, task, now - state.changed_at)
        return attrs.evolve(state, stalled=True), [stalled]
    return state, []


def alarm(state: TrackedTask, policy: PollPolicy) -> float | None:
    """When :func:`expire` would next have something to say about this task."""
    if state.ended:
        return None
    deadline = state.deadline_at
    if state.stalled or policy.stall_after is None:
        return deadline
    stall = state.changed_at + policy.stall_after
    return stall if deadline is None or stall < deadline else deadline


def time_out(state: TrackedTask, now: float, task: Task | None) -> TimedOut:
    """The ``TimedOut`` for this task at ``now`` (for the poller's and a caller's deadlines)."""
    return TimedOut(state.task_id, task, max(0.0, now - state.started_at))


def lose(state: TrackedTask, task: Task | None) -> tuple[TrackedTask, list[Event]]:
    """The server confirmed it does not know the task: it ends ``Lost``."""
    if state.ended:
        return state, []
    return attrs.evolve(state, ended=True), [Lost(state.task_id, task)]


def unreadable(
    state: TrackedTask, task: Task | None, error: OneChatError
) -> tuple[TrackedTask, list[Event]]:
    """The task's snapshots cannot be read even alone: it ends ``Unreadable``."""
    if state.ended:
        return state, []
    return attrs.evolve(state, ended=True), [Unreadable(state.task_id, task, error)]
