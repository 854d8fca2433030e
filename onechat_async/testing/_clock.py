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
from collections import deque
from collections.abc import Iterator

__all__ = ["DEFAULT_START_WALL", "ManualClock", "ScaledClock"]

#: Loop turns an auto-advancing clock waits for the loop to be idle before it jumps anyway
#: (a coroutine that yields in a busy loop must not stop time for ever).
_MAX_HOPS = 10_000
#: How many waits ``ManualClock(record=True)`` keeps: the latest ones, so a long run stays small.
_RECORD_LIMIT = 10_000
#: 2025-06-15T00:00:00Z: a fixed, recent epoch so that ids and timestamps look real.
DEFAULT_START_WALL = 1_749_945_600.0


class ManualClock:
    """A clock whose time moves only by :meth:`advance`: the one clock of this project's tests.

    By default :meth:`sleep` yields to the loop and returns once some other coroutine has
    advanced the clock past the deadline: the test decides when time passes. With
    ``auto_advance=True`` the clock moves by itself, like a discrete-event simulation: whenever
    the event loop has nothing ready to run and nobody holds :meth:`busy`, it jumps to the
    earliest sleeper's deadline and wakes it, which lets a polling client and the simulator
    run an hour of clock time in a few milliseconds with no test code in between. It never
    jumps while real work is outstanding: the client holds :meth:`busy` while a request is
    in flight, so a request on loopback takes no clock time at all.

    For tests that assert on time, ``record=True`` keeps every wait asked of :meth:`sleep`
    (see :attr:`slept`); :meth:`settle` drives the loop until nothing is ready to run, to
    check that nothing happened; :meth:`wait_for_sleepers` waits until something blocks on
    the clock.

    :param start_wall: The wall-clock time (:meth:`wall`) at the start, in epoch seconds
        (default: a fixed date in June 2025, so runs repeat).
    :param start: The monotonic time (:meth:`now`) at the start.
    :param auto_advance: Jump to the next sleeper's deadline whenever nothing else can run.
    :param record: Keep every wait asked of :meth:`sleep` in :attr:`slept`.

    ```python
    clock = ManualClock(auto_advance=True)
    async with Simulator(clock=clock) as sim, OneChatClient(
        api_key="sk-test", base_url=sim.url, clock=clock
    ) as client:
        await client.submit_and_wait(client.imagine("a fox"))  # a minute, in milliseconds
    ```
    """

    def __init__(
        self,
        *,
        start_wall: float = DEFAULT_START_WALL,
        start: float = 0.0,
        auto_advance: bool = False,
        record: bool = False,
    ) -> None:
        self._now = float(start)
        self._wall_offset = float(start_wall) - float(start)
        self._auto = auto_advance
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._busy = 0
        self._stepping = False
        self._hops = 0
        self._slept: deque[float] | None = deque(maxlen=_RECORD_LIMIT) if record else None
        self._watchers: list[tuple[int, asyncio.Future[None]]] = []

    def now(self) -> float:
        """The current clock time in seconds."""
        return self._now

    def wall(self) -> float:
        """Epoch seconds, moving in step with :meth:`now`."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed.

        :param seconds: How far to move, in clock seconds.
        :raises ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of clock time (see the class docstring for who moves it).

        :param seconds: Clock seconds to wait (0 or less: just yield to the loop).
        """
        if self._slept is not None:
            self._slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        if self._watchers:
            self._wake_watchers()
        if self._auto:
            self._schedule_step()
        await future

    @property
    def slept(self) -> list[float]:
        """The waits asked of :meth:`sleep`, in order (zero ones too); needs ``record=True``.

        Only the latest 10,000 are kept, so a long run stays small.
        """
        if self._slept is None:
            raise RuntimeError("this ManualClock keeps no record of its waits: pass record=True")
        return list(self._slept)

    async def settle(self) -> None:
        """Yield to the loop until nothing else is ready to run; time does not move.

        Then every coroutine waits on something: this clock, an event, or I/O that has not
        arrived yet (a loopback answer still on its way is not waited for). Use it to see that
        nothing happened: ``clock.advance(600); await clock.settle(); assert ...``. On a loop
        that hides its ready queue (uvloop) it yields once.
        """
        loop = asyncio.get_running_loop()
        for _ in range(_MAX_HOPS):
            await asyncio.sleep(0)
            # An auto-advancing clock's own pending step waits for us: it is not work.
            if _ready(loop) <= int(self._stepping):
                return
        raise RuntimeError(f"the event loop was still busy after {_MAX_HOPS} turns")

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Return once at least ``count`` coroutines sleep on this clock.

        For work that blocks on the clock at the end of real I/O (a simulator handler that
        takes clock time): wait for it to block, then :meth:`advance`. It waits for ever if
        nothing comes: guard it with :func:`asyncio.timeout`.

        :param count: How many sleepers to wait for.
        """
        if self.sleepers >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.append((count, future))
        try:
            await future
        finally:
            self._watchers = [(n, f) for n, f in self._watchers if f is not future]

    def _wake_watchers(self) -> None:
        sleepers = self.sleepers
        for count, future in self._watchers:
            if count <= sleepers and not future.done():
                future.set_result(None)

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
        if _ready(asyncio.get_running_loop()) and self._hops < _MAX_HOPS:
            self._hops += 1
            self._schedule_step()
            return
        self._hops = 0
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        if self._sleepers:
            self.advance(max(0.0, self._sleepers[0][0] - self._now))
        # The woken may never sleep again (a stream that ended, a guard's alarm still set):
        # those who still sleep must wake in their turn all the same.
        if self._sleepers:
            self._schedule_step()

    @property
    def sleepers(self) -> int:
        """How many coroutines are waiting for the clock to move (cancelled ones excluded)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r}, auto_advance={self._auto!r})"


def _ready(loop: asyncio.AbstractEventLoop) -> int:
    """How many callbacks the loop has ready to run (0 when it does not say: uvloop)."""
    # asyncio keeps them in the private ``_ready``; nothing public tells an idle loop.
    return len(getattr(loop, "_ready", ()))


class ScaledClock:
    """Real time multiplied by ``speed``: at ``speed=1000`` a 15 s wait takes 15 ms.

    :meth:`now` starts at 0 when the clock is made; :meth:`wall` starts at ``start_wall``
    (default: the real time then) and moves at the same accelerated pace.

    :param speed: How many clock seconds pass per real second.
    :param start_wall: The wall-clock time at the start, in epoch seconds (default: now).
    :raises ValueError: ``speed`` is not positive.
    :ivar speed: How many clock seconds pass per real second.
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
        """Wait ``seconds`` of clock time, that is ``seconds / speed`` of real time.

        :param seconds: Clock seconds to wait.
        """
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self.speed!r})"
