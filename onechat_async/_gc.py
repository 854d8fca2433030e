"""Short full garbage collections while a large watch set is tracked.

A full collection walks every container object in the process; 100,000 tracked tasks are a few
million of them, and the walk stalls the event loop for 100 ms and more. Almost all of them
live long and are freed by reference counting, never by the collector: walking them again and
again finds nothing.

So while some poller tracks at least ``PollPolicy.freeze_gc_above`` tasks, every collection of
the middle generation or the oldest is followed by :func:`gc.freeze`: what survived it moves to
the permanent generation, and the next full collection walks only what became long-lived since.
Not after full collections only: at 100,000 tasks a third of the snapshots are replaced every
interval, so five seconds of survivors were 100 to 270 ms of walking per full pass (measured,
``benchmarks.bench_scale``), every pass collecting nothing. A middle-generation collection
comes every few thousand surviving allocations, and its survivors were just checked for cycles;
freezing is a constant-time splice. Garbage is collected before each freeze, so only cycles
that die *after* a freeze wait: they are collected once no poller tracks a large watch set any
more (:func:`gc.unfreeze`). Reference counting frees frozen objects as usual. A process that
froze objects itself (before forking workers, say) is left alone.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

__all__ = ["GcGuard"]

#: Guards of pollers that track a large watch set now (weak: a poller dropped unclosed leaves).
_engaged: weakref.WeakSet[GcGuard] = weakref.WeakSet()
#: Whether a collection of the middle generation or the oldest ran since the last freeze (set by
#: the gc callback).
_collected = [False]


def _note_collection(phase: str, info: dict[str, Any]) -> None:
    # Only a note: freezing inside the collector's own callback is not ours to risk.
    if phase == "stop" and info.get("generation", 0) >= 1:
        _collected[0] = True


class GcGuard:
    """One poller's share in the process-wide freezing; see the module docstring."""

    __slots__ = ("__weakref__", "_above")

    def __init__(self, above: int | None) -> None:
        self._above = above

    @property
    def engaged(self) -> bool:
        """Whether this poller's watch set counts as large now."""
        return self in _engaged

    def update(self, tracked: int) -> None:
        """The poller tracks ``tracked`` tasks: engage, freeze or let go as needed."""
        above = self._above
        if above is None:
            return
        if self in _engaged:
            # Half the threshold to let go, so a watch set hovering near it does not flap.
            if tracked < above // 2:
                self.release()
            elif _collected[0]:
                _collected[0] = False
                gc.freeze()
        elif tracked >= above and (_engaged or gc.get_freeze_count() == 0):
            if not _engaged:
                gc.callbacks.append(_note_collection)
                _collected[0] = False
            _engaged.add(self)

    def release(self) -> None:
        """This poller no longer tracks a large watch set (or is closing)."""
        if self not in _engaged:
            return
        _engaged.discard(self)
        if not _engaged:
            gc.callbacks.remove(_note_collection)
            _collected[0] = False
            # Back into the oldest generation: cycles that died frozen are collected again.
            gc.unfreeze()
