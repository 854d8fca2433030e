"""The one coroutine per client that asks the server about every followed task.

A thin asyncio shell that only moves messages: the :class:`~onechat_async._tracker.Tracker`
says who is due and what an answer changed, the :class:`~onechat_async._router.Router` says
which stream hears it, and this module sends the requests, sleeps on the client's clock and
puts events into each stream's inbox.

Requests run beside the loop, not inside it: a slow or hanging answer delays nothing else, and
a caller's deadline fires on time while a request is in flight. Due tasks are cut into chunks
that wait in a queue and go out as a pipeline: at most ``max_in_flight`` at once, each applied
and routed as soon as its answer lands, at a pace that grows with the watch set (see
:meth:`~onechat_async._policy.PollPolicy.request_rate`). Query failures never reach
consumers: they slow the poller down (honouring ``Retry-After``, capped) and the tasks stay
tracked. Whatever a server sends becomes a value or a OneChatError for the one task it is
about. Only closing the client, a refused key, or a bug ends streams early, and then they
raise instead of hanging.
"""

from __future__ import annotations

import asyncio
import collections
import math
import random
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol

from ._clock import Clock
from ._errors import (
    AuthenticationError,
    ClientClosedError,
    OneChatError,
    RateLimitError,
    TaskNotFoundError,
)
from ._events import Event, ProgressChanged, SubmitFailed, Submitted
from ._gc import GcGuard
from ._models import Task
from ._policy import Pacer, PollPolicy
from ._router import Router, Routing, StreamId
from ._secrets import get_logger
from ._tracker import Tracker, chunked
from ._wire import Row

__all__ = ["PollBackend", "Poller", "Subscription"]

_log = get_logger("onechat_async.poller")

#: After a server showed it lacks list-by-condition, how long to fetch per id before asking
#: again: a transient HTML error page must not condemn a client to per-id polling for good.
_REPROBE_AFTER = 600.0
#: Consecutive failed queries after which polling trouble is worth a warning.
_WARN_AFTER_FAILURES = 5


class PollBackend(Protocol):
    """The queries the poller sends: one request each, no retries (it paces itself).

    Both return the answer still undecoded (a list answer as :class:`~onechat_async._wire.Row`
    s, a fetched task as parsed JSON); failures raise OneChatError.
    """

    async def list_raw(self, task_ids: Sequence[str]) -> list[Row] | None:
        """The task objects list-by-condition returns, or None if the server lacks it."""
        ...

    async def fetch_raw(self, task_id: str) -> object:
        """The task object the fetch endpoint returns for ``task_id``."""
        ...


class _Stop:
    """Put in an inbox when no more events will ever come."""

    __slots__ = ("error",)

    def __init__(self, error: OneChatError) -> None:
        self.error = error


class _Latest:
    """A queued ProgressChanged that a newer one about the same task may still replace."""

    __slots__ = ("event",)

    def __init__(self, event: ProgressChanged) -> None:
        self.event = event


#: Queued events from which a stream's ProgressChanged are merged (see :class:`_Inbox`).
COALESCE_FROM: Final = 256


class _Inbox:
    """A single-consumer queue whose size stays bounded by the tasks it hears about.

    asyncio.Queue's bookkeeping (task counts, putter wake-ups) is paid per event, and a tick
    over 10,000 tasks hands out thousands of events; this keeps just the deque and one waiter.

    A consumer slower than the poller must not make memory grow with time: once
    ``coalesce_from`` events are queued, a ProgressChanged still queued is replaced in place
    by a newer one about the same task (which then reports the ``previous`` the consumer last
    heard). Only while it is the task's last queued event: any other event about the task (a
    status change, a submit, a terminal event, a progress queued below the mark) is queued
    after it and never dropped, so each task's events keep their order. Below the mark every
    progress is queued as it is: a consumer that keeps up sees every step, and the poller
    pays no bookkeeping for it. The queue stays within ``coalesce_from`` plus a few events
    per task.
    """

    __slots__ = ("_coalesce_from", "_items", "_progress", "_waiter")

    def __init__(self, coalesce_from: int = COALESCE_FROM) -> None:
        self._items: collections.deque[Event | _Latest | _Stop] = collections.deque()
        self._coalesce_from = coalesce_from
        #: The replaceable ProgressChanged of each task, when it is the last one queued.
        self._progress: dict[str, _Latest] = {}
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Event | _Stop) -> None:
        items = self._items
        if type(item) is ProgressChanged and len(items) >= self._coalesce_from:
            queued = self._progress.get(item.task_id)
            if queued is not None:
                older = queued.event
                queued.event = ProgressChanged(
                    item.task_id, item.task, item.progress, older.previous
                )
                return  # the consumer was woken when the older one came in
            queued = self._progress[item.task_id] = _Latest(item)
            items.append(queued)
        else:
            if self._progress and not isinstance(item, _Stop):
                # A later ProgressChanged must queue behind this event, not jump ahead of it.
                self._progress.pop(item.task_id, None)
            items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def take(self, refuse: Callable[[Event], bool] | None = None) -> Event | None:
        """The first event, taken now if one is queued and ``refuse`` does not want it kept.

        The consumer's fast path: no coroutine, no wait. None when the queue is empty, ends
        in a ``_Stop``, or ``refuse(event)`` is true; the event then stays for :meth:`get`.
        """
        items = self._items
        if not items:
            return None
        item = items[0]
        if isinstance(item, _Latest):
            event: Event = item.event
            if refuse is not None and refuse(event):
                return None
            items.popleft()
            if self._progress.get(event.task_id) is item:
                del self._progress[event.task_id]
            return event
        if isinstance(item, _Stop) or (refuse is not None and refuse(item)):
            return None
        items.popleft()
        return item

    async def get(self) -> Event | _Stop:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("an event stream can be read by one coroutine at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if isinstance(item, _Latest):
            event = item.event
            if self._progress.get(event.task_id) is item:
                del self._progress[event.task_id]
            return event
        return item


class Subscription:
    """The consumer's end of one stream: its number with the router, and its inbox."""

    __slots__ = ("_inbox", "_poller", "id", "take")

    def __init__(self, poller: Poller, stream_id: StreamId, inbox: _Inbox) -> None:
        self._poller = poller
        self._inbox = inbox
        self.id = stream_id
        #: ``take(refuse=None)``: the next event if one is queued now and ``refuse`` does not
        #: refuse it, else None (then await :meth:`next`). What :meth:`next` would return,
        #: without a coroutine: the consumer of a busy stream takes thousands of events a
        #: tick. The inbox's own method, so that taking one costs a single call.
        self.take: Callable[[Callable[[Event], bool] | None], Event | None] = inbox.take

    @property
    def finished(self) -> bool:
        """Whether every event this stream will ever see has been taken."""
        return self._inbox.empty() and self._poller.router.finished(self.id)

    def follow(self, ids: Iterable[str]) -> None:
        """Follow ``ids`` too (nothing happens once the stream is closed)."""
        self._poller.follow(self, ids)

    def submitted(self, event: Submitted) -> None:
        """A submit made for this stream was accepted: announce it and follow its task."""
        self._poller.apply(self._poller.router.submitted(self.id, event))

    def submit_failed(self, event: SubmitFailed) -> None:
        """An announced child could not be submitted."""
        self._poller.apply(self._poller.router.submit_failed(self.id, event))

    def close(self) -> None:
        """Stop following everything; ids nobody else follows stop being polled."""
        self._poller.close_stream(self)

    async def next(self) -> Event:
        """The next event; StopAsyncIteration after the last one."""
        if self.finished:
            raise StopAsyncIteration
        item = await self._inbox.get()
        if isinstance(item, _Stop):
            # Leave it for the next call too: a closed poller stays closed.
            self._inbox.put(item)
            raise item.error
        return item


class Poller:
    """Polls every followed task of one client; created idle, started by the first follow."""

    def __init__(
        self,
        backend: PollBackend,
        policy: PollPolicy,
        *,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.clock = clock
        self.tracker = Tracker(policy)
        self.router = Router()
        self._inboxes: dict[StreamId, _Inbox] = {}
        self._pacer = Pacer(policy.request_rate(0))
        self._rng = rng
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self._closed = False
        self._failures = 0
        self._list_off_until = -math.inf
        #: Chunks of due ids waiting for a place in flight, and how many are in flight.
        self._backlog: collections.deque[Sequence[str]] = collections.deque()
        self._in_flight = 0
        #: After a 429 nothing is sent before this, queued chunks included.
        self._hold_until = -math.inf
        #: When the loop means to wake next (inf: only when told); see _request_done.
        self._planned_wake = -math.inf
        #: No scan for due tasks before this (see _loop); one when the queue has drained.
        self._next_scan = -math.inf
        self._scan_when_drained = False
        self._gc = GcGuard(policy.freeze_gc_above)
        #: One list answer is applied at a time, each in its own turn of the event loop.
        self._applying = asyncio.Lock()
        # fetch_concurrency holds for the client, however many batches of fetches overlap.
        self._fetch_slots = asyncio.Semaphore(policy.fetch_concurrency)

    @property
    def running(self) -> bool:
        """Whether the polling coroutine is alive."""
        return self._task is not None and not self._task.done()

    @property
    def watched(self) -> frozenset[str]:
        """The ids some stream follows (and so are polled)."""
        return self.router.followed

    # -- what streams call ---------------------------------------------------------------

    def open(self, *, deadline_at: float | None = None, pending: int = 0) -> Subscription:
        """A new stream, optionally with a caller deadline and announced children."""
        if self._closed:
            raise ClientClosedError("the client is closed; no task can be tracked any more")
        stream_id = self.router.open(self.clock.now(), deadline_at=deadline_at, pending=pending)
        inbox = self._inboxes[stream_id] = _Inbox()
        if deadline_at is not None:
            self._ensure_running()
        return Subscription(self, stream_id, inbox)

    def follow(self, sub: Subscription, ids: Iterable[str]) -> None:
        """Route the events of ``ids`` to ``sub``; start polling those nobody polled."""
        if self._closed:
            raise ClientClosedError("the client is closed; no task can be tracked any more")
        self.apply(self.router.follow(sub.id, ids))

    def close_stream(self, sub: Subscription) -> None:
        """Forget ``sub``; what it alone followed is no longer polled."""
        self._inboxes.pop(sub.id, None)
        self.apply(self.router.close(sub.id))

    def apply(self, routing: Routing) -> None:
        """Carry out a routing decision: fill inboxes, start and stop tracking."""
        inboxes = self._inboxes
        for stream_id, event in routing.deliveries:
            inbox = inboxes.get(stream_id)
            if inbox is not None:
                inbox.put(event)
        for task_id in routing.forget:
            self.tracker.forget(task_id)
        if routing.follows:
            now = self.clock.now()
            for stream_id, task_id in routing.follows:
                # Starts tracking a new id; for one already tracked, says where it stands.
                replay = self.tracker.watch(task_id, now)
                if replay:
                    self.apply(self.router.joined(stream_id, replay))
            self._ensure_running()

    def push(self, task: Task) -> None:
        """A snapshot a verified callback delivered: apply it like a poll's answer, route it."""
        if self._closed:
            return
        self._route(self.tracker.on_pushed(task, self.clock.now()))
        if self.running:
            # The loop re-plans: the task's next question moved, or it ended.
            self._wake.set()

    def _route(self, events: list[Event]) -> None:
        if events:
            self.apply(self.router.route(events))

    # -- life ----------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="onechat-async poller"
            )
        self._wake.set()

    async def aclose(self) -> None:
        """Stop polling for good; streams still open raise instead of waiting forever."""
        self._closed = True
        tasks = [t for t in (self._task, *self._requests) if t is not None and not t.done()]
        self._task = None
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait, unlike awaiting the tasks, lets our own cancellation through.
            await asyncio.wait(tasks)
        self._end_all(ClientClosedError("the client was closed while tasks were being tracked"))

    def _end_all(self, error: OneChatError) -> None:
        self._backlog.clear()
        self._gc.release()
        for stream_id in self.router.close_all():
            inbox = self._inboxes.get(stream_id)
            if inbox is not None:
                inbox.put(_Stop(error))
        for task_id in list(self.tracker):
            self.tracker.forget(task_id)

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to every consumer instead
            # A bug here must not leave consumers waiting for events that will never come.
            _log.exception("the poller crashed")
            error = OneChatError(f"tracking stopped: the poller crashed ({type(exc).__name__})")
            self._end_all(error)

    async def _loop(self) -> None:
        clock, tracker, router = self.clock, self.tracker, self.router
        while True:
            self._wake.clear()
            self._planned_wake = -math.inf
            now = clock.now()
            self._route(tracker.expire(now))
            self.apply(router.expire(now, tracker.task))
            # The pace follows the watch set, so that every task is asked about in its time.
            self._pacer.rate = self.policy.request_rate(len(tracker))
            self._gc.update(len(tracker))
            # due() scans the whole watch set. While chunks still queue there is nothing to
            # gain from it (the answers would only grow staler in the queue); and after it
            # handed tasks out, the next batch window's worth can wait for that window. Else
            # every answer that settles an overdue task would cost a scan and a tiny chunk.
            backlogged = len(self._backlog) >= self.policy.max_in_flight
            self._scan_when_drained = backlogged
            if not backlogged and now >= self._next_scan:
                due = tracker.due(now)
                if due:
                    self._ask(due)
                    self._next_scan = now + self.policy.batch_window
            self._dispatch()
            held = self._hold_until if self._backlog and now < self._hold_until else None
            poll = None if backlogged else tracker.next_wake()
            if poll is not None:
                poll = max(poll, self._next_scan)
            wake = _earliest(poll, tracker.next_alarm(), router.next_deadline(), held)
            self._planned_wake = math.inf if wake is None else wake
            await self._sleep(None if wake is None else wake - clock.now())

    async def _sleep(self, seconds: float | None) -> None:
        """Sleep on the client's clock, but wake at once when there is news."""
        if seconds is not None and seconds <= 0:
            return
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
        if seconds is not None:
            waiters.add(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.wait(waiters)

    # -- asking --------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._requests.add(task)
        task.add_done_callback(self._request_done)

    def _request_done(self, task: asyncio.Task[None]) -> None:
        self._requests.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Failures are handled inside; this is a bug, and its tasks would stay in flight
            # for ever: end every stream rather than leave consumers waiting.
            _log.error("a poll request crashed", exc_info=task.exception())
            self._end_all(OneChatError("tracking stopped: a poll request crashed"))
        # An answer can bring a task's next question (or alarm) forward: if it now falls
        # before the loop means to wake, let the loop look again. Not on every answer: at
        # scale hundreds land per second, and each look scans the whole watch set.
        wake = self.tracker.next_wake()
        if wake is not None and wake < self._planned_wake:
            self._wake.set()

    def _ask(self, ids: list[str]) -> None:
        if self.clock.now() < self._list_off_until:
            self._spawn(self._fetch_each(ids))
            return
        self._backlog.extend(chunked(ids, self.policy.chunk_size))

    def _dispatch(self) -> None:
        """Send queued chunks while there is room in flight and no 429 holds us back."""
        backlog, limit = self._backlog, self.policy.max_in_flight
        if not backlog or self._closed or self.clock.now() < self._hold_until:
            return
        while backlog and self._in_flight < limit:
            self._in_flight += 1
            self._spawn(self._ask_list(backlog.popleft()))

    async def _pace(self) -> None:
        wait = self._pacer.reserve(self.clock.now())
        if wait > 0:
            await self.clock.sleep(wait)

    async def _ask_list(self, ids: Sequence[str]) -> None:
        confirm: list[str] = []
        try:
            try:
                await self._pace()
                answer = await self.backend.list_raw(ids)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - no query failure may reach a consumer
                self._failed(ids, exc)
                return
            if answer is not None:
                async with self._applying:
                    self._succeeded()
                    tracker = self.tracker
                    disproved = tracker.refresh_disproved
                    events, confirm = tracker.on_listed(ids, answer, self.clock.now())
                    if tracker.refresh_disproved and not disproved:
                        _log.info(
                            "a task changed twice within refresh_interval (%s s): polling "
                            "at the cadence from now on",
                            self.policy.refresh_interval,
                        )
                    self._route(events)
                    # What this answer made survives a collection or two: freeze it soon,
                    # not at the loop's next wake-up (seconds away while chunks queue).
                    self._gc.update(len(self.tracker))
                    # Answers that land together would otherwise be applied in one turn of
                    # the loop, one after another, while timers (a caller's deadline, the
                    # consumer's own work) wait: yield after each, so the loop stalls for
                    # one answer at most.
                    await asyncio.sleep(0)
        finally:
            # The place in flight is the request's and its answer's until it is applied:
            # freed on arrival, it let answers that apply slower than they land pile up
            # parsed behind the lock (a whole round at 100,000 tasks: 1 KiB a task of RSS
            # for good). Not the confirmations' that may follow.
            self._in_flight -= 1
            self._dispatch()
            if self._scan_when_drained and len(self._backlog) < self.policy.max_in_flight:
                self._scan_when_drained = False
                self._wake.set()
        if answer is None:
            _log.info("the server has no list-by-condition; fetching each task for a while")
            self._list_off_until = self.clock.now() + _REPROBE_AFTER
            await self._fetch_each(ids)
            return
        if confirm:
            # Left out is not yet lost: servers skip ids for reasons of their own.
            await self._fetch_each(confirm)

    async def _fetch_each(self, ids: Sequence[str]) -> None:
        pending: Iterator[str] = iter(ids)

        async def worker() -> None:
            for task_id in pending:
                async with self._fetch_slots:
                    await self._fetch_one(task_id)

        workers = min(self.policy.fetch_concurrency, len(ids))
        if workers <= 1:
            await worker()
            return
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())

    async def _fetch_one(self, task_id: str) -> None:
        if task_id not in self.tracker:
            return
        try:
            await self._pace()
            raw = await self.backend.fetch_raw(task_id)
        except asyncio.CancelledError:
            raise
        except TaskNotFoundError:
            self._route(self.tracker.on_unknown(task_id))
        except Exception as exc:  # noqa: BLE001 - no query failure may reach a consumer
            self._failed([task_id], exc)
        else:
            self._succeeded()
            self._route(self.tracker.on_fetched(task_id, raw, self.clock.now()))

    def _succeeded(self) -> None:
        self._pacer.recover()
        if self._failures >= _WARN_AFTER_FAILURES:
            _log.warning("polling recovered after %d failed queries", self._failures)
        self._failures = 0

    def _failed(self, ids: Sequence[str], exc: Exception) -> None:
        if isinstance(exc, AuthenticationError | ClientClosedError):
            # A refused key, or a lent session someone closed, does not heal by waiting: tell
            # every consumer now rather than back off in silence until the deadline.
            if isinstance(exc, AuthenticationError):
                _log.error("the server refused the key while tracking: %s", exc)
            else:
                _log.error("tracking cannot go on: %s", exc)
            self._end_all(exc)
            return
        self._failures += 1
        retry_after = getattr(exc, "retry_after", None)
        wait = self.policy.backoff.wait(
            self._failures,
            retry_after=retry_after if isinstance(retry_after, int | float) else None,
            rng=self._rng,
        )
        now = self.clock.now()
        self.tracker.on_failed(ids, now + wait)
        if isinstance(exc, RateLimitError):
            # The server asked everyone to slow down, not just these ids; once per hold, as
            # every request in flight may come back 429 together.
            if now >= self._hold_until:
                self._pacer.throttle()
            self._hold_until = max(self._hold_until, now + wait)
            self.tracker.hold(now + wait)
        what = exc if isinstance(exc, OneChatError) else type(exc).__name__
        if self._failures == _WARN_AFTER_FAILURES:
            _log.warning(
                "polling keeps failing (%d queries in a row; last: %s); retrying in %.1f s",
                self._failures,
                what,
                wait,
            )
        else:
            _log.debug("query for %d task(s) failed (%s); retrying in %.1f s", len(ids), what, wait)


def _earliest(*whens: float | None) -> float | None:
    return min((w for w in whens if w is not None), default=None)
