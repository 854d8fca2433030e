"""1. Request efficiency: query requests per completed task, ours against a per-task loop.

N imagine tasks are submitted at once to a gateway-flavour simulator, then followed to their
end: by our poller (``track_many``, list-by-condition in chunks of 100), by the loop apps
write today (plain aiohttp, ``GET /fetch`` for each task every ``PollPolicy().interval``
seconds, the same cadence our poller uses for a running task), and by the batched loop a
careful user writes (``benchmarks._harness.BatchedLoop``: list-by-condition in chunks of 100,
``json.loads``, the same interval). One task in twenty is made to fail, so all must also agree
on who failed. Query requests are read from the simulator's counters; submits are not counted.

Time is virtual (the shipped ``ManualClock(auto_advance=True)``): every side keeps its cadence
exactly, however many tasks. The full run adds a cross-check on a sped-up real clock
(``ScaledClock``), where the per-task loop cannot keep its cadence once the loopback server is
saturated; its achieved gap between fetches is reported.

Run alone: ``python -m benchmarks.bench_requests [--quick]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import attrs

from onechat_async._events import Cancelled, Failed, Succeeded

from ._harness import (
    Baseline,
    BatchedLoop,
    BenchClock,
    ScaledBenchClock,
    auto_clock,
    make_client,
    make_simulator,
    query_count,
    submit_all,
)
from ._report import Result, Table, Target, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "Run", "run"]

_FAIL_MARK = "--bench-fail"
_TARGET = 50.0
_TARGET_N = 1_000


@attrs.frozen
class Config:
    """Task counts, and how many runs each (larger counts are slow in the baseline)."""

    sizes: tuple[int, ...] = (10, 100, 1_000, 10_000)
    repeats: int = 3
    #: Sizes above this run once: their counts barely move between runs.
    repeat_up_to: int = 1_000
    #: (N, speed) of a cross-check on a ScaledClock, or None.
    scaled_check: tuple[int, float] | None = None


FULL = Config(scaled_check=(1_000, 10.0))
QUICK = Config(sizes=(10, 100, 1_000), repeats=1)
SMOKE = Config(sizes=(10,), repeats=1)


@attrs.frozen
class Run:
    """One side's run over N tasks."""

    queries: int
    #: The terminal status of each task, in submission order.
    outcomes: tuple[str, ...]
    sim_seconds: float
    wall_seconds: float
    #: The per-task loop's mean gap between two fetches of a task (simulated s).
    fetch_gap: float = 0.0

    @property
    def per_task(self) -> float:
        """Query requests per completed task."""
        return self.queries / len(self.outcomes)


def _prompts(n: int) -> list[str]:
    return [
        f"bench task {i} --ar 3:2" + (f" {_FAIL_MARK}" if i % 20 == 7 else "") for i in range(n)
    ]


def _status(event: object) -> str:
    if isinstance(event, Succeeded):
        return "SUCCESS"
    if isinstance(event, Failed):
        return "FAILURE"
    if isinstance(event, Cancelled):
        return "CANCEL"
    return type(event).__name__


ClockMaker = Callable[[], BenchClock]
Side = Callable[..., Awaitable[Run]]


async def _ours(n: int, seed: int, make_clock: ClockMaker = auto_clock) -> Run:
    clock = make_clock()
    async with make_simulator(clock, capacity=n, seed=seed) as sim:
        sim.fail_prompts(_FAIL_MARK)
        async with make_client(sim, clock) as client:

            async def submit(prompt: str) -> str:
                return (await client.imagine(prompt)).task_id

            ids: list[str] = await submit_all(submit, _prompts(n))
            before, started, wall = query_count(sim), clock.now(), time.perf_counter()
            ended: dict[str, str] = {}
            async with client.track_many(ids) as events:
                async for event in events:
                    if event.is_terminal:
                        ended[event.task_id] = _status(event)
            wall = time.perf_counter() - wall
            queries = query_count(sim) - before
    return Run(queries, tuple(ended.get(i, "missing") for i in ids), clock.now() - started, wall)


async def _baseline(n: int, seed: int, make_clock: ClockMaker = auto_clock) -> Run:
    clock = make_clock()
    async with (
        make_simulator(clock, capacity=n, seed=seed) as sim,
        aiohttp.ClientSession() as session,
    ):
        sim.fail_prompts(_FAIL_MARK)
        base = Baseline(session, sim.url, clock)
        ids: list[str] = await submit_all(base.imagine, _prompts(n))
        before, started, wall = query_count(sim), clock.now(), time.perf_counter()

        gaps: list[float] = []

        async def follow(task_id: str) -> str:
            status = "missing"
            seen = []
            async for task in base.follow(task_id):
                status = str(task.get("status"))
                seen.append(clock.now())
            if len(seen) > 1:
                gaps.append((seen[-1] - seen[0]) / (len(seen) - 1))
            return status

        outcomes = await asyncio.gather(*(follow(i) for i in ids))
        wall = time.perf_counter() - wall
        queries = query_count(sim) - before
    gap = statistics.fmean(gaps) if gaps else 0.0
    return Run(queries, tuple(outcomes), clock.now() - started, wall, gap)


async def _batched(n: int, seed: int, make_clock: ClockMaker = auto_clock) -> Run:
    clock = make_clock()
    async with (
        make_simulator(clock, capacity=n, seed=seed) as sim,
        aiohttp.ClientSession() as session,
    ):
        sim.fail_prompts(_FAIL_MARK)
        ids: list[str] = await submit_all(Baseline(session, sim.url, clock).imagine, _prompts(n))
        before, started, wall = query_count(sim), clock.now(), time.perf_counter()
        ended: dict[str, str] = {}
        async for task in BatchedLoop(session, sim.url, clock=clock).follow(ids):
            ended[str(task["id"])] = str(task.get("status"))
        wall = time.perf_counter() - wall
        queries = query_count(sim) - before
    return Run(queries, tuple(ended.get(i, "missing") for i in ids), clock.now() - started, wall)


_SIDES = (_ours, _baseline, _batched)


async def _measure(config: Config) -> Result:
    rows = []
    targets = []
    for n in config.sizes:
        repeats = config.repeats if n <= config.repeat_up_to else 1
        runs: dict[Side, list[Run]] = {side: [] for side in _SIDES}
        for r in range(repeats):
            # Rotate who goes first, so no side always meets a warm or a cold process.
            for side in _SIDES[r % 3 :] + _SIDES[: r % 3]:
                runs[side].append(await side(n, seed=r))
        ours, base, batched = runs[_ours], runs[_baseline], runs[_batched]
        agree = all(
            o.outcomes == b.outcomes == c.outcomes
            for o, b, c in zip(ours, base, batched, strict=True)
        )
        ours_pt = median([o.per_task for o in ours])
        base_pt = median([b.per_task for b in base])
        batched_pt = median([b.per_task for b in batched])
        ratio = base_pt / ours_pt
        failed = ours[0].outcomes.count("FAILURE")
        rows.append(
            (
                n,
                repeats,
                ours_pt,
                base_pt,
                batched_pt,
                ratio,
                batched_pt / ours_pt,
                f"{'yes' if agree else 'NO'} ({n - failed} ok, {failed} failed)",
                median([o.sim_seconds for o in ours]),
                median([o.wall_seconds for o in ours]),
                median([b.wall_seconds for b in base]),
                median([b.wall_seconds for b in batched]),
            )
        )
        if n == _TARGET_N or (n == config.sizes[-1] and _TARGET_N not in config.sizes):
            targets.append(
                Target(
                    f"fewer query requests than the per-task loop at N = {n:,}",
                    ratio,
                    f">= {_TARGET:g}x",
                    ratio >= _TARGET and agree,
                )
            )
    tables = [
        Table(
            "Query requests per completed task (median of runs)",
            (
                "N tasks",
                "runs",
                "ours",
                "per-task loop",
                "batched loop",
                "per-task / ours",
                "batched / ours",
                "same outcomes",
                "simulated s",
                "ours wall s",
                "per-task wall s",
                "batched wall s",
            ),
            tuple(rows),
        )
    ]
    if config.scaled_check is not None:
        tables.append(await _scaled_check(*config.scaled_check))
    notes = (
        (
            "gateway flavour, default Timings (imagine ~55 s, gateway refresh 15 s), default "
            "PollPolicy; both loops ask every 5 s (the batched one 100 ids a request); "
            "one task in 20 fails"
        ),
        (
            "time is virtual (ManualClock(auto_advance=True)): it stands still while "
            "anything computes, so no side falls behind its cadence"
        ),
    )
    return Result("1. Request efficiency", tuple(tables), tuple(targets), notes)


async def _scaled_check(n: int, speed: float) -> Table:
    """The same race on ``ScaledClock(speed)``, where real processing time counts."""

    def make_clock() -> BenchClock:
        return ScaledBenchClock(speed)

    ours = await _ours(n, 0, make_clock)
    base = await _baseline(n, 0, make_clock)
    return Table(
        f"Cross-check on ScaledClock(speed={speed:g}), one run",
        ("N tasks", "ours", "per-task loop", "ratio", "loop's mean gap between fetches s"),
        ((n, ours.per_task, base.per_task, base.per_task / ours.per_task, base.fetch_gap),),
    )


def run(config: Config = FULL) -> Result:
    """Measure every size in ``config``; report medians."""
    return asyncio.run(_measure(config))


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(QUICK if "--quick" in argv else FULL)))


if __name__ == "__main__":
    main(sys.argv[1:])
