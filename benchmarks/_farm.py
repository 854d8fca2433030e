"""A task server in its own process whose tasks progress on a fixed, known schedule.

The benchmarks that count the client's CPU time and memory with HTTP included need the
server's work out of the client's process, and the ones that measure the time from a change
to its event need to know exactly when each change happened. The simulator does the first
(``python -m onechat_async.testing``) but not the second, and its per-task bookkeeping would
make the server, not the client, the bottleneck at 100,000 tasks. This farm keeps no state per
task at all: a task's status and progress are a pure function of the time
(:class:`Schedule`), and both processes read the same ``time.monotonic()`` (one clock for the
whole machine on Linux), so the client side computes when every change became visible.

Served, with the gateway's full field set (as in ``benchmarks._bodies``):

- ``POST /mj/task/list-by-condition`` and ``GET /mj/task/{id}/fetch``;
- ``POST /schedule`` (the bench sets the schedule; the JSON fields of :class:`Schedule`);
- ``GET /stats`` (requests served so far).

Run: ``python -m benchmarks._farm`` prints ``listening on URL`` once ready (port 0: any free
one); :class:`Farm` starts and stops it from a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs

from ._bodies import make_ids

__all__ = ["ROOT", "Farm", "Schedule", "index_of", "main"]

_BASE_ID = int(make_ids(1)[0])
#: Where ``benchmarks`` is importable from, for child processes.
ROOT = Path(__file__).resolve().parent.parent
_GOLDEN = 0.6180339887498949
_SERVER = "https://gpts.onechat.fun"
_PROMPT = json.dumps("a lighthouse in a storm, oil painting --ar 3:2 --v 7")
# One task object as the gateway shows it, with the ``?rand=`` it appends to a running task's
# image URL on every answer (so unchanged answers still differ byte for byte).
_TEMPLATE = (
    '{"id":"%s","action":"IMAGINE","customId":"","botType":"",'
    f'"prompt":{_PROMPT},"promptEn":{_PROMPT},'
    '"description":"提交成功","state":"","submitTime":%d,"startTime":%d,"finishTime":%d,'
    f'"imageUrl":"{_SERVER}/mj/image/%s%s","status":"%s","progress":"%d%%",'
    '"failReason":"","maskBase64":"","properties":{"finalPrompt":"","finalZhPrompt":""},'
    '"buttons":[]}'
)


def index_of(task_id: str) -> int:
    """The index ``i`` of ``make_ids(n)[i]`` (ids are ``base + 1000 i + i % 997``)."""
    return (int(task_id) - _BASE_ID) // 1000


@attrs.frozen
class Schedule:
    """When task ``i`` changes: every ``step`` s from ``origin`` plus a phase of its own.

    State ``k`` (0 at first) becomes visible at :meth:`changed_at`. With ``steps`` > 0 the
    task succeeds at state ``steps``; with 0 it runs for ever (progress stops at 99%).
    Phases are spread evenly over a step, so changes arrive at a steady rate.
    """

    tasks: int
    origin: float
    step: float
    steps: int = 0

    def phase(self, i: int) -> float:
        """Task ``i``'s offset within a step."""
        return self.step * ((i * _GOLDEN) % 1.0)

    def state(self, i: int, now: float) -> int:
        """Task ``i``'s state at ``now``."""
        k = max(0, math.floor((now - self.origin - self.phase(i)) / self.step) + 1)
        return min(k, self.steps) if self.steps else min(k, 99)

    def changed_at(self, i: int, k: int) -> float:
        """When task ``i`` entered state ``k`` (k >= 1)."""
        return self.origin + self.phase(i) + (k - 1) * self.step

    @property
    def unit(self) -> int:
        """Percent of progress per state."""
        return 100 // self.steps if self.steps else 1

    def status(self, k: int) -> str:
        """The wire status of state ``k``."""
        return "SUCCESS" if self.steps and k >= self.steps else "IN_PROGRESS"

    def progress(self, k: int) -> int:
        """The wire progress (percent) of state ``k``."""
        return 100 if self.steps and k >= self.steps else k * self.unit

    def state_of(self, status: str, progress: int | None) -> int:
        """The state a task object shows (the inverse of :meth:`status` and :meth:`progress`)."""
        if status == "SUCCESS":
            return self.steps
        return (progress or 0) // self.unit


class _Server:
    def __init__(self) -> None:
        self.schedule = Schedule(tasks=0, origin=0.0, step=1.0)
        self.lists = 0
        self.fetches = 0
        self.answers = 0

    def task(self, task_id: str, now: float) -> str | None:
        try:
            i = index_of(task_id)
        except ValueError:
            return None
        s = self.schedule
        if not 0 <= i < s.tasks:
            return None
        k = s.state(i, now)
        status = s.status(k)
        submit = int(task_id) // 1000
        self.answers += 1
        rand = "" if status == "SUCCESS" else f"?rand={self.answers}"
        finish = submit + 60_000 if status == "SUCCESS" else 0
        return _TEMPLATE % (
            task_id,
            submit,
            submit + 1_000,
            finish,
            task_id,
            rand,
            status,
            s.progress(k),
        )

    def app(self) -> Any:
        from aiohttp import web

        loop = asyncio.get_running_loop()

        async def listing(request: web.Request) -> web.Response:
            self.lists += 1
            ids = json.loads(await request.read()).get("ids", [])
            now = loop.time()
            found = [o for o in (self.task(str(i), now) for i in ids) if o is not None]
            body = ("[" + ",".join(found) + "]").encode()
            return web.Response(body=body, content_type="application/json")

        async def fetch(request: web.Request) -> web.Response:
            self.fetches += 1
            found = self.task(request.match_info["id"], loop.time())
            if found is None:
                body = b'{"code":4,"description":"task_not_exist","result":null}'
                return web.Response(status=404, body=body, content_type="application/json")
            return web.Response(body=found.encode(), content_type="application/json")

        async def schedule(request: web.Request) -> web.Response:
            self.schedule = Schedule(**json.loads(await request.read()))
            return web.json_response({"ok": True})

        async def stats(_: web.Request) -> web.Response:
            return web.json_response({"list": self.lists, "fetch": self.fetches})

        app = web.Application()
        app.router.add_post("/mj/task/list-by-condition", listing)
        app.router.add_get("/mj/task/{id}/fetch", fetch)
        app.router.add_post("/schedule", schedule)
        app.router.add_get("/stats", stats)
        return app


async def _serve() -> None:
    from aiohttp import web

    # asyncio's loop.time() is time.monotonic(): the bench process reads the same clock.
    runner = web.AppRunner(_Server().app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    sys.stdout.write(f"listening on http://{host}:{port}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Serve until killed."""
    asyncio.run(_serve())


class Farm:
    """Runs the farm in a child process for the length of an ``async with``."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from benchmarks._farm import main; main()",
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert self._process.stdout is not None  # noqa: S101 - asked for above
        line = (await self._process.stdout.readline()).decode()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the farm did not start: {line!r}")
        self.url = line.removeprefix("listening on ").strip()
        return self

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise RuntimeError("the farm is not running")
        return self._process.pid

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()


if __name__ == "__main__":
    main()
