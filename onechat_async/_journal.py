"""Every rule of the journal in one place: idempotent submits and task leases, as pure functions.

Nothing here awaits, reads a clock or touches a store: each function takes what the store
answered (a record or None) and the time, and returns what to write next or what to do. The
asyncio shell writes the returned record with ``Store.swap_*`` at the version it read, and
starts over with a fresh read when the swap loses to another worker.

**Idempotency keys.** A submit with a key goes through these states::

    (none) --claim--> CLAIMED --before the request--> SENDING --answer--> ACCEPTED
                       |   ^                          |          +--> REFUSED (proves no task)
                       |   +--taken over once the     |          +--> UNKNOWN (may have made one)
                       |      claim's lease expired   +-- lease expired: unknown (owner died)
                       +--not sent after all--> REFUSED

What :func:`decide` tells a submit that finds the key (the issue's rule, and the money rule):

==========================  ==============================================================
state found                 what the submit does
==========================  ==============================================================
none, REFUSED               claim it (:class:`Claim`) and send: no task exists
CLAIMED, lease expired      claim it: its owner died before sending anything
CLAIMED or SENDING, live    :class:`Wait` for the holder's outcome, then decide again
ACCEPTED                    :class:`Replay` the same ``SubmitResult``; nothing is sent
UNKNOWN, SENDING expired    :class:`Unknown`: raise ``SubmitOutcomeUnknownError``, never send
==========================  ==============================================================

The SENDING lease must outlast the request's own timeout: while it is live, nobody can tell
a slow request from a dead worker, so everybody waits.

**Task leases.** A journaled task is tracked by the worker named in its record until
``lease_until``; the owner renews the lease while it tracks, writes each observation with
the next sequence number, and gives the lease up on a terminal state. A lease that expired
(its worker died) can be taken over by any worker. ``(task_id, seq)`` names an event for
good: after a restart the last journaled snapshot is replayed with its own ``seq``, so a
consumer that already handled it can tell.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ._errors import OneChatError, SubmitOutcomeUnknownError
from ._models import SubmitResult
from ._outcome import proves_no_task
from ._store import KeyRecord, TaskRecord

__all__ = [
    "Claim",
    "KeyState",
    "Replay",
    "Unknown",
    "Wait",
    "accepted",
    "decide",
    "expiry",
    "failed",
    "new_task",
    "not_sent",
    "observe",
    "release",
    "renew_claim",
    "renew_task",
    "result_from_data",
    "result_to_data",
    "sending",
    "take_task",
]

#: The reason an UNKNOWN outcome carries when the worker died with the request in flight.
INTERRUPTED = "interrupted"


class KeyState(enum.StrEnum):
    """Where the submit of one idempotency key stands."""

    #: The intent is recorded; nothing has been sent (waiting for admission, say).
    CLAIMED = "claimed"
    #: The request may be on the wire.
    SENDING = "sending"
    #: The server created a task; the record holds its ``SubmitResult``.
    ACCEPTED = "accepted"
    #: Nothing was created (refused, or never sent): sending again is safe.
    REFUSED = "refused"
    #: A task may exist: the library never sends it again.
    UNKNOWN = "unknown"


@attrs.frozen
class Claim:
    """Write :attr:`record` at :attr:`expected_version`; the winner may send the submit."""

    record: KeyRecord
    expected_version: int


@attrs.frozen
class Replay:
    """The key's task exists: answer :attr:`result` again and send nothing."""

    result: SubmitResult


@attrs.frozen
class Wait:
    """Another call holds the key: read it again by :attr:`until` (the holder's lease end)."""

    until: float


@attrs.frozen
class Unknown:
    """The key's submit may have created a task: raise :attr:`error`, never send."""

    error: SubmitOutcomeUnknownError


Decision = Claim | Replay | Wait | Unknown


def decide(
    found: KeyRecord | None, *, key: str, owner: str, now: float, ttl: float, tag: str = ""
) -> Decision:
    """What a submit with idempotency ``key`` must do, given the record the store holds."""
    claimed = KeyRecord(
        key=key, state=KeyState.CLAIMED, owner=owner, lease_until=now + ttl, tag=tag
    )
    if found is None:
        return Claim(claimed, 0)
    state = found.state
    if state == KeyState.ACCEPTED and found.result is not None:
        return Replay(result_from_data(found.result))
    if state == KeyState.REFUSED:
        return Claim(claimed, found.version)
    live = found.lease_until > now
    if state == KeyState.CLAIMED:
        return Wait(found.lease_until) if live else Claim(claimed, found.version)
    if state == KeyState.SENDING and live:
        return Wait(found.lease_until)
    # UNKNOWN, an expired SENDING, or a state this version does not know: assume the worst.
    reason = found.detail if state == KeyState.UNKNOWN and found.detail else INTERRUPTED
    return Unknown(_unknown_error(found, reason))


def renew_claim(record: KeyRecord, *, now: float, ttl: float) -> KeyRecord:
    """The CLAIMED record held a while longer (the submit still waits to be sent)."""
    _expect(record, KeyState.CLAIMED)
    return attrs.evolve(record, lease_until=now + ttl)


def sending(record: KeyRecord, *, now: float, ttl: float) -> KeyRecord:
    """The record to write just before the request leaves; ``ttl`` outlasts its timeout."""
    _expect(record, KeyState.CLAIMED)
    return attrs.evolve(record, state=KeyState.SENDING, lease_until=now + ttl)


def expiry(now: float, keep: float | None) -> float:
    """When a settled record may be dropped: ``keep`` seconds after ``now`` (None: never)."""
    return 0.0 if keep is None else now + keep


def accepted(
    record: KeyRecord, result: SubmitResult, *, now: float = 0.0, keep: float | None = None
) -> KeyRecord:
    """The record of a submit the server accepted, kept ``keep`` seconds (None: for good).

    Once it is dropped the key is new again: a submit with it is sent (and paid) again, so
    ``keep`` must outlast any retry of the job it names.
    """
    _expect(record, KeyState.SENDING)
    return attrs.evolve(
        record,
        state=KeyState.ACCEPTED,
        result=result_to_data(result),
        lease_until=0.0,
        expires_at=expiry(now, keep),
    )


def failed(
    record: KeyRecord, error: OneChatError, *, now: float = 0.0, keep: float | None = None
) -> KeyRecord:
    """The record of a submit that failed with the settled ``error`` (see ``_outcome``).

    A refusal is kept ``keep`` seconds; an unknown outcome for good (it guards money).
    """
    _expect(record, KeyState.SENDING)
    if proves_no_task(error):
        return attrs.evolve(
            record,
            state=KeyState.REFUSED,
            detail=type(error).__name__,
            lease_until=0.0,
            expires_at=expiry(now, keep),
        )
    reason = error.reason if isinstance(error, SubmitOutcomeUnknownError) else "unknown"
    return attrs.evolve(
        record, state=KeyState.UNKNOWN, detail=reason, lease_until=0.0, expires_at=0.0
    )


def not_sent(record: KeyRecord, *, now: float = 0.0, keep: float | None = None) -> KeyRecord:
    """The record of a claim given up before anything was sent (cancelled, refused locally)."""
    _expect(record, KeyState.CLAIMED)
    return attrs.evolve(
        record,
        state=KeyState.REFUSED,
        detail="not sent",
        lease_until=0.0,
        expires_at=expiry(now, keep),
    )


def result_to_data(result: SubmitResult) -> dict[str, Any]:
    """A ``SubmitResult`` as plain JSON data."""
    return {
        "task_id": result.task_id,
        "code": result.code,
        "description": result.description,
        "properties": dict(result.properties),
    }


def result_from_data(data: Mapping[str, Any]) -> SubmitResult:
    """The ``SubmitResult`` that :func:`result_to_data` stored."""
    return SubmitResult(
        task_id=str(data["task_id"]),
        code=int(data.get("code", 1)),
        description=str(data.get("description", "")),
        properties=dict(data.get("properties") or {}),
    )


def new_task(task_id: str, *, key: str, owner: str, now: float, ttl: float) -> TaskRecord:
    """The record of a task just accepted, tracked by ``owner`` (write it at version 0)."""
    return TaskRecord(task_id=task_id, key=key, owner=owner, lease_until=now + ttl)


def take_task(record: TaskRecord, *, owner: str, now: float, ttl: float) -> TaskRecord | None:
    """The record with ``owner`` tracking the task, or None if it is finished or held live."""
    if record.terminal:
        return None
    if record.owner not in {"", owner} and record.lease_until > now:
        return None
    return attrs.evolve(record, owner=owner, lease_until=now + ttl)


def renew_task(record: TaskRecord, *, owner: str, now: float, ttl: float) -> TaskRecord | None:
    """The lease extended, or None if ``owner`` no longer holds it (taken over, finished)."""
    if record.terminal or record.owner != owner:
        return None
    return attrs.evolve(record, lease_until=now + ttl)


def release(record: TaskRecord, *, owner: str) -> TaskRecord | None:
    """The lease given up (the worker stops), or None if ``owner`` did not hold it."""
    if record.owner != owner:
        return None
    return attrs.evolve(record, owner="", lease_until=0.0)


def observe(
    record: TaskRecord,
    *,
    owner: str,
    snapshot: Mapping[str, Any],
    terminal: bool,
    now: float = 0.0,
    keep: float | None = None,
) -> TaskRecord | None:
    """The record with one more observed state, or None if ``owner`` may not journal it.

    The new event is ``(record.task_id, result.seq)``; a terminal state ends the lease, and
    the record is kept ``keep`` seconds more (None: for good).
    """
    if record.terminal or record.owner != owner:
        return None
    if terminal:
        return attrs.evolve(
            record,
            snapshot=dict(snapshot),
            seq=record.seq + 1,
            terminal=True,
            owner="",
            lease_until=0.0,
            expires_at=expiry(now, keep),
        )
    return attrs.evolve(record, snapshot=dict(snapshot), seq=record.seq + 1)


def _expect(record: KeyRecord, state: KeyState) -> None:
    if record.state != state:
        # A shell bug, not a server's doing: writing it anyway could re-send a paid submit.
        msg = f"key {record.key!r} is {record.state}, not {state}"
        raise ValueError(msg)


def _unknown_error(record: KeyRecord, reason: str) -> SubmitOutcomeUnknownError:
    why = (
        "the worker that sent it stopped before the answer was recorded"
        if reason == INTERRUPTED
        else f"its outcome was unknown when it was sent ({reason})"
    )
    return SubmitOutcomeUnknownError(
        f"the submit with idempotency key {record.key!r} may have created a task: {why}. "
        "It is not sent again; look for the task by its state before using a new key",
        reason=reason,
        state=record.tag or None,
    )
