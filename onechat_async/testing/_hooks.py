"""notifyHook callbacks: one POST of the task JSON per status or progress increase.

One background task keeps a heap of (next change time, task id) for the tasks that carry a
hook, so nothing is polled: it sleeps on the shared clock until the earliest change, posts
what changed, and schedules that task's next change. Posts run as tracked tasks (a slow
receiver delays nobody), are never retried, and are cancelled on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from onechat_async._clock import Clock

from ._lifecycle import Snapshot, Timings, next_change, rank, upstream_at
from ._store import Store, TaskRecord

__all__ = ["HookDispatcher"]

_log = logging.getLogger("onechat_async.testing")


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
        timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._timings = timings
        self._render = render
        self._duplicate_rate = duplicate_rate
        self._on_sent = on_sent
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
        payload = json.dumps(self._render(record, snap), ensure_ascii=False).encode()
        copies = 2 if self._store.chance(self._duplicate_rate) else 1
        for _ in range(copies):
            post = asyncio.get_running_loop().create_task(self._post(record.notify_hook, payload))
            self._posts.add(post)
            post.add_done_callback(self._posts.discard)

    async def _post(self, url: str, payload: bytes) -> None:
        assert self._session is not None  # noqa: S101 - started before any watch
        self._on_sent()
        try:
            async with self._session.post(
                url,
                data=payload,
                headers={"Content-Type": "application/json"},
            ) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # The upstream does not retry and does not care; neither do we.
            _log.debug("notifyHook %s failed: %r", url, error)
