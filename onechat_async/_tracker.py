"""The board of tracked tasks: who is due, what an answer changed, when to wake up next.

:class:`Tracker` is sans-I/O like h11's ``Connection``: it keeps state between calls but never
awaits, never reads a clock and never sends anything. The poller hands it ``now`` and the
server's answers and gives the events it returns to the :class:`~onechat_async._router.Router`.

A task asked about is *in flight* until its answer (or the failure) is handed back: it is not
asked about again meanwhile, so a slow answer never doubles the requests.

Answers are raw JSON and decoding is total: an item that cannot be decoded touches no other
task. A task missing from a list answer, or unreadable in it, is confirmed by asking for it
alone; unknown there it ends ``Lost``, unreadable there it ends ``Unreadable``.

Answers of list-by-condition arrive as raw dicts. Most of them repeat what is known already, so
each is compared by :func:`~onechat_async._task_state.fingerprint` first and decoded only when
those few fields moved: a tick over 10,000 quiet tasks costs little more than the JSON parsing.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Container, Iterable, Iterator, Sequence
from typing import Any

from ._errors import ServerError
from ._events import Event
from ._models import Task
from ._policy import PollPolicy
from ._task_state import (
    TrackedTask,
    alarm,
    expire,
    fingerprint,
    further,
    lose,
    observe,
    replay,
    start,
    unreadable,
)
from ._wire import WireError, decode_task, wire_task_id

__all__ = ["Tracker", "chunked"]


def chunked(ids: Sequence[str], size: int) -> list[Sequence[str]]:
    """``ids`` cut into consecutive pieces of at most ``size``."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _or_inf(when: float | None) -> float:
    return math.inf if when is None else when


def _one_row_each(
    answer: Iterable[object], tracked: Container[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The answer's task objects by id, one each (only the ``tracked`` ones, if given).

    After a ``/modal`` the gateway lists a task twice (its old row stays in MODAL for ever):
    of two rows with one id, the one further along is the live one.
    """
    rows: dict[str, dict[str, Any]] = {}
    for raw in answer:
        if not isinstance(raw, dict):
            continue
        task_id = raw.get("id")
        if type(task_id) is not str:
            task_id = wire_task_id(task_id)
        elif tracked is None:
            # An id the tracker holds was checked when it was watched; any other is checked
            # here, and one it would refuse ("²") is no id at all.
            task_id = wire_task_id(task_id)
        if task_id is None or (tracked is not None and task_id not in tracked):
            continue
        other = rows.get(task_id)
        if other is None or (raw is not other and _further_raw(raw, other)):
            rows[task_id] = raw
    return rows


def _further_raw(raw: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether ``raw`` is further along than ``other`` (both rows of one task)."""
    try:
        candidate, kept = decode_task(raw), decode_task(other)
    except WireError:
        return False
    return further(kept, candidate) is candidate


class _Entry:
    # Slots keep the per-task overhead small: 10,000 tracked tasks is a normal load.
    __slots__ = ("asking", "next_at", "polled_at", "state", "task")

    def __init__(self, state: TrackedTask, task: Task | None, next_at: float) -> None:
        self.state = state
        self.task = task
        self.next_at = next_at
        self.polled_at: float | None = None
        #: Asked about, answer not handed back yet.
        self.asking = False


class Tracker:
    """Every tracked task's state and schedule; feed it answers, route what it returns."""

    def __init__(self, policy: PollPolicy) -> None:
        self.policy = policy
        self._entries: dict[str, _Entry] = {}
        self._hold_until = -math.inf
        # Lower bounds, not exact minima: a stale early value only costs an idle wake-up.
        self._next_poll = math.inf
        self._next_alarm = math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def state(self, task_id: str) -> TrackedTask | None:
        """The tracked state of ``task_id``, or None when it is not tracked."""
        entry = self._entries.get(task_id)
        return None if entry is None else entry.state

    def task(self, task_id: str) -> Task | None:
        """The last accepted snapshot of ``task_id``, if any."""
        entry = self._entries.get(task_id)
        return None if entry is None else entry.task

    def watch(self, task_id: str, now: float) -> list[Event]:
        """Track ``task_id`` from ``now``; for one already tracked, replay where it stands."""
        entry = self._entries.get(task_id)
        if entry is not None:
            return replay(entry.state, entry.task)
        self._add(start(task_id, now, self.policy), None, now)
        return []

    def _add(self, state: TrackedTask, task: Task | None, now: float) -> None:
        # The first question waits a batch window, so a burst of watches shares requests.
        next_at = now + self.policy.batch_window
        self._entries[state.task_id] = _Entry(state, task, next_at)
        self._next_poll = min(self._next_poll, next_at)
        self._next_alarm = min(self._next_alarm, _or_inf(alarm(state, self.policy)))

    def forget(self, task_id: str) -> None:
        """Stop tracking ``task_id`` (nobody watches it any more)."""
        self._entries.pop(task_id, None)

    def due(self, now: float) -> list[str]:
        """The ids to ask about at ``now``, marked as asked and in flight.

        Tasks due within the batch window join in; if the last request would go out part
        empty, it is topped up with the tasks due soonest that were not asked about lately,
        which also pulls tasks into the same rhythm.
        """
        policy = self.policy
        horizon = now + policy.batch_window
        # _next_poll never overstates the earliest next_at, so this skips the full scan on
        # the many wake-ups (right after a round, say) where nothing can be due.
        if now < self._hold_until or horizon < self._next_poll:
            return []
        entries = self._entries
        due = [
            task_id
            for task_id, entry in entries.items()
            if entry.next_at <= horizon and not entry.asking
        ]
        room = -len(due) % policy.chunk_size
        if room and len(due) < len(entries):
            soon, recent = now + policy.interval, now - policy.fast_interval
            candidates = [
                (entry.next_at, task_id)
                for task_id, entry in entries.items()
                if horizon < entry.next_at <= soon
                and not entry.asking
                and (entry.polled_at is None or entry.polled_at <= recent)
            ]
            due.extend(task_id for _, task_id in heapq.nsmallest(room, candidates))
        for task_id in due:
            entry = entries[task_id]
            state = entry.state
            entry.polled_at = now
            entry.asking = True
            entry.next_at = now + policy.delay(state.status, state.progress, state.rate)
        self._next_poll = min(
            (entry.next_at for entry in entries.values() if not entry.asking), default=math.inf
        )
        return due

    def on_listed(
        self, asked: Iterable[str], answer: Iterable[object], now: float
    ) -> tuple[list[Event], list[str]]:
        """Take in a list-by-condition answer; return the events and the ids to confirm.

        The ids to confirm were left out of the answer or unreadable in it: the server may
        have lost them, or just skipped them. Ask for each alone and hand the answer to
        :meth:`on_fetched` (or :meth:`on_unknown`, :meth:`on_failed`); they stay in flight
        until then.
        """
        events: list[Event] = []
        entries = self._entries
        rows = _one_row_each(answer, entries)
        unreadable: set[str] = set()
        for task_id, raw in rows.items():
            entry = entries[task_id]
            known = entry.state.fingerprint
            if known is not None:
                # fingerprint(raw) == known, without making a tuple for every row of every
                # tick: each one would count towards the garbage collector's next pass.
                get = raw.get
                if (
                    get("status") == known[0]
                    and get("progress") == known[1]
                    and get("failReason") == known[2]
                    and get("finishTime") == known[3]
                ):
                    # Nothing that tracking looks at moved: not decoded, no event.
                    continue
            seen = fingerprint(raw)
            try:
                task = decode_task(raw, known_id=entry.state.task_id)
            except WireError:
                # Not answered: confirmed alone, so one bad item sinks no other task.
                unreadable.add(task_id)
                continue
            self._apply(task_id, entry, task, now, seen=seen, events=events)
        confirm: list[str] = []
        next_poll = self._next_poll
        for task_id in asked:
            waiting = entries.get(task_id)
            if waiting is None:
                continue
            if task_id in rows and task_id not in unreadable:
                # _settle, inlined: this runs for every task of every tick.
                waiting.asking = False
                next_poll = min(next_poll, waiting.next_at)
            else:
                confirm.append(task_id)
        self._next_poll = next_poll
        return events, confirm

    def on_fetched(self, task_id: str, raw: object, now: float) -> list[Event]:
        """Take in the answer to a question about ``task_id`` alone, still as raw JSON."""
        events: list[Event] = []
        entry = self._entries.get(task_id)
        if entry is None:
            return events
        self._settle(entry)
        try:
            task = decode_task(raw)
        except WireError as exc:
            problem = str(exc)
        else:
            if task.id == task_id:
                self._apply(task_id, entry, task, now, seen=None, events=events)
                return events
            problem = f"the answer is about task {task.id}"
        del self._entries[task_id]
        error = ServerError(
            f"task {task_id} cannot be read: {problem}", task_id=task_id, retryable=False
        )
        return unreadable(entry.state, entry.task, error)[1]

    def _apply(
        self,
        task_id: str,
        entry: _Entry,
        task: Task,
        now: float,
        *,
        seen: Any,
        events: list[Event],
    ) -> None:
        state, news = observe(entry.state, task, now, seen=seen)
        entry.state = state
        if not news:
            return
        events.extend(news)
        entry.task = task
        if state.ended:
            del self._entries[task_id]
            return
        # A task that started moving deserves its faster cadence now, not after the old wait.
        asked = now if entry.polled_at is None else entry.polled_at
        delay = self.policy.delay(state.status, state.progress, state.rate)
        entry.next_at = min(entry.next_at, asked + delay)
        self._next_poll = min(self._next_poll, entry.next_at)
        self._next_alarm = min(self._next_alarm, _or_inf(alarm(state, self.policy)))

    def on_pushed(self, task: Task, now: float) -> list[Event]:
        """Take in a snapshot a verified callback delivered; the same rules as a poll's.

        A task not tracked gives nothing; a duplicate or a late old state changes nothing.
        Any push shows callbacks flow for the task, so its next question waits the policy's
        ``reconcile_interval`` from now; once pushes stop, that question comes and the task
        is back on its polling cadence.
        """
        entry = self._entries.get(task.id)
        if entry is None:
            return []
        events: list[Event] = []
        self._apply(task.id, entry, task, now, seen=None, events=events)
        if task.id in self._entries:
            entry.next_at = max(entry.next_at, now + self.policy.reconcile_interval)
        return events

    def _settle(self, entry: _Entry) -> None:
        entry.asking = False
        self._next_poll = min(self._next_poll, entry.next_at)

    def on_unknown(self, task_id: str) -> list[Event]:
        """The server confirmed it does not know ``task_id``: it ends ``Lost``."""
        entry = self._entries.pop(task_id, None)
        if entry is None:
            return []
        return lose(entry.state, entry.task)[1]

    def on_failed(self, ids: Iterable[str], retry_at: float) -> None:
        """Asking about ``ids`` failed: ask again at ``retry_at``."""
        for task_id in ids:
            entry = self._entries.get(task_id)
            if entry is not None:
                entry.next_at = retry_at
                self._settle(entry)

    def hold(self, until: float) -> None:
        """Ask nothing before ``until`` (the server asked us to slow down)."""
        self._hold_until = max(self._hold_until, until)

    def expire(self, now: float) -> list[Event]:
        """Apply the clock to every task: ``Stalled`` and ``TimedOut`` events."""
        if now < self._next_alarm:
            return []
        events: list[Event] = []
        next_alarm = math.inf
        policy = self.policy
        for task_id, entry in list(self._entries.items()):
            state, news = expire(entry.state, now, policy, entry.task)
            if news:
                events.extend(news)
                if state.ended:
                    del self._entries[task_id]
                    continue
                entry.state = state
            next_alarm = min(next_alarm, _or_inf(alarm(state, policy)))
        self._next_alarm = next_alarm
        return events

    def next_alarm(self) -> float | None:
        """When :meth:`expire` may next have work (a lower bound); None for never."""
        return None if self._next_alarm == math.inf else self._next_alarm

    def next_wake(self) -> float | None:
        """When :meth:`due` or :meth:`expire` next have work; None when nothing is tracked."""
        if not self._entries:
            return None
        wake = min(max(self._next_poll, self._hold_until), self._next_alarm)
        return None if wake == math.inf else wake
