"""4. Memory per tracked task at 10,000 tasks, measured with tracemalloc.

One ``track_many`` stream follows 10,000 running tasks through the real client and poller,
answered through a ``MockTransport`` by the replay (:mod:`benchmarks._replay`), so no
socket buffer or server object is counted. The answers are made before tracing starts; what
is counted is everything the client allocates and keeps: the tracker's records, the last
decoded snapshot of each task, the poller's routing tables and the stream's bookkeeping.
Measured after the first tick (every task seen once) and again after a few ticks of
progress, after a collection.

The per-task figure depends on the task: each keeps its last snapshot, whose prompt,
image URL and buttons are the server's strings. The bodies here carry a 51-character prompt
and no buttons, as a running imagine has.

Run alone: ``python -m benchmarks.bench_memory [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import attrs

from onechat_async import _wire
from onechat_async._policy import PollPolicy

from ._bodies import make_ids, tick_bodies
from ._replay import ReplayRig
from ._report import Result, Table, Target, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_TARGET = 2048.0
_TOP = 6


@attrs.frozen
class Config:
    """How many tasks, ticks after the first, and repeats."""

    tasks: int = 10_000
    ticks: int = 3
    #: Allocation counts do not vary from run to run; two runs show that they do not.
    repeats: int = 2


FULL = Config()
QUICK = Config(ticks=2, repeats=1)
SMOKE = Config(tasks=200, ticks=1, repeats=1)


@attrs.frozen
class _Sample:
    first: float
    steady: float
    peak: float
    top: tuple[tuple[str, float], ...]


# The bench's own allocations (the replay's table of answers, the MockTransport under it)
# and the snapshots taken along the way are not the client's.
_NOT_OURS = (
    tracemalloc.Filter(inclusive=False, filename_pattern="*/benchmarks/*"),
    tracemalloc.Filter(inclusive=False, filename_pattern="*/onechat_async/testing/*"),
    tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__),
)


def _cold_caches() -> None:
    """Empty the decoder's memo caches, so that earlier benchmarks do not pay for this one.

    They are bounded and shared by every client, but they grow with the number of tasks
    until full, so their share is counted here.
    """
    for value in vars(_wire).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()


def _snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces(_NOT_OURS)


def _retained(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> int:
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def _where(stat: tracemalloc.StatisticDiff) -> str:
    frame = stat.traceback[0]
    path = Path(frame.filename)
    parts = path.parts
    # Name files by package-relative path: site-packages and checkout paths are noise.
    for anchor in ("onechat_async", "asyncio", "attr", "cattrs", "json"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return path.name


async def _sample(config: Config) -> _Sample:
    ids = make_ids(config.tasks)
    ticks = [
        tick_bodies(ids, tick=k, changed=0.0 if k == 0 else 1 / 3) for k in range(config.ticks + 1)
    ]
    _cold_caches()
    gc.collect()
    tracemalloc.start()
    try:
        before = _snapshot()
        async with ReplayRig(ids) as rig:
            await rig.start(ticks[0])
            first = _snapshot()
            # The transient cost of a tick: its peak above what was traced as it began.
            tracemalloc.reset_peak()
            ticking = tracemalloc.get_traced_memory()[0]
            for bodies in ticks[1:]:
                await rig.tick(bodies, advance=PollPolicy().interval)
            peak = tracemalloc.get_traced_memory()[1] - ticking
            steady = _snapshot()
    finally:
        tracemalloc.stop()
    diff = steady.compare_to(before, "filename")
    top = tuple(
        (_where(stat), stat.size_diff / config.tasks)
        for stat in sorted(diff, key=lambda s: -s.size_diff)[:_TOP]
    )
    n = config.tasks
    return _Sample(_retained(before, first) / n, _retained(before, steady) / n, peak / n, top)


async def _measure(config: Config) -> Result:
    samples = [await _sample(config) for _ in range(config.repeats)]
    first = median([s.first for s in samples])
    steady = median([s.steady for s in samples])
    peak = median([s.peak for s in samples])
    main = Table(
        f"Bytes per tracked task at {config.tasks:,} tasks (tracemalloc, median of "
        f"{config.repeats})",
        ("when", "retained bytes per task", "KiB per task"),
        (
            ("after the first tick (every task seen once)", first, first / 1024),
            (f"after {config.ticks} more ticks (a third moving each)", steady, steady / 1024),
            ("transient, at the peak of a tick (freed after it)", peak, peak / 1024),
        ),
    )
    where = Table(
        "Where the retained bytes live (by allocating file, first run)",
        ("file", "bytes per task"),
        tuple(samples[0].top),
    )
    worst = max(first, steady)
    target = Target("retained memory per tracked task", worst, "<= 2,048 B", worst <= _TARGET)
    notes = (
        (
            "retained = what tracemalloc traces after a gc.collect(), less what it traced "
            "before the stream started, leaving out the bench's own files; the task ids and "
            "the prepared answers are the caller's and not counted"
        ),
    )
    return Result("4. Memory per tracked task", (main, where), (target,), notes)


def run(config: Config = FULL) -> Result:
    """Trace ``config.repeats`` runs; report medians."""
    return asyncio.run(_measure(config))


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(QUICK if "--quick" in argv else FULL)))


if __name__ == "__main__":
    main(sys.argv[1:])
