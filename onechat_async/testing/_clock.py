"""Clocks for tests: one that moves only when told, one that runs faster than real time.

Both satisfy :class:`onechat_async._clock.Clock`, so a client and the simulator can share
one instance and agree on what "15 s later" means.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Iterator

__all__ = ["DEFAULT_START_WALL", "ManualClock", "ScaledClock"]

#: Loop turns an auto-advancing clock waits for the loop to be idle before it jumps anyway
#: (a coroutine that yields in a busy loop must not stop time for ever).
_MAX_HOPS = 10_000
#: 2025-06-15T00:00:00Z: a fixed, recent epoch so that ids and timestamps look real.
DEFAULT_START_WALL = 1_749_945_600.0


class ManualClock:
    """A clock whose time moves only by :meth:`advance`.

    By default :meth:`sleep` yields to the loop and returns once some other coroutine has
    advanced the clock past the deadline: the test decides when time passes. With
    ``auto_advance=True`` the clock moves by itself, like a discrete-event simulation: when
    someone sleeps, it jumps to the earliest sleeper's deadline, which lets a polling client
    and the simulator run an hour of clock time in a few milliseconds with no test code in
    between. It never jumps while real work is outstanding: the client holds :meth:`busy`
    while a request is in flight, so a request on loopback takes no clock time at all.
    """

    def __init__(
        self,
        *,
        start_wall: float = DEFAULT_START_WALL,
        start: float = 0.0,
        auto_advance: bool = False,
    ) -> None:
        self._now = float(start)
        self._wall_offset = float(start_wall) - float(start)
        self._auto = auto_advance
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._busy = 0
        self._stepping = False
        self._hops = 0

    def now(self) -> float:
        """The current clock time in seconds."""
        return self._now

    def wall(self) -> float:
        """Epoch seconds, moving in step with :meth:`now`."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of clock time (see the class docstring for who moves it)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        if self._auto:
            self._schedule_step()
        await future

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Hold the clock still (auto-advance only) while real work is in flight."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            if self._auto and not self._busy and self._sleepers:
                self._schedule_step()

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        """Inside :meth:`busy`: this holder now waits on the clock, not on real work."""
        # A request from a client that does not hold the clock (a plain aiohttp session in a
        # test) has nothing to give back.
        held = self._busy > 0
        if held:
            self._busy -= 1
            if self._auto and not self._busy:
                self._schedule_step()
        try:
            yield
        finally:
            if held:
                self._busy += 1

    def _schedule_step(self) -> None:
        if not self._stepping:
            self._stepping = True
            asyncio.get_running_loop().call_soon(self._step)

    def _step(self) -> None:
        self._stepping = False
        if self._busy:
            return
        # Time jumps only when nothing else is ready to run: a coroutine woken a moment ago
        # must see the time it was woken at. asyncio keeps its ready callbacks in the private
        # ``_ready``; a loop without it (uvloop) gets one turn, as with asyncio.sleep(0).
        ready = getattr(asyncio.get_running_loop(), "_ready", ())
        if ready and self._hops < _MAX_HOPS:
            self._hops += 1
            self._schedule_step()
            return
        self._hops = 0
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        if self._sleepers:
            self.advance(max(0.0, self._sleepers[0][0] - self._now))

    @property
    def sleepers(self) -> int:
        """How many coroutines are waiting for the clock to move (cancelled ones excluded)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r}, auto_advance={self._auto!r})"


class ScaledClock:
    """Real time multiplied by ``speed``: at ``speed=1000`` a 15 s wait takes 15 ms.

    :meth:`now` starts at 0 when the clock is made; :meth:`wall` starts at ``start_wall``
    (default: the real time then) and moves at the same accelerated pace.
    """

    def __init__(self, speed: float = 100.0, *, start_wall: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._origin = time.monotonic()
        self._start_wall = time.time() if start_wall is None else float(start_wall)

    def now(self) -> float:
        """Clock seconds since the clock was made."""
        return (time.monotonic() - self._origin) * self.speed

    def wall(self) -> float:
        """Epoch seconds, running ``speed`` times faster than real ones."""
        return self._start_wall + self.now()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of clock time, that is ``seconds / speed`` of real time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self.speed!r})"
