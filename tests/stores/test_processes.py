"""Exclusivity across real processes: workers racing on one Redis, and SQLite under kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from onechat_async import _journal as journal
from onechat_async._journal import KeyState
from onechat_async._store import KeyRecord, TaskRecord
from onechat_async.stores import RedisStore, SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
KEYS = 60
PERMITS = 7


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )


async def _seed(store: RedisStore) -> None:
    """Half the keys are fresh, half held by a dead worker; likewise the task leases."""
    dead = time.time() - 1
    for i in range(KEYS):
        if i % 2:
            record = KeyRecord(
                key=f"job-{i}", state=KeyState.CLAIMED, owner="dead", lease_until=dead
            )
            await store.swap_key(0, record)
        owner = "dead" if i % 2 else ""
        await store.swap_task(0, TaskRecord(task_id=f"t-{i}", owner=owner, lease_until=dead))


@pytest.mark.parametrize("workers", [2, 4])
async def test_racing_worker_processes_each_win_a_key_lease_or_permit_once(
    redis_url: str, workers: int
) -> None:
    """N processes race for the same keys, task leases and permits: exactly one winner each."""
    prefix = f"test:{uuid.uuid4().hex}:"
    store = RedisStore(redis_url, prefix=prefix)
    # No socket timeout: on a busy machine the racers may take a while to start.
    signals = aioredis.Redis.from_url(redis_url, socket_timeout=None)
    procs: list[asyncio.subprocess.Process] = []
    try:
        await _seed(store)
        procs += [
            await _spawn(
                "-m", "tests.stores._racer", redis_url, prefix, f"w{n}", str(KEYS), str(PERMITS)
            )
            for n in range(workers)
        ]
        for _ in procs:
            await signals.blpop([f"{prefix}ready"], timeout=60)
        # Every racer is connected and blocked: release them together.
        await signals.rpush(f"{prefix}go", *["go"] * workers)
        outputs = [json.loads((await proc.communicate())[0]) for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * workers
        key_wins = Counter(k for out in outputs for k in out["keys"])
        task_wins = Counter(t for out in outputs for t in out["tasks"])
        assert key_wins == Counter(f"job-{i}" for i in range(KEYS))
        assert task_wins == Counter(f"t-{i}" for i in range(KEYS))
        assert sum(len(out["permits"]) for out in outputs) == PERMITS
        # The store agrees with what the racers say they won.
        for out, n in zip(outputs, range(workers), strict=True):
            for key in out["keys"]:
                record = await store.get_key(key)
                assert record is not None
                assert record.owner == f"w{n}"
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.communicate()
        await store.aclose()
        await signals.aclose()


@pytest.mark.parametrize("kill_after", [5, 23, 61])
async def test_a_sqlite_journal_killed_mid_write_reopens_consistent(
    tmp_path: Path, kill_after: int
) -> None:
    """A kill -9 mid-write: every job the worker reported is whole, the one in flight sane."""
    path = tmp_path / "journal.db"
    proc = await _spawn("-m", "tests.stores._writer", str(path))
    assert proc.stdout is not None
    reported = -1
    while reported < kill_after:
        reported = int(await proc.stdout.readline())
    # A random extra moment, so the kill lands at different points of the next job's writes.
    for _ in range(random.randrange(50)):  # noqa: S311 - test jitter, not security
        await asyncio.sleep(0)
    proc.send_signal(signal.SIGKILL)
    # The writer ran on while we read: what it printed before dying is what it had finished.
    reported = max([reported, *map(int, (await proc.stdout.read()).split())])
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SQLiteStore(path)
    try:
        for i in range(reported + 1):
            key = await store.get_key(f"job-{i}")
            task = await store.get_task(f"task-{i}")
            assert key is not None
            assert key.result == {
                "task_id": f"task-{i}",
                "code": 1,
                "description": "",
                "properties": {},
            }
            assert task is not None
            assert (task.seq, task.terminal, task.snapshot) == (
                1,
                True,
                {"status": "SUCCESS", "n": i},
            )
        # The job in flight when the process died: absent or in a state the journal handles.
        pending = await store.get_key(f"job-{reported + 1}")
        assert pending is None or pending.state in set(KeyState)
        if pending is not None and pending.state == KeyState.SENDING:
            later = journal.decide(pending, key=pending.key, owner="x", now=31.0, ttl=30.0)
            assert isinstance(later, journal.Unknown)
        for record in await store.unfinished():
            # Only the job in flight may be unfinished; its record is whole.
            assert record.task_id == f"task-{reported + 1}"
        assert await store.get_key(f"job-{reported + 2}") is None
    finally:
        await store.aclose()
