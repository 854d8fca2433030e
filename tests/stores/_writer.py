"""A worker that journals jobs to SQLite as fast as it can, for the kill -9 test.

Run as ``python -m tests.stores._writer PATH``; it prints each job's number once every
record of that job is committed, and runs until it is killed.
"""

from __future__ import annotations

import asyncio
import sys

from onechat_async import _journal as journal
from onechat_async._models import SubmitResult
from onechat_async.stores import SQLiteStore

TTL = 30.0


async def write_forever(path: str) -> None:
    store = SQLiteStore(path)
    i = 0
    while True:
        key = f"job-{i}"
        decision = journal.decide(None, key=key, owner="w", now=0.0, ttl=TTL)
        assert isinstance(decision, journal.Claim)
        claimed = await store.swap_key(0, decision.record)
        assert claimed is not None
        sent = await store.swap_key(claimed.version, journal.sending(claimed, now=0.0, ttl=TTL))
        assert sent is not None
        await store.swap_key(sent.version, journal.accepted(sent, SubmitResult(f"task-{i}")))
        new = journal.new_task(f"task-{i}", key=key, owner="w", now=0.0, ttl=TTL)
        task = await store.swap_task(0, new)
        assert task is not None
        seen = journal.observe(
            task, owner="w", snapshot={"status": "SUCCESS", "n": i}, terminal=True
        )
        assert seen is not None
        await store.swap_task(task.version, seen)
        print(i, flush=True)  # noqa: T201 - the parent reads these lines
        i += 1


if __name__ == "__main__":
    asyncio.run(write_forever(sys.argv[1]))
