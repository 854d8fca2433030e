"""SQLiteStore: the journal in one file, durable across crashes, no server to run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._store import KeyRecord, NoteRecord, TaskRecord, record_from_data, record_to_data

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")
_R = TypeVar("_R", KeyRecord, TaskRecord)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, version INTEGER NOT NULL, terminal INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks (task_id) WHERE terminal = 0;
CREATE TABLE IF NOT EXISTS permits (name TEXT PRIMARY KEY, until REAL NOT NULL);
"""

# Notes, for callbacks shared by workers: kept apart from the journal's own tables.
_NOTES_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
"""


class SQLiteStore:
    """Keeps the journal in the SQLite database at ``path`` (created if missing).

    Every write is one committed transaction, written ahead (WAL) and synced to disk before
    the call returns (``synchronous=FULL``): an intent recorded before a paid request
    survives a killed process and a power cut. The database is used from one thread of its
    own, so the event loop never blocks on the disk. Meant for one worker process; several
    processes on one file are serialised by SQLite's lock, which is correct but slow.

    ```python
    async with OneChatClient(store=SQLiteStore("onechat.db")) as client:
        async for event in client.resume():  # what a killed run left unfinished
            ...
    ```

    :param path: The database file; its directory must exist.
    :param busy_timeout: How long, in seconds, a write waits for another process's lock
        before failing.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 10.0) -> None:
        self._path = os.fspath(path)
        self._busy_timeout = busy_timeout
        # One thread owns the connection: sqlite3 objects must stay on the thread that made them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onechat-sqlite")
        self._db: sqlite3.Connection | None = None
        self._closed = False

    async def get_key(self, key: str) -> KeyRecord | None:
        row = await self._run(_fetch_one, "SELECT version, data FROM keys WHERE key = ?", (key,))
        return None if row is None else _decode(KeyRecord, row)

    async def swap_key(self, expected_version: int, record: KeyRecord) -> KeyRecord | None:
        data = _encode(record)
        if expected_version == 0:
            sql = "INSERT INTO keys (key, version, data) VALUES (?, 1, ?) ON CONFLICT DO NOTHING"
            params: tuple[Any, ...] = (record.key, data)
        else:
            sql = "UPDATE keys SET version = version + 1, data = ? WHERE key = ? AND version = ?"
            params = (data, record.key, expected_version)
        won = await self._run(_write, sql, params)
        return record_from_data(KeyRecord, json.loads(data), expected_version + 1) if won else None

    async def get_task(self, task_id: str) -> TaskRecord | None:
        row = await self._run(
            _fetch_one, "SELECT version, data FROM tasks WHERE task_id = ?", (task_id,)
        )
        return None if row is None else _decode(TaskRecord, row)

    async def swap_task(self, expected_version: int, record: TaskRecord) -> TaskRecord | None:
        data = _encode(record)
        terminal = int(record.terminal)
        if expected_version == 0:
            sql = (
                "INSERT INTO tasks (task_id, version, terminal, data) VALUES (?, 1, ?, ?) "
                "ON CONFLICT DO NOTHING"
            )
            params: tuple[Any, ...] = (record.task_id, terminal, data)
        else:
            sql = (
                "UPDATE tasks SET version = version + 1, terminal = ?, data = ? "
                "WHERE task_id = ? AND version = ?"
            )
            params = (terminal, data, record.task_id, expected_version)
        won = await self._run(_write, sql, params)
        return record_from_data(TaskRecord, json.loads(data), expected_version + 1) if won else None

    async def unfinished(self) -> Sequence[TaskRecord]:
        rows = await self._run(_fetch_all, "SELECT version, data FROM tasks WHERE terminal = 0", ())
        return [_decode(TaskRecord, row) for row in rows]

    async def acquire_permit(self, name: str, *, limit: int | None, now: float, ttl: float) -> bool:
        return await self._run(_acquire, name, limit, now, ttl)

    async def renew_permits(self, names: Sequence[str], *, now: float, ttl: float) -> None:
        await self._run(_renew, list(names), now + ttl)

    async def release_permit(self, name: str) -> None:
        await self._run(_write, "DELETE FROM permits WHERE name = ?", (name,))

    async def count_permits(self, *, now: float) -> int:
        row = await self._run(_fetch_one, "SELECT COUNT(*) FROM permits WHERE until > ?", (now,))
        return int(row[0]) if row else 0

    async def prune(self, *, now: float) -> int:
        return await self._run(_prune, now)

    # -- notes (callbacks shared by workers) ---------------------------------------------

    async def get_note(self, name: str) -> NoteRecord | None:
        row = await self._run(_fetch_one, "SELECT version, data FROM notes WHERE name = ?", (name,))
        return None if row is None else NoteRecord(name, json.loads(row[1]), int(row[0]))

    async def swap_note(self, expected_version: int, record: NoteRecord) -> NoteRecord | None:
        data = json.dumps(dict(record.data), ensure_ascii=False, separators=(",", ":"))
        if expected_version == 0:
            sql = "INSERT INTO notes (name, version, data) VALUES (?, 1, ?) ON CONFLICT DO NOTHING"
            params: tuple[Any, ...] = (record.name, data)
        else:
            sql = "UPDATE notes SET version = version + 1, data = ? WHERE name = ? AND version = ?"
            params = (data, record.name, expected_version)
        won = await self._run(_write, sql, params)
        return NoteRecord(record.name, json.loads(data), expected_version + 1) if won else None

    async def aclose(self) -> None:
        """Close the database and its thread; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_db)
        self._executor.shutdown(wait=False)

    async def _run(self, op: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            msg = "the SQLiteStore is closed"
            raise RuntimeError(msg)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, op, args)

    def _call(self, op: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        if self._db is None:
            self._db = _open(self._path, self._busy_timeout)
        return op(self._db, *args)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"


def _open(path: str, busy_timeout: float) -> sqlite3.Connection:
    # Autocommit: each statement is its own transaction unless a BEGIN says otherwise.
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    _switch_to_wal(db, busy_timeout)
    db.execute("PRAGMA synchronous = FULL")
    db.executescript(_SCHEMA)
    db.executescript(_NOTES_SCHEMA)
    return db


def _switch_to_wal(db: sqlite3.Connection, busy_timeout: float) -> None:
    # SQLite answers "database is locked" at once, without its busy handler, when another
    # connection switches the same new file to WAL at that moment (two workers starting
    # together): wait for it here as the busy timeout would. The mode is the file's, so
    # the second switch finds it done.
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)  # on the store's own thread, never the event loop's
        else:
            return


def _fetch_one(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Any:
    return db.execute(sql, params).fetchone()


def _fetch_all(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return db.execute(sql, params).fetchall()


def _write(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> bool:
    return db.execute(sql, params).rowcount == 1


def _acquire(db: sqlite3.Connection, name: str, limit: int | None, now: float, ttl: float) -> bool:
    # IMMEDIATE takes the write lock first, so count-then-insert cannot interleave.
    with _immediate(db):
        db.execute("DELETE FROM permits WHERE until <= ?", (now,))
        held = db.execute("SELECT 1 FROM permits WHERE name = ?", (name,)).fetchone()
        if held is None and limit is not None:
            (count,) = db.execute("SELECT COUNT(*) FROM permits").fetchone()
            if count >= limit:
                return False
        db.execute(
            "INSERT INTO permits (name, until) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET until = excluded.until",
            (name, now + ttl),
        )
    return True


def _renew(db: sqlite3.Connection, names: list[str], until: float) -> None:
    # One transaction, so one sync to disk for the whole batch.
    with _immediate(db):
        db.executemany("UPDATE permits SET until = ? WHERE name = ?", [(until, n) for n in names])


def _prune(db: sqlite3.Connection, now: float) -> int:
    # expires_at lives in the JSON (older files have no such column): a scan, run rarely.
    dropped = 0
    with _immediate(db):
        for table in ("keys", "tasks"):
            dropped += db.execute(
                f"DELETE FROM {table} WHERE "  # noqa: S608 - a fixed table name
                "json_extract(data, '$.expires_at') > 0 "
                "AND json_extract(data, '$.expires_at') <= ?",
                (now,),
            ).rowcount
    return dropped


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, its lock taken first; committed on leaving, even by return."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _encode(record: KeyRecord | TaskRecord) -> str:
    return json.dumps(record_to_data(record), ensure_ascii=False, separators=(",", ":"))


def _decode(kind: type[_R], row: tuple[int, str]) -> _R:
    version, data = row
    return record_from_data(kind, json.loads(data), version)
