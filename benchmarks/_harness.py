"""What the benchmarks share: a clock that skips idle time, request accounting, the rivals.

Why not a plain ``ScaledClock``: a sped-up real clock only works while the machine keeps up.
The per-task baseline at 10,000 tasks needs 2,000 fetches per simulated second; at any speed
the loopback server cannot serve, it falls behind, polls less often than it says, and so
looks cheaper than it is. Its processing time is also multiplied by the speed and shows up
as simulated latency. The shipped ``ManualClock(auto_advance=True)`` removes both effects:
clock time stands still while anything is computing or a request is on the wire (whoever
sends one holds ``clock.busy()``), and jumps to the next sleeper's deadline the moment
everything waits on the clock (trio's "autojump" clock). Request counts and latencies are
then those of the cadence alone, whatever the machine.

The rivals are what applications write by hand: :class:`Baseline`, one fetch per task every
interval, and :class:`BatchedLoop`, the ~25 lines a careful user writes around
list-by-condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

import aiohttp

from onechat_async import OneChatClient, PollPolicy
from onechat_async.testing import ManualClock, ScaledClock, Simulator

__all__ = [
    "API_KEY",
    "TERMINAL",
    "Baseline",
    "BatchedLoop",
    "BenchClock",
    "Live",
    "ScaledBenchClock",
    "absorb",
    "auto_clock",
    "make_client",
    "make_simulator",
    "query_count",
    "submit_all",
]

API_KEY = "sk-bench-0123456789"
TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCEL"})
#: The per-task baseline polls at the same cadence our poller uses for a running task.
DEFAULT_INTERVAL = PollPolicy().interval
#: The batched loop asks about as many ids per request as our poller does.
DEFAULT_CHUNK = PollPolicy().chunk_size


def auto_clock() -> ManualClock:
    """The shipped test clock, jumping by itself to the next deadline whenever all wait on it."""
    return ManualClock(auto_advance=True)


class ScaledBenchClock(ScaledClock):
    """The simulator's ``ScaledClock`` with ``ManualClock``'s ``busy()``, for cross-checks.

    Real time runs on whatever happens, so :meth:`busy` holds nothing.
    """

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Nothing to hold: real time cannot be stopped."""
        yield


BenchClock = ManualClock | ScaledBenchClock


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
    # Admission (on by default) would keep ten tasks in flight: this account has room for all.
    return OneChatClient(
        api_key=API_KEY, base_url=sim.url, clock=clock, poll=poll, max_in_flight=None
    )


def query_count(sim: Simulator) -> int:
    """Query requests the simulator has served so far (what tracking costs)."""
    return sim.counters["fetch"] + sim.counters["list-by-condition"]


class Baseline:
    """The loop apps write today: plain aiohttp, one fetch per task every interval."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, clock: BenchClock | None = None
    ) -> None:
        self._session = session
        self._url = base_url
        self._clock = clock or ScaledBenchClock(1.0)
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


def _key(task: dict[str, Any]) -> tuple[object, object]:
    return task.get("status"), task.get("progress")


Live = dict[str, tuple[object, object] | None]


def absorb(live: Live, tasks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batched loop's work on one answer: the tasks that are news; terminal ones dropped.

    ``live`` maps each followed id to its last (status, progress), None until first seen.
    """
    news = []
    for task in tasks:
        task_id = task.get("id")
        if task_id in live and live[task_id] != (key := _key(task)):
            live[task_id] = key
            news.append(task)
            if key[0] in TERMINAL:
                del live[task_id]
    return news


class BatchedLoop:
    """The batched loop a careful user writes by hand in about 25 lines.

    Plain aiohttp: ``POST /mj/task/list-by-condition`` with the live ids in chunks of our
    ``PollPolicy().chunk_size``, all chunks of a round at once, ``json.loads``, no typed
    objects; a task whose (status, progress) differs from the last answer is news; terminal
    ids are dropped; then sleep the interval. No retries, no pacing, no error handling: the
    cheapest a correct loop can be on a healthy server.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        clock: BenchClock | None = None,
        interval: float = DEFAULT_INTERVAL,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self._session = session
        self._url = base_url + "/mj/task/list-by-condition"
        self._clock = clock or ScaledBenchClock(1.0)
        self._interval = interval
        self._chunk = chunk
        self._headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        #: The last (status, progress) of every live task; None until first seen.
        self.live: Live = {}
        self.requests = 0

    def add(self, ids: Iterable[str]) -> None:
        """Follow these ids too, from the next round."""
        self.live.update(dict.fromkeys(ids))

    async def _ask(self, ids: list[str]) -> list[dict[str, Any]]:
        self.requests += 1
        with self._clock.busy():
            body = json.dumps({"ids": ids})
            async with self._session.post(self._url, data=body, headers=self._headers) as resp:
                answer: list[dict[str, Any]] = json.loads(await resp.read())
                return answer

    async def round(self) -> list[dict[str, Any]]:
        """One round over every live id: the tasks that changed since the last."""
        ids = list(self.live)
        chunks = [ids[i : i + self._chunk] for i in range(0, len(ids), self._chunk)]
        answers = await asyncio.gather(*(self._ask(c) for c in chunks))
        return [task for answer in answers for task in absorb(self.live, answer)]

    async def follow(self, ids: Iterable[str]) -> AsyncIterator[dict[str, Any]]:
        """Every change of every task in ``ids`` (the first sighting too) until all ended."""
        self.add(ids)
        while self.live:
            for task in await self.round():
                yield task
            if self.live:
                await self._clock.sleep(self._interval)
