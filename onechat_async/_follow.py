"""Following tasks to their end: what ``OneChatClient.track``, ``wait`` and friends do.

Each function takes the client as its first argument; the client exposes them as methods.

- :func:`track` / :func:`track_many`: an :class:`EventStream` of one task's or several tasks'
  events, ending after each one's terminal event.
- :func:`wait`: the finished :class:`Task`, or an exception saying why there is none.
- :func:`fan_out`: submit a parent's children (U1-U4, V1-V4, ...) with bounded concurrency and
  follow them all in one stream.
- :func:`submit_and_track` / :func:`submit_and_wait`: the same for a submit you start, e.g.
  ``await client.submit_and_wait(client.imagine("a cat"))``.

Streams are plain async iterators: breaking out of ``async for`` stops following at once. Use
``async with`` (or :meth:`EventStream.aclose`) for a fan-out, whose submits in flight are then
cancelled and awaited before the block ends. Deadlines and timeouts are measured on the
client's clock, so they follow a simulated clock in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Protocol, Self

from ._errors import (
    APIConnectionError,
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
)
from ._models import SubmitResult, Task
from ._poller import Poller, Subscription
from ._retry import seconds

__all__ = [
    "ALL_CHILDREN",
    "EventStream",
    "fan_out",
    "submit_and_track",
    "submit_and_wait",
    "track",
    "track_many",
    "wait",
]

#: The eight children of a finished imagine grid.
ALL_CHILDREN: tuple[str, ...] = ("U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4")


class _Client(Protocol):
    """What following needs from ``OneChatClient``."""

    @property
    def _poller(self) -> Poller: ...

    async def simple_change(
        self, task_id: str, op: str, /, *, state: str | None = None
    ) -> SubmitResult: ...


class EventStream:
    """The events of the followed tasks, in order; it ends after each one's terminal event.

    Nothing is watched until the first ``__anext__``. Several streams may follow the same
    task: each gets every event (one that joins late first hears where the task stands).
    """

    def __init__(
        self,
        poller: Poller,
        ids: Iterable[str] = (),
        *,
        deadline: float | timedelta | None = None,
        submit: Awaitable[SubmitResult] | None = None,
    ) -> None:
        self._poller = poller
        self._ids = list(dict.fromkeys(ids))
        self._deadline_at = None if deadline is None else poller.clock.now() + seconds(deadline)
        self._submit = submit
        self._sub: Subscription | None = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        sub = self._sub
        if sub is None:
            sub = self._sub = Subscription(self._poller, deadline_at=self._deadline_at)
            self._begin(sub)
            if self._submit is not None:
                return await self._submitted(sub, self._submit)
        try:
            return await sub.next()
        except StopAsyncIteration:
            self.close()
            raise

    def _begin(self, sub: Subscription) -> None:
        if self._ids:
            sub.watch(self._ids)

    async def _submitted(self, sub: Subscription, submit: Awaitable[SubmitResult]) -> Submitted:
        self._submit = None
        try:
            result = await submit
        except BaseException:
            self.close()
            raise
        sub.watch([result.task_id])
        return Submitted(result.task_id, result)

    def close(self) -> None:
        """Stop following now; what nobody else watches stops being polled."""
        submit, self._submit = self._submit, None
        if isinstance(submit, Coroutine):
            # Never started: close it so that it does not warn about never being awaited.
            submit.close()
        if self._sub is not None:
            self._sub.close()

    async def aclose(self) -> None:
        """Stop following, and wait until nothing started for this stream is left running."""
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Breaking out of ``async for`` drops the stream: stop polling for it right there.
        with contextlib.suppress(AttributeError):
            self.close()


class _FanOutStream(EventStream):
    def __init__(
        self,
        client: _Client,
        parent_id: str,
        ops: Sequence[str],
        *,
        concurrency: int,
        attempts: int,
        state: str | None,
    ) -> None:
        super().__init__(client._poller)
        self._client = client
        self._parent_id = parent_id
        self._ops = list(ops)
        self._concurrency = concurrency
        self._attempts = attempts
        self._state = state
        self._driver: asyncio.Task[None] | None = None
        self._rng = random.Random()  # noqa: S311 - jitter, not secrets

    def _begin(self, sub: Subscription) -> None:
        sub.pending = len(self._ops)
        if self._ops:
            self._driver = asyncio.get_running_loop().create_task(
                self._submit_all(sub), name=f"onechat-async fan-out of {self._parent_id}"
            )

    async def _submit_all(self, sub: Subscription) -> None:
        ops = iter(self._ops)

        async def worker() -> None:
            for op in ops:
                await self._submit_one(sub, op)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self._concurrency, len(self._ops))):
                group.create_task(worker())

    async def _submit_one(self, sub: Subscription, op: str) -> None:
        poller = self._poller
        failures = 0
        while True:
            try:
                result = await self._client.simple_change(self._parent_id, op, state=self._state)
            except Exception as exc:  # noqa: BLE001 - a child's failure is an event, not a crash
                error = exc if isinstance(exc, OneChatError) else _wrap(exc)
                failures += 1
                if failures >= self._attempts or not _may_resubmit(error):
                    sub.pending -= 1
                    sub.push(SubmitFailed(self._parent_id, self._parent_id, op, error))
                    return
                retry_after = getattr(error, "retry_after", None)
                await poller.clock.sleep(
                    poller.policy.backoff(failures, retry_after=retry_after, rng=self._rng)
                )
            else:
                sub.pending -= 1
                sub.push(Submitted(result.task_id, result, self._parent_id, op))
                with contextlib.suppress(OneChatError):
                    # Only a closed client refuses, and it has told the consumer already.
                    sub.watch([result.task_id])
                return

    def close(self) -> None:
        driver = self._driver
        if driver is not None and not driver.done():
            with contextlib.suppress(RuntimeError):  # the loop may be gone already
                driver.cancel()
        super().close()

    async def aclose(self) -> None:
        self.close()
        if self._driver is not None and not self._driver.done():
            await asyncio.wait({self._driver})


def _wrap(exc: Exception) -> OneChatError:
    error = OneChatError(f"submit failed unexpectedly: {exc!r}")
    error.__cause__ = exc
    return error


def _may_resubmit(error: OneChatError) -> bool:
    """Whether sending the submit again cannot create a second task.

    ``retryable`` on a submit error means no task was created (queue full, rate limited); a
    connection error after the request left may have created one, so it is never resent.
    """
    if isinstance(error, APIConnectionError) and error.request_sent:
        return False
    return error.retryable


def track(
    client: _Client, task_id: str, *, deadline: float | timedelta | None = None
) -> EventStream:
    """Follow one task; the stream ends after its terminal event.

    ``deadline`` (seconds from now) ends it with ``TimedOut`` for this stream only; the
    policy's own deadline still applies to everyone.
    """
    return EventStream(client._poller, [str(task_id)], deadline=deadline)


def track_many(
    client: _Client, ids: Iterable[str], *, deadline: float | timedelta | None = None
) -> EventStream:
    """Follow several tasks in one stream; it ends when every one of them has ended."""
    return EventStream(
        client._poller,
        [str(task_id) for task_id in ids],
        deadline=deadline,
    )


def fan_out(
    client: _Client,
    parent_id: str,
    ops: Sequence[str] = ALL_CHILDREN,
    *,
    concurrency: int = 4,
    attempts: int = 5,
    state: str | None = None,
) -> EventStream:
    """Submit ``ops`` of a finished parent (``"U1"``, ``"V3"``...) and follow every child.

    At most ``concurrency`` submits are in flight. A submit refused because the queue is full
    or the rate limit hit is tried again (up to ``attempts`` times, waiting as the server asked
    or as the poll policy's backoff says). Each accepted child yields ``Submitted`` (its
    ``task_id`` is the child's id) and then its own events; a child that could not be submitted
    yields ``SubmitFailed`` and the others go on. The stream ends when every child has ended.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    return _FanOutStream(
        client, str(parent_id), ops, concurrency=concurrency, attempts=attempts, state=state
    )


def submit_and_track(
    client: _Client,
    submit: Awaitable[SubmitResult],
    *,
    deadline: float | timedelta | None = None,
) -> EventStream:
    """Await ``submit`` (``client.imagine(...)``, say) and follow the task it created.

    The stream starts with ``Submitted``; a submit that fails raises from the first
    ``__anext__``. An unstarted stream that is closed closes the submit coroutine unsent.
    """
    return EventStream(client._poller, deadline=deadline, submit=submit)


async def wait(client: _Client, task_id: str, *, timeout: float | timedelta | None = None) -> Task:
    """The task once it succeeded.

    Raises :class:`TaskFailedError` for FAILURE or CANCEL, :class:`TaskTimeoutError` when
    ``timeout`` (or the policy's deadline) passes first, and :class:`TaskNotFoundError` when
    the server no longer knows the task. A task waiting for a ``/modal`` call is waited for
    like any other: follow it with :func:`track` to react to ``NeedsModal``.
    """
    async with track(client, task_id, deadline=timeout) as events:
        async for event in events:
            if event.is_terminal:
                return _outcome(event)
    raise OneChatError(f"tracking of task {task_id} ended without an outcome")


async def submit_and_wait(
    client: _Client,
    submit: Awaitable[SubmitResult],
    *,
    timeout: float | timedelta | None = None,
) -> Task:
    """Await ``submit`` and then :func:`wait` for the task it created."""
    result = await submit
    return await wait(client, result.task_id, timeout=timeout)


def _outcome(event: Event) -> Task:
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
    raise OneChatError(f"unexpected terminal event {event!r}")
