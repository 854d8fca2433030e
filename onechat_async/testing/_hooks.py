"""notifyHook callbacks: one POST of the task JSON per status or progress increase.

One background task keeps a heap of (next change time, task id) for the tasks that carry a
hook, so nothing is polled: it sleeps on the shared clock until the earliest change, posts
what changed, and schedules that task's next change. Posts run as tracked tasks (a slow
receiver delays nobody), are never retried, and are cancelled on close.

Like the real upstream the calls are unsigned; for tests of a receiver they can also be made
worse, with seeded dice: ``duplicate_rate`` posts a change twice, ``drop_rate`` never posts
it (a lost call), ``reorder_rate`` holds a non-final change back and posts it right after
the task's next one (an old state arriving late). Every post is recorded in :attr:`sent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import attrs

from onechat_async._clock import Clock

from ._lifecycle import TERMINAL, Snapshot, Timings, next_change, rank, upstream_at
from ._store import Store, TaskRecord

__all__ = ["HookDispatcher", "SentHook"]

_log = logging.getLogger("onechat_async.testing")


@attrs.frozen
class SentHook:
    """One callback the simulator posted (or dropped), in the order it decided to.

    Read them from :attr:`Simulator.hooks_sent`.

    :ivar task_id: The task the callback is about.
    :ivar status: The task's status it carried.
    :ivar progress: The task's progress it carried, as on the wire (``"45%"``).
    :ivar posted: False when the drop dice said this call is lost: it was never posted.
    """

    task_id: str
    status: str
    progress: str
    #: False when the drop dice said this call is lost: it was never posted.
    posted: bool = True


def _where(url: str) -> str:
    """A hook URL without its query and fragment: those may carry a receiver's token."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


class HookDispatcher:
    """Delivers the callbacks of every task that has a ``notifyHook``."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        timings: Timings,
        render: Callable[[TaskRecord, Snapshot], dict[str, Any]],
        duplicate_rate: float,
        on_sent: Callable[[], None],
        drop_rate: float = 0.0,
        reorder_rate: float = 0.0,
        seed: int = 0,
        timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._timings = timings
        self._render = render
        self._duplicate_rate = duplicate_rate
        self._drop_rate = drop_rate
        self._reorder_rate = reorder_rate
        # Its own dice: turning drops or reordering on leaves ids and the other dice as they were.
        self._rng = random.Random(f"{seed}:hooks")  # noqa: S311 - replayable test dice
        self._on_sent = on_sent
        #: A change held back per task, posted right after that task's next change.
        self._held: dict[str, tuple[str, bytes, SentHook]] = {}
        #: Every call decided on, in order (duplicates once each copy, drops marked).
        self.sent: list[SentHook] = []
        self._timeout = timeout
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._posts: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        """Begin delivering (inside the running loop)."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    def watch(self, record: TaskRecord) -> None:
        """Follow ``record`` from now on (called whenever its plan is fixed)."""
        if not record.notify_hook:
            return
        due = next_change(record.plan, self._clock.now(), self._timings)
        if due is not None:
            heapq.heappush(self._heap, (due, next(self._order), record.id))
            self._wake.set()

    async def aclose(self) -> None:
        """Stop the loop, cancel posts in flight, close the session."""
        tasks = [t for t in (self._loop_task, *self._posts) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop_task = None
        self._posts.clear()
        self._held.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._heap:
                await self._wake.wait()
                continue
            due = self._heap[0][0]
            now = self._clock.now()
            if due > now:
                await self._sleep_or_wake(due - now)
                continue
            _, _, task_id = heapq.heappop(self._heap)
            record = self._store.get(task_id, now)
            if record is None:
                continue
            self._deliver(record, now)
            following = next_change(record.plan, now, self._timings)
            if following is not None:
                heapq.heappush(self._heap, (following, next(self._order), task_id))

    async def _sleep_or_wake(self, seconds: float) -> None:
        # A newly watched task may be due earlier than the one we would sleep for.
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    def _deliver(self, record: TaskRecord, now: float) -> None:
        snap = upstream_at(record.plan, now, self._timings)
        level = rank(snap)
        if level <= record.hook_rank:
            return
        record.hook_rank = level
        rendered = self._render(record, snap)
        payload = json.dumps(rendered, ensure_ascii=False).encode()
        copies = 2 if self._store.chance(self._duplicate_rate) else 1
        note = SentHook(record.id, snap.status, str(rendered.get("progress")))
        if self._drop_rate and self._rng.random() < self._drop_rate:
            self.sent.append(attrs.evolve(note, posted=False))
            copies = 0
        held = self._held.pop(record.id, None)
        if (
            copies
            and held is None
            and snap.status not in TERMINAL
            and self._reorder_rate
            and self._rng.random() < self._reorder_rate
        ):
            self._held[record.id] = (record.notify_hook, payload, note)
            return
        for _ in range(copies):
            self._send(record.notify_hook, payload, note)
        if held is not None:
            self._send(*held)

    def _send(self, url: str, payload: bytes, note: SentHook) -> None:
        self.sent.append(note)
        post = asyncio.get_running_loop().create_task(self._post(url, payload))
        self._posts.add(post)
        post.add_done_callback(self._posts.discard)

    async def _post(self, url: str, payload: bytes) -> None:
        assert self._session is not None  # noqa: S101 - started before any watch
        self._on_sent()
        # Like a client's request, a post in flight holds an auto-advancing clock still.
        busy = getattr(self._clock, "busy", contextlib.nullcontext)
        try:
            with busy():
                async with self._session.post(
                    url,
                    data=payload,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # The upstream does not retry and does not care; neither do we.
            _log.debug("notifyHook %s failed: %s", _where(url), type(error).__name__)
