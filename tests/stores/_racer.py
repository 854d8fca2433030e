"""One racing worker for test_processes.py: claims keys, task leases and permits on Redis.

Run as ``python -m tests.stores._racer URL PREFIX OWNER KEYS PERMITS``; it says it is ready,
waits for the start signal, races, and prints what it won as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import redis.asyncio as aioredis

from onechat_async import _journal as journal
from onechat_async.stores import RedisStore

TTL = 60.0


async def claim_key(store: RedisStore, key: str, owner: str) -> bool:
    while True:
        decision = journal.decide(
            await store.get_key(key), key=key, owner=owner, now=time.time(), ttl=TTL
        )
        if not isinstance(decision, journal.Claim):
            return False
        if await store.swap_key(decision.expected_version, decision.record) is not None:
            return True
        # Lost the swap: somebody wrote first; read what they wrote and decide again.


async def take_task(store: RedisStore, task_id: str, owner: str) -> bool:
    while True:
        record = await store.get_task(task_id)
        if record is None:
            return False
        taken = journal.take_task(record, owner=owner, now=time.time(), ttl=TTL)
        if taken is None:
            return False
        if await store.swap_task(record.version, taken) is not None:
            return True


async def race(url: str, prefix: str, owner: str, keys: int, permits: int) -> dict[str, list[str]]:
    store = RedisStore(url, prefix=prefix)
    signal = aioredis.Redis.from_url(url, socket_timeout=None)
    try:
        await signal.rpush(f"{prefix}ready", owner)
        await signal.blpop([f"{prefix}go"], timeout=60)
        won_keys = [f"job-{i}" for i in range(keys) if await claim_key(store, f"job-{i}", owner)]
        won_tasks = [f"t-{i}" for i in range(keys) if await take_task(store, f"t-{i}", owner)]
        won_permits = [
            name
            for name in (f"{owner}-p{i}" for i in range(keys))
            if await store.acquire_permit(name, limit=permits, now=time.time(), ttl=TTL)
        ]
    finally:
        await store.aclose()
        await signal.aclose()
    return {"keys": won_keys, "tasks": won_tasks, "permits": won_permits}


def main() -> None:
    url, prefix, owner, keys, permits = sys.argv[1:6]
    won = asyncio.run(race(url, prefix, owner, int(keys), int(permits)))
    print(json.dumps(won))  # noqa: T201 - the parent reads this line


if __name__ == "__main__":
    main()
