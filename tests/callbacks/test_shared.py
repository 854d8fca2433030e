"""The pure rules workers share callbacks by: secret notes, rotation, adoption, inboxes."""

from __future__ import annotations

from typing import Any

import pytest

from onechat_async import Task
from onechat_async._callback_shared import (
    ADOPTED,
    INBOX_LIMIT,
    adopted_key,
    forwarded,
    inbox_tasks,
    rotated,
    secrets_of,
    seeded,
    task_to_wire,
)
from onechat_async._journal import KeyState
from onechat_async._store import KeyRecord
from onechat_async.callbacks import parse_callback
from tests.callbacks.conftest import OTHER_SECRET, SECRET, task_body


def test_a_seeded_note_mints_and_verifies_with_its_one_secret() -> None:
    """A fresh note holds one secret, used both to mint and to verify."""
    found = secrets_of(seeded(SECRET), now=0.0)
    assert (found.mint, found.verify) == (SECRET, (SECRET,))


@pytest.mark.parametrize(
    ("now", "verify"),
    [
        (1000.0, (OTHER_SECRET, SECRET)),  # at the rotation
        (1599.9, (OTHER_SECRET, SECRET)),  # the last moment of the grace period
        (1600.0, (OTHER_SECRET,)),  # the grace period is over
    ],
)
def test_a_rotated_secret_verifies_the_old_one_during_the_grace_period(
    now: float, verify: tuple[bytes, ...]
) -> None:
    """After a rotation the new secret mints; the old one verifies until rotation + grace."""
    data = rotated(seeded(SECRET), OTHER_SECRET, now=1000.0, grace=600.0)
    found = secrets_of(data, now=now)
    assert (found.mint, found.verify) == (OTHER_SECRET, verify)


def test_a_second_rotation_forgets_the_first_secret() -> None:
    """Only one previous secret is kept: the one rotated out last."""
    third = b"u" * 32
    data = rotated(rotated(seeded(SECRET), OTHER_SECRET, now=0, grace=10), third, now=1, grace=10)
    assert secrets_of(data, now=2).verify == (third, OTHER_SECRET)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"current": ""},
        {"current": 7},
        {"current": "not base64!"},
        {"current": "ﬁ"},
        {"current": "c2VjcmV0"},  # b"secret": too short to sign with
        {"current": seeded(SECRET)["current"], "previous": "!!", "previous_until": 10**12},
    ],
)
def test_a_malformed_secret_note_is_a_value_error(data: dict[str, Any]) -> None:
    """A note that does not hold base64 secrets raises ValueError, nothing else."""
    with pytest.raises(ValueError, match="malformed"):
        secrets_of(data, now=0.0)


def test_the_secret_never_shows_in_a_repr() -> None:
    """The Secrets pair keeps its bytes out of its repr."""
    assert "sss" not in repr(secrets_of(seeded(SECRET), now=0.0))


def _key(state: str) -> KeyRecord:
    return KeyRecord(key="k", state=state, owner="w", lease_until=5.0, tag="oc-1", version=3)


@pytest.mark.parametrize(
    ("state", "changes"),
    [
        (KeyState.UNKNOWN, True),
        (KeyState.SENDING, True),  # its worker died with the request in flight
        (KeyState.CLAIMED, True),
        (KeyState.ACCEPTED, False),
        (KeyState.REFUSED, False),  # the server's answer proved no task: it stands
    ],
)
def test_an_adopted_task_accepts_a_key_whose_outcome_was_open(state: str, changes: bool) -> None:
    """UNKNOWN, SENDING or CLAIMED become ACCEPTED with the adopted task; the rest stay."""
    new = adopted_key(_key(state), "1750000000000123")
    if not changes:
        assert new is None
        return
    assert new is not None
    assert (new.state, new.lease_until, new.tag, new.version) == (KeyState.ACCEPTED, 0.0, "oc-1", 3)
    assert new.result == {
        "task_id": "1750000000000123",
        "code": 1,
        "description": ADOPTED,
        "properties": {},
    }


def test_a_task_survives_the_inbox_unchanged() -> None:
    """A forwarded snapshot reads back as the very task (every field, times in ms)."""
    body = task_body(
        submitTime=1_750_000_000_123,
        startTime=1_750_000_001_000,
        imageUrl="https://cdn.example/x.png",
        properties={"finalPrompt": "a fox", "n": 1},
        buttons=[{"customId": "MJ::U1", "label": "U1", "emoji": "", "type": 2, "style": 2}],
        imageUrls=["https://cdn.example/1.png"],
    )
    task = parse_callback(body)
    assert inbox_tasks(forwarded({}, task)) == [task]
    assert task_to_wire(task)["progress"] == 9


def test_an_inbox_keeps_the_latest_tasks_in_order() -> None:
    """Snapshots append in order; past the limit the oldest go first."""
    data: dict[str, Any] = {}
    for n in range(INBOX_LIMIT + 2):
        data = forwarded(data, Task(id=str(n)))
    assert [t.id for t in inbox_tasks(data)] == [str(n) for n in range(2, INBOX_LIMIT + 2)]


@pytest.mark.parametrize("tasks", [None, "x", [None, {"status": "SUCCESS"}, 7]])
def test_unreadable_inbox_entries_are_skipped(tasks: object) -> None:
    """Whatever an inbox holds, reading it yields tasks or nothing, never an exception."""
    assert inbox_tasks({"tasks": tasks}) == []
    assert inbox_tasks(forwarded({"tasks": tasks}, Task(id="1"))) == [Task(id="1")]
