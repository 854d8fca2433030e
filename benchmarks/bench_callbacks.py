"""9. Callbacks: time from a change to its event, and query requests, with callbacks on vs off.

The same tasks (arriving at random over a minute) are followed by ``client.track(id)`` with
the default ``PollPolicy``, by a client without callbacks and by one with
``callbacks=CallbackReceiver(...)``, against the gateway-flavour simulator with its callback
mode on (for the client without a receiver no submit carries a hook, so nothing is posted).

A change is timed from the moment the *upstream* made it (read from the simulator's plan of
the task), which is when the upstream posts its callback; a poller can only see it once the
gateway's copy refreshes (every ``Timings.refresh`` s) and it next asks, so its latency counts
both. Time is virtual (``ManualClock(auto_advance=True)``): a callback on loopback takes no
virtual time, so the callbacks side is also timed in real milliseconds, from the simulator
deciding to post a change to the consumer holding its event.

Run alone: ``python -m benchmarks.bench_callbacks [--quick]``.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs

from onechat_async import OneChatClient, PollPolicy, Task
from onechat_async.callbacks import CallbackReceiver
from onechat_async.testing import ManualClock, Simulator
from onechat_async.testing._lifecycle import upstream_at

from ._harness import API_KEY, TERMINAL, auto_clock
from ._report import Result, Table, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_INTERVAL = PollPolicy().interval
Key = tuple[str, int]
_STEP = 0.01


@attrs.frozen
class Config:
    """The loads to run: (tasks, seconds over which they arrive) each."""

    loads: tuple[tuple[int, float], ...] = ((100, 60.0), (40, 600.0))
    seed: int = 1


FULL = Config()
QUICK = Config(loads=((40, 60.0), (20, 600.0)))
SMOKE = Config(loads=((5, 10.0),))


@attrs.frozen
class _Seen:
    """One change as the consumer learnt it."""

    latency: float
    terminal: bool
    real_ms: float | None


def _changes(sim: Simulator, task_id: str) -> dict[Key, float]:
    """When the upstream first showed each (status, progress) of a task, from its plan.

    Sampled every :data:`_STEP` s of its life: the first sample showing a state is at most
    that late, a hundredth of a second against latencies of seconds.
    """
    record = sim._record(task_id)
    plan, timings = record.plan, sim.timings
    first: dict[Key, float] = {}
    end = plan.finish_at if math.isfinite(plan.finish_at) else plan.submitted_at
    for n in range(math.ceil((end - plan.submitted_at) / _STEP) + 2):
        at = plan.submitted_at + n * _STEP
        snap = upstream_at(plan, at, timings)
        first.setdefault((snap.status, snap.progress or 0), at)
    return first


def _key(task: Task) -> Key:
    # The upstream shows no number before it starts, the client reads that as 0.
    return task.status.value, task.progress or 0


def _hook_key(status: str, progress: str) -> Key:
    digits = progress.rstrip("%")
    return status, int(digits) if digits.isdigit() else 0


async def _run(
    tasks: int, over: float, seed: int, *, callbacks: bool
) -> tuple[list[_Seen], float, int]:
    """One side: what the consumer learnt, query requests per task, changes not matched."""
    clock: ManualClock = auto_clock()
    rng = random.Random(seed)  # the same arrivals for both sides
    arrivals = sorted(rng.uniform(0, over) for _ in range(tasks))
    seen: list[_Seen] = []
    unmatched = 0
    posted: dict[tuple[str, Key], float] = {}
    sim = Simulator(
        api_key=API_KEY,
        clock=clock,
        running_limit=tasks,
        waiting_limit=tasks,
        notify_hooks=True,
        hook_duplicate_rate=0.0,
        seed=seed,
    )
    async with sim:
        hooks = sim._backend.hooks
        assert hooks is not None  # noqa: S101 - notify_hooks is on
        send = hooks._send

        def timed_send(url: str, payload: bytes, note: Any) -> None:
            posted.setdefault(
                (note.task_id, _hook_key(note.status, note.progress)), time.perf_counter()
            )
            send(url, payload, note)

        hooks._send = timed_send  # type: ignore[method-assign]
        receiver = CallbackReceiver(clock=clock) if callbacks else None
        # max_in_flight=None: the account has room for every task (admission would hold ten).
        async with OneChatClient(
            api_key=API_KEY,
            base_url=sim.url,
            clock=clock,
            callbacks=receiver,
            max_in_flight=None,
        ) as client:

            async def follow(at: float, prompt: str) -> None:
                nonlocal unmatched
                await clock.sleep(at)
                task_id = (await client.imagine(prompt)).task_id
                born = clock.now()
                learnt: dict[Key, tuple[float, float]] = {}
                async for event in client.track(task_id):
                    task = getattr(event, "task", None)
                    if isinstance(task, Task) and _key(task) not in learnt:
                        learnt[_key(task)] = (clock.now(), time.perf_counter())
                # Read once the task ended: its plan may be fixed again after the submit.
                first = _changes(sim, task_id)
                for key, (now, real_now) in learnt.items():
                    changed = first.get(key)
                    if changed is None:
                        unmatched += 1
                        continue
                    if changed <= born:
                        continue  # the state it was born in: no news
                    sent = posted.get((task_id, key)) if callbacks else None
                    real = None if sent is None else (real_now - sent) * 1000
                    seen.append(_Seen(now - changed, key[0] in TERMINAL, real))

            async with asyncio.TaskGroup() as group:
                for i, at in enumerate(arrivals):
                    group.create_task(follow(at, f"callback task {i}"))
        queries = (sim.counters["fetch"] + sim.counters["list-by-condition"]) / tasks
    return seen, queries, unmatched


def _row(label: str, seen: Sequence[_Seen], queries: float) -> tuple[str | float, ...]:
    every = [s.latency for s in seen] or [0.0]
    ends = [s.latency for s in seen if s.terminal] or [0.0]
    real = [s.real_ms for s in seen if s.real_ms is not None]
    p90 = statistics.quantiles(every, n=10)[-1] if len(every) > 1 else every[0]
    return (
        label,
        len(seen),
        median(every),
        p90,
        median(ends),
        median(every) / _INTERVAL,
        median(real) if real else "-",
        queries,
    )


async def _measure(config: Config) -> Result:
    rows = []
    unmatched = 0
    for tasks, over in config.loads:
        for callbacks, side in ((False, "polling only"), (True, "callbacks on")):
            seen, queries, missed = await _run(tasks, over, config.seed, callbacks=callbacks)
            rows.append(_row(f"{side}, {tasks} tasks over {over:g} s", seen, queries))
            unmatched += missed
    table = Table(
        "Seconds (simulated) from an upstream change to its event",
        (
            "client, load",
            "changes",
            "median s",
            "p90 s",
            "terminal median s",
            "median / interval",
            "real ms, median",
            "queries per task",
        ),
        tuple(rows),
    )
    notes = (
        (
            f"interval = PollPolicy().interval = {_INTERVAL:g} s; while callbacks flow a task is "
            f"polled every reconcile_interval = {PollPolicy().reconcile_interval:g} s"
        ),
        (
            "the polling side's latency includes the gateway's refresh lag, which no poller beats; "
            "the callbacks side learns every progress step, polling only those a refresh showed"
        ),
        (
            "queries: one list-by-condition covers up to 100 tasks, so a burst of tasks costs few "
            "requests either way; spread out, each task's own polls are what callbacks save"
        ),
        (
            "real ms: from the simulator deciding to post a change to the consumer's event, "
            "over loopback (callbacks side only)"
        ),
        f"events whose state the upstream never showed: {unmatched} (not counted)",
    )
    return Result("9. Callbacks", (table,), (), notes)


def run(config: Config = FULL) -> Result:
    """Run both sides; report medians."""
    return asyncio.run(_measure(config))


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(QUICK if "--quick" in argv else FULL)))


if __name__ == "__main__":
    main(sys.argv[1:])
