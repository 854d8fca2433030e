"""Retention: settled keys and ended tasks expire after key_ttl; what guards money never does."""

from __future__ import annotations

import attrs
import pytest

from onechat_async import QueueFullError, SubmitOutcomeUnknownError
from onechat_async import _journal as journal
from onechat_async._journal import KeyState
from onechat_async._models import SubmitResult
from onechat_async._store import KeyRecord, Store, TaskRecord
from onechat_async.stores import MemoryStore

NOW = 1_800_000_000.25
DAY = 86_400.0
KEEP = 7 * DAY


async def settle(store: Store, key: str, outcome: str) -> KeyRecord:
    """Write key ``key`` through claim and sending to ``outcome``, settled at NOW."""
    decision = journal.decide(None, key=key, owner="w1", now=NOW, ttl=30.0)
    assert isinstance(decision, journal.Claim)
    claimed = await store.swap_key(0, decision.record)
    assert claimed is not None
    if outcome == "claimed":
        return claimed
    sent = await store.swap_key(1, journal.sending(claimed, now=NOW, ttl=30.0))
    assert sent is not None
    if outcome == "sending":
        return sent
    settled = {
        "accepted": lambda: journal.accepted(sent, SubmitResult("t-" + key), now=NOW, keep=KEEP),
        "refused": lambda: journal.failed(sent, QueueFullError("full"), now=NOW, keep=KEEP),
        "unknown": lambda: journal.failed(
            sent, SubmitOutcomeUnknownError("reset", reason="reset"), now=NOW, keep=KEEP
        ),
    }[outcome]()
    written = await store.swap_key(2, settled)
    assert written is not None
    return written


@pytest.mark.parametrize(
    ("outcome", "expires"),
    [
        ("accepted", True),
        ("refused", True),
        ("unknown", False),
        ("sending", False),
        ("claimed", False),
    ],
)
async def test_only_accepted_and_refused_keys_expire(
    store: Store, outcome: str, expires: bool
) -> None:
    """After key_ttl a settled key is dropped; unknown, sending and claimed keys stay."""
    await settle(store, "job", outcome)
    assert await store.prune(now=NOW + KEEP - 1) == 0
    assert await store.get_key("job") is not None
    assert await store.prune(now=NOW + KEEP) == int(expires)
    assert (await store.get_key("job") is None) is expires


async def test_an_ended_task_expires_and_an_unfinished_one_stays(store: Store) -> None:
    """A terminal task record is dropped key_ttl after its end; a running one never."""
    for task_id in ("done", "running"):
        record = journal.new_task(task_id, key="", owner="w1", now=NOW, ttl=60.0)
        assert await store.swap_task(0, record) is not None
    running = await store.get_task("running")
    done = await store.get_task("done")
    assert done is not None
    assert running is not None
    ended = journal.observe(
        done, owner="w1", snapshot={"status": "SUCCESS"}, terminal=True, now=NOW, keep=KEEP
    )
    assert ended is not None
    assert await store.swap_task(done.version, ended) is not None
    assert await store.prune(now=NOW + KEEP) == 1
    assert await store.get_task("done") is None
    assert [r.task_id for r in await store.unfinished()] == ["running"]


async def test_a_refused_key_claimed_again_no_longer_expires(store: Store) -> None:
    """Claiming an expiring refused key clears its expiry: a live claim is never pruned."""
    refused = await settle(store, "job", "refused")
    decision = journal.decide(refused, key="job", owner="w2", now=NOW + 1, ttl=30.0)
    assert isinstance(decision, journal.Claim)
    assert await store.swap_key(decision.expected_version, decision.record) is not None
    assert await store.prune(now=NOW + 2 * KEEP) == 0
    found = await store.get_key("job")
    assert found is not None
    assert found.state == KeyState.CLAIMED


async def test_a_pruned_key_can_be_claimed_afresh_and_a_stale_swap_loses(store: Store) -> None:
    """After pruning, a swap at the dropped version loses and a claim at version 0 wins."""
    accepted = await settle(store, "job", "accepted")
    await store.prune(now=NOW + KEEP)
    assert await store.swap_key(accepted.version, attrs.evolve(accepted, detail="late")) is None
    decision = journal.decide(None, key="job", owner="w3", now=NOW + KEEP, ttl=30.0)
    assert isinstance(decision, journal.Claim)
    assert await store.swap_key(0, decision.record) is not None


async def test_many_expired_records_are_all_pruned(store: Store) -> None:
    """More records than one pruning batch are dropped in one call."""
    for i in range(1200):
        record = TaskRecord(task_id=f"t{i}", terminal=True, expires_at=NOW)
        assert await store.swap_task(0, record) is not None
    assert await store.prune(now=NOW) == 1200
    assert await store.get_task("t0") is None


async def test_records_kept_for_good_have_no_expiry() -> None:
    """keep=None (key_ttl=None) settles with expires_at 0: never pruned."""
    store = MemoryStore()
    sent = journal.sending(
        KeyRecord(key="k", state=KeyState.CLAIMED, owner="w", lease_until=NOW), now=NOW, ttl=1.0
    )
    assert journal.accepted(sent, SubmitResult("t"), now=NOW, keep=None).expires_at == 0.0
    await store.swap_key(0, journal.accepted(sent, SubmitResult("t"), now=NOW))
    assert await store.prune(now=NOW * 2) == 0
