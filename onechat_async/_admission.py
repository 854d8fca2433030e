"""Account-aware admission: how many submits may be in flight, and who goes next.

One upstream account runs 3 tasks and queues 10; what it refuses beyond that comes back as
``QueueFullError``. A semaphore around submits does not bound that queue (tasks stay in it
long after their submit returned), so admission counts *tasks in flight*: a permit is taken
before a submit is sent and given back when its task ends, and permits live in the store, so
every worker on the same store counts against the same number.

:class:`Window` is the pure rule (additive increase, multiplicative decrease) for how many
permits to allow; :class:`AdmissionGate` is the asyncio shell that makes submits wait for
one, first come first served.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import attrs

from ._clock import Clock
from ._store import Store

__all__ = ["LEARNED_START", "AdmissionGate", "Ticket", "Window"]

#: Where a learned window (no ``max_in_flight``) starts: the waiting room of the usual
#: 3 running + 10 queued account, which keeps its three slots busy without a refusal.
LEARNED_START = 10


@attrs.frozen
class Window:
    """How many tasks may be in flight: grows slowly on success, halves on a queue-full refusal.

    A window starts at ``max_in_flight`` and never leaves ``[1, max_in_flight]``; with
    ``max_in_flight=None`` it starts at :data:`LEARNED_START` and has no ceiling: the
    account's refusals alone say where it stops. Each accepted submit adds ``1 / limit`` (so
    a whole window of successes adds one); a queue-full refusal multiplies it by
    ``decrease``, once per ``epoch``: the refusals of submits admitted before the last
    decrease say nothing new, so they do not shrink it again.
    """

    max_in_flight: int | None
    decrease: float = 0.5
    size: float = attrs.field(
        default=attrs.Factory(
            lambda self: float(LEARNED_START if self.max_in_flight is None else self.max_in_flight),
            takes_self=True,
        )
    )
    epoch: int = 0

    def __attrs_post_init__(self) -> None:
        if self.max_in_flight is not None and self.max_in_flight < 1:
            msg = f"max_in_flight must be at least 1, not {self.max_in_flight}"
            raise ValueError(msg)
        if not 0.0 < self.decrease < 1.0:
            msg = f"decrease must be between 0 and 1, not {self.decrease}"
            raise ValueError(msg)

    @property
    def limit(self) -> int:
        """The number of permits allowed now."""
        return max(1, int(self.size))

    def grown(self) -> Window:
        """The window after a submit was accepted."""
        size = self.size + 1 / self.limit
        if self.max_in_flight is not None:
            size = min(float(self.max_in_flight), size)
        return attrs.evolve(self, size=size)

    def shrunk(self, epoch: int) -> Window:
        """The window after a queue-full refusal of a submit admitted at ``epoch``."""
        if epoch != self.epoch:
            return self
        return attrs.evolve(self, size=max(1.0, self.size * self.decrease), epoch=self.epoch + 1)


@attrs.frozen
class Ticket:
    """A permit held for one submit: its name in the store and the window epoch it came in.

    ``pressed``: the window was full when it was admitted (it waited, others waited behind
    it, or it took the last slot). Only such submits grow the window: successes of a worker
    that never fills its window prove nothing about a larger one, and a window grown on them
    would let a later burst overflow the account many times over.
    """

    name: str
    epoch: int
    pressed: bool = attrs.field(default=False, eq=False)


class AdmissionGate:
    """Makes submits wait, in order of arrival, until the account has room for one more task.

    Only the first waiter asks the store; it asks again when a permit is given back in this
    process, and every ``recheck`` seconds for those given back by other workers (or expired
    with a dead one). Held permits expire ``ttl`` seconds after they were taken or renewed,
    so a worker must :meth:`renew` the permits of its tasks more often than that.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_in_flight: int | None,
        clock: Clock,
        ttl: float = 300.0,
        recheck: float = 2.0,
        decrease: float = 0.5,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._recheck = recheck
        self._window = Window(max_in_flight, decrease=decrease)
        self._queue: deque[asyncio.Future[None]] = deque()
        self._active = False
        self._room = asyncio.Event()
        # The permits this gate took and still holds: a lower bound of the account's count
        # (other workers hold the rest), enough to tell a full window from an idle one.
        self._mine: set[str] = set()

    @property
    def window(self) -> Window:
        """The current window (for logs and tests)."""
        return self._window

    @property
    def waiting(self) -> int:
        """How many submits wait for their turn (not counting the one asking the store)."""
        return sum(1 for turn in self._queue if not turn.done())

    async def acquire(self, name: str, *, first: bool = False) -> Ticket:
        """Wait for permit ``name``; ``first`` jumps the queue (a refused submit tried again)."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if first:
            self._queue.appendleft(turn)
        else:
            self._queue.append(turn)
        self._pass_turn()
        try:
            await turn
            waited = False
            while True:
                self._room.clear()
                limit = self._window.limit
                if await self._store.acquire_permit(
                    name, limit=limit, now=self._clock.wall(), ttl=self._ttl
                ):
                    self._mine.add(name)
                    pressed = waited or self.waiting > 0 or len(self._mine) >= limit
                    return Ticket(name, self._window.epoch, pressed=pressed)
                waited = True
                await self._wait_for_room()
        finally:
            if turn.done() and not turn.cancelled():
                # This call had the turn (and may have been cancelled holding it): pass it on.
                self._active = False
            self._pass_turn()

    async def accepted(self, ticket: Ticket, task_id: str) -> None:
        """The submit made task ``task_id``: its permit now stands for the task."""
        if ticket.pressed:
            self._window = self._window.grown()
        self._mine.add(task_id)
        if task_id != ticket.name:
            # Take the task's permit before dropping the submit's: never undercount.
            await self._store.acquire_permit(
                task_id, limit=None, now=self._clock.wall(), ttl=self._ttl
            )
            await self._store.release_permit(ticket.name)
            self._mine.discard(ticket.name)
        self._room.set()

    async def refused(self, ticket: Ticket, *, queue_full: bool) -> None:
        """The submit made no task; a queue-full refusal also shrinks the window."""
        if queue_full:
            self._window = self._window.shrunk(ticket.epoch)
        self._mine.discard(ticket.name)
        await self._store.release_permit(ticket.name)
        self._room.set()

    async def adopt(self, task_id: str) -> None:
        """Count a task already in flight (taken over from another worker), whatever the window."""
        await self._store.acquire_permit(task_id, limit=None, now=self._clock.wall(), ttl=self._ttl)
        self._mine.add(task_id)

    async def release(self, name: str) -> None:
        """The task (or submit) ``name`` no longer occupies the account."""
        self._mine.discard(name)
        await self._store.release_permit(name)
        self._room.set()

    async def renew(self, names: Sequence[str]) -> None:
        """Keep the permits of ``names`` for another ``ttl`` seconds."""
        await self._store.renew_permits(names, now=self._clock.wall(), ttl=self._ttl)

    def _pass_turn(self) -> None:
        if self._active:
            return
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)
                self._active = True
                return

    async def _wait_for_room(self) -> None:
        room = asyncio.ensure_future(self._room.wait())
        nap = asyncio.ensure_future(self._clock.sleep(self._recheck))
        try:
            await asyncio.wait({room, nap}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            room.cancel()
            nap.cancel()

    def __repr__(self) -> str:
        return f"AdmissionGate(limit={self._window.limit}, waiting={self.waiting})"
