"""2. Poll-tick CPU: what one tick over 10,000 tracked tasks costs the client.

A tick is one round of list-by-condition requests over every tracked task (100 chunks of
100) and what the client does with the answers: read each body (parse, check), compare every
task with what is known, decode only those that moved, make the events and hand them to the
consumer's ``async for``. It runs through the real client, poller and ``track_many`` stream;
only the transport is replaced, by the shipped ``MockTransport`` answering with bytes made
beforehand (:mod:`benchmarks._replay`), so the server's CPU is not billed to the client. The
floor is ``json.loads`` on the same bodies: no client can do less than parse them. The batched
loop's figure (``benchmarks._harness.absorb``) is ``json.loads`` plus its comparison of
(status, progress) with the last answer; it has no HTTP here either. Benchmark 6 measures the
tick again with HTTP, pacing and GC in.

Run alone: ``python -m benchmarks.bench_tick_cpu [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Sequence

import attrs

from onechat_async._policy import PollPolicy

from ._bodies import CHUNK, make_ids, tick_bodies
from ._harness import Live, absorb
from ._replay import ReplayRig
from ._report import Result, Table, Target, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_TARGET = 2.0
# Behind the gateway a running task's answer changes at its refresh (every 15 s) and the
# default cadence asks every 5 s: about one answer in three carries news.
_TYPICAL = 1 / 3


@attrs.frozen
class Config:
    """How many tasks, how many measured ticks, and which shares of them changed."""

    tasks: int = 10_000
    repeats: int = 9
    changed: tuple[float, ...] = (0.0, _TYPICAL, 1.0)


FULL = Config()
QUICK = Config(repeats=3, changed=(_TYPICAL,))
SMOKE = Config(tasks=300, repeats=1, changed=(0.5,))


def _batched(live: Live, bodies: Sequence[bytes]) -> float:
    """CPU seconds of the batched loop's work on one tick: json.loads and the comparison."""
    gc.collect()
    cpu = time.process_time()
    for body in bodies:
        absorb(live, json.loads(body))
    return time.process_time() - cpu


def _floor(bodies: Sequence[bytes]) -> float:
    gc.collect()
    cpu = time.process_time()
    for body in bodies:
        json.loads(body)
    return time.process_time() - cpu


async def _client_tick(rig: ReplayRig, bodies: Sequence[bytes]) -> tuple[float, float, int]:
    """CPU and wall seconds of one tick, and its events; old garbage is collected first."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    events = await rig.tick(bodies, advance=PollPolicy().interval)
    return time.process_time() - cpu, time.perf_counter() - wall, events


async def _measure(config: Config) -> Result:
    ids = make_ids(config.tasks)
    rows = []
    targets = []
    size = 0
    for changed in config.changed:
        ours, floor, walls, events, batched = [], [], [], [], []
        live: Live = dict.fromkeys(ids)
        async with ReplayRig(ids) as rig:
            # Tick 0 sees every task for the first time: all decoded, not measured.
            first = tick_bodies(ids, tick=0, changed=0.0)
            await rig.start(first)
            _batched(live, first)
            for tick in range(1, config.repeats + 1):
                # Each tick moves the changed tasks one percent further: real news each time.
                bodies = tick_bodies(ids, tick=tick, changed=changed)
                size = sum(len(b) for b in bodies)
                # The floor is taken on both sides of the tick: the allocator's state moves it.
                floor.append(_floor(bodies))
                cpu, wall, news = await _client_tick(rig, bodies)
                floor.append(_floor(bodies))
                batched.append(_batched(live, bodies))
                ours.append(cpu)
                walls.append(wall)
                events.append(news)
        ratio = median(ours) / median(floor)
        rows.append(
            (
                f"{changed:.0%}",
                round(median(events)),
                median(floor) * 1e3,
                median(batched) * 1e3,
                median(ours) * 1e3,
                median(walls) * 1e3,
                ratio,
                median(ours) / median(batched),
            )
        )
        if changed == _TYPICAL or len(config.changed) == 1:
            targets.append(
                Target(
                    f"tick CPU / json.loads, {changed:.0%} of tasks changed",
                    ratio,
                    f"<= {_TARGET:g}x",
                    ratio <= _TARGET,
                )
            )
    table = Table(
        f"One tick over {config.tasks:,} tracked tasks ({-(-config.tasks // CHUNK)} requests), "
        f"median of {config.repeats} ticks",
        (
            "tasks changed",
            "events",
            "json.loads ms",
            "batched loop CPU ms",
            "client CPU ms",
            "client wall ms",
            "ratio",
            "ours / batched loop",
        ),
        tuple(rows),
    )
    notes = (
        f"bodies: {size / 1e6:.1f} MB per tick, the gateway's field set (CONTRACT.md section 4)",
        (
            "client CPU: time.process_time over the tick, from the clock moving to the "
            "consumer having taken every event; the MockTransport and its replay handler add "
            "a json.loads of 100 ids per request"
        ),
    )
    return Result("2. Poll-tick CPU", (table,), tuple(targets), notes)


def run(config: Config = FULL) -> Result:
    """Measure ``config.repeats`` ticks per share of changed tasks; report medians."""
    return asyncio.run(_measure(config))


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(QUICK if "--quick" in argv else FULL)))


if __name__ == "__main__":
    main(sys.argv[1:])
