"""Task ids by the time something is due for them: the tracker's schedule and its alarms.

A heap of ``(time, id)`` pairs would do, but the tracker gives one time to many tasks at once
(every task asked in one round is next due at that round's time plus the same wait, every
task that moved in one answer gets the same alarm), and a heap pays for each of them: a
push sifts through all the equal times, comparing ids. Here each distinct time is one heap
item with a list of ids, so putting an id in costs a dict lookup and an append, and taking
what is due costs one pop per distinct time.

It is lazy like the heap was: an id is put in again when its time changes, and the owner
tells a live item from a dead one when it comes up (its time no longer the task's own).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable

__all__ = ["Timetable"]


class Timetable:
    """Ids filed under the time they are due, earliest time first; duplicates allowed."""

    __slots__ = ("_ids", "_size", "_times")

    def __init__(self) -> None:
        #: The distinct times, a heap; each has its list in ``_ids``.
        self._times: list[float] = []
        self._ids: dict[float, list[str]] = {}
        #: Every id filed, live or dead: what compaction is measured against.
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def put(self, when: float, task_id: str) -> None:
        """File ``task_id`` under ``when``."""
        ids = self._ids.get(when)
        if ids is None:
            self._ids[when] = [task_id]
            heapq.heappush(self._times, when)
        else:
            ids.append(task_id)
        self._size += 1

    def put_all(self, when: float, task_ids: list[str]) -> None:
        """File every id of ``task_ids`` under ``when``; the list becomes the timetable's."""
        if not task_ids:
            return
        ids = self._ids.get(when)
        if ids is None:
            self._ids[when] = task_ids
            heapq.heappush(self._times, when)
        else:
            ids.extend(task_ids)
        self._size += len(task_ids)

    def first(self) -> float:
        """The earliest time anything is filed under (live or not); inf when empty."""
        return self._times[0] if self._times else math.inf

    def pop_first(self) -> tuple[float, list[str]]:
        """Take out the earliest time and every id filed under it, in the order filed."""
        when = heapq.heappop(self._times)
        ids = self._ids.pop(when)
        self._size -= len(ids)
        return when, ids

    def earliest(self, live: Callable[[float, str], object]) -> float:
        """The earliest time with an id under it that ``live`` finds true; inf when none.

        The dead ids met on the way are dropped, so that the next call does not test them
        again: each dead id is tested once.
        """
        times, table = self._times, self._ids
        while times:
            when = times[0]
            ids = table[when]
            for i, task_id in enumerate(ids):
                if live(when, task_id):
                    if i:
                        del ids[:i]
                        self._size -= i
                    return when
            self.pop_first()
        return math.inf

    def rebuild(self, items: Iterable[tuple[float, str]]) -> None:
        """Keep only ``items``: the live ones, when dead ones have piled up."""
        self._times = []
        self._ids = {}
        self._size = 0
        for when, task_id in items:
            self.put(when, task_id)
