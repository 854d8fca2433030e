"""What every part of one simulated server shares: clock, timings, tasks, where it listens."""

from __future__ import annotations

import attrs

from onechat_async._clock import Clock

from ._lifecycle import Timings
from ._store import Store

__all__ = ["Context"]


@attrs.define(eq=False)
class Context:
    """The shared state of one simulator; ``base_url`` is set once it listens."""

    clock: Clock
    timings: Timings
    store: Store
    #: Clock time the gateway's poller started ticking from.
    origin: float
    #: Wall time minus clock time, for epoch-millisecond fields.
    wall_offset: float
    base_url: str = ""

    def wall(self) -> float:
        """The wall time now, in seconds."""
        return self.clock.wall()
