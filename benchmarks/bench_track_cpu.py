"""6. Client CPU with HTTP included: following N tasks to their end, and one tick at 10,000.

The server is the farm (:mod:`benchmarks._farm`) in a process of its own, so the client's
figure is the bench process's own CPU time (``time.process_time``): HTTP, the event loop,
request pacing and garbage collection included, the server's work left out. Three followers
take turns in the same run, the order rotating between runs:

- ours: ``OneChatClient.track_many(ids)``, ``PollPolicy(interval=...)``, the rest default;
- the batched loop (``benchmarks._harness.BatchedLoop``): list-by-condition in chunks of 100,
  ``json.loads``, the same interval;
- the per-task loop (``benchmarks._harness.Baseline``): one fetch per task per interval.

Part one follows N tasks from their start to SUCCESS. Real time runs, so the cadence is
shortened: every follower polls every ``interval`` (1 s) and a task changes every
``3 x interval`` (as the gateway refreshes every 15 s for a 5 s cadence). Part two is the tick
with HTTP: 10,000 tasks that never end, the default ``PollPolicy`` (5 s, 10 requests per
second) against the batched loop at 5 s, a task changing every 15 s; the client CPU per 100
list-by-condition requests (one tick's worth) next to ``json.loads`` of 100 such answers.

Run alone: ``python -m benchmarks.bench_track_cpu [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import attrs

from onechat_async import OneChatClient, PollPolicy, Task

from ._bodies import CHUNK, make_ids
from ._farm import Farm, Schedule, index_of
from ._harness import API_KEY, Baseline, BatchedLoop
from ._realtime import Recorder, farm_requests, set_schedule, state_of_raw, state_of_task
from ._report import Result, Table, Target, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_TARGET = 1.0
_TICK_TARGET = 2.0
#: How long after the schedule is set the tasks start moving: the follower starts first.
_LEAD = 0.3


@attrs.frozen
class Config:
    """Sizes, followers and cadence of part one; length of part two (0: skipped)."""

    sizes: tuple[int, ...] = (1_000, 10_000)
    repeats: int = 1
    #: Which followers race in part one (the batched loop always: it is the yardstick).
    sides: tuple[str, ...] = ("ours", "batched", "per-task")
    # ("ours-cadence": ours without the refresh wait, on request)
    interval: float = 1.0
    steps: int = 5
    tick_tasks: int = 10_000
    tick_interval: float = 5.0
    tick_warmup: float = 12.0
    tick_window: float = 30.0


FULL = Config()
QUICK = Config(sizes=(1_000,), tick_window=15.0)
SMOKE = Config(
    sizes=(50,), interval=0.1, steps=1, tick_tasks=200, tick_interval=0.1, tick_warmup=0.3,
    tick_window=0.5,
)  # fmt: skip


@attrs.frozen
class _Run:
    requests: int
    cpu: float
    wall: float
    median: float
    p95: float
    ended: int


Follower = Callable[[str, Schedule, list[str], float, Recorder], Awaitable[int]]


async def _ours(
    url: str,
    schedule: Schedule,
    ids: list[str],
    interval: float,
    rec: Recorder,
    *,
    refresh: bool = True,
) -> int:
    ended = 0
    policy = PollPolicy(interval=interval)
    if not refresh:
        policy = attrs.evolve(policy, refresh_interval=None)
    async with (
        OneChatClient(api_key=API_KEY, base_url=url, poll=policy) as client,
        client.track_many(ids) as stream,
    ):
        async for event in stream:
            task = getattr(event, "task", None)
            if isinstance(task, Task):
                rec.saw(index_of(event.task_id), state_of_task(schedule, task), time.monotonic())
            ended += event.is_terminal
    return ended


async def _batched(
    url: str, schedule: Schedule, ids: list[str], interval: float, rec: Recorder
) -> int:
    ended = 0
    async with aiohttp.ClientSession() as session:
        async for raw in BatchedLoop(session, url, interval=interval).follow(ids):
            rec.saw(index_of(str(raw["id"])), state_of_raw(schedule, raw), time.monotonic())
            ended += raw.get("status") == "SUCCESS"
    return ended


async def _per_task(
    url: str, schedule: Schedule, ids: list[str], interval: float, rec: Recorder
) -> int:
    async with aiohttp.ClientSession() as session:
        base = Baseline(session, url)

        async def follow(task_id: str) -> int:
            i = index_of(task_id)
            status = ""
            async for raw in base.follow(task_id, interval=interval):
                rec.saw(i, state_of_raw(schedule, raw), time.monotonic())
                status = str(raw.get("status"))
            return status == "SUCCESS"

        return sum(await asyncio.gather(*(follow(i) for i in ids)))


async def _ours_cadence(
    url: str, schedule: Schedule, ids: list[str], interval: float, rec: Recorder
) -> int:
    return await _ours(url, schedule, ids, interval, rec, refresh=False)


_SIDES: dict[str, tuple[str, Follower]] = {
    "ours": ("ours (track_many)", _ours),
    "ours-cadence": ("ours, refresh_interval=None", _ours_cadence),
    "batched": ("batched loop (list-by-condition)", _batched),
    "per-task": ("per-task loop (fetch)", _per_task),
}


async def _race(
    farm: Farm, control: aiohttp.ClientSession, follower: Follower, n: int, config: Config
) -> _Run:
    start = time.monotonic()
    schedule = Schedule(tasks=n, origin=start + _LEAD, step=3 * config.interval, steps=config.steps)
    await set_schedule(control, farm.url, schedule)
    ids = make_ids(n)
    rec = Recorder(schedule, since=time.monotonic(), until=float("inf"))
    asked = await farm_requests(control, farm.url)
    cpu, wall = time.process_time(), time.perf_counter()
    ended = await follower(farm.url, schedule, ids, config.interval, rec)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    rec.finish(time.monotonic())
    requests = await farm_requests(control, farm.url) - asked
    return _Run(requests, cpu, wall, rec.quantile(0.5), rec.quantile(0.95), ended)


async def _to_the_end(farm: Farm, control: aiohttp.ClientSession, config: Config) -> Table:
    rows = []
    for n in config.sizes:
        names = [name for name in _SIDES if name in config.sides or name == "batched"]
        runs: dict[str, list[_Run]] = {side: [] for side in names}
        for r in range(config.repeats):
            turn = r % len(names)
            for name in names[turn:] + names[:turn]:
                runs[name].append(await _race(farm, control, _SIDES[name][1], n, config))
        batched_cpu = median([x.cpu for x in runs["batched"]])
        for name in names:
            label, side = _SIDES[name][0], runs[name]
            cpu = median([x.cpu for x in side])
            rows.append(
                (
                    n,
                    label,
                    median([x.requests for x in side]),
                    cpu,
                    cpu / batched_cpu,
                    cpu / n * 1e3,
                    median([x.median for x in side]) / config.interval,
                    median([x.p95 for x in side]) / config.interval,
                    median([x.wall for x in side]),
                    f"{min(x.ended for x in side):,} of {n:,}",
                )
            )
    return Table(
        f"Client CPU to follow N tasks to SUCCESS, server in its own process (interval "
        f"{config.interval:g} s, a change every {3 * config.interval:g} s, {config.steps} "
        f"changes a task; median of {config.repeats})",
        (
            "N",
            "follower",
            "query requests",
            "client CPU s",
            "CPU / batched loop",
            "CPU ms per task",
            "median latency / interval",
            "p95 latency / interval",
            "wall s",
            "ended",
        ),
        tuple(rows),
    )


async def _floor(control: aiohttp.ClientSession, url: str, ids: Sequence[str]) -> float:
    """CPU seconds ``json.loads`` takes over one tick's answers (every task, chunks of 100)."""
    bodies = []
    for start in range(0, len(ids), CHUNK):
        body = {"ids": list(ids[start : start + CHUNK])}
        async with control.post(f"{url}/mj/task/list-by-condition", json=body) as resp:
            bodies.append(await resp.read())
    times = []
    for _ in range(5):
        cpu = time.process_time()
        for raw in bodies:
            json.loads(raw)
        times.append(time.process_time() - cpu)
    return median(times)


async def _tick_side(
    farm: Farm, control: aiohttp.ClientSession, name: str, config: Config
) -> tuple[float, float, float]:
    """CPU per tick, events per tick, and the json.loads floor of a tick."""
    n = config.tick_tasks
    schedule = Schedule(tasks=n, origin=time.monotonic() + _LEAD, step=3 * config.tick_interval)
    await set_schedule(control, farm.url, schedule)
    ids = make_ids(n)
    events = 0

    async def ours() -> None:
        nonlocal events
        policy = PollPolicy(interval=config.tick_interval)
        async with (
            OneChatClient(api_key=API_KEY, base_url=farm.url, poll=policy) as client,
            client.track_many(ids) as stream,
        ):
            async for _ in stream:
                events += 1

    async def batched() -> None:
        nonlocal events
        async with aiohttp.ClientSession() as session:
            loop = BatchedLoop(session, farm.url, interval=config.tick_interval)
            async for _ in loop.follow(ids):
                events += 1

    follower = asyncio.get_running_loop().create_task(ours() if name == "ours" else batched())
    await asyncio.sleep(config.tick_warmup)
    asked, before = await farm_requests(control, farm.url), events
    cpu = time.process_time()
    await asyncio.sleep(config.tick_window)
    cpu = time.process_time() - cpu
    requests = await farm_requests(control, farm.url) - asked
    news = events - before
    follower.cancel()
    await asyncio.wait({follower})
    # A tick is one round over every task: 100 requests at 10,000 tasks.
    ticks = max(1, requests) / -(-n // CHUNK)
    return cpu / ticks, news / ticks, await _floor(control, farm.url, ids)


async def _tick(farm: Farm, control: aiohttp.ClientSession, config: Config) -> tuple[Table, float]:
    rows = []
    measured = {}
    for name, label in (("ours", "ours (default PollPolicy)"), ("batched", "batched loop")):
        cpu, news, floor = await _tick_side(farm, control, name, config)
        measured[name] = cpu / floor
        rows.append((label, news, floor * 1e3, cpu * 1e3, cpu / floor))
    table = Table(
        f"One tick over {config.tick_tasks:,} tasks with HTTP, pacing and GC: client CPU per "
        f"{-(-config.tick_tasks // CHUNK)} list-by-condition requests over "
        f"{config.tick_window:g} s (interval "
        f"{config.tick_interval:g} s, a change every {3 * config.tick_interval:g} s)",
        ("follower", "events per tick", "json.loads ms", "client CPU ms", "ratio"),
        tuple(rows),
    )
    return table, measured["ours"]


async def _measure(config: Config) -> Result:
    async with Farm() as farm, aiohttp.ClientSession() as control:
        tables = [await _to_the_end(farm, control, config)]
        tick_ratio = None
        if config.tick_window > 0:
            tick, tick_ratio = await _tick(farm, control, config)
            tables.append(tick)
    (main,) = tables[:1]
    targets = []
    for row in main.rows:
        if row[1] == _SIDES["ours"][0]:
            ratio = float(row[4])
            targets.append(
                Target(
                    f"client CPU ours / batched loop, HTTP included, N = {row[0]:,}",
                    ratio,
                    f"<= {_TARGET:g}x",
                    ratio <= _TARGET,
                )
            )
    if tick_ratio is not None:
        targets.append(
            Target(
                "tick CPU with HTTP, pacing and GC / json.loads",
                tick_ratio,
                f"<= {_TICK_TARGET:g}x (a target set for the pure tick)",
                tick_ratio <= _TICK_TARGET,
            )
        )
    notes = (
        (
            "client CPU: time.process_time of the bench process from the follower's start to "
            "its end (client or session made and closed inside); the farm serves from "
            "another process"
        ),
        (
            "latency: from the moment the farm's schedule made a change visible to the "
            "follower learning it (a skipped step counts as learnt with the next)"
        ),
        (
            "part one runs on a shortened cadence (interval 1 s, so ours' refresh_interval is "
            "3 s, the farm's step); ours paces its requests to the watch set, the loops do not "
            "pace at all"
        ),
    )
    return Result("6. Client CPU with HTTP", tuple(tables), tuple(targets), notes)


def run(config: Config = FULL) -> Result:
    """Race the three followers at each size, then the tick; report medians."""
    return asyncio.run(_measure(config))


def _config(argv: Sequence[str]) -> Config:
    """The preset ``argv`` names, changed by ``--sizes 1000,10000``, ``--repeats 3``,
    ``--sides ours,batched`` (the per-task loop left out) and ``--no-tick`` (part one only).
    """
    config = QUICK if "--quick" in argv else FULL
    if "--sizes" in argv:
        sizes = argv[argv.index("--sizes") + 1]
        config = attrs.evolve(config, sizes=tuple(int(s) for s in sizes.split(",")))
    if "--repeats" in argv:
        config = attrs.evolve(config, repeats=int(argv[argv.index("--repeats") + 1]))
    if "--sides" in argv:
        sides = tuple(argv[argv.index("--sides") + 1].split(","))
        unknown = set(sides) - set(_SIDES)
        if unknown:
            raise SystemExit(f"unknown sides {sorted(unknown)}; known: {', '.join(_SIDES)}")
        config = attrs.evolve(config, sides=sides)
    if "--no-tick" in argv:
        config = attrs.evolve(config, tick_window=0.0)
    return config


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(_config(argv))))


if __name__ == "__main__":
    main(sys.argv[1:])
