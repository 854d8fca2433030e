"""One worker process for the kill -9 and Redis tests: a job loop with idempotency keys.

``python -m tests.workers._worker_proc URL STORE JOBS OUT SPEED BASE``, STORE being
``sqlite:<path>`` or ``redis:<url>|<prefix>``, JOBS the number of jobs (keys job-0...),
OUT a file (shared by all workers) that gets one line per collected terminal event, and
BASE the real epoch time every worker's scaled wall clock counts from (so that leases
compare across processes).

It submits every job with its key (replayed when an earlier run got it through), then
follows what it holds through ``resume()``, printing a line per step so that the test can
kill it at any of them.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from onechat_async import OneChatClient, SubmitOutcomeUnknownError
from onechat_async._store import Store
from onechat_async.stores import RedisStore, SQLiteStore
from onechat_async.testing import ScaledClock


def open_store(spec: str) -> Store:
    """The store named by ``spec``."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        return SQLiteStore(where)
    url, _, prefix = where.partition("|")
    return RedisStore(url, prefix=prefix)


def say(*words: object) -> None:
    """One progress line for the test."""
    print(*words, flush=True)  # noqa: T201 - the test reads it


async def main(url: str, spec: str, jobs: int, out: Path, speed: float, base: float) -> None:
    """Run the job loop once; see the module docstring."""
    # Every worker's wall clock is the same scaled line through (base, base).
    clock = ScaledClock(speed, start_wall=base + (time.time() - base) * speed)
    store = open_store(spec)
    client = OneChatClient(
        api_key="sk-test",
        base_url=url,
        clock=clock,
        store=store,
        max_in_flight=13,
        lease_ttl=60.0,
    )
    owner = client._durable.owner
    ids: list[str] = []
    try:
        for i in range(jobs):
            key = f"job-{i}"
            say("sending", key)
            try:
                result = await client.imagine(f"job {i}", state=key, idempotency_key=key)
            except SubmitOutcomeUnknownError as exc:
                # The state is all a user has to find the task by (the servers list by id).
                say("unknown", key, exc.state)
                continue
            say("submitted", key, result.task_id)
            ids.append(result.task_id)
        with out.open("a") as sink:
            async for event in client.resume():
                say("event", event.task_id, event.seq)
                if event.is_terminal:
                    sink.write(f"{event.task_id} {event.seq} {owner}\n")
                    sink.flush()
                    say("collected", event.task_id)
            # A kill between journaling an end and writing it here loses nothing: the job
            # loop collects what its own record lacks (the server still has the task).
            done = {line.split()[0] for line in out.read_text().splitlines()}  # noqa: ASYNC240
            missing = [task_id for task_id in ids if task_id not in done]
            if missing:
                async for event in client.track_many(missing):
                    if event.is_terminal:
                        sink.write(f"{event.task_id} late {owner}\n")
                        sink.flush()
                        say("collected", event.task_id)
    finally:
        await client.aclose()
        await store.aclose()
    say("done")


if __name__ == "__main__":
    url, spec, jobs, out, speed, base = sys.argv[1:7]
    asyncio.run(main(url, spec, int(jobs), Path(out), float(speed), float(base)))
