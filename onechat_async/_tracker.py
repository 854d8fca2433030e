"""The board of tracked tasks: who is due, what an answer changed, when to wake up next.

:class:`Tracker` is sans-I/O like h11's ``Connection``: it keeps state between calls but never
awaits, never reads a clock and never sends anything. The poller hands it ``now`` and the
server's answers and gives the events it returns to the :class:`~onechat_async._router.Router`.

A task asked about is *in flight* until its answer (or the failure) is handed back: it is not
asked about again meanwhile, so a slow answer never doubles the requests.

Answers are raw JSON and decoding is total: an item that cannot be decoded touches no other
task. A task missing from a list answer, or unreadable in it, is confirmed by asking for it
alone; unknown there it ends ``Lost``, unreadable there it ends ``Unreadable``.

Answers of list-by-condition arrive as :class:`~onechat_async._wire.Row` s, read by msgspec
with only the fields the library uses (dicts, from a test or a parsed fallback, are made rows).
Most of them repeat what is known already, so each row's fingerprint (the fields of
:func:`~onechat_async._task_state.fingerprint`) is compared first and the row decoded only
when those few fields moved: a tick over 10,000 quiet tasks costs little more than reading it.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Iterator, Sequence
from typing import Any
from zlib import crc32

from ._errors import ServerError
from ._events import Event
from ._models import Task
from ._policy import PollPolicy
from ._task_state import (
    TrackedTask,
    alarm,
    expire,
    further,
    lose,
    observe,
    replay,
    start,
    unreadable,
)
from ._timetable import Timetable
from ._wire import Row, WireError, decode_row, decode_task, row_of, wire_task_id

__all__ = ["Tracker", "chunked"]


def chunked(ids: Sequence[str], size: int) -> list[Sequence[str]]:
    """``ids`` cut into consecutive pieces of at most ``size``."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _or_inf(when: float | None) -> float:
    return math.inf if when is None else when


def _one_row_each(answer: Iterable[object], tracked: Container[str]) -> dict[str, Row]:
    """The answer's task objects by id, one each, of the ``tracked`` tasks only.

    Rows as the poller reads them; a dict (a test's, or a parsed answer) is made a row here.
    After a ``/modal`` the gateway lists a task twice (its old row stays in MODAL for ever):
    of two rows with one id, the one further along is the live one.
    """
    rows: dict[str, Row] = {}
    for item in answer:
        if type(item) is Row:
            raw = item
        elif isinstance(item, dict):
            raw = row_of(item)
        else:
            continue
        task_id = raw.id
        if type(task_id) is not str:
            task_id = wire_task_id(task_id)
        # A str id the tracker holds was checked when it was watched: no check again here.
        if task_id is None or task_id not in tracked:
            continue
        other = rows.get(task_id)
        if other is None or (raw is not other and _further_raw(raw, other)):
            rows[task_id] = raw
    return rows


def _rows_by_id(answer: Iterable[object], tracked: Container[str]) -> dict[str, Row]:
    """:func:`_one_row_each` for the usual answer, in one comprehension.

    The usual answer is a list of rows with str ids, each id once: then the rows by id as
    they are, untracked ones included (the caller looks each up anyway). Anything else (a
    dict, an id of another type, a task listed twice) takes the general path.
    """
    if type(answer) is list:
        try:
            rows: dict[Any, Row] = {row.id: row for row in answer}
        except (AttributeError, TypeError):
            # A dict (no .id), or an unhashable id.
            return _one_row_each(answer, tracked)
        if len(rows) == len(answer) and set(map(type, rows)) <= _STR_ONLY:
            return rows
    return _one_row_each(answer, tracked)


_STR_ONLY = frozenset({str})


def _further_raw(raw: Row, other: Row) -> bool:
    """Whether ``raw`` is further along than ``other`` (both rows of one task)."""
    try:
        candidate, kept = decode_row(raw), decode_row(other)
    except WireError:
        return False
    return further(kept, candidate) is candidate


#: Changes timed, across all tasks, before only some tasks keep watching for a server that
#: changes sooner than PollPolicy.refresh_interval: one in _WATCH_ONE_IN, or fewer in a large
#: watch set, halving down to one in _WATCH_ONE_IN_MAX while that leaves _WATCHERS_AT_LEAST
#: (powers of two, so that one stored bucket per task serves every share).
#: A watch costs about one extra question per change; one watcher seeing a change early is
#: enough to disprove the rule for all.
_WATCHES_FIRST = 8
_WATCH_ONE_IN = 8
_WATCH_ONE_IN_MAX = 32
_WATCHERS_AT_LEAST = 32


class _Entry:
    # Slots keep the per-task overhead small: 10,000 tracked tasks is a normal load.
    __slots__ = (
        "alarm_at",
        "answered_at",
        "asking",
        "bucket",
        "changed_after",
        "next_at",
        "polled_at",
        "quiet_until",
        "state",
        "task",
        "wait",
    )

    def __init__(
        self, state: TrackedTask, task: Task | None, next_at: float, alarm_at: float, wait: float
    ) -> None:
        self.state = state
        self.task = task
        self.next_at = next_at
        #: Which watch share the task is in (see Tracker._changed): its id's CRC-32 modulo
        #: _WATCH_ONE_IN_MAX, worked out once (a small int, shared by every task with it).
        self.bucket = crc32(state.task_id.encode()) % _WATCH_ONE_IN_MAX
        #: The policy's delay for this state, kept with it: the state changes only when the
        #: task moves, while every task due in a tick needs its delay.
        self.wait = wait
        self.polled_at: float | None = None
        #: When the question of the last list answer applied was asked (None: no answer yet).
        self.answered_at: float | None = None
        #: When the question before the last change seen was asked: that change came after
        #: it (None: not known).
        self.changed_after: float | None = None
        #: Not asked about before this (the server cannot have changed the task yet).
        self.quiet_until = -math.inf
        #: Asked about, answer not handed back yet.
        self.asking = False
        #: When this task's item on the alarm timetable comes up (inf: none); never later than
        #: its real alarm, which only an un-stalling change can bring forward.
        self.alarm_at = alarm_at


#: A timetable is compacted when it holds more than this many items per tracked task (plus a few).
_COMPACT_RATIO = 2
_COMPACT_SLACK = 64


class Tracker:
    """Every tracked task's state and schedule; feed it answers, route what it returns."""

    def __init__(self, policy: PollPolicy) -> None:
        self.policy = policy
        self._entries: dict[str, _Entry] = {}
        # The schedule, so that a wake-up costs what is due rather than a scan of every task:
        # each task not in flight under its next_at. Lazy: an item is live while its task
        # is tracked, not in flight and still due at that time; the rest are skipped when they
        # come up. A task may have two live items with one time; the first one taken marks it
        # in flight, which makes the other dead.
        self._schedule = Timetable()
        # Tasks under their alarm_at, the same way for expire; an item is live while it
        # matches the task's alarm_at.
        self._alarms = Timetable()
        self._hold_until = -math.inf
        #: PollPolicy.refresh_interval while no two changes of a task came closer than it.
        self._refresh = policy.refresh_interval
        #: Set when two changes of one task came closer than refresh_interval (the poller
        #: says so once).
        self.refresh_disproved = False
        #: Timed changes still to be watched, whatever their task, before most tasks stop watching.
        self._watches_left = _WATCHES_FIRST
        #: _watch_one_in() as of the answer being taken in.
        self._watch_every = _WATCH_ONE_IN
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
        policy = self.policy
        alarm_at = _or_inf(alarm(state, policy))
        wait = policy.delay(state.status, state.progress, state.rate)
        task_id = state.task_id
        self._entries[task_id] = _Entry(state, task, next_at, alarm_at, wait)
        self._push(next_at, task_id)
        self._next_poll = min(self._next_poll, next_at)
        if alarm_at != math.inf:
            self._push_alarm(alarm_at, task_id)

    def forget(self, task_id: str) -> None:
        """Stop tracking ``task_id`` (nobody watches it any more)."""
        # Its timetable items die with the entry and go when they come up or at a compaction.
        if self._entries.pop(task_id, None) is not None:
            self._compact()

    def _push(self, next_at: float, task_id: str) -> None:
        self._schedule.put(next_at, task_id)
        self._compact()

    def _push_alarm(self, alarm_at: float, task_id: str) -> None:
        self._alarms.put(alarm_at, task_id)
        self._next_alarm = min(self._next_alarm, alarm_at)
        self._compact()

    def _compact(self) -> None:
        """Rebuild a timetable that dead items have grown past twice the live ones, rarely."""
        entries = self._entries
        most = _COMPACT_RATIO * len(entries) + _COMPACT_SLACK
        if len(self._schedule) > most:
            self._schedule.rebuild(
                (entry.next_at, task_id) for task_id, entry in entries.items() if not entry.asking
            )
        if len(self._alarms) > most:
            self._alarms.rebuild(
                (entry.alarm_at, task_id)
                for task_id, entry in entries.items()
                if entry.alarm_at != math.inf
            )

    def _live(self, when: float, task_id: str) -> _Entry | None:
        """The entry behind a schedule item, or None when the item is dead."""
        entry = self._entries.get(task_id)
        if entry is None or entry.asking or entry.next_at != when:
            return None
        return entry

    def due(self, now: float) -> list[str]:
        """The ids to ask about at ``now``, marked as asked and in flight.

        Tasks due within the batch window join in; if the last request would go out part
        empty, it is topped up with the tasks due soonest that were not asked about lately,
        which also pulls tasks into the same rhythm.
        """
        policy = self.policy
        horizon = now + policy.batch_window
        # _next_poll never overstates the earliest next_at, so this skips the schedule on the
        # many wake-ups (right after a round, say) where nothing can be due.
        if now < self._hold_until or horizon < self._next_poll:
            return []
        schedule = self._schedule
        entries = self._entries
        taken: list[_Entry] = []
        due: list[str] = []
        while schedule.first() <= horizon:
            when, ids = schedule.pop_first()
            for task_id in ids:
                entry = entries.get(task_id)
                # _live, inlined: this runs for every task due in a tick. Marked in flight
                # at once, so that a second live item of the same task is dead by the time
                # it comes up.
                if entry is not None and not entry.asking and entry.next_at == when:
                    entry.asking = True
                    taken.append(entry)
                    due.append(task_id)
        room = -len(due) % policy.chunk_size
        if room and len(due) < len(self._entries):
            self._top_up(now, room, taken, due)
        for entry in taken:
            entry.polled_at = now
            entry.next_at = now + entry.wait
        self._next_poll = self._earliest()
        return due

    def _top_up(self, now: float, room: int, taken: list[_Entry], due: list[str]) -> None:
        """Add up to ``room`` tasks due soonest within an interval, not asked about lately."""
        policy = self.policy
        schedule = self._schedule
        live = self._live
        soon, recent = now + policy.interval, now - policy.fast_interval
        kept: list[tuple[float, list[str]]] = []
        while room and schedule.first() <= soon:
            when, ids = schedule.pop_first()
            stay: list[str] = []
            for i, task_id in enumerate(ids):
                if not room:
                    stay.extend(ids[i:])
                    break
                entry = live(when, task_id)
                if entry is None:
                    continue  # dead: dropped
                if (
                    entry.polled_at is not None and entry.polled_at > recent
                ) or entry.quiet_until > now:
                    # Asked about lately, or its next change cannot have come yet: not pulled
                    # forward, but still on the schedule.
                    stay.append(task_id)
                    continue
                entry.asking = True
                taken.append(entry)
                due.append(task_id)
                room -= 1
            kept.append((when, stay))
        for when, stay in kept:
            schedule.put_all(when, stay)

    def _earliest(self) -> float:
        """The earliest next_at of a task not in flight; dead items on top are dropped."""
        return self._schedule.earliest(self._live)

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
        if self._refresh is not None:
            # Once per answer, not per change: the watch set's size barely moves within one.
            self._watch_every = self._watch_one_in()
        rows = _rows_by_id(answer, entries)
        # Only the ids asked in this request are settled here: a row about a task asked in
        # another request still in flight is news, but that request settles it.
        asked = asked if isinstance(asked, list | tuple) else list(asked)
        mine = set(asked)
        unreadable: set[str] = set()
        next_poll = math.inf
        put = self._schedule.put
        for task_id, raw in rows.items():
            entry = entries.get(task_id)
            if entry is None:
                continue
            known = entry.state.fingerprint
            status, progress = raw.status, raw.progress
            fail_reason, finish_time = raw.fail_reason, raw.finish_time
            if (
                known is None
                # fingerprint(raw) != known, without making a tuple for every row of every
                # tick: each one would count towards the garbage collector's next pass.
                or status != known[0]
                or progress != known[1]
                or fail_reason != known[2]
                or finish_time != known[3]
            ):
                # A row's fingerprint: what fingerprint() takes from the same object as a dict.
                seen = (status, progress, fail_reason, finish_time)
                try:
                    task = decode_row(raw, known_id=entry.state.task_id)
                except WireError:
                    # Not answered: confirmed alone, so one bad item sinks no other task.
                    unreadable.add(task_id)
                    continue
                self._apply(task_id, entry, task, now, seen=seen, events=events)
                if entry.state.ended:
                    continue
                refresh = self._refresh
                if refresh is not None and task_id in mine:
                    self._changed(entry, now, refresh, known=known is not None)
            # Else nothing that tracking looks at moved: not decoded, no event.
            if task_id in mine:
                entry.answered_at = entry.polled_at
                # _settle, inlined: this runs for every task of every tick.
                entry.asking = False
                next_at = entry.next_at
                put(next_at, task_id)
                if next_at < next_poll:  # noqa: PLR1730 - min() costs several times more
                    next_poll = next_at
        self._next_poll = min(self._next_poll, next_poll)
        # Left out, or unreadable: asked about alone. Those that ended meanwhile are not.
        confirm = [
            task_id
            for task_id in asked
            if (task_id not in rows or task_id in unreadable) and task_id in entries
        ]
        self._compact()
        return events, confirm

    def _changed(self, entry: _Entry, now: float, refresh: float, *, known: bool) -> None:
        """A list answer to this task's own question showed a change: wait for the next.

        The change came between the last question that did not show it and this one, so
        the next comes a refresh_interval later, within the same span. A *watch* task is
        asked again just before the span opens (less the batch window): a server that
        changes sooner shows it there, and a change seen before the last one's bound was
        up disproves the rule for good. The others are asked just before the span closes
        (less the batch window), when the change has usually come: one question where the
        cadence would have asked three times, and the change seen no later. The first few
        changes timed are watched whatever their task; after them one task in 8, 16 or 32
        by the watch set's size (_watch_one_in).
        """
        if not known:
            # The first snapshot, or one after a callback: no change of the server's to time.
            entry.changed_after = None
            return
        previous = entry.changed_after
        if previous is not None and now < previous + refresh:
            self._disprove_refresh()
            return
        after = entry.changed_after = entry.answered_at
        if after is None:
            return
        polled = entry.polled_at
        if self._watches_left:
            # Counted as they are handed out, not as they are proved: a watch set that
            # starts together would otherwise have every task watch its first change.
            self._watches_left -= 1
            watch = True
        else:
            watch = not entry.bucket % self._watch_every
        # A watch task is asked just before the span opens, where a sooner change would show;
        # the others just before it closes, counted from the question that saw this change.
        # A batch window early, a few miss it and are asked again at the cadence (sooner near
        # a task's end): measured at 100,000 tasks that keeps the median change-to-event under
        # half an interval, where asking at the span's very end left it at half an interval.
        counted_from = after if watch or polled is None else polled
        quiet = counted_from + refresh - self.policy.batch_window
        entry.quiet_until = quiet
        if quiet > entry.next_at:  # noqa: PLR1730 - max() costs several times more
            entry.next_at = quiet

    def _watch_one_in(self) -> int:
        """One task in how many watches, for a watch set of this size."""
        one_in, tracked = _WATCH_ONE_IN, len(self._entries)
        while one_in < _WATCH_ONE_IN_MAX and tracked // (2 * one_in) >= _WATCHERS_AT_LEAST:
            one_in *= 2
        return one_in

    def _disprove_refresh(self) -> None:
        """Two changes came closer than refresh_interval: back to the cadence, waits and all."""
        self._refresh = None
        self.refresh_disproved = True
        for task_id, entry in self._entries.items():
            if entry.quiet_until == -math.inf:
                continue
            entry.quiet_until = -math.inf
            if entry.polled_at is not None and not entry.asking:
                cadence = entry.polled_at + entry.wait
                if cadence < entry.next_at:
                    entry.next_at = cadence
                    self._schedule.put(cadence, task_id)
                    self._next_poll = min(self._next_poll, cadence)
        self._compact()

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
        before = entry.state
        state, news = observe(before, task, now, seen=seen)
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
        policy = self.policy
        entry.wait = wait = policy.delay(state.status, state.progress, state.rate)
        next_at = asked + wait
        if next_at < entry.next_at:
            entry.next_at = next_at
            if not entry.asking:
                # In flight, it goes on the schedule when it is settled.
                self._push(next_at, task_id)
            self._next_poll = min(self._next_poll, next_at)
        # A change only puts a task's alarm later (the timetable item already there is then a
        # lower bound, and expire finds the real time when it comes up), except the end of a
        # stall, or the first alarm of a task that had none.
        if before.stalled or entry.alarm_at == math.inf:
            alarm_at = alarm(state, policy)
            if alarm_at is not None and alarm_at < entry.alarm_at:
                entry.alarm_at = alarm_at
                self._push_alarm(alarm_at, task_id)

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
            later = now + self.policy.reconcile_interval
            if later > entry.next_at:
                entry.next_at = later
                # The schedule keeps (next_at, id) items: the old one is now stale, so the
                # task needs a new item or it would never be asked about again. One in
                # flight gets its item when its answer is settled.
                if not entry.asking:
                    self._push(later, task.id)
        return events

    def _settle(self, entry: _Entry) -> None:
        entry.asking = False
        self._push(entry.next_at, entry.state.task_id)
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
        policy = self.policy
        entries = self._entries
        alarms = self._alarms
        # Only the tasks whose alarm item came up: their real alarm is no earlier, and a task
        # whose alarm has not come says nothing (expire has news exactly from its alarm on).
        while alarms.first() <= now:
            alarm_at, ids = alarms.pop_first()
            for task_id in ids:
                entry = entries.get(task_id)
                if entry is None or entry.alarm_at != alarm_at:
                    continue
                state, news = expire(entry.state, now, policy, entry.task)
                if news:
                    events.extend(news)
                    if state.ended:
                        del entries[task_id]
                        continue
                    entry.state = state
                entry.alarm_at = _or_inf(alarm(state, policy))
                if entry.alarm_at != math.inf:
                    alarms.put(entry.alarm_at, task_id)
        self._next_alarm = alarms.first()
        self._compact()
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
