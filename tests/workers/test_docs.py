"""docs/workers.md as written: its job loop against the simulator, its arq recipe on Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from onechat_async.testing import ScaledClock
from tests.docs_examples import SimulatorThread, blocks, run_page
from tests.stores.fixtures import redis_url

__all__ = ["redis_url"]

PAGE = "docs/workers.md"


def test_the_workers_page_runs_twenty_jobs_through_one_account() -> None:
    """The page's examples run as written: 20 keyed jobs, default admission, then resume()."""
    # A minute passes in 60 ms: slow enough that twenty submits at once fill the account
    # (at 100,000x its tasks ended faster than the submits came, and nothing was tested).
    namespace = run_page(PAGE, clock=ScaledClock(1000), running_limit=3, waiting_limit=10)
    # With the client's defaults no job met QueueFullError (or anything else): every one
    # ended with its image.
    results = namespace["results"]
    assert len(results) == 20
    assert all(isinstance(url, str) and url.startswith("http") for url in results.values())


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block, as a user's shell would."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def recipe_code() -> str:
    """The source of the arq worker module the page shows (``worker.py``)."""
    text = Path(PAGE).read_text(encoding="utf-8")
    (block,) = [b for b in blocks(text) if "WorkerSettings" in b.code]
    return block.code


def recipe() -> dict[str, Any]:
    """The arq worker module of the page, executed into a namespace of its own."""
    namespace: dict[str, Any] = {"__name__": "worker"}
    exec(compile(recipe_code(), PAGE, "exec"), namespace)  # noqa: S102 - our own docs page
    return namespace


async def test_the_arq_recipe_runs_jobs_on_two_workers_sharing_one_redis_store(
    redis_url: str,
) -> None:
    """Two arq workers share one RedisStore: every job ends, a job run twice pays once."""
    queue = f"test:{uuid.uuid4().hex}:queue"
    with (
        SimulatorThread(api_key="sk-test", clock=ScaledClock(100_000)) as sim,
        environment(
            ONECHAT_API_KEY="sk-test",
            ONECHAT_BASE_URL=sim.url,
            REDIS_URL=redis_url,
            ONECHAT_REDIS_PREFIX=f"test:{uuid.uuid4().hex}:",
        ),
    ):
        worker = recipe()
        settings = worker["WorkerSettings"]
        pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
        jobs = [
            await pool.enqueue_job("render", f"job-{i}", f"a cat {i}", _job_id=f"{queue}-{i}")
            for i in range(6)
        ]
        # The same job under another arq id: arq runs it twice, the key makes one task.
        again = await pool.enqueue_job("render", "job-0", "a cat 0", _job_id=f"{queue}-again")
        workers = [
            Worker(
                settings.functions,
                queue_name=queue,
                redis_pool=pool,
                burst=True,
                on_startup=settings.on_startup,
                on_shutdown=settings.on_shutdown,
                handle_signals=False,
                poll_delay=0.05,
            )
            for _ in range(2)
        ]
        try:
            await asyncio.gather(*(w.async_run() for w in workers))
            results = [await job.result(timeout=30) for job in [*jobs, again]]
        finally:
            with warnings.catch_warnings():
                # arq's own close() calls redis-py's deprecated close(); not ours to fix.
                warnings.simplefilter("ignore", DeprecationWarning)
                for w in workers:
                    await w.close()
        assert sim.sim is not None
        created = sim.sim.created
    assert all(isinstance(url, str) and url for url in results)
    assert results[0] == results[-1]
    assert sorted(t.state or "" for t in created) == [f"job-{i}" for i in range(6)]
