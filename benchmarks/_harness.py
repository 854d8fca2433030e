"""What the benchmarks share: a clock that skips idle time, request accounting, both clients.

Why not a plain ``ScaledClock``: a sped-up real clock only works while the machine keeps up.
The per-task baseline at 10,000 tasks needs 2,000 fetches per simulated second; at any speed
the loopback server cannot serve, it falls behind, polls less often than it says, and so
looks cheaper than it is. Its processing time is also multiplied by the speed and shows up
as simulated latency. :class:`VirtualClock` removes both effects: simulated time stands still
while anything is computing or a request is on the wire, and jumps to the next sleeper's
deadline the moment everything waits on the clock (trio's "autojump" clock). Request counts
and latencies are then those of the cadence alone, whatever the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import aiohttp

from onechat_async import OneChatClient
from onechat_async._policy import PollPolicy
from onechat_async.testing import ScaledClock, Simulator

__all__ = [
    "API_KEY",
    "TERMINAL",
    "Baseline",
    "BenchClock",
    "ScaledBenchClock",
    "VirtualClock",
    "make_client",
    "make_simulator",
    "query_count",
    "submit_all",
]

API_KEY = "sk-bench-0123456789"
TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCEL"})
#: The per-task baseline polls at the same cadence our poller uses for a running task.
DEFAULT_INTERVAL = PollPolicy().interval
#: Start of simulated time: 2025-06-15T00:00:00Z, so ids and timestamps look real.
_START_WALL = 1_749_945_600.0


class VirtualClock:
    """Simulated time that advances only when every coroutine waits on it.

    Satisfies ``onechat_async.Clock``. Work that leaves the event loop idle without waiting
    on the clock (a request on the wire) must be wrapped in :meth:`busy`, or time would jump
    past it. Start the jumping with ``async with clock.running():``.
    """

    def __init__(self, *, start_wall: float = _START_WALL) -> None:
        self._now = 0.0
        self._wall_offset = start_wall
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._busy = 0
        self._changed: asyncio.Event | None = None

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        return self._now

    def wall(self) -> float:
        """Simulated epoch seconds."""
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        self._poke()
        await future

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Hold time still while the enclosed I/O is in flight."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            if not self._busy:
                self._poke()

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Let time jump while the block runs."""
        self._changed = asyncio.Event()
        driver = asyncio.get_running_loop().create_task(self._drive(), name="virtual clock")
        try:
            yield
        finally:
            driver.cancel()
            await asyncio.wait({driver})
            self._changed = None

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        changed = self._changed
        assert changed is not None  # noqa: S101 - set by running() before this starts
        while True:
            await asyncio.sleep(0)
            if self._busy:
                changed.clear()
                await changed.wait()
                continue
            # The loop's queue of ready callbacks is private, but it is the only exact
            # test of "nothing else can run now"; a few extra turns would only guess.
            if loop._ready:  # type: ignore[attr-defined]
                continue
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleeps
            if not self._sleepers:
                changed.clear()
                await changed.wait()
                continue
            self._now = max(self._now, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)


class ScaledBenchClock(ScaledClock):
    """The simulator's ``ScaledClock`` with :class:`VirtualClock`'s interface, for cross-checks.

    Real time runs on whatever happens, so :meth:`busy` and :meth:`running` do nothing.
    """

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Nothing to hold: real time cannot be stopped."""
        yield

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Nothing to drive: real time runs by itself."""
        yield


BenchClock = VirtualClock | ScaledBenchClock


def make_simulator(clock: BenchClock, *, capacity: int, seed: int = 0) -> Simulator:
    """A gateway-flavour simulator whose account runs ``capacity`` tasks at once.

    The real account limit (3 running, 10 waiting) would turn "N concurrent tasks" into a
    queue of N; the benchmarks measure tracking, so every task runs at once.
    """
    return Simulator(
        api_key=API_KEY,
        flavour="gateway",
        clock=clock,
        running_limit=max(3, capacity),
        waiting_limit=max(10, capacity),
        seed=seed,
    )


def make_client(sim: Simulator, clock: BenchClock, poll: PollPolicy | None = None) -> OneChatClient:
    """Our client as shipped (its own aiohttp transport), pointed at ``sim``, sharing its clock.

    The client holds a clock's ``busy()`` while a request is in flight, so virtual time
    stands still for it with no help from the bench.
    """
    return OneChatClient(api_key=API_KEY, base_url=sim.url, clock=clock, poll=poll)


def query_count(sim: Simulator) -> int:
    """Query requests the simulator has served so far (what tracking costs)."""
    return sim.counters["fetch"] + sim.counters["list-by-condition"]


class Baseline:
    """The loop apps write today: plain aiohttp, one fetch per task every interval."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, clock: BenchClock) -> None:
        self._session = session
        self._url = base_url
        self._clock = clock
        self.headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
        }

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON body and return the parsed answer."""
        with self._clock.busy():
            async with self._session.post(
                self._url + path, data=json.dumps(body), headers=self.headers
            ) as resp:
                return json.loads(await resp.read())

    async def fetch(self, task_id: str) -> dict[str, Any]:
        """GET one task."""
        with self._clock.busy():
            async with self._session.get(
                f"{self._url}/mj/task/{task_id}/fetch", headers=self.headers
            ) as resp:
                data: dict[str, Any] = json.loads(await resp.read())
                return data

    async def imagine(self, prompt: str) -> str:
        """Submit an imagine; the new task's id."""
        answer = await self.post("/mj/submit/imagine", {"prompt": prompt})
        return str(answer["result"])

    async def follow(
        self, task_id: str, *, interval: float = DEFAULT_INTERVAL
    ) -> AsyncIterator[dict[str, Any]]:
        """Every snapshot of ``task_id`` until a terminal one (which is yielded too)."""
        while True:
            task = await self.fetch(task_id)
            yield task
            if task.get("status") in TERMINAL:
                return
            await self._clock.sleep(interval)


async def submit_all(
    submit: Callable[[str], Awaitable[Any]], prompts: Sequence[str], *, concurrency: int = 64
) -> list[Any]:
    """``submit(prompt)`` for every prompt, ``concurrency`` at a time; results in order."""
    results: list[Any] = [None] * len(prompts)
    todo = iter(enumerate(prompts))

    async def worker() -> None:
        for index, prompt in todo:
            results[index] = await submit(prompt)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(prompts))):
            group.create_task(worker())
    return results
