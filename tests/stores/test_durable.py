"""What only the durable stores promise: data outlives the store object that wrote it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from onechat_async._journal import KeyState
from onechat_async._store import KeyRecord, TaskRecord
from onechat_async.stores import MemoryStore, RedisStore, SQLiteStore

NOW = 1_800_000_000.0


async def test_sqlite_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    """A key, a task and a permit written to a file are read back by a new SQLiteStore."""
    path = tmp_path / "journal.db"
    first = SQLiteStore(path)
    record = KeyRecord(key="k", state=KeyState.SENDING, owner="w1", lease_until=NOW)
    await first.swap_key(0, record)
    await first.swap_task(0, TaskRecord(task_id="t", seq=2))
    await first.acquire_permit("t", limit=None, now=NOW, ttl=60)
    await first.aclose()
    second = SQLiteStore(path)
    try:
        assert await second.get_key("k") == KeyRecord(
            key="k", state=KeyState.SENDING, owner="w1", lease_until=NOW, version=1
        )
        assert [r.task_id for r in await second.unfinished()] == ["t"]
        assert await second.count_permits(now=NOW) == 1
    finally:
        await second.aclose()


async def test_a_closed_sqlite_store_refuses_work(tmp_path: Path) -> None:
    """Using a closed SQLiteStore raises instead of reopening behind the caller's back."""
    store = SQLiteStore(tmp_path / "journal.db")
    await store.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await store.get_key("k")


async def test_two_redis_stores_with_one_prefix_share_everything(redis_url: str) -> None:
    """Workers that open the same URL and prefix see each other's records and permits."""
    prefix = f"test:{uuid.uuid4().hex}:"
    one, two = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    other = RedisStore(redis_url, prefix=f"{prefix}other:")
    try:
        await one.swap_task(0, TaskRecord(task_id="t"))
        await one.acquire_permit("t", limit=1, now=NOW, ttl=60)
        assert await two.get_task("t") == TaskRecord(task_id="t", version=1)
        assert not await two.acquire_permit("u", limit=1, now=NOW, ttl=60)
        assert await other.get_task("t") is None
        assert await other.count_permits(now=NOW) == 0
    finally:
        for store in (one, two, other):
            await store.aclose()


async def test_a_redis_store_can_borrow_a_client_and_leaves_it_open(redis_url: str) -> None:
    """RedisStore(client=...) uses the caller's client and does not close it."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    store = RedisStore(client=client, prefix=f"test:{uuid.uuid4().hex}:")
    await store.aclose()
    assert await client.ping()
    await client.aclose()


@pytest.mark.parametrize("kwargs", [{}, {"url": "redis://127.0.0.1:1/0", "client": object()}])
def test_a_redis_store_needs_exactly_one_of_url_and_client(kwargs: dict[str, object]) -> None:
    """RedisStore refuses to guess between no connection and two of them."""
    with pytest.raises(ValueError, match="url or a client"):
        RedisStore(**kwargs)  # type: ignore[arg-type]


async def test_store_reprs_carry_no_secrets(tmp_path: Path) -> None:
    """A Redis URL's password never shows in the store's repr."""
    store = RedisStore("redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(store)
    await store.aclose()
    assert "journal.db" in repr(SQLiteStore(tmp_path / "journal.db"))
    assert "MemoryStore" in repr(MemoryStore())


def test_without_redis_py_the_redis_store_asks_for_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RedisStore without redis-py installed is an ImportError naming the extra to install."""
    import sys

    import onechat_async

    monkeypatch.delitem(sys.modules, "onechat_async.stores._redis", raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"onechat-async\[redis\]"):
        _ = onechat_async.RedisStore
    with pytest.raises(AttributeError, match="NoSuchStore"):
        _ = onechat_async.stores.NoSuchStore
