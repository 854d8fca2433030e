"""The arq recipe of docs/workers.md as users run it: ``arq worker.WorkerSettings`` processes.

The recipe's module is written to a directory of its own, exactly as the page shows it, and
two ``python -m arq`` processes run it against a real redis-server and a simulator in a third
process: nothing is shared but Redis and the HTTP server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import Counter
from pathlib import Path

from arq import create_pool
from arq.connections import RedisSettings

from onechat_async.stores import RedisStore
from tests.stores.fixtures import redis_url
from tests.workers.test_docs import recipe_code
from tests.workers.test_processes import ROOT, SimProcess, sim

__all__ = ["redis_url", "sim"]

JOBS = 6
#: The recipe's settings on a queue of this test's own (the server is shared with others).
SETTINGS = """
import os

import worker

# arq reads a settings class's own attributes only (no inheritance): copy them.
settings = {k: v for k, v in vars(worker.WorkerSettings).items() if not k.startswith("__")}
WorkerSettings = type(
    "WorkerSettings", (), {**settings, "queue_name": os.environ["TEST_ARQ_QUEUE"]}
)
"""


async def test_the_arq_recipe_runs_in_two_worker_processes_on_one_redis(
    sim: SimProcess, redis_url: str, tmp_path: Path
) -> None:
    """Two arq worker processes: every job ends with its image, a job enqueued twice pays once."""
    (tmp_path / "worker.py").write_text(recipe_code(), encoding="utf-8")
    (tmp_path / "settings.py").write_text(SETTINGS, encoding="utf-8")
    queue = f"test:{uuid.uuid4().hex}:queue"
    env = {
        **os.environ,
        "ONECHAT_API_KEY": "sk-test",
        "ONECHAT_BASE_URL": sim.url,
        "REDIS_URL": redis_url,
        "ONECHAT_REDIS_PREFIX": f"test:{uuid.uuid4().hex}:",
        "TEST_ARQ_QUEUE": queue,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
    try:
        jobs = [
            await pool.enqueue_job("render", f"job-{i}", f"a cat {i}", _job_id=f"{queue}-{i}")
            for i in range(JOBS)
        ]
        # The same job under another arq id: arq runs it twice, the key makes one task.
        again = await pool.enqueue_job("render", "job-0", "a cat 0", _job_id=f"{queue}-again")
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "arq",
                "settings.WorkerSettings",
                "--burst",
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = await asyncio.gather(*(w.communicate() for w in workers))
        codes = [w.returncode for w in workers]
        assert codes == [0, 0], [err.decode()[-2000:] for _, err in outputs]
        results = [await job.result(timeout=30) for job in [*jobs, again]]
    finally:
        await pool.aclose()
    assert all(isinstance(url, str) and url.startswith("http") for url in results)
    assert results[0] == results[-1]
    dump = await sim.dump()
    made = Counter(state for _task, state in dump["created"])
    assert made == Counter({f"job-{i}": 1 for i in range(JOBS)})
    # Each job's submit went out once: the second run of job-0 replayed the first one's task.
    assert Counter(state for state, _status, _task in dump["submits"]) == made
    store = RedisStore(redis_url, prefix=env["ONECHAT_REDIS_PREFIX"])
    try:
        keys = [await store.get_key(f"job-{i}") for i in range(JOBS)]
    finally:
        await store.aclose()
    # Every key was claimed by one of the two processes (host:pid:client); how arq spread
    # the jobs between them is arq's doing, so both are not required to have had one.
    owners = {record.owner.split(":")[1] for record in keys if record is not None}
    assert owners
    assert owners <= {str(w.pid) for w in workers}
