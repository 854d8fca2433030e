"""8. Slow consumer: memory over time while 10,000 tasks progress and events are read slowly.

One ``track_many`` stream follows 10,000 tasks served by the farm (:mod:`benchmarks._farm`)
from its own process; every task changes at every poll (a change per interval), so the poller
produces events far faster than a consumer that reads one event every ``read_every`` seconds
takes them. What the client keeps meanwhile is sampled after a collection: resident set size
from ``/proc/self/statm`` and the live Python blocks (``sys.getallocatedblocks()``), each less
what it was before the client was made. With
per-task coalescing of queued progress events it stays flat once every task is tracked;
without, it grows with every poll. A consumer that reads as fast as it can is the reference.

Real time, shortened cadence: ``PollPolicy(interval=1)``, the rest default.

Run alone: ``python -m benchmarks.bench_slow_consumer [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Sequence

import aiohttp
import attrs

from onechat_async import OneChatClient, PollPolicy

from ._bodies import make_ids
from ._farm import Farm, Schedule
from ._harness import API_KEY
from ._realtime import farm_requests, rss_bytes, set_schedule
from ._report import Result, Table, Target

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

#: Flat: the second half of the run may add at most this share to what the first half kept.
_FLAT = 0.10


@attrs.frozen
class Config:
    """Tasks, cadence, how slowly events are read, run length and sampling period."""

    tasks: int = 10_000
    interval: float = 1.0
    read_every: float = 0.010
    duration: float = 30.0
    samples: int = 6


FULL = Config()
QUICK = Config(duration=16.0, samples=4)
# Three seconds, not one: on a busy machine the first events took longer than a second.
SMOKE = Config(tasks=300, interval=0.1, duration=3.0, samples=2)


@attrs.frozen
class _Sample:
    at: float
    read: int
    retained: int
    blocks: int


async def _follow(
    farm: Farm, control: aiohttp.ClientSession, config: Config, *, slow: bool
) -> tuple[list[_Sample], int]:
    policy = PollPolicy(interval=config.interval)
    start = time.monotonic()
    await set_schedule(control, farm.url, Schedule(config.tasks, start, config.interval))
    ids = make_ids(config.tasks)
    read = 0
    gc.collect()
    rss, blocks = rss_bytes(), sys.getallocatedblocks()

    async def consume(client: OneChatClient) -> None:
        nonlocal read
        async with client.track_many(ids) as stream:
            async for _ in stream:
                read += 1
                if slow:
                    await asyncio.sleep(config.read_every)

    samples = []
    asked = await farm_requests(control, farm.url)
    async with OneChatClient(api_key=API_KEY, base_url=farm.url, poll=policy) as client:
        consumer = asyncio.get_running_loop().create_task(consume(client))
        for k in range(1, config.samples + 1):
            await asyncio.sleep(
                max(0.0, start + k * config.duration / config.samples - time.monotonic())
            )
            gc.collect()
            samples.append(
                _Sample(
                    time.monotonic() - start,
                    read,
                    rss_bytes() - rss,
                    sys.getallocatedblocks() - blocks,
                )
            )
        consumer.cancel()
        await asyncio.wait({consumer})
    return samples, await farm_requests(control, farm.url) - asked


async def _measure(config: Config) -> Result:
    async with Farm() as farm, aiohttp.ClientSession() as control:
        # The fast one first: RSS never shrinks, so what the slow one kept would hide the
        # fast one's figure.
        fast, fast_asked = await _follow(farm, control, config, slow=False)
        slow, slow_asked = await _follow(farm, control, config, slow=True)
    n = config.tasks
    end = fast[-1]
    rows = [
        (
            "fast (reference), at the end",
            end.at,
            end.read,
            end.retained / 2**20,
            end.retained / n / 1024,
            end.blocks / 1e3,
        )
    ]
    rows += [
        (
            f"slow (one event per {config.read_every * 1e3:g} ms)",
            s.at,
            s.read,
            s.retained / 2**20,
            s.retained / n / 1024,
            s.blocks / 1e3,
        )
        for s in slow
    ]
    table = Table(
        f"Retained memory while {n:,} tasks change at every poll (interval {config.interval:g} s)",
        (
            "consumer",
            "at s",
            "events read",
            "retained MB (RSS)",
            "RSS KiB per task",
            "live Python blocks, thousands",
        ),
        tuple(rows),
    )
    # Live blocks, not RSS: freed memory stays resident, so RSS cannot show a plateau
    # reliably, while the count of live Python blocks can.
    half = slow[len(slow) // 2 - 1].blocks if len(slow) > 1 else slow[0].blocks
    growth = (slow[-1].blocks - half) / max(1, half)
    target = Target(
        "slow consumer: growth of live Python blocks over the second half of the run",
        growth,
        f"<= {_FLAT:.0%} (flat: O(tracked tasks))",
        growth <= _FLAT,
    )
    notes = (
        f"query requests: {slow_asked:,} with the slow consumer, {fast_asked:,} with the fast one",
        (
            "retained = RSS after gc.collect() less RSS before the client was made; live "
            "blocks = sys.getallocatedblocks() likewise (what Python objects hold now)"
        ),
    )
    return Result("8. Slow consumer", (table,), (target,), notes)


def run(config: Config = FULL) -> Result:
    """Follow with a slow consumer, then with a fast one; sample memory along the way."""
    return asyncio.run(_measure(config))


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(QUICK if "--quick" in argv else FULL)))


if __name__ == "__main__":
    main(sys.argv[1:])
