"""MemoryStore: the default store; one process, forgotten when the process ends."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .._store import KeyRecord, NoteRecord, TaskRecord

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps the journal in dicts: idempotency within one process, nothing across restarts.

    Each method completes without yielding to the event loop, so each is atomic.

    ```python
    async with OneChatClient(store=MemoryStore()) as client:
        await client.imagine("a fox", idempotency_key="job-1")
    ```
    """

    def __init__(self) -> None:
        self._keys: dict[str, KeyRecord] = {}
        self._tasks: dict[str, TaskRecord] = {}
        self._permits: dict[str, float] = {}
        self._notes: dict[str, NoteRecord] = {}

    async def get_key(self, key: str) -> KeyRecord | None:
        return self._keys.get(key)

    async def swap_key(self, expected_version: int, record: KeyRecord) -> KeyRecord | None:
        found = self._keys.get(record.key)
        if (found.version if found else 0) != expected_version:
            return None
        stored = attrs.evolve(record, version=expected_version + 1)
        self._keys[record.key] = stored
        return stored

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return self._tasks.get(task_id)

    async def swap_task(self, expected_version: int, record: TaskRecord) -> TaskRecord | None:
        found = self._tasks.get(record.task_id)
        if (found.version if found else 0) != expected_version:
            return None
        stored = attrs.evolve(record, version=expected_version + 1)
        self._tasks[record.task_id] = stored
        return stored

    async def unfinished(self) -> Sequence[TaskRecord]:
        return [record for record in self._tasks.values() if not record.terminal]

    async def acquire_permit(self, name: str, *, limit: int | None, now: float, ttl: float) -> bool:
        self._drop_expired(now)
        if name not in self._permits and limit is not None and len(self._permits) >= limit:
            return False
        self._permits[name] = now + ttl
        return True

    async def renew_permits(self, names: Sequence[str], *, now: float, ttl: float) -> None:
        for name in names:
            if name in self._permits:
                self._permits[name] = now + ttl

    async def release_permit(self, name: str) -> None:
        self._permits.pop(name, None)

    async def count_permits(self, *, now: float) -> int:
        self._drop_expired(now)
        return len(self._permits)

    async def aclose(self) -> None:
        """Nothing to release: the data lives as long as the object."""

    async def prune(self, *, now: float) -> int:
        keys = [k for k, r in self._keys.items() if 0.0 < r.expires_at <= now]
        tasks = [t for t, r in self._tasks.items() if 0.0 < r.expires_at <= now]
        for key in keys:
            del self._keys[key]
        for task_id in tasks:
            del self._tasks[task_id]
        return len(keys) + len(tasks)

    # -- notes (callbacks shared by workers) ---------------------------------------------

    async def get_note(self, name: str) -> NoteRecord | None:
        return self._notes.get(name)

    async def swap_note(self, expected_version: int, record: NoteRecord) -> NoteRecord | None:
        found = self._notes.get(record.name)
        if (found.version if found else 0) != expected_version:
            return None
        stored = attrs.evolve(record, data=dict(record.data), version=expected_version + 1)
        self._notes[record.name] = stored
        return stored

    def _drop_expired(self, now: float) -> None:
        for name in [name for name, until in self._permits.items() if until <= now]:
            del self._permits[name]

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._keys)}, tasks={len(self._tasks)})"
