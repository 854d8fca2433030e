"""The client's durable side: journaled submits, task leases, admission and ``resume()``.

:class:`Durable` wires the pieces that already exist (:class:`._keyed.SubmitJournal`,
:class:`._task_journal.TaskJournal`, :class:`._admission.AdmissionGate`) for one client:

- every submit goes through the submit journal when the client has a store or a
  ``max_in_flight`` (a keyed submit always does: without a store it uses a private
  :class:`~onechat_async.stores.MemoryStore`, idempotent within this process only);
- every event of a task this worker holds is journaled before the consumer sees it, and
  numbered (``TaskEvent.seq``); an event of a task another worker took over is dropped;
- a heartbeat renews the leases (and admission permits) of held tasks every ``ttl / 3``;
- :class:`ResumeStream` follows every unfinished task of the store, taking over those whose
  worker died, until none is left.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Self

import attrs

from . import _follow
from . import _journal as journal
from ._admission import AdmissionGate
from ._clock import Clock
from ._errors import OneChatError, QueueFullError
from ._events import Event, Stalled, SubmitFailed, Submitted, TimedOut
from ._keyed import Retry, SubmitJournal
from ._models import SubmitResult, Task
from ._poller import Poller, Subscription
from ._store import Store
from ._task_journal import TaskJournal
from .stores import MemoryStore

__all__ = ["Durable", "ResumeStream", "retry_for", "snapshot_of"]

_log = logging.getLogger("onechat_async")
#: How many tasks' recent numbered events are remembered (to number an event seen twice once).
_RECENT_TASKS = 4096
#: The longest time between two looks for expired journal records (seconds).
_PRUNE_EVERY = 3600.0
#: How many tasks made before admission woke it counts (an account holds 13; ended ones
#: are let go at their first poll).
_RECENT_UNJOURNALED = 64


def snapshot_of(event: Event) -> dict[str, Any]:
    """What the journal keeps of an event: its kind and the task's main fields (camelCase)."""
    task: Task | None = getattr(event, "task", None)
    data: dict[str, Any] = {"event": type(event).__name__}
    if task is not None:
        data["task"] = {
            "id": task.id,
            "status": task.status.value,
            "progress": task.progress,
            "state": task.state,
            "imageUrl": task.image_url,
            "failReason": task.fail_reason,
        }
    return data


class Durable:
    """One client's journal, leases, admission gate and heartbeat (see the module docstring)."""

    def __init__(
        self,
        store: Store | None,
        *,
        max_in_flight: int | Literal["auto"] | None,
        clock: Clock,
        poller: Poller,
        lease_ttl: float,
        send_ttl: float,
        key_ttl: float | None = None,
    ) -> None:
        self.poller = poller
        self.owns_store = store is None
        self.store: Store = store if store is not None else MemoryStore()
        #: Whether unkeyed submits are journaled too (a store was given, or admission is on).
        #: The default ("auto") without a store starts dormant: see :meth:`wake`.
        self.journal_all = store is not None or max_in_flight not in {None, "auto"}
        # Dormant: the last tasks made outside the journal, to count once admission wakes.
        self._recent: collections.deque[str] | None = (
            collections.deque(maxlen=_RECENT_UNJOURNALED) if not self.journal_all else None
        )
        self._woken: asyncio.Future[None] | None = None
        self._adopting: set[asyncio.Task[None]] = set()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.gate = (
            None
            if max_in_flight is None
            else AdmissionGate(
                self.store,
                # "auto": a window that learns the account's size from its refusals.
                max_in_flight=None if max_in_flight == "auto" else max_in_flight,
                clock=clock,
                ttl=lease_ttl,
                recheck=min(2.0, lease_ttl / 3),
            )
        )
        self.submits = SubmitJournal(
            store=self.store,
            owner=self.owner,
            clock=clock,
            send_ttl=send_ttl,
            task_ttl=lease_ttl,
            gate=self.gate,
            wait_poll=min(1.0, lease_ttl / 3),
            keep=key_ttl,
        )
        self.tasks = TaskJournal(
            self.store, owner=self.owner, clock=clock, ttl=lease_ttl, gate=self.gate, keep=key_ttl
        )
        self._holding = self.tasks.holding
        # Settled keys and ended tasks are dropped from the store after key_ttl, looked for
        # at most every _PRUNE_EVERY seconds (or key_ttl / 2 if shorter), from the submits.
        self._prune_every = None if key_ttl is None else min(_PRUNE_EVERY, key_ttl / 2)
        self._pruned_at = -math.inf
        self._pruner: asyncio.Task[None] | None = None
        # Tasks another worker took from us: their events are dropped until they end.
        self._lost: set[str] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        # The keeper follows every held task until it ends, whether or not anyone else does:
        # its end must be journaled and its admission permit given back.
        self._keeper_sub: Subscription | None = None
        self._keeper: asyncio.Task[None] | None = None
        # The numbered copy of each recent event, per task: a stream that sees the same event
        # object (the keeper and a consumer's stream both do) gets the same number.
        self._stamped: collections.OrderedDict[str, list[tuple[Event, Event | None]]] = (
            collections.OrderedDict()
        )
        self._locks: dict[str, asyncio.Lock] = {}

    async def submit(
        self,
        key: str | None,
        send: Callable[[], Awaitable[SubmitResult]],
        *,
        tag: str,
        retry: Retry | None,
    ) -> SubmitResult:
        """Send through the journal; the new task is held (tracked) by this worker."""
        self._prune_if_due()
        result = await self.submits.submit(key, send, tag=tag, retry=retry)
        try:
            # A replayed key's task may be held by nobody now (its worker died): take it.
            if self.tasks.record(result.task_id) is None:
                await self.tasks.take(result.task_id)
        except Exception as exc:  # noqa: BLE001 - the task exists: its result must get through
            _log.error("could not take the lease of a new task: %s", type(exc).__name__)
        self.keep([result.task_id])
        return result

    def made(self, task_id: str) -> None:
        """A task made outside the journal (dormant admission): remember it for :meth:`wake`."""
        if self._recent is not None:
            self._recent.append(task_id)
        elif self.gate is not None and self._woken is not None:
            # Its submit left before admission woke: count it now, and let it go at its end.
            adopting = asyncio.get_running_loop().create_task(self._adopt([task_id]))
            self._adopting.add(adopting)  # a task nobody references may be collected
            adopting.add_done_callback(self._adopting.discard)

    async def wake(self) -> bool:
        """The account refused a submit for a full queue: admission from now on, if it may.

        A client with the default ``max_in_flight`` and no store sends its submits straight
        out (no journal, no background tracking) until its account first says it is full.
        From then on every submit goes through the journal and the admission gate, and the
        tasks it made just before (the ones filling the account) are counted and followed
        until they end. False: admission is off (``max_in_flight=None``), raise the refusal.
        """
        if self.gate is None:
            return False
        if self._woken is None:
            self._woken = asyncio.get_running_loop().create_future()
            recent, self._recent = list(self._recent or ()), None
            self.journal_all = True
            _log.info("the account is full: admission on, %d recent tasks counted", len(recent))
            try:
                await self._adopt(recent)
            finally:
                self._woken.set_result(None)
        await asyncio.shield(self._woken)
        return True

    async def _adopt(self, task_ids: list[str]) -> None:
        now = self.clock.wall()
        try:
            for task_id in task_ids:
                record = journal.new_task(
                    task_id, key="", owner=self.owner, now=now, ttl=self.lease_ttl
                )
                await self.store.swap_task(0, record)
                await self.tasks.take(task_id)
        except Exception as exc:  # noqa: BLE001 - counting less only risks a refusal
            _log.error("could not count the tasks made before admission: %s", type(exc).__name__)
        self.keep(task_ids)

    def _prune_if_due(self) -> None:
        if self._prune_every is None or (self._pruner is not None and not self._pruner.done()):
            return
        now = self.clock.wall()
        if now - self._pruned_at < self._prune_every:
            return
        self._pruned_at = now
        self._pruner = asyncio.get_running_loop().create_task(
            self._prune(now), name="onechat-async journal pruning"
        )

    async def _prune(self, now: float) -> None:
        try:
            dropped = await self.store.prune(now=now)
        except Exception as exc:  # noqa: BLE001 - pruning is housekeeping: try again later
            _log.error("could not prune the journal: %s", type(exc).__name__)
            return
        if dropped:
            _log.info("dropped %d expired journal records", dropped)

    def keep(self, task_ids: list[str]) -> None:
        """Follow the held ones of ``task_ids`` in the background until they end."""
        held = [task_id for task_id in task_ids if self.tasks.record(task_id) is not None]
        if not held:
            return
        if self._keeper_sub is None:
            self._keeper_sub = self.poller.open(pending=1)
            self._keeper = asyncio.get_running_loop().create_task(
                self._keep_forever(self._keeper_sub), name="onechat-async journal keeper"
            )
        self._keeper_sub.follow(held)
        self.beat()

    async def _keep_forever(self, sub: Subscription) -> None:
        with contextlib.suppress(OneChatError):  # the client closed
            while True:
                event = await sub.next()
                await self.journal(event)
                if isinstance(event, TimedOut) and self.gate is not None:
                    # The poll deadline passed (the keeper has no deadline of its own): an
                    # upstream that lost the task leaves it "in progress" for good, and its
                    # permit would shrink the account's room for good. It stays journaled
                    # (resume() still follows it); it no longer counts as in flight.
                    await self.gate.release(event.task_id)

    def concerns(self, event: Event) -> bool:
        """Whether ``event`` belongs to a task journaled here (or lost to another worker)."""
        task_id = event.task_id
        return task_id in self._stamped or task_id in self._lost or task_id in self._holding

    async def journal(self, event: Event) -> Event | None:
        """The event numbered after its state was journaled; None: another worker has it."""
        if not self.concerns(event):
            return event  # not journaled here: every event of a client without a store
        task_id = event.task_id
        recent = self._stamped.get(task_id)
        for seen, stamped in recent or ():
            if seen is event:
                return stamped
        lock = self._locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            for seen, stamped in self._stamped.get(task_id, ()):
                if seen is event:
                    return stamped
            stamped = await self._number(event)
            recent = self._stamped.setdefault(task_id, [])
            recent.append((event, stamped))
            del recent[:-4]
            self._stamped.move_to_end(task_id)
            while len(self._stamped) > _RECENT_TASKS:
                self._stamped.popitem(last=False)
        if event.is_terminal:
            self._locks.pop(task_id, None)
        return stamped

    async def _number(self, event: Event) -> Event | None:
        task_id = event.task_id
        if task_id in self._lost:
            if event.is_terminal:
                self._lost.discard(task_id)
            return None
        if self.tasks.record(task_id) is None or isinstance(event, Stalled | SubmitFailed):
            return event
        if isinstance(event, Submitted):
            return attrs.evolve(event, seq=0)
        if isinstance(event, TimedOut):
            # Our deadline, not the task's end: it stays unfinished (and ours) for resume().
            return event
        try:
            seq = await self.tasks.observe(task_id, snapshot_of(event), terminal=event.is_terminal)
        except (OSError, OneChatError, RuntimeError) as exc:
            # The consumer still gets the event; only its number (and durability) is missing.
            _log.error("the journal could not record an event: %s", type(exc).__name__)
            return event
        if seq is None:
            if not event.is_terminal:
                self._lost.add(task_id)
            return None
        return attrs.evolve(event, seq=seq)

    def beat(self) -> None:
        """Keep the held leases alive (starts the heartbeat if it is not running)."""
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(
                self._renew_forever(), name="onechat-async lease heartbeat"
            )

    async def _renew_forever(self) -> None:
        while self.tasks.held:
            await self.clock.sleep(self.lease_ttl / 3)
            try:
                lost = await self.tasks.renew()
            except Exception as exc:  # noqa: BLE001 - a store hiccup must not stop the renewals
                _log.error("could not renew task leases: %s", type(exc).__name__)
                continue
            self._lost.update(lost)
            for task_id in lost:
                _log.warning("task %s is tracked by another worker now", task_id)

    async def aclose(self) -> None:
        """Stop renewing, give the leases up (others take over at once), close our store."""
        running = [
            t
            for t in (self._heartbeat, self._keeper, self._pruner, *self._adopting)
            if t is not None and not t.done()
        ]
        self._heartbeat = self._keeper = self._pruner = None
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        if self._keeper_sub is not None:
            self._keeper_sub.close()
        try:
            await self.tasks.release_all()
        except Exception as exc:  # noqa: BLE001 - closing goes on; the leases will expire
            _log.error("could not give task leases up: %s", type(exc).__name__)
        if self.owns_store:
            await self.store.aclose()


class ResumeStream:
    """Every unfinished task of the store, followed until none is left.

    Takes what is free or expired (a dead worker's tasks) now and again every ``rescan``
    seconds; ends once the store holds no unfinished task. Close it (``async with``, or
    :meth:`aclose`) to stop early.
    """

    def __init__(self, durable: Durable, poller: Poller, *, rescan: float) -> None:
        self._durable = durable
        self._poller = poller
        self._rescan = rescan
        self._queue: asyncio.Queue[Event | BaseException | None] = asyncio.Queue()
        self._followed: set[str] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._driver: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._done = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        if self._driver is None:
            self._driver = asyncio.get_running_loop().create_task(
                self._drive(), name="onechat-async resume"
            )
        try:
            item = await self._queue.get()
        except BaseException:
            await self.aclose()
            raise
        if item is None:
            await self.aclose()
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            await self.aclose()
            raise item
        return item

    async def _drive(self) -> None:
        try:
            while True:
                taken = await self._durable.tasks.take_unfinished()
                fresh = [r.task_id for r in taken if r.task_id not in self._followed]
                if fresh:
                    self._followed.update(fresh)
                    self._start_pump(fresh)
                    self._durable.keep(fresh)
                if not self._pumps and not await self._durable.store.unfinished():
                    self._queue.put_nowait(None)
                    return
                await self._nap()
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, not lost here
            self._queue.put_nowait(exc)

    def _start_pump(self, ids: list[str]) -> None:
        async def pump() -> None:
            stream = _follow.track(self._poller, ids, deadline_at=None, journal=self._durable)
            async with stream:
                async for event in stream:
                    self._queue.put_nowait(event)

        task = asyncio.get_running_loop().create_task(pump(), name="onechat-async resume pump")
        self._pumps.add(task)
        task.add_done_callback(self._pump_done)

    def _pump_done(self, task: asyncio.Task[None]) -> None:
        self._pumps.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._queue.put_nowait(task.exception())
        self._wake.set()

    async def _nap(self) -> None:
        self._wake.clear()
        wake = asyncio.ensure_future(self._wake.wait())
        nap = asyncio.ensure_future(self._durable.clock.sleep(self._rescan))
        try:
            await asyncio.wait({wake, nap}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            nap.cancel()

    async def aclose(self) -> None:
        """Stop following; the leases stay ours until the client closes or they expire."""
        self._done = True
        tasks = [t for t in (self._driver, *self._pumps) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def retry_for(
    policy_wait: Callable[[int, OneChatError], float | None],
    backoff_wait: Callable[[int, OneChatError], float],
    *,
    admission: bool,
) -> Retry:
    """The journal's re-send rule: the submit policy, and with admission any queue-full."""

    def retry(attempt: int, error: OneChatError) -> float | None:
        wait = policy_wait(attempt, error)
        if wait is None and admission and isinstance(error, QueueFullError):
            return backoff_wait(attempt, error)
        return wait

    return retry
