"""7. Journal overhead: what a durable store adds per submit and per event, against memory.

Each submit goes through the real :class:`onechat_async._keyed.SubmitJournal` with an
idempotency key and a send that answers at once (so only the journal is timed: read, claim,
sending, task record, accepted: five store calls), then the worker takes the task's lease.
Each event is one :meth:`onechat_async._task_journal.TaskJournal.observe` (one swap of the
task record with its new snapshot). Stores: ``MemoryStore`` (the baseline), ``SQLiteStore``
on a temporary file (WAL, synchronous=FULL: every write reaches the disk) and ``RedisStore``
on a loopback redis-server (``$ONECHAT_TEST_REDIS_URL``, else one started here if
``redis-server`` is installed; without one its row is left out).

Run alone: ``python -m benchmarks.bench_journal [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from onechat_async._clock import SystemClock
from onechat_async._keyed import SubmitJournal
from onechat_async._models import SubmitResult
from onechat_async._store import Store
from onechat_async._task_journal import TaskJournal
from onechat_async.stores import MemoryStore, SQLiteStore

from ._report import Result, Table, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_SNAPSHOT = {
    "event": "ProgressChanged",
    "task": {"id": "t", "status": "IN_PROGRESS", "progress": 46, "state": "job-1"},
}


@attrs.frozen
class Config:
    """How many submits and events per run, and how many runs (medians are reported)."""

    submits: int = 500
    events: int = 2_000
    repeats: int = 3


FULL = Config()
QUICK = Config(submits=200, events=500, repeats=3)
SMOKE = Config(submits=20, events=40, repeats=1)


@contextlib.contextmanager
def _redis_url() -> Iterator[str | None]:
    """A loopback Redis to measure against, or None when there is none."""
    url = os.environ.get("ONECHAT_TEST_REDIS_URL")
    binary = shutil.which("redis-server")
    if url or binary is None:
        yield url
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.stdout is None:
        raise RuntimeError("redis-server's output was not captured")
    try:
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                break
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
        proc.stdout.close()


async def _per_submit(store: Store, n: int) -> float:
    """Seconds of journal work per keyed submit (the send itself costs nothing here)."""
    clock = SystemClock()
    owner = uuid.uuid4().hex
    submits = SubmitJournal(store=store, owner=owner, clock=clock, send_ttl=150.0, task_ttl=60.0)
    tasks = TaskJournal(store, owner=owner, clock=clock, ttl=60.0)
    results = [SubmitResult(task_id=f"{owner}-{i}") for i in range(n)]

    def sender(i: int) -> Callable[[], asyncio.Future[SubmitResult]]:
        def send() -> asyncio.Future[SubmitResult]:
            done: asyncio.Future[SubmitResult] = asyncio.get_running_loop().create_future()
            done.set_result(results[i])
            return done

        return send

    started = time.perf_counter()
    for i in range(n):
        result = await submits.submit(f"{owner}-k{i}", sender(i), tag="bench")
        await tasks.take(result.task_id)
    return (time.perf_counter() - started) / n


async def _per_event(store: Store, n: int) -> float:
    """Seconds per journaled event (one observation of a held task)."""
    clock = SystemClock()
    owner = uuid.uuid4().hex
    submits = SubmitJournal(store=store, owner=owner, clock=clock, send_ttl=150.0, task_ttl=60.0)
    tasks = TaskJournal(store, owner=owner, clock=clock, ttl=60.0)

    async def send() -> SubmitResult:
        return SubmitResult(task_id=f"{owner}-t")

    await submits.submit(None, send)
    await tasks.take(f"{owner}-t")
    started = time.perf_counter()
    for _ in range(n):
        await tasks.observe(f"{owner}-t", _SNAPSHOT, terminal=False)
    return (time.perf_counter() - started) / n


async def _measure(config: Config) -> Result:
    rows: list[tuple[str | float, ...]] = []
    with tempfile.TemporaryDirectory() as folder, _redis_url() as url:
        makers: list[tuple[str, Callable[[], Store]]] = [
            ("MemoryStore", MemoryStore),
            ("SQLiteStore", lambda: SQLiteStore(Path(folder) / f"{uuid.uuid4().hex}.db")),
        ]
        if url is not None:
            from onechat_async.stores import RedisStore

            makers.append(
                ("RedisStore", lambda: RedisStore(url, prefix=f"bench:{uuid.uuid4().hex}:"))
            )
        measured: list[tuple[str, float, float]] = []
        for name, make in makers:
            submit_runs, event_runs = [], []
            for _ in range(config.repeats):
                store = make()
                try:
                    submit_runs.append(await _per_submit(store, config.submits))
                    event_runs.append(await _per_event(store, config.events))
                finally:
                    await store.aclose()
            measured.append((name, median(submit_runs), median(event_runs)))
    base_submit, base_event = measured[0][1], measured[0][2]
    for name, per_submit, per_event in measured:
        rows.append(
            (
                name,
                per_submit * 1e3,
                f"x{per_submit / base_submit:.0f}",
                per_event * 1e3,
                f"x{per_event / base_event:.0f}",
            )
        )
    notes = [
        (
            f"{config.submits} keyed submits and {config.events} events per run, "
            f"median of {config.repeats} runs; the HTTP request itself is not included."
        )
    ]
    if url is None:
        notes.append("no redis-server found: the RedisStore row is missing")
    table = Table(
        "Journal work per submit and per event (ms), and against MemoryStore",
        ("store", "per submit (ms)", "vs memory", "per event (ms)", "vs memory"),
        tuple(rows),
    )
    return Result("Journal overhead", (table,), notes=tuple(notes))


def run(config: Config = FULL) -> Result:
    """Measure every store; see the module docstring."""
    return asyncio.run(_measure(config))


if __name__ == "__main__":
    from ._report import render

    print(render(run(QUICK if "--quick" in sys.argv else FULL)))
