"""Following tasks to their end: what ``OneChatClient.track``, ``wait`` and friends return.

- :func:`track`: an :class:`EventStream` of the given tasks' events, ending after each one's
  terminal event.
- :func:`wait`: the finished :class:`Task`, or an exception saying why there is none.
- :func:`fan_out`: submit a parent's children (U1-U4, V1-V4, ...) with bounded concurrency and
  follow them all in one stream.
- :func:`submit_and_track` / :func:`submit_and_wait`: the same for a submit you start, e.g.
  ``await client.submit_and_wait(client.imagine("a cat"))``.

Lifetimes are structured: a stream stops submitting and polling as soon as its consumer
leaves, however it leaves. Breaking out of ``async for`` drops the stream, a consumer cancelled
while it waits for the next event closes it, and ``async with`` (or :meth:`EventStream.aclose`)
also waits until nothing started for it is left running. Nothing that runs for a stream (a
fan-out's submits) holds the stream itself, so dropping it is always noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import attrs

from ._backoff import Backoff
from ._clock import Clock
from ._errors import (
    OneChatError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
)
from ._events import (
    Cancelled,
    Event,
    Failed,
    Lost,
    SubmitFailed,
    Submitted,
    Succeeded,
    TimedOut,
    Unreadable,
)
from ._models import SubmitResult, Task
from ._outcome import may_resend
from ._poller import Poller, Subscription

__all__ = [
    "ALL_CHILDREN",
    "EventStream",
    "Journal",
    "fan_out",
    "outcome",
    "submit_and_track",
    "track",
    "wait",
]

#: The eight children of a finished imagine grid.
ALL_CHILDREN: tuple[str, ...] = ("U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4")

#: Submits one child: ``(parent_id, op)`` to the accepted submit.
SubmitChild = Callable[[str, str], Awaitable[SubmitResult]]
_Driver = Callable[[Subscription], Coroutine[Any, Any, None]]


class Journal(Protocol):
    """Journals an event before the consumer sees it (``OneChatClient(store=...)``)."""

    def concerns(self, event: Event) -> bool:
        """Whether ``event`` is journaled at all: a cheap check the poll tick can afford."""
        ...

    async def journal(self, event: Event) -> Event | None:
        """The event numbered, or None to drop it (another worker tracks that task now)."""
        ...


class _Handle:
    """Everything a stream owns, kept apart from the stream object.

    The stream holds its handle; nothing holds the stream. So when the consumer drops the
    stream (``break``, an exception, garbage), a finalizer closes the handle: the fan-out
    driver is cancelled and the subscription leaves the poller.
    """

    __slots__ = (
        "closed",
        "deadline_at",
        "driver",
        "ids",
        "journal",
        "make_driver",
        "ops",
        "pending",
        "poller",
        "sub",
        "submit",
    )

    def __init__(
        self,
        poller: Poller,
        ids: Sequence[str],
        *,
        deadline_at: float | None,
        pending: int = 0,
        submit: Awaitable[SubmitResult] | None = None,
        make_driver: _Driver | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.poller = poller
        self.journal = journal
        self.ids = ids
        self.deadline_at = deadline_at
        self.pending = pending
        self.submit = submit
        self.make_driver = make_driver
        self.sub: Subscription | None = None
        self.driver: asyncio.Task[None] | None = None
        self.closed = False
        #: A fan-out's children: task id to the op that made it, to name it on their events.
        self.ops: dict[str, str] | None = None

    def ready(self) -> Event | None:
        """An event queued now that needs no journaling, or None: then await :meth:`next`."""
        sub = self.sub
        if sub is None or self.closed:
            return None
        journal = self.journal
        event = sub.take(None if journal is None else journal.concerns)
        if event is not None and self.ops is not None:
            event = _named(event, self.ops)
        return event

    async def next(self) -> Event:
        if self.closed:
            raise StopAsyncIteration
        sub = self.sub
        if sub is None:
            sub = self.sub = self.poller.open(deadline_at=self.deadline_at, pending=self.pending)
            if self.ids:
                sub.follow(self.ids)
            if self.make_driver is not None:
                self.driver = asyncio.get_running_loop().create_task(
                    self.make_driver(sub), name="onechat-async fan-out"
                )
            submit, self.submit = self.submit, None
            if submit is not None:
                result = await submit
                sub.submitted(Submitted(result.task_id, result))
        journal = self.journal
        while True:
            event = await sub.next()
            if self.ops is not None:
                event = _named(event, self.ops)
            # Most events concern no journaled task: hand them over without a coroutine.
            if journal is None or not journal.concerns(event):
                return event
            kept = await journal.journal(event)
            if kept is not None:
                return kept

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        submit, self.submit = self.submit, None
        if isinstance(submit, Coroutine):
            # Never started, so nothing was sent: close it so that it does not warn.
            submit.close()
        driver = self.driver
        if driver is not None and not driver.done():
            with contextlib.suppress(RuntimeError):  # the loop may be gone already
                driver.cancel()
        if self.sub is not None:
            self.sub.close()

    async def stopped(self) -> None:
        driver = self.driver
        if driver is not None and not driver.done():
            await asyncio.wait({driver})


class EventStream:
    """The events of the followed tasks, in order; it ends after each one's terminal event.

    Nothing is watched until the first ``__anext__``. Several streams may follow the same
    task: each gets every event (one that joins late first hears where the task stands), and
    at most one terminal event per task.

    The stream stops (no more submits, no more polling for it) when it is exhausted, closed,
    dropped by its consumer, or when the consumer is cancelled while waiting for an event.
    """

    def __init__(self, handle: _Handle) -> None:
        self._handle = handle
        # The finalizer refers to the handle only, so it does not keep the stream alive.
        self._closer = weakref.finalize(self, handle.close)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        # Most events are queued already when asked for: taken without a coroutine.
        event = self._handle.ready()
        if event is not None:
            return event
        try:
            return await self._handle.next()
        except BaseException:
            # Exhausted, failed, or the consumer is being cancelled while it waits: in every
            # case nobody will read this stream again, so it stops now.
            self.close()
            raise

    def close(self) -> None:
        """Stop following now; submits not yet sent are not sent, in-flight ones cancelled."""
        self._closer()

    async def aclose(self) -> None:
        """Stop following, and wait until nothing started for this stream is left running."""
        self.close()
        await self._handle.stopped()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def track(
    poller: Poller,
    ids: Iterable[str],
    *,
    deadline_at: float | None,
    journal: Journal | None = None,
) -> EventStream:
    """Follow ``ids`` in one stream that ends when every one of them has ended."""
    return EventStream(
        _Handle(poller, list(dict.fromkeys(ids)), deadline_at=deadline_at, journal=journal)
    )


def submit_and_track(
    poller: Poller,
    submit: Awaitable[SubmitResult],
    *,
    deadline_at: float | None,
    journal: Journal | None = None,
) -> EventStream:
    """Await ``submit`` on the first ``__anext__`` and follow the task it created.

    The stream starts with ``Submitted``; a submit that fails raises from that first
    ``__anext__``. A stream closed before it started closes the submit coroutine unsent.
    """
    return EventStream(
        _Handle(poller, (), deadline_at=deadline_at, pending=1, submit=submit, journal=journal)
    )


def fan_out(
    poller: Poller,
    submit_child: SubmitChild,
    parent_id: str,
    ops: Sequence[str],
    *,
    concurrency: int,
    attempts: int,
    backoff: Backoff,
    clock: Clock,
    rng: random.Random,
    deadline_at: float | None = None,
    journal: Journal | None = None,
) -> EventStream:
    """Submit ``ops`` of a finished parent and follow every child in one stream.

    At most ``concurrency`` submits are in flight. A submit refused in a way that proves no
    task was made and that a later try may cure (rate limited, queue full) is tried again, up
    to ``attempts`` times, waiting as ``backoff`` says (or as the server asked). Each accepted
    child yields ``Submitted`` and then its own events; a child that could not be submitted
    yields ``SubmitFailed`` and the others go on.
    """
    ops = list(ops)

    async def drive(sub: Subscription) -> None:
        remaining = iter(ops)

        async def worker() -> None:
            for op in remaining:
                await _submit_child(
                    sub,
                    submit_child,
                    parent_id,
                    op,
                    attempts=attempts,
                    backoff=backoff,
                    clock=clock,
                    rng=rng,
                )

        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(ops))):
                group.create_task(worker())

    handle = _Handle(
        poller,
        (),
        deadline_at=deadline_at,
        pending=len(ops),
        make_driver=drive if ops else None,
        journal=journal,
    )
    handle.ops = {}
    return EventStream(handle)


def _named(event: Event, ops: dict[str, str]) -> Event:
    """``event`` with the op of the fan-out child it is about (learnt from its Submitted)."""
    if isinstance(event, Submitted):
        if event.op is not None:
            ops[event.task_id] = event.op
        return event
    op = ops.pop(event.task_id, None) if event.is_terminal else ops.get(event.task_id)
    if op is None or event.op is not None:
        return event
    return attrs.evolve(event, op=op)


async def _submit_child(
    sub: Subscription,
    submit_child: SubmitChild,
    parent_id: str,
    op: str,
    *,
    attempts: int,
    backoff: Backoff,
    clock: Clock,
    rng: random.Random,
) -> None:
    failures = 0
    while True:
        try:
            result = await submit_child(parent_id, op)
        except OneChatError as error:
            failures += 1
            if failures >= attempts or not may_resend(error):
                sub.submit_failed(SubmitFailed(parent_id, error, op=op))
                return
            retry_after = getattr(error, "retry_after", None)
            await clock.sleep(backoff.wait(failures, retry_after=retry_after, rng=rng))
        except Exception as exc:  # noqa: BLE001 - a child's failure must not end the others
            broken = OneChatError(f"submitting {op} failed unexpectedly ({type(exc).__name__})")
            sub.submit_failed(SubmitFailed(parent_id, broken, op=op))
            return
        else:
            sub.submitted(Submitted(result.task_id, result, parent_id, op=op))
            return


async def wait(
    poller: Poller, task_id: str, *, deadline_at: float | None, journal: Journal | None = None
) -> Task:
    """The task once it succeeded.

    Raises :class:`TaskFailedError` for FAILURE or CANCEL, :class:`TaskTimeoutError` when the
    deadline (the caller's or the policy's) passes first, :class:`TaskNotFoundError` when the
    server no longer knows the task, and the ServerError of an ``Unreadable`` task. A task
    waiting for a ``/modal`` call is waited for like any other: follow it with :func:`track`
    to react to ``NeedsModal``.
    """
    async with track(poller, [task_id], deadline_at=deadline_at, journal=journal) as events:
        async for event in events:
            if event.is_terminal:
                return outcome(event)
    raise OneChatError(f"tracking of task {task_id} ended without an outcome")


def outcome(event: Event) -> Task:
    """The task of a terminal event, or the exception that tells why there is none."""
    if isinstance(event, Succeeded):
        return event.task
    if isinstance(event, Failed):
        reason = f": {event.reason}" if event.reason else ""
        raise TaskFailedError(f"task {event.task_id} failed{reason}", task=event.task)
    if isinstance(event, Cancelled):
        raise TaskFailedError(f"task {event.task_id} was cancelled", task=event.task)
    if isinstance(event, TimedOut):
        raise TaskTimeoutError(
            f"task {event.task_id} did not finish within {event.seconds:.0f}s",
            task_id=event.task_id,
            task=event.task,
        )
    if isinstance(event, Lost):
        raise TaskNotFoundError(
            f"task {event.task_id} is no longer known to the server", task_id=event.task_id
        )
    if isinstance(event, Unreadable):
        raise event.error
    if isinstance(event, SubmitFailed):
        raise event.error
    raise OneChatError(f"unexpected terminal event {type(event).__name__}")
