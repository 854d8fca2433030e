"""The simulator in a process of its own, for the worker-process tests.

``python -m tests.workers._sim_proc SPEED RUNNING WAITING`` prints its URL, then answers each
``dump`` line on stdin with one JSON line: the ``state`` of every task it created, and of
every submit request it received. It stops at end of input.
"""

from __future__ import annotations

import asyncio
import json
import sys

from onechat_async.testing import ScaledClock, Simulator


async def main(speed: float, running: int, waiting: int) -> None:
    """Serve until stdin closes; see the module docstring."""
    loop = asyncio.get_running_loop()
    async with Simulator(
        api_key="sk-test",
        clock=ScaledClock(speed),
        running_limit=running,
        waiting_limit=waiting,
    ) as sim:
        print(sim.url, flush=True)  # noqa: T201 - the test reads it
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "dump":
                await sim.wait_idle()
                dump = {
                    "created": [[t.task_id, t.state] for t in sim.created],
                    "submits": [[s.state, s.status, s.task_id] for s in sim.submits],
                }
                print(json.dumps(dump), flush=True)  # noqa: T201 - the test reads it


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
