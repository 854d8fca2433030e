"""Callbacks shared by the workers of one store: every rule as a pure function.

Workers that share a store (:class:`~onechat_async.stores.RedisStore`, or one
:class:`~onechat_async.stores.SQLiteStore` file) receive each other's callbacks, so they
share what the callback side knows, as small named notes (:class:`._store.NoteRecord`):

- **the secret** (note :data:`SECRET_NOTE`): the HMAC secret every worker mints and checks
  tokens with. The first worker to need it writes a random one at version 0; a second
  worker starting at the same moment loses that compare-and-swap and reads the winner's,
  so all agree. :func:`rotated` replaces it and keeps the previous one valid for checking
  (never for minting) until a grace period ends, so tokens minted before a rotation still
  verify while their tasks run;
- **lost submits** (note ``callback-open:<state>``): a submit whose answer was lost names
  its idempotency key there, so that whichever worker receives the first callback carrying
  that ``state`` can adopt the task and journal it (:func:`adopted_key`);
- **inboxes** (note ``callback-inbox:<owner>``): a callback about a task another live
  worker tracks is forwarded to that worker's inbox, which it drains into its tracker.

Nothing here awaits or reads a clock; the shell (:mod:`._callback_link`) reads, calls these,
and writes back by compare-and-swap, starting over when another worker wrote first.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from ._callbacks import MIN_SECRET_BYTES
from ._journal import KeyState
from ._models import Button, Task
from ._store import KeyRecord
from ._wire import WireError, decode_task

__all__ = [
    "ADOPTED",
    "INBOX_LIMIT",
    "SECRET_NOTE",
    "Secrets",
    "adopted_key",
    "forwarded",
    "inbox_note",
    "inbox_tasks",
    "open_note",
    "opened",
    "rotated",
    "secrets_of",
    "seeded",
    "task_to_wire",
]

SECRET_NOTE: Final = "callback-secret"  # noqa: S105 - a note's name, not a password
"""The note holding the callback secret of every worker on the store."""
#: How many forwarded snapshots an inbox keeps; the oldest go first (polling covers them).
INBOX_LIMIT: Final = 256
#: The description of a SubmitResult recorded for a task a callback revealed.
ADOPTED: Final = "adopted: a callback carried this submit's state"


@attrs.frozen
class Secrets:
    """The secret to mint with, and every secret a token may verify under (current first)."""

    mint: bytes = attrs.field(repr=False)
    verify: tuple[bytes, ...] = attrs.field(repr=False)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str) or not text:
        raise ValueError("the shared callback secret is malformed")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("the shared callback secret is malformed") from None
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError("the shared callback secret is malformed (too short)")
    return raw


def seeded(secret: bytes) -> dict[str, Any]:
    """The secret note's data for a store that has none yet (written at version 0)."""
    return {"current": _b64(secret), "previous": "", "previous_until": 0.0}


def rotated(data: Mapping[str, Any], secret: bytes, *, now: float, grace: float) -> dict[str, Any]:
    """``secret`` minting from now on; the current one still verifies until ``now + grace``."""
    return {"current": _b64(secret), "previous": data["current"], "previous_until": now + grace}


def secrets_of(data: Mapping[str, Any], *, now: float) -> Secrets:
    """The secrets a note holds at ``now``: the previous one only within its grace period."""
    current = _unb64(data.get("current"))
    verify = [current]
    previous, until = data.get("previous"), data.get("previous_until")
    if previous and isinstance(until, int | float) and now < until:
        verify.append(_unb64(previous))
    return Secrets(current, tuple(verify))


def open_note(state: str) -> str:
    """The name of the note of a lost submit carrying ``state``."""
    return f"callback-open:{state}"


def opened(key: str) -> dict[str, Any]:
    """A lost submit's note: its idempotency key ("" for none) and no task adopted yet."""
    return {"key": key, "adopted": []}


def adopted_key(record: KeyRecord, task_id: str) -> KeyRecord | None:
    """The key's record once a callback revealed its task; None if it needs no change.

    A submit whose outcome is unknown (or still marked as sending: its worker died) made
    ``task_id``: its key is ACCEPTED with that task from now on, so the next submit with
    the key replays it. An accepted key stays as it is, and so does a refused one (the
    server's answer proved no task; a callback cannot outweigh that, polling will tell).
    """
    if record.state not in (KeyState.UNKNOWN, KeyState.SENDING, KeyState.CLAIMED):
        return None
    result = {"task_id": task_id, "code": 1, "description": ADOPTED, "properties": {}}
    return attrs.evolve(record, state=KeyState.ACCEPTED, result=result, lease_until=0.0)


def inbox_note(owner: str) -> str:
    """The name of the inbox of the worker called ``owner``."""
    return f"callback-inbox:{owner}"


def forwarded(data: Mapping[str, Any], task: Task) -> dict[str, Any]:
    """An inbox with ``task`` appended (the oldest dropped past :data:`INBOX_LIMIT`)."""
    tasks = [*_listed(data.get("tasks")), task_to_wire(task)]
    return {"tasks": tasks[-INBOX_LIMIT:]}


def inbox_tasks(data: Mapping[str, Any]) -> list[Task]:
    """The tasks an inbox holds, in the order they came; unreadable entries are skipped."""
    tasks = []
    for item in _listed(data.get("tasks")):
        try:
            tasks.append(decode_task(item))
        except WireError:
            continue
    return tasks


def _listed(value: object) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def task_to_wire(task: Task) -> dict[str, Any]:
    """``task`` in the wire form the upstream posts (camelCase, times in epoch ms)."""
    return {_camel(field.name): _wire(getattr(task, field.name)) for field in attrs.fields(Task)}


def _wire(value: object) -> Any:
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Button):
        return {_camel(f.name): _wire(getattr(value, f.name)) for f in attrs.fields(Button)}
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
