"""RedisStore: one journal shared by every worker of an account, on a Redis server.

Each compare-and-swap and each permit acquisition is one Lua script, which Redis runs
atomically: two workers racing for the same key or lease cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis

from .._store import KeyRecord, NoteRecord, TaskRecord, record_from_data, record_to_data

__all__ = ["RedisStore"]

_R = TypeVar("_R", KeyRecord, TaskRecord)

# KEYS: the record's hash, the expiry index, then (tasks only) the set of unfinished ids.
# ARGV: expected version, the record's JSON, "1" if terminal, the task id, expires_at.
_SWAP = """
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', v + 1, 'd', ARGV[2])
if tonumber(ARGV[5]) > 0 then
  redis.call('ZADD', KEYS[2], ARGV[5], KEYS[1])
else
  redis.call('ZREM', KEYS[2], KEYS[1])
end
if KEYS[3] then
  if ARGV[3] == '1' then
    redis.call('SREM', KEYS[3], ARGV[4])
  else
    redis.call('SADD', KEYS[3], ARGV[4])
  end
end
return v + 1
"""

# KEYS: the expiry index (score: expires_at, member: a record's hash). ARGV: now, batch.
# The records' names come from the index, not KEYS: under Redis Cluster the prefix must be
# a hash tag so that they share the index's slot.
_PRUNE = """
local names = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, name in ipairs(names) do
  redis.call('DEL', name)
  redis.call('ZREM', KEYS[1], name)
end
return #names
"""
_PRUNE_BATCH = 500

# KEYS: the permits' sorted set (score: expiry). ARGV: name, limit ("" for none), now, until.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if ARGV[2] ~= '' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
"""


class RedisStore:
    """Keeps the journal on the Redis server at ``url`` (``redis://127.0.0.1:6379/0``).

    Every key it writes starts with ``prefix``, so several accounts (or test runs) can share
    one server. Pass ``client=`` to use a ``redis.asyncio.Redis`` you own instead of a URL:
    it is borrowed, and :meth:`aclose` leaves it open. Redis must persist (AOF with
    ``appendfsync everysec`` or stricter) for the journal to survive a Redis restart.
    Needs the ``redis`` extra: ``pip install 'onechat-async[redis]'``.

    ```python
    store = RedisStore(os.environ["REDIS_URL"], prefix="onechat:account-1:")
    async with OneChatClient(store=store, max_in_flight=3) as client:
        ...
    ```

    :param url: The Redis server's URL; give this or ``client``, not both.
    :param prefix: What every key this store writes starts with.
    :param client: A ``redis.asyncio.Redis`` of yours to use instead of a URL (left open).
    :raises ValueError: Both ``url`` and ``client`` were given, or neither.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "onechat:",
        client: aioredis.Redis | None = None,
    ) -> None:
        if (url is None) == (client is None):
            msg = "RedisStore takes a url or a client, not both"
            raise ValueError(msg)
        self._own = client is None
        self._redis: aioredis.Redis = (
            client if client is not None else aioredis.Redis.from_url(str(url))
        )
        self._prefix = prefix
        self._unfinished = f"{prefix}unfinished"
        self._permits = f"{prefix}permits"
        self._expiry = f"{prefix}expiry"
        self._swap = self._redis.register_script(_SWAP)
        self._prune = self._redis.register_script(_PRUNE)
        self._acquire = self._redis.register_script(_ACQUIRE)

    async def get_key(self, key: str) -> KeyRecord | None:
        return await self._get(KeyRecord, self._key(key))

    async def swap_key(self, expected_version: int, record: KeyRecord) -> KeyRecord | None:
        data = _encode(record)
        version = int(
            await self._swap(
                keys=[self._key(record.key), self._expiry],
                args=[expected_version, data, "0", "", repr(record.expires_at)],
            )
        )
        return record_from_data(KeyRecord, json.loads(data), version) if version else None

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return await self._get(TaskRecord, self._task(task_id))

    async def swap_task(self, expected_version: int, record: TaskRecord) -> TaskRecord | None:
        data = _encode(record)
        version = int(
            await self._swap(
                keys=[self._task(record.task_id), self._expiry, self._unfinished],
                args=[
                    expected_version,
                    data,
                    "1" if record.terminal else "0",
                    record.task_id,
                    repr(record.expires_at),
                ],
            )
        )
        return record_from_data(TaskRecord, json.loads(data), version) if version else None

    async def unfinished(self) -> Sequence[TaskRecord]:
        ids = sorted(_text(member) for member in await self._redis.smembers(self._unfinished))
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for task_id in ids:
            pipe.hmget(self._task(task_id), ["v", "d"])
        records = [_decode(TaskRecord, row) for row in await pipe.execute()]
        return [r for r in records if r is not None and not r.terminal]

    async def acquire_permit(self, name: str, *, limit: int | None, now: float, ttl: float) -> bool:
        won = await self._acquire(
            keys=[self._permits],
            args=[name, "" if limit is None else limit, repr(now), repr(now + ttl)],
        )
        return bool(int(won))

    async def renew_permits(self, names: Sequence[str], *, now: float, ttl: float) -> None:
        if names:
            await self._redis.zadd(self._permits, dict.fromkeys(names, now + ttl), xx=True)

    async def release_permit(self, name: str) -> None:
        await self._redis.zrem(self._permits, name)

    async def count_permits(self, *, now: float) -> int:
        return int(await self._redis.zcount(self._permits, f"({now!r}", "+inf"))

    async def prune(self, *, now: float) -> int:
        dropped = 0
        while True:
            batch = int(await self._prune(keys=[self._expiry], args=[repr(now), _PRUNE_BATCH]))
            dropped += batch
            if batch < _PRUNE_BATCH:
                return dropped

    async def aclose(self) -> None:
        """Close the connection pool if this store made it; a borrowed client stays open."""
        if self._own:
            await self._redis.aclose()

    async def _get(self, kind: type[_R], name: str) -> _R | None:
        return _decode(kind, await self._redis.hmget(name, ["v", "d"]))

    # -- notes (callbacks shared by workers) ---------------------------------------------

    async def get_note(self, name: str) -> NoteRecord | None:
        version, data = await self._redis.hmget(self._note(name), ["v", "d"])
        if version is None or data is None:
            return None
        return NoteRecord(name, json.loads(_text(data)), int(version))

    async def swap_note(self, expected_version: int, record: NoteRecord) -> NoteRecord | None:
        data = json.dumps(dict(record.data), ensure_ascii=False, separators=(",", ":"))
        version = int(
            # Notes never expire: expires_at 0 keeps them out of the expiry index.
            await self._swap(
                keys=[self._note(record.name), self._expiry],
                args=[expected_version, data, "0", "", "0"],
            )
        )
        return NoteRecord(record.name, json.loads(data), version) if version else None

    def _note(self, name: str) -> str:
        return f"{self._prefix}note:{name}"

    def _key(self, key: str) -> str:
        return f"{self._prefix}key:{key}"

    def _task(self, task_id: str) -> str:
        return f"{self._prefix}task:{task_id}"

    def __repr__(self) -> str:
        # The URL may carry a password: it stays out of reprs.
        return f"RedisStore(prefix={self._prefix!r})"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode(record: KeyRecord | TaskRecord) -> str:
    return json.dumps(record_to_data(record), ensure_ascii=False, separators=(",", ":"))


def _decode(kind: type[_R], row: Sequence[Any]) -> _R | None:
    version, data = row
    if version is None or data is None:
        return None
    return record_from_data(kind, json.loads(_text(data)), int(version))
