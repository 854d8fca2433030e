"""The asyncio shell of task leases: which journaled tasks this worker tracks, and their events.

A worker takes the tasks it submits and, on ``resume``, every unfinished task whose lease is
free or expired; it writes each observed state before handing the event on (so a consumer
never sees an event that a restart would not replay), renews its leases on a heartbeat more
often than ``ttl``, and stops tracking a task the moment a write shows another worker took it.
The rules are :mod:`._journal`'s; this class only remembers the versions it wrote and keeps
one write per task in flight at a time, so a heartbeat never races an observation.
"""

from __future__ import annotations

import asyncio
from collections.abc import KeysView, Mapping, Sequence
from typing import Any

from . import _journal as journal
from ._admission import AdmissionGate
from ._clock import Clock
from ._store import Store, TaskRecord

__all__ = ["TaskJournal"]


class TaskJournal:
    """The tasks one worker (``owner``) tracks, journaled in ``store`` with leases of ``ttl`` s.

    An ended task's record is kept ``keep`` seconds more, then the store may drop it.
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        clock: Clock,
        ttl: float,
        gate: AdmissionGate | None = None,
        keep: float | None = None,
    ) -> None:
        self._store = store
        # How long an ended task's record stays in the store (None: for good).
        self._keep = keep
        self._owner = owner
        self._clock = clock
        self._ttl = ttl
        self._gate = gate
        self._held: dict[str, TaskRecord] = {}
        #: The ids held now, as a live view: a membership test without a call, for the
        #: check every event of every stream makes.
        self.holding: KeysView[str] = self._held.keys()
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def held(self) -> frozenset[str]:
        """The ids of the tasks this worker tracks now."""
        return frozenset(self._held)

    def record(self, task_id: str) -> TaskRecord | None:
        """The last record written for a held task (its ``seq`` names the last event)."""
        return self._held.get(task_id)

    async def take(self, task_id: str) -> TaskRecord | None:
        """Track ``task_id`` if it is journaled, unfinished and not held by a live worker."""
        found = await self._store.get_task(task_id)
        return None if found is None else await self._take(found)

    async def take_unfinished(self) -> Sequence[TaskRecord]:
        """Track every unfinished task that is free, expired or already ours; the ones taken."""
        taken = [await self._take(found) for found in await self._store.unfinished()]
        return [record for record in taken if record is not None]

    async def observe(
        self, task_id: str, snapshot: Mapping[str, Any], *, terminal: bool
    ) -> int | None:
        """Journal one observed state; its event's ``seq``, or None if the task is not ours."""
        async with self._lock(task_id):
            held = self._held.get(task_id)
            if held is None:
                return None
            new = journal.observe(
                held,
                owner=self._owner,
                snapshot=snapshot,
                terminal=terminal,
                now=self._clock.wall(),
                keep=self._keep,
            )
            written = None if new is None else await self._store.swap_task(held.version, new)
            if written is None or written.terminal:
                self._forget(task_id)
                if written is not None and self._gate is not None:
                    await self._gate.release(task_id)
                return None if written is None else written.seq
            self._held[task_id] = written
            return written.seq

    async def renew(self) -> list[str]:
        """Extend every held lease (and its permit); the ids of the tasks lost to others."""
        lost = []
        for task_id in list(self._held):
            async with self._lock(task_id):
                held = self._held.get(task_id)
                if held is None:
                    continue
                now = self._clock.wall()
                new = journal.renew_task(held, owner=self._owner, now=now, ttl=self._ttl)
                written = None if new is None else await self._store.swap_task(held.version, new)
                if written is None:
                    self._forget(task_id)
                    lost.append(task_id)
                else:
                    self._held[task_id] = written
        if self._gate is not None and self._held:
            await self._gate.renew(list(self._held))
        return lost

    async def release_all(self) -> None:
        """Give every lease up (the worker stops), so others take the tasks over at once."""
        for task_id in list(self._held):
            async with self._lock(task_id):
                held = self._held.get(task_id)
                if held is None:
                    continue
                new = journal.release(held, owner=self._owner)
                if new is not None:
                    await self._store.swap_task(held.version, new)
                self._forget(task_id)

    async def _take(self, found: TaskRecord) -> TaskRecord | None:
        async with self._lock(found.task_id):
            new = journal.take_task(found, owner=self._owner, now=self._clock.wall(), ttl=self._ttl)
            written = None if new is None else await self._store.swap_task(found.version, new)
            if written is None:
                return None
            self._held[found.task_id] = written
        if self._gate is not None:
            # A task taken over still occupies the account: count it whatever the window.
            await self._gate.adopt(found.task_id)
        return written

    def _lock(self, task_id: str) -> asyncio.Lock:
        return self._locks.setdefault(task_id, asyncio.Lock())

    def _forget(self, task_id: str) -> None:
        self._held.pop(task_id, None)
        self._locks.pop(task_id, None)

    def __repr__(self) -> str:
        return f"TaskJournal(owner={self._owner!r}, held={len(self._held)})"
