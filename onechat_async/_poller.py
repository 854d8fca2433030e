"""The one coroutine per client that asks the server about every watched task.

A thin asyncio shell around :class:`~onechat_async._schedule.Tracker`: it sleeps on the
client's clock until something is due, asks list-by-condition in chunks (confirming left-out
ids with a fetch before calling them lost), falls back to one fetch per id on servers without
list-by-condition, and routes the tracker's events to the subscriptions watching each id.

Query failures never reach consumers: they slow the poller down (honouring ``Retry-After``)
and the tasks stay tracked. Only closing the client, or a bug, ends a subscription early, and
then it raises instead of hanging.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from ._clock import Clock
from ._errors import (
    AuthenticationError,
    ClientClosedError,
    OneChatError,
    RateLimitError,
    ServerError,
    TaskNotFoundError,
)
from ._events import Event, TimedOut
from ._models import Task
from ._policy import Pacer, PollPolicy
from ._schedule import Tracker, chunked

__all__ = ["PollBackend", "Poller", "Subscription"]

_log = logging.getLogger("onechat_async.poller")

#: After a server showed it lacks list-by-condition, how long to fetch per id before asking
#: again: a transient HTML error page must not condemn a client to per-id polling for good.
_REPROBE_AFTER = 600.0
_NO_ENDPOINT_STATUSES = frozenset({404, 405, 501})


class PollBackend(Protocol):
    """What the poller needs from the client: one request each, no retries."""

    @property
    def _clock(self) -> Clock: ...

    async def _poll_list(self, ids: Sequence[str]) -> list[dict[str, Any]]: ...

    async def _poll_fetch(self, task_id: str) -> Task: ...


class _Stop:
    """Put on a subscription's queue when no more events will ever come."""

    __slots__ = ("error",)

    def __init__(self, error: OneChatError) -> None:
        self.error = error


class _Inbox:
    """An unbounded single-consumer queue.

    asyncio.Queue's bookkeeping (task counts, putter wake-ups) is paid per event, and a tick
    over 10,000 tasks hands out thousands of events; this keeps just the deque and one waiter.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: collections.deque[Event | _Stop] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Event | _Stop) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Event | _Stop:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("an event stream can be read by one coroutine at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()


class Subscription:
    """One consumer's events for the ids it watches, in the order they happened."""

    def __init__(self, poller: Poller, *, deadline_at: float | None = None) -> None:
        self.poller = poller
        self.deadline_at = deadline_at
        self.started_at = poller.clock.now()
        self.queue = _Inbox()
        #: Ids whose terminal event the consumer has not taken yet.
        self.open: set[str] = set()
        #: Ids the poller still routes events of to this subscription.
        self.routed: set[str] = set()
        #: Ids announced but not known yet (fan-out submits in flight): the stream waits for them.
        self.pending = 0
        self.closed = False
        poller.adopt(self)

    @property
    def finished(self) -> bool:
        """Whether every event this subscription will ever see has been taken."""
        return not self.open and not self.pending and self.queue.empty()

    def push(self, event: Event) -> None:
        """Hand the consumer an event that did not come from the poller (fan-out submits)."""
        self.queue.put_nowait(event)

    def watch(self, ids: Iterable[str]) -> None:
        """Add ``ids`` to what this subscription follows (nothing, once it is closed)."""
        if not self.closed:
            self.poller.subscribe(self, ids)

    def close(self) -> None:
        """Stop following everything; ids nobody else watches stop being polled."""
        # A fan-out submit may still complete after this: its child must not be watched.
        self.closed = True
        self.poller.unsubscribe(self)

    async def next(self) -> Event:
        """The next event; StopAsyncIteration after the last terminal one or once closed."""
        if self.closed or self.finished:
            raise StopAsyncIteration
        item = await self.queue.get()
        if isinstance(item, _Stop):
            # Leave it for the next call too: a closed poller stays closed.
            self.queue.put_nowait(item)
            raise item.error
        if item.is_terminal:
            self.open.discard(item.task_id)
        return item


class Poller:
    """Polls every watched task of one client; created idle, started by the first watch."""

    def __init__(
        self, backend: PollBackend, policy: PollPolicy, *, rng: random.Random | None = None
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.tracker = Tracker(policy)
        self._subs: dict[str, list[Subscription]] = {}
        # Every subscription alive, so closing can end even those still waiting for an id.
        self._live: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._timed: set[Subscription] = set()
        self._pacer = Pacer(policy.max_requests_per_second)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failures = 0
        self._list_off_until = -float("inf")

    @property
    def clock(self) -> Clock:
        """The client's clock, the only time the poller knows."""
        return self.backend._clock

    @property
    def running(self) -> bool:
        """Whether the polling coroutine is alive."""
        return self._task is not None and not self._task.done()

    @property
    def watched(self) -> frozenset[str]:
        """The ids somebody is watching (and so are polled)."""
        return frozenset(self._subs)

    def adopt(self, sub: Subscription) -> None:
        """Know ``sub`` from its creation, so that closing can end it."""
        if self._closed:
            raise ClientClosedError("the client is closed; no task can be tracked any more")
        self._live.add(sub)

    def subscribe(self, sub: Subscription, ids: Iterable[str]) -> None:
        """Route the events of ``ids`` to ``sub``; start polling them if nobody did."""
        if self._closed:
            raise ClientClosedError("the client is closed; no task can be tracked any more")
        now = self.clock.now()
        for task_id in ids:
            if task_id in sub.routed:
                continue
            sub.routed.add(task_id)
            sub.open.add(task_id)
            watchers = self._subs.setdefault(task_id, [])
            watchers.append(sub)
            for event in self.tracker.watch(task_id, now):
                sub.queue.put_nowait(event)
        if sub.deadline_at is not None and sub.routed:
            self._timed.add(sub)
        self._start()
        self._wake.set()

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub``; ids left with no watcher are no longer polled."""
        self._timed.discard(sub)
        for task_id in list(sub.routed):
            self._detach(sub, task_id)

    def _detach(self, sub: Subscription, task_id: str) -> None:
        sub.routed.discard(task_id)
        watchers = self._subs.get(task_id)
        if watchers is None:
            return
        with contextlib.suppress(ValueError):
            watchers.remove(sub)
        if not watchers:
            del self._subs[task_id]
            self.tracker.forget(task_id)

    def _deliver(self, events: Iterable[Event]) -> None:
        for event in events:
            watchers = self._subs.get(event.task_id)
            if not watchers:
                continue
            for sub in watchers:
                sub.queue.put_nowait(event)
            if event.is_terminal:
                del self._subs[event.task_id]
                for sub in watchers:
                    sub.routed.discard(event.task_id)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="onechat-async poller"
            )

    async def aclose(self) -> None:
        """Stop polling for good; subscriptions still open raise instead of waiting forever."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            # asyncio.wait, unlike awaiting the task, lets our own cancellation through.
            await asyncio.wait({task})
        self._end_all(ClientClosedError("the client was closed while tasks were being tracked"))

    def _end_all(self, error: OneChatError) -> None:
        subs = list(self._live)
        self._subs.clear()
        self._timed.clear()
        for task_id in list(self.tracker):
            self.tracker.forget(task_id)
        for sub in subs:
            sub.routed.clear()
            if not sub.finished:
                sub.queue.put_nowait(_Stop(error))

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to every consumer instead
            # A bug here must not leave consumers waiting for events that will never come.
            _log.exception("the poller crashed")
            error = OneChatError(f"tracking stopped: the poller crashed ({exc!r})")
            error.__cause__ = exc
            self._end_all(error)

    async def _loop(self) -> None:
        clock, tracker = self.clock, self.tracker
        while True:
            now = clock.now()
            self._deliver(tracker.expire(now))
            self._expire_subscriptions(now)
            due = tracker.due(now)
            if due:
                await self._poll(due)
                continue
            wakes = [sub.deadline_at for sub in self._timed if sub.deadline_at is not None]
            polls = tracker.next_wake()
            if polls is not None:
                wakes.append(polls)
            wake = min(wakes, default=None)
            self._wake.clear()
            await self._sleep(None if wake is None else wake - clock.now())

    def _expire_subscriptions(self, now: float) -> None:
        for sub in [s for s in self._timed if s.deadline_at is not None and s.deadline_at <= now]:
            self._timed.discard(sub)
            for task_id in sorted(sub.routed):
                sub.queue.put_nowait(
                    TimedOut(task_id, self.tracker.task(task_id), now - sub.started_at)
                )
                self._detach(sub, task_id)

    async def _sleep(self, seconds: float | None) -> None:
        """Sleep on the client's clock, but wake at once when a new task is watched."""
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

    async def _pace(self) -> None:
        wait = self._pacer.reserve(self.clock.now())
        if wait > 0:
            await self.clock.sleep(wait)

    async def _poll(self, ids: list[str]) -> None:
        if self.clock.now() < self._list_off_until:
            await self._fetch_each(ids)
            return
        chunks = chunked(ids, self.policy.chunk_size)
        if len(chunks) == 1:
            await self._poll_chunk(chunks[0])
            return
        async with asyncio.TaskGroup() as group:
            for chunk in chunks:
                group.create_task(self._poll_chunk(chunk))

    async def _poll_chunk(self, ids: Sequence[str]) -> None:
        await self._pace()
        try:
            answer = await self.backend._poll_list(ids)
        except Exception as exc:  # noqa: BLE001 - no query failure may reach a consumer
            if _lacks_list_endpoint(exc):
                _log.info("list-by-condition unavailable (%r); fetching each task", exc)
                self._list_off_until = self.clock.now() + _REPROBE_AFTER
                await self._fetch_each(ids)
            else:
                self._failed(ids, exc)
            return
        self._failures = 0
        events, missing = self.tracker.on_listed(ids, answer, self.clock.now())
        self._deliver(events)
        if missing:
            # Left out is not yet lost: servers skip ids for reasons of their own.
            await self._fetch_each(missing)

    async def _fetch_each(self, ids: Sequence[str]) -> None:
        pending: Iterator[str] = iter(ids)

        async def worker() -> None:
            for task_id in pending:
                await self._fetch_one(task_id)

        workers = min(self.policy.fetch_concurrency, len(ids))
        if workers == 1:
            await worker()
            return
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())

    async def _fetch_one(self, task_id: str) -> None:
        if task_id not in self.tracker:
            return
        await self._pace()
        try:
            task = await self.backend._poll_fetch(task_id)
        except TaskNotFoundError:
            self._deliver(self.tracker.on_unknown(task_id))
        except Exception as exc:  # noqa: BLE001 - no query failure may reach a consumer
            self._failed([task_id], exc)
        else:
            self._failures = 0
            self._deliver(self.tracker.on_fetched(task_id, task, self.clock.now()))

    def _failed(self, ids: Sequence[str], exc: Exception) -> None:
        if isinstance(exc, AuthenticationError):
            # A refused key does not heal by waiting: tell every consumer now rather than
            # back off in silence until the deadline an hour later.
            _log.error("the server refused the key while tracking: %s", exc)
            self._end_all(exc)
            return
        self._failures += 1
        retry_after = getattr(exc, "retry_after", None)
        wait = self.policy.backoff(
            self._failures,
            retry_after=retry_after if isinstance(retry_after, int | float) else None,
            rng=self._rng,
        )
        now = self.clock.now()
        self.tracker.on_failed(ids, now + wait)
        if isinstance(exc, RateLimitError):
            # The server asked everyone to slow down, not just these ids.
            self.tracker.hold(now + wait)
        _log.debug("query for %d task(s) failed (%r); retrying in %.1fs", len(ids), exc, wait)


def _lacks_list_endpoint(exc: Exception) -> bool:
    """Whether an error says the server has no list-by-condition (a 404, an HTML page...)."""
    if not isinstance(exc, ServerError):
        return False
    if exc.status in _NO_ENDPOINT_STATUSES:
        return True
    # The gateway answers an unknown path with a 200 HTML page; a 5xx page is an outage.
    return not exc.retryable and (exc.status is None or exc.status < 300)
