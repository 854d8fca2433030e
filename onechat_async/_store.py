"""The store seam: where workers keep what must outlive a process, as plain data.

A store holds three things, and nothing in it knows what a submit or a task is:

- **key records** (:class:`KeyRecord`): one per idempotency key, the intent to submit and
  then its outcome;
- **task records** (:class:`TaskRecord`): one per task id, the last observed snapshot, the
  per-task event sequence, the terminal flag and the tracking lease;
- **permits**: named, expiring slots that count what is in flight on the account, shared by
  every worker on the same store (admission).

Records change only by compare-and-swap on a version the store keeps: ``swap_*`` writes a
record when the stored version is still the one the caller read (0: no record yet) and
answers the record as stored, with its new version, or ``None`` when another writer got
there first. That single atomic step is all the three stores must get right; every rule
about *which* record to write (who may claim a key, when a lease can be taken over, what
a second submit with the same key does) lives in the pure :mod:`onechat_async._journal`.

**Retention.** A record whose ``expires_at`` is set (the pure journal sets it when a key is
settled as ACCEPTED or REFUSED, and when a task ends, ``key_ttl`` ahead) is dropped by
:meth:`Store.prune`; UNKNOWN keys and unfinished tasks never expire, so a submit that may have
been paid for is never forgotten, and never sent again.

Times are seconds since the epoch, passed in by the caller (``Clock.wall()``): stores never
read a clock, and workers sharing a store must agree on the time to within a lease's margin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs

__all__ = [
    "KeyRecord",
    "NoteRecord",
    "NoteStore",
    "Store",
    "TaskRecord",
    "record_from_data",
    "record_to_data",
]


@attrs.frozen
class KeyRecord:
    """What is known about one idempotency key; :mod:`._journal` says what each state means."""

    key: str
    state: str
    owner: str
    lease_until: float
    #: The accepted submit's result as plain data (``SubmitResult`` fields), else None.
    result: Mapping[str, Any] | None = None
    #: Why the submit was refused or why its outcome is unknown.
    detail: str = ""
    #: The submit's ``state=`` (echoed on the task by the server), to find it again by hand.
    tag: str = ""
    #: When the store may drop the record (:meth:`Store.prune`); 0 keeps it for good.
    expires_at: float = 0.0
    version: int = 0


@attrs.frozen
class TaskRecord:
    """What is known about one task: last snapshot, event sequence and tracking lease."""

    task_id: str
    #: The last observed task as plain JSON data; empty until the first observation.
    snapshot: Mapping[str, Any] = attrs.field(factory=dict)
    #: The number of the last journaled event; (task_id, seq) identifies an event for good.
    seq: int = 0
    terminal: bool = False
    #: The worker tracking it, or "" when nobody does.
    owner: str = ""
    lease_until: float = 0.0
    #: The idempotency key whose submit created it, if any.
    key: str = ""
    #: When the store may drop the record (:meth:`Store.prune`); 0 keeps it for good.
    expires_at: float = 0.0
    version: int = 0


# -- notes (callbacks) --------------------------------------------------------------------
# Added for notifyHook callbacks shared by workers (docs/callbacks.md), apart from the journal:
# the callback side keeps its shared HMAC secret, the submits whose answer was lost, and the
# snapshots one worker's receiver forwards to another as small named notes.


@attrs.frozen
class NoteRecord:
    """One small named record of plain JSON data, changed by compare-and-swap like the others."""

    name: str
    data: Mapping[str, Any] = attrs.field(factory=dict)
    version: int = 0


class NoteStore(Protocol):
    """What a store needs for callbacks shared across workers; all three stores have it."""

    async def get_note(self, name: str) -> NoteRecord | None:
        """The note called ``name``, or None if it was never written."""
        ...

    async def swap_note(self, expected_version: int, record: NoteRecord) -> NoteRecord | None:
        """Write ``record`` if its stored version is ``expected_version``; the stored record."""
        ...


def record_to_data(record: KeyRecord | TaskRecord) -> dict[str, Any]:
    """A record as JSON-ready data, without its version (the store keeps that apart)."""
    data = attrs.asdict(record, recurse=False)
    del data["version"]
    for name, value in data.items():
        if isinstance(value, Mapping):
            # A read-only or custom mapping would not survive json.dumps.
            data[name] = dict(value)
    return data


_R = TypeVar("_R", KeyRecord, TaskRecord)


def record_from_data(kind: type[_R], data: Mapping[str, Any], version: int) -> _R:
    """The record stored as ``data`` at ``version``."""
    return kind(**{**data, "version": version})


class Store(Protocol):
    """Durable state shared by the workers of one account; see the module docstring."""

    async def get_key(self, key: str) -> KeyRecord | None:
        """The record of idempotency key ``key``, or None if it was never claimed."""
        ...

    async def swap_key(self, expected_version: int, record: KeyRecord) -> KeyRecord | None:
        """Write ``record`` if its stored version is ``expected_version``; the stored record."""
        ...

    async def get_task(self, task_id: str) -> TaskRecord | None:
        """The record of task ``task_id``, or None if it is not journaled."""
        ...

    async def swap_task(self, expected_version: int, record: TaskRecord) -> TaskRecord | None:
        """Write ``record`` if its stored version is ``expected_version``; the stored record."""
        ...

    async def unfinished(self) -> Sequence[TaskRecord]:
        """Every journaled task that is not terminal, in no particular order."""
        ...

    async def acquire_permit(self, name: str, *, limit: int | None, now: float, ttl: float) -> bool:
        """Hold permit ``name`` until ``now + ttl`` if fewer than ``limit`` live permits exist.

        Expired permits are dropped first. A permit already held is renewed and counts as
        acquired; ``limit=None`` takes it whatever the count (a task already in flight).
        """
        ...

    async def renew_permits(self, names: Sequence[str], *, now: float, ttl: float) -> None:
        """Extend the held permits among ``names`` to ``now + ttl``; others stay released."""
        ...

    async def release_permit(self, name: str) -> None:
        """Give permit ``name`` back; releasing one not held does nothing."""
        ...

    async def count_permits(self, *, now: float) -> int:
        """How many permits are live at ``now``."""
        ...

    async def aclose(self) -> None:
        """Release what the store opened (connections, threads); the data stays."""
        ...

    async def prune(self, *, now: float) -> int:
        """Drop every key and task record whose ``expires_at`` is set and not after ``now``.

        How many records were dropped. A record written again with ``expires_at`` 0 (a
        refused key claimed anew) is kept; a swap at the version of a dropped record loses.
        """
        ...
