"""5. Event latency: from the simulator changing a task to the event reaching the consumer.

Tasks arrive at random moments over a minute; each is submitted, then followed by its consumer:
ours through ``client.track(id)`` with the default ``PollPolicy``, the per-task loop by
fetching every ``PollPolicy().interval`` seconds and noticing when status or progress differ,
and the batched loop (``benchmarks._harness.BatchedLoop``) by asking list-by-condition about
every live task each interval. The gateway-flavour simulator shows a change only at its refresh
ticks (every ``Timings.refresh`` seconds), so a probe reads every task through
``Simulator.task`` at each tick and notes when each (status, progress) first became visible; an
event's latency is the time its consumer got it, less that moment. The gateway's own lag behind
the upstream is not counted: no client can see a change before the gateway shows it.

Time is virtual (``ManualClock(auto_advance=True)``, see ``benchmarks._harness``), so latencies
are those of the cadence alone, in simulated seconds. The client starts at several phases of
the gateway's refresh cycle, because a poller that happened to tick right after the refresh
would look better than luck allows.

Run alone: ``python -m benchmarks.bench_latency [--quick]``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp
import attrs

from onechat_async import PollPolicy, Task
from onechat_async.testing import ManualClock

from ._harness import TERMINAL, Baseline, BatchedLoop, auto_clock, make_client, make_simulator
from ._report import Result, Table, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_INTERVAL = PollPolicy().interval
_QUEUED = frozenset({"NOT_START", "SUBMITTED", "MODAL"})
Key = tuple[str, int | None]


@attrs.frozen
class Config:
    """Tasks per run, client start phases, and the window over which tasks arrive."""

    tasks: int = 200
    phases: int = 5
    arrivals_over: float = 60.0


FULL = Config()
QUICK = Config(tasks=60, phases=3)
SMOKE = Config(tasks=5, phases=1, arrivals_over=10.0)


@attrs.frozen
class _Seen:
    """One change as a consumer learnt it."""

    latency: float
    terminal: bool
    #: Whether the task was queued (NOT_START, SUBMITTED, MODAL) before this change.
    was_queued: bool


def _wire_key(raw: dict[str, Any]) -> Key:
    """(status, progress) of a raw task object, read the way the client reads it."""
    status = str(raw.get("status") or "NOT_START")
    progress = str(raw.get("progress") or "")
    return status, int(progress[:-1]) if progress[:-1].isdigit() else None


def _task_key(task: Task) -> Key:
    return task.status.value, task.progress


class _Probe:
    """When each task's (status, progress) first became visible on the simulator."""

    def __init__(self, sim: Any, clock: ManualClock) -> None:
        self._sim = sim
        self._clock = self.clock = clock
        self.first: dict[str, dict[Key, float]] = {}
        self.initial: dict[str, Key] = {}

    def submitted(self, task_id: str) -> None:
        """Note the state a task was born in: knowing it is no news."""
        raw = self._sim.task(task_id)
        key = _wire_key(raw)
        self.initial[task_id] = key
        self.first[task_id] = {key: self._clock.now()}

    async def run(self) -> None:
        """Read every live task at each refresh tick of the gateway (its clock starts at 0)."""
        refresh = self._sim.timings.refresh
        tick = 0
        while True:
            tick += 1
            at = tick * refresh
            # A hair after the tick, so that float rounding cannot land just before it.
            await self._clock.sleep(at - self._clock.now() + 1e-6)
            for task_id, seen in self.first.items():
                raw = self._sim.task(task_id)
                if raw is not None:
                    seen.setdefault(_wire_key(raw), at)

    def latency(self, task_id: str, key: Key, now: float, before: Key | None) -> _Seen | None:
        """The latency of learning ``key`` at ``now`` after ``before``; None for the first."""
        if key == self.initial.get(task_id):
            return None
        shown = self.first[task_id].get(key)
        if shown is None:
            raise AssertionError(f"{task_id} reported {key}, which the server never showed")
        queued = before is None or before[0] in _QUEUED
        return _Seen(max(0.0, now - shown), key[0] in TERMINAL, queued)


class _BatchedFollower:
    """One :class:`BatchedLoop` for every task, as its user would run it."""

    def __init__(self, loop: BatchedLoop, base: Baseline, probe: _Probe) -> None:
        self._loop = loop
        self._base = base
        self._probe = probe
        self._clock = probe.clock
        self._last: dict[str, Key] = {}
        self.arrived = 0
        self.expected = 0

    async def arrive(self, at: float, prompt: str) -> None:
        """Submit at ``at``; the loop asks about the task from its next round."""
        await self._clock.sleep(at)
        task_id = await self._base.imagine(prompt)
        self._probe.submitted(task_id)
        self._loop.add([task_id])
        self.arrived += 1

    async def run(self, start: float, seen: list[_Seen]) -> None:
        """Poll from ``start`` until every expected task has arrived and ended."""
        await self._clock.sleep(start)
        while self.arrived < self.expected or self._loop.live:
            for raw in await self._loop.round():
                task_id, key = str(raw["id"]), _wire_key(raw)
                now = self._clock.now()
                found = self._probe.latency(task_id, key, now, self._last.get(task_id))
                self._last[task_id] = key
                if found is not None:
                    seen.append(found)
            await self._clock.sleep(_INTERVAL)


async def _run(config: Config, phase: int, *, side: str) -> tuple[list[_Seen], float]:
    """One run of one side; the latencies and query requests per task."""
    clock = auto_clock()
    rng = random.Random(phase)  # the same arrivals for both sides
    arrivals = sorted(rng.uniform(0, config.arrivals_over) for _ in range(config.tasks))
    seen: list[_Seen] = []
    async with make_simulator(clock, capacity=config.tasks, seed=phase) as sim:
        probe = _Probe(sim, clock)
        probing = asyncio.get_running_loop().create_task(probe.run())
        offset = sim.timings.refresh * phase / config.phases
        async with make_client(sim, clock) as client, aiohttp.ClientSession() as session:
            base = Baseline(session, sim.url, clock)

            async def follow_ours(at: float, prompt: str) -> None:
                await clock.sleep(at)
                task_id = (await client.imagine(prompt)).task_id
                probe.submitted(task_id)
                learnt: set[Key] = set()
                last: Key | None = None
                async for event in client.track(task_id):
                    task = getattr(event, "task", None)
                    if isinstance(task, Task) and _task_key(task) not in learnt:
                        key = _task_key(task)
                        learnt.add(key)
                        found = probe.latency(task_id, key, clock.now(), last)
                        last = key
                        if found is not None:
                            seen.append(found)

            async def follow_loop(at: float, prompt: str) -> None:
                await clock.sleep(at)
                task_id = await base.imagine(prompt)
                probe.submitted(task_id)
                last: Key | None = None
                async for raw in base.follow(task_id):
                    key = _wire_key(raw)
                    if key != last:
                        found = probe.latency(task_id, key, clock.now(), last)
                        last = key
                        if found is not None:
                            seen.append(found)

            batched = _BatchedFollower(BatchedLoop(session, sim.url, clock=clock), base, probe)
            batched.expected = config.tasks

            follow = {"ours": follow_ours, "loop": follow_loop, "batched": batched.arrive}[side]
            async with asyncio.TaskGroup() as group:
                if side == "batched":
                    # One loop has one phase against the gateway's refresh: it starts with the
                    # first task, shifted by a share of the interval that differs per phase,
                    # so that the phases sample the whole cycle whatever their number.
                    shift = _INTERVAL * phase / config.phases
                    group.create_task(batched.run(offset + arrivals[0] + shift, seen))
                for i, at in enumerate(arrivals):
                    group.create_task(follow(offset + at, f"latency task {i}"))
            queries = (sim.counters["fetch"] + sim.counters["list-by-condition"]) / config.tasks
        probing.cancel()
        await asyncio.wait({probing})
    return seen, queries


def _row(label: str, seen: Sequence[_Seen], queries: float) -> tuple[str | float, ...]:
    every = [s.latency for s in seen]
    ends = [s.latency for s in seen if s.terminal] or [0.0]
    leaving = [s.latency for s in seen if s.was_queued] or [0.0]
    p90 = statistics.quantiles(every, n=10)[-1] if len(every) > 1 else every[0]
    return (
        label,
        len(every),
        median(every),
        p90,
        statistics.fmean(every),
        median(ends),
        median(leaving),
        median(every) / _INTERVAL,
        queries,
    )


async def _measure(config: Config) -> Result:
    sides = ("ours", "loop", "batched")
    seen: dict[str, list[_Seen]] = {side: [] for side in sides}
    queries: dict[str, list[float]] = {side: [] for side in sides}
    for phase in range(config.phases):
        for side in sides[phase % 3 :] + sides[: phase % 3]:
            got, asked = await _run(config, phase, side=side)
            seen[side] += got
            queries[side].append(asked)
    table = Table(
        f"Seconds (simulated) from a change becoming visible to its event, {config.tasks} tasks "
        f"x {config.phases} phases",
        (
            "follower",
            "changes",
            "median s",
            "p90 s",
            "mean s",
            "terminal median s",
            "leaving a queued state, median s",
            "median / interval",
            "queries per task",
        ),
        (
            _row("ours (client.track, default PollPolicy)", seen["ours"], median(queries["ours"])),
            _row(
                f"per-task loop (fetch every {_INTERVAL:g} s)",
                seen["loop"],
                median(queries["loop"]),
            ),
            _row(
                f"batched loop (list-by-condition every {_INTERVAL:g} s)",
                seen["batched"],
                median(queries["batched"]),
            ),
        ),
    )
    notes = (
        (
            f"interval = PollPolicy().interval = {_INTERVAL:g} s; queued tasks are polled every "
            f"{PollPolicy().queued_interval:g} s, tasks near their end down to every "
            f"{PollPolicy().fast_interval:g} s"
        ),
        "a change is counted once per task, however many events it gave",
    )
    return Result("5. Event latency", (table,), (), notes)


def run(config: Config = FULL) -> Result:
    """Run both sides at every phase; report pooled medians."""
    return asyncio.run(_measure(config))


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(QUICK if "--quick" in argv else FULL)))


if __name__ == "__main__":
    main(sys.argv[1:])
