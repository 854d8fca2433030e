"""Time as a value the library is handed, never one it reads behind the caller's back.

Everything that waits or measures elapsed time goes through a :class:`Clock`, so tests
(and the simulator) can run hours of polling in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """A monotonic time source that can also wait.

    A simulated clock may also offer ``busy()``, a context manager that the client holds
    while a request is in flight, so that simulated time does not jump past real work (see
    :class:`onechat_async.testing.ManualClock`).
    """

    def now(self) -> float:
        """Seconds on a monotonic scale; only differences are meaningful."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, as the server's timestamps count them."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of this clock's time.

        :param seconds: How long, in this clock's seconds (0 or less: just yield to the loop).
        """
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`.

    What a client, a receiver and a simulator use when given no ``clock=``; it implements
    :class:`Clock`.
    """

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"
