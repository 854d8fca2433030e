"""The behaviour every store must have, run against MemoryStore, SQLiteStore and RedisStore."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest

from onechat_async import _journal as journal
from onechat_async._journal import Claim, KeyState, Replay, Wait
from onechat_async._models import SubmitResult
from onechat_async._store import KeyRecord, Store, TaskRecord

NOW = 1_800_000_000.25
TTL = 30.0


def key_record(key: str = "job-1", **changes: Any) -> KeyRecord:
    record = KeyRecord(key=key, state=KeyState.CLAIMED, owner="w1", lease_until=NOW + TTL)
    return attrs.evolve(record, **changes)


async def test_a_key_never_claimed_has_no_record(store: Store) -> None:
    """Reading a key nobody claimed answers None."""
    assert await store.get_key("nobody") is None


async def test_the_first_swap_of_a_key_creates_it_at_version_one(store: Store) -> None:
    """A swap at version 0 creates the record, which then reads back at version 1."""
    stored = await store.swap_key(0, key_record())
    assert stored == key_record(version=1)
    assert await store.get_key("job-1") == stored


async def test_a_second_creation_of_the_same_key_loses(store: Store) -> None:
    """Two swaps at version 0 for one key: the second finds the first and writes nothing."""
    await store.swap_key(0, key_record(owner="w1"))
    assert await store.swap_key(0, key_record(owner="w2")) is None
    found = await store.get_key("job-1")
    assert found is not None
    assert found.owner == "w1"


async def test_a_swap_at_a_stale_version_loses_and_a_current_one_wins(store: Store) -> None:
    """Only the version last read may be swapped; each win moves the version on by one."""
    first = await store.swap_key(0, key_record())
    assert first is not None
    second = await store.swap_key(1, attrs.evolve(first, state=KeyState.SENDING))
    assert second is not None
    assert second.version == 2
    assert await store.swap_key(1, attrs.evolve(first, state=KeyState.REFUSED)) is None
    assert await store.swap_key(5, attrs.evolve(first, state=KeyState.REFUSED)) is None
    assert await store.get_key("job-1") == second


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"state": KeyState.ACCEPTED, "result": {"task_id": "17", "code": 1, "properties": {}}},
        {"state": KeyState.UNKNOWN, "detail": "timeout", "tag": "order-42"},
        {"key": "ключ 🔑 with spaces:and:colons", "tag": "état"},
        {"result": {"nested": {"list": [1, 2.5, None, True], "text": "排队中"}}},
    ],
)
async def test_key_records_read_back_exactly_as_written(
    store: Store, changes: dict[str, Any]
) -> None:
    """Every field of a key record, unicode and nested data included, survives the store."""
    record = key_record(**changes)
    await store.swap_key(0, record)
    assert await store.get_key(record.key) == attrs.evolve(record, version=1)


async def test_task_records_read_back_exactly_as_written(store: Store) -> None:
    """Every field of a task record survives the store, and keys and tasks do not collide."""
    record = TaskRecord(
        task_id="job-1",
        snapshot={"id": "job-1", "status": "IN_PROGRESS", "progress": "46%", "buttons": []},
        seq=3,
        owner="w1",
        lease_until=NOW + TTL,
        key="k",
    )
    assert await store.swap_task(0, record) == attrs.evolve(record, version=1)
    assert await store.get_task("job-1") == attrs.evolve(record, version=1)
    assert await store.get_key("job-1") is None
    assert await store.get_task("other") is None


async def test_task_swaps_follow_versions_like_key_swaps(store: Store) -> None:
    """A task swap at a stale version loses; at the current one it wins."""
    record = TaskRecord(task_id="t1")
    await store.swap_task(0, record)
    assert await store.swap_task(0, record) is None
    assert await store.swap_task(2, record) is None
    won = await store.swap_task(1, attrs.evolve(record, seq=1))
    assert won is not None
    assert (won.seq, won.version) == (1, 2)


async def test_unfinished_lists_exactly_the_tasks_not_terminal(store: Store) -> None:
    """unfinished() holds every non-terminal task, and a task leaves it when it turns terminal."""
    for task_id in ("a", "b", "c"):
        await store.swap_task(0, TaskRecord(task_id=task_id))
    await store.swap_task(1, TaskRecord(task_id="b", terminal=True, seq=1))
    assert sorted(r.task_id for r in await store.unfinished()) == ["a", "c"]
    await store.swap_task(1, TaskRecord(task_id="a", terminal=True, seq=1))
    assert [r.task_id for r in await store.unfinished()] == ["c"]


async def test_a_lost_task_swap_changes_nothing_in_unfinished(store: Store) -> None:
    """A terminal write that loses its swap leaves the task listed as unfinished."""
    await store.swap_task(0, TaskRecord(task_id="a"))
    assert await store.swap_task(7, TaskRecord(task_id="a", terminal=True)) is None
    assert [r.task_id for r in await store.unfinished()] == ["a"]


async def test_permits_are_granted_up_to_the_limit(store: Store) -> None:
    """Permits are granted while fewer than ``limit`` are live, then refused."""
    granted = [await store.acquire_permit(f"p{i}", limit=3, now=NOW, ttl=TTL) for i in range(5)]
    assert granted == [True, True, True, False, False]
    assert await store.count_permits(now=NOW) == 3


async def test_a_held_permit_is_renewed_not_refused_at_the_limit(store: Store) -> None:
    """Asking again for a permit already held succeeds even when the limit is reached."""
    await store.acquire_permit("p", limit=1, now=NOW, ttl=TTL)
    assert await store.acquire_permit("p", limit=1, now=NOW + 20, ttl=TTL)
    # Renewed to NOW + 50: still live after the first lease's end.
    assert await store.count_permits(now=NOW + 40) == 1


async def test_a_permit_without_limit_is_always_granted(store: Store) -> None:
    """limit=None takes a permit past the limit (a task already in flight is counted)."""
    await store.acquire_permit("p1", limit=1, now=NOW, ttl=TTL)
    assert await store.acquire_permit("p2", limit=None, now=NOW, ttl=TTL)
    assert await store.count_permits(now=NOW) == 2


async def test_expired_permits_stop_counting(store: Store) -> None:
    """A permit not renewed within its ttl no longer counts, so its slot can be taken."""
    await store.acquire_permit("dead", limit=1, now=NOW, ttl=TTL)
    assert not await store.acquire_permit("new", limit=1, now=NOW + TTL - 1, ttl=TTL)
    assert await store.count_permits(now=NOW + TTL) == 0
    assert await store.acquire_permit("new", limit=1, now=NOW + TTL, ttl=TTL)


async def test_released_permits_free_their_slot(store: Store) -> None:
    """Releasing a permit frees its slot; releasing one not held does nothing."""
    await store.acquire_permit("p", limit=1, now=NOW, ttl=TTL)
    await store.release_permit("p")
    await store.release_permit("never-held")
    assert await store.count_permits(now=NOW) == 0
    assert await store.acquire_permit("q", limit=1, now=NOW, ttl=TTL)


async def test_renewing_extends_held_permits_only(store: Store) -> None:
    """renew_permits moves the expiry of held permits and does not revive released ones."""
    await store.acquire_permit("held", limit=None, now=NOW, ttl=TTL)
    await store.acquire_permit("gone", limit=None, now=NOW, ttl=TTL)
    await store.release_permit("gone")
    await store.renew_permits(["held", "gone"], now=NOW + 20, ttl=TTL)
    await store.renew_permits([], now=NOW + 20, ttl=TTL)
    assert await store.count_permits(now=NOW + 40) == 1
    assert await store.acquire_permit("other", limit=2, now=NOW + 40, ttl=TTL)
    assert not await store.acquire_permit("third", limit=2, now=NOW + 40, ttl=TTL)


async def test_racing_claims_of_one_key_have_exactly_one_winner(store: Store) -> None:
    """Twenty concurrent claims of one key, each read-decide-swap: exactly one wins."""

    async def claim(owner: str) -> bool:
        found = await store.get_key("job")
        decision = journal.decide(found, key="job", owner=owner, now=NOW, ttl=TTL)
        if not isinstance(decision, Claim):
            return False
        return await store.swap_key(decision.expected_version, decision.record) is not None

    wins = await asyncio.gather(*(claim(f"w{i}") for i in range(20)))
    assert sum(wins) == 1


async def test_a_submit_journaled_through_the_store_replays_its_result(store: Store) -> None:
    """Claim, sending, accepted through a store: the next submit with the key replays it."""
    decision = journal.decide(None, key="job", owner="w1", now=NOW, ttl=TTL)
    assert isinstance(decision, Claim)
    claimed = await store.swap_key(decision.expected_version, decision.record)
    assert claimed is not None
    assert isinstance(
        journal.decide(await store.get_key("job"), key="job", owner="w2", now=NOW, ttl=TTL), Wait
    )
    sent = await store.swap_key(claimed.version, journal.sending(claimed, now=NOW, ttl=TTL))
    assert sent is not None
    result = SubmitResult(task_id="1748339029401828", description="排队中，前面还有3个任务")
    done = await store.swap_key(sent.version, journal.accepted(sent, result))
    assert done is not None
    again = journal.decide(await store.get_key("job"), key="job", owner="w2", now=NOW, ttl=TTL)
    assert again == Replay(result)


async def test_closing_a_store_twice_is_harmless(store: Store) -> None:
    """aclose() may be called more than once (the fixture calls it again)."""
    await store.aclose()
