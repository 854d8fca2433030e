"""7. Scale: 10,000 to 100,000 tasks followed in one process, the server in another.

One ``track_many`` stream follows N tasks that never end, served by the farm
(:mod:`benchmarks._farm`) from its own process; each size runs in a fresh process of its own;
each task changes every 15 s (the gateway's refresh) at a phase of its own, so changes arrive
at a steady N / 15 per second. The client is as shipped, with the default ``PollPolicy``
(interval 5 s), in real time. Reported:

- the time from a change becoming visible (known from the farm's schedule) to its event
  reaching the consumer, median and p95, as a fraction of the interval; only changes made
  after a warm-up count, and those still unseen at the end count as never learnt;
- event-loop lag: a coroutine that sleeps 10 ms at a time and records how late it wakes (p99
  and worst), and the full garbage-collection passes (how many, the longest);
- memory: resident set size from ``/proc/self/statm`` (allocator overhead included), after a
  collection at the end, less before the client was made, per task seen (a task the poller
  has not asked about yet costs less); the ids and the measuring arrays are allocated before;
- the client's and the farm's CPU time as a share of one core, the query requests per
  second, and the machine's load average at the end (on a shared machine the other
  processes' demand, not the client, may set the pace).

Run alone: ``python -m benchmarks.bench_scale [--quick] [--sizes 100000]`` (``--quick``:
10,000 tasks only, 40 s; ``--sizes``: only the sizes given, comma-separated).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import sys
import time
from collections.abc import Sequence

import aiohttp
import attrs

from onechat_async import OneChatClient, PollPolicy, Task

from ._bodies import make_ids
from ._farm import ROOT, Farm, Schedule, index_of
from ._harness import API_KEY
from ._realtime import (
    GcProbe,
    LagProbe,
    Recorder,
    farm_requests,
    process_cpu,
    rss_bytes,
    set_schedule,
    state_of_task,
)
from ._report import Cell, Result, Table, Target, fmt

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_MEDIAN_TARGET = 0.5
_P95_TARGET = 1.5
_LAG_TARGET = 0.050
_RSS_TARGET = 1.5 * 1024


@attrs.frozen
class Config:
    """Sizes, how long each runs and how much of it is warm-up; the interval (None: default)."""

    sizes: tuple[int, ...] = (10_000, 50_000, 100_000)
    duration: float = 60.0
    warmup: float = 15.0
    interval: float | None = None


FULL = Config()
QUICK = Config(sizes=(10_000,), duration=40.0)
SMOKE = Config(sizes=(300,), duration=1.5, warmup=0.3, interval=0.1)


@attrs.frozen
class _Run:
    n: int
    events: int
    seen: int
    learnt: int
    unlearnt: int
    median: float
    p95: float
    lag_p99: float
    lag_worst: float
    full_gcs: int
    gc_worst: float
    rss_per_task: float
    cpu_share: float
    server_cpu_share: float
    requests_per_second: float
    load_average: float


async def _child_run(n: int, config: Config) -> _Run:
    async with Farm() as farm, aiohttp.ClientSession() as control:
        return await _one(farm, control, n, config)


def child() -> None:
    """In a fresh process: read ``[n, config]`` as JSON on stdin, print the run as JSON."""
    n, fields = json.loads(sys.stdin.read())
    config = Config(**{**fields, "sizes": tuple(fields["sizes"])})
    print(json.dumps(attrs.asdict(asyncio.run(_child_run(n, config)))))


async def _in_own_process(n: int, config: Config) -> _Run:
    # RSS never shrinks: a size run after another would reuse what that one freed and look
    # cheaper. Each size gets a fresh process.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from benchmarks.bench_scale import child; child()",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await process.communicate(json.dumps([n, attrs.asdict(config)]).encode())
    if process.returncode:
        raise RuntimeError(f"the {n:,}-task run failed (exit status {process.returncode})")
    return _Run(**json.loads(out.decode().strip().splitlines()[-1]))


async def _one(farm: Farm, control: aiohttp.ClientSession, n: int, config: Config) -> _Run:
    policy = PollPolicy() if config.interval is None else PollPolicy(interval=config.interval)
    start = time.monotonic()
    schedule = Schedule(tasks=n, origin=start, step=3 * policy.interval)
    await set_schedule(control, farm.url, schedule)
    ids = make_ids(n)
    # Changes made in the last two intervals may not have been asked about yet: left out.
    rec = Recorder(
        schedule,
        since=start + config.warmup,
        until=start + config.duration - 2 * policy.interval,
        start=start,
    )
    lag = LagProbe(capacity=int(config.duration / 0.01) + 100)
    # Which tasks an event has shown yet: RSS per task means something once all have been.
    shown = bytearray(n)
    events = 0
    gc.collect()
    rss = rss_bytes()

    async def consume(client: OneChatClient) -> None:
        nonlocal events
        async with client.track_many(ids) as stream:
            async for event in stream:
                events += 1
                task = getattr(event, "task", None)
                if isinstance(task, Task):
                    i = index_of(event.task_id)
                    shown[i] = 1
                    rec.saw(i, state_of_task(schedule, task), time.monotonic())

    async with OneChatClient(api_key=API_KEY, base_url=farm.url, poll=policy) as client:
        consumer = asyncio.get_running_loop().create_task(consume(client))
        await asyncio.sleep(config.warmup)
        lag.start()
        passes = GcProbe()
        passes.start()
        asked = await farm_requests(control, farm.url)
        cpu, wall = time.process_time(), time.monotonic()
        server = process_cpu(farm.pid)
        await asyncio.sleep(max(0.0, start + config.duration - time.monotonic()))
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        server = process_cpu(farm.pid) - server
        requests = await farm_requests(control, farm.url) - asked
        await lag.stop()
        passes.stop()
        rec.finish(time.monotonic())
        gc.collect()
        rss = rss_bytes() - rss
        consumer.cancel()
        await asyncio.wait({consumer})
    interval = policy.interval
    return _Run(
        n=n,
        events=events,
        seen=sum(shown),
        learnt=rec.learnt,
        unlearnt=rec.censored,
        median=rec.quantile(0.5) / interval,
        p95=rec.quantile(0.95) / interval,
        lag_p99=lag.quantile(0.99),
        lag_worst=lag.worst,
        full_gcs=passes.full,
        gc_worst=passes.worst,
        rss_per_task=rss / max(1, sum(shown)),
        cpu_share=cpu / wall,
        server_cpu_share=server / wall,
        requests_per_second=requests / wall,
        # The machine may be shared: other processes' demand slows both sides.
        load_average=os.getloadavg()[0],
    )


def _latency(value: float, run: _Run, config: Config, interval: float) -> Cell:
    # A quantile among the changes never learnt is only known to exceed the run's length.
    if math.isinf(value):
        return f"> {fmt((config.duration - config.warmup) / interval)} (never learnt)"
    return value


async def _measure(config: Config) -> Result:
    interval = PollPolicy().interval if config.interval is None else config.interval
    runs = [await _in_own_process(n, config) for n in config.sizes]
    table = Table(
        f"N tasks in one process, the server in another (interval {interval:g} s, a change "
        f"every {3 * interval:g} s per task, {config.duration:g} s per size, the first "
        f"{config.warmup:g} s not counted)",
        (
            "N",
            "tasks seen",
            "events",
            "changes counted",
            "never learnt",
            "median latency / interval",
            "p95 latency / interval",
            "loop lag p99 ms",
            "worst lag ms",
            "full GC passes",
            "worst full GC ms",
            "RSS KiB per task seen",
            "client CPU, share of a core",
            "server CPU, share of a core",
            "query requests/s",
            "load average (1 min)",
        ),
        tuple(
            (
                r.n,
                r.seen,
                r.events,
                r.learnt + r.unlearnt,
                r.unlearnt,
                _latency(r.median, r, config, interval),
                _latency(r.p95, r, config, interval),
                r.lag_p99 * 1e3,
                r.lag_worst * 1e3,
                r.full_gcs,
                r.gc_worst * 1e3,
                r.rss_per_task / 1024,
                r.cpu_share,
                r.server_cpu_share,
                r.requests_per_second,
                r.load_average,
            )
            for r in runs
        ),
    )
    last = runs[-1]
    bound = (config.duration - config.warmup) / interval
    median = bound if math.isinf(last.median) else last.median
    p95 = bound if math.isinf(last.p95) else last.p95
    n = f"N = {last.n:,}"
    targets = (
        Target(f"median latency / interval, {n}", median, "<= 0.5", median <= _MEDIAN_TARGET),
        Target(f"p95 latency / interval, {n}", p95, "<= 1.5", p95 <= _P95_TARGET),
        Target(
            f"event-loop lag p99, {n} (ms)",
            last.lag_p99 * 1e3,
            "<= 50 ms",
            last.lag_p99 <= _LAG_TARGET,
        ),
        Target(
            f"RSS per task, {n} (KiB; only once every task has been seen)",
            last.rss_per_task / 1024,
            "<= 1.5 KiB",
            last.rss_per_task <= _RSS_TARGET and last.seen == last.n,
        ),
    )
    notes = (
        "default PollPolicy unless the configuration says otherwise; real time",
        (
            "a change is learnt when an event shows its state or a later one; changes in the "
            "last two intervals of a run are not counted"
        ),
    )
    return Result("7. Scale", (table,), targets, notes)


def run(config: Config = FULL) -> Result:
    """Follow each size for ``config.duration`` seconds of real time."""
    return asyncio.run(_measure(config))


def _config(argv: Sequence[str]) -> Config:
    """The preset ``argv`` names, with ``--sizes 100000[,50000]`` picking the sizes."""
    config = QUICK if "--quick" in argv else FULL
    if "--sizes" in argv:
        sizes = argv[argv.index("--sizes") + 1]
        config = attrs.evolve(config, sizes=tuple(int(s) for s in sizes.split(",")))
    return config


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(_config(argv))))


if __name__ == "__main__":
    main(sys.argv[1:])
