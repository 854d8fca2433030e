"""What the real-time benchmarks against the farm share: its controls, and the measurements.

:class:`Recorder` turns "the consumer saw task ``i`` in state ``k`` at ``now``" into latencies
from the moment each change became visible (known from the farm's :class:`Schedule`), in a
histogram allocated up front so that measuring does not grow the memory being measured.
:class:`LagProbe` is a coroutine measuring its own lateness: the event loop's lag.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from array import array
from typing import Any

import aiohttp
import attrs

from onechat_async import Task

from ._farm import Schedule

__all__ = [
    "GcProbe",
    "LagProbe",
    "Recorder",
    "farm_requests",
    "process_cpu",
    "rss_bytes",
    "set_schedule",
    "state_of_raw",
    "state_of_task",
]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """This process's resident set size, from ``/proc/self/statm`` (allocator overhead in)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) another process has used, from ``/proc/PID/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields after the command name, which may hold spaces: utime and stime are 14 and 15.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def set_schedule(session: aiohttp.ClientSession, url: str, schedule: Schedule) -> None:
    """Give the farm its schedule (it serves nothing before)."""
    async with session.post(f"{url}/schedule", json=attrs.asdict(schedule)) as resp:
        resp.raise_for_status()


async def farm_requests(session: aiohttp.ClientSession, url: str) -> int:
    """Query requests the farm has served so far (list-by-condition and fetch)."""
    async with session.get(f"{url}/stats") as resp:
        counts: dict[str, int] = await resp.json()
    return counts["list"] + counts["fetch"]


def state_of_raw(schedule: Schedule, raw: dict[str, Any]) -> int:
    """The schedule state a raw task object shows."""
    progress = str(raw.get("progress") or "0%").rstrip("%")
    return schedule.state_of(str(raw.get("status")), int(progress) if progress.isdigit() else 0)


def state_of_task(schedule: Schedule, task: Task) -> int:
    """The schedule state a decoded task shows."""
    return schedule.state_of(task.status.value, task.progress)


class Recorder:
    """Latencies from a change becoming visible to the consumer learning of it.

    A change skipped over (two changes between polls) counts as learnt when a later state is.
    Only changes made inside ``[since, until]`` count; :meth:`finish` counts those never
    learnt as censored.
    """

    _BIN = 0.002
    _BINS = 150_000  # 5 minutes in 2 ms bins

    def __init__(
        self, schedule: Schedule, *, since: float, until: float, start: float | None = None
    ) -> None:
        self._schedule = schedule
        self._since = since
        self._until = until
        # What each task showed when following began (``start``): knowing it is no news.
        begun = since if start is None else start
        self._last = array("i", (schedule.state(i, begun) for i in range(schedule.tasks)))
        self._hist = array("I", bytes(4 * self._BINS))
        self.learnt = 0
        self.censored = 0

    def saw(self, i: int, k: int, now: float) -> None:
        """The consumer learnt that task ``i`` is in state ``k`` at ``now``."""
        last = self._last[i]
        if k <= last:
            return
        self._last[i] = k
        for j in range(last + 1, k + 1):
            at = self._schedule.changed_at(i, j)
            if self._since <= at <= self._until:
                self._hist[min(self._BINS - 1, int(max(0.0, now - at) / self._BIN))] += 1
                self.learnt += 1

    def finish(self, now: float) -> None:
        """Count the changes made in the window that nobody learnt of by ``now``."""
        s = self._schedule
        for i in range(s.tasks):
            for j in range(self._last[i] + 1, s.state(i, min(now, self._until)) + 1):
                if self._since <= s.changed_at(i, j):
                    self.censored += 1

    def quantile(self, q: float) -> float:
        """The ``q`` quantile in seconds; ``inf`` when it falls among the never learnt."""
        total = self.learnt + self.censored
        if not total:
            return 0.0
        rank = q * total
        seen = 0
        for index, count in enumerate(self._hist):
            seen += count
            if seen >= rank and count:
                return (index + 0.5) * self._BIN
        return float("inf")


class LagProbe:
    """A coroutine that wakes every ``period`` and records how late it woke."""

    def __init__(self, period: float = 0.01, *, capacity: int = 100_000) -> None:
        self._period = period
        self._lags = array("d", bytes(8 * capacity))
        self._count = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while self._count < len(self._lags):
            due = time.monotonic() + self._period
            await asyncio.sleep(self._period)
            self._lags[self._count] = max(0.0, time.monotonic() - due)
            self._count += 1

    def start(self) -> None:
        """Start measuring."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop measuring."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the lateness, in seconds."""
        lags = sorted(self._lags[: self._count])
        return lags[min(len(lags) - 1, int(q * len(lags)))] if lags else 0.0

    @property
    def worst(self) -> float:
        """The largest lateness seen."""
        return max(self._lags[: self._count], default=0.0)


class GcProbe:
    """The garbage collector's full (oldest-generation) passes while it is on: count and worst.

    A full pass stops the event loop for as long as it walks; with the poller's freeze
    (:mod:`onechat_async._gc`) it should walk only what became long-lived since the last one.
    """

    def __init__(self) -> None:
        self.full = 0
        self.worst = 0.0
        self._began = 0.0

    def _note(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:  # the oldest generation
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.full += 1
            self.worst = max(self.worst, time.perf_counter() - self._began)

    def start(self) -> None:
        """Start noting full passes."""
        gc.callbacks.append(self._note)

    def stop(self) -> None:
        """Stop noting."""
        gc.callbacks.remove(self._note)
