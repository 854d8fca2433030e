"""Fakes for the tracking tests: a scripted server behind the poller, on the test clock.

The clock is :class:`~onechat_async.testing.ManualClock` with ``auto_advance``: time jumps to
the next sleeper only when every coroutine waits, so a fake request or a poll answer being
handed back never sees time jump past it, and an hour of polling takes milliseconds.
Helpers open streams over the fake client the way ``OneChatClient``'s methods do.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest

from onechat_async import _follow
from onechat_async._backoff import Backoff
from onechat_async._errors import OneChatError, TaskNotFoundError
from onechat_async._events import Event
from onechat_async._follow import ALL_CHILDREN, EventStream
from onechat_async._models import SubmitResult, Task
from onechat_async._policy import PollPolicy
from onechat_async._poller import Poller
from onechat_async._wire import Row, row_of
from onechat_async.testing import ManualClock

_T = TypeVar("_T")

#: The default poll backoff (2 s doubling to 60 s) without jitter, so waits can be asserted.
NO_JITTER = Backoff(wait_initial=2.0, wait_max=60.0, wait_jitter=0.0)


Step = tuple[float, str, str]  # (seconds after creation, status, progress)


def raw_task(task_id: str, status: str, progress: str = "", **extra: Any) -> dict[str, Any]:
    """A wire task dict as the gateway sends it."""
    raw: dict[str, Any] = {
        "id": task_id,
        "action": "IMAGINE",
        "status": status,
        "progress": progress,
        "failReason": extra.pop("failReason", ""),
        "imageUrl": f"https://example.invalid/mj/image/{task_id}?rand={id(extra)}",
        "finishTime": extra.pop("finishTime", 0),
        "description": "提交成功",
    }
    raw.update(extra)
    return raw


PATH: list[Step] = [
    (0, "NOT_START", ""),
    (10, "SUBMITTED", "0%"),
    (25, "IN_PROGRESS", "20%"),
    (40, "IN_PROGRESS", "60%"),
    (55, "SUCCESS", "100%"),
]


class FakeServer:
    """Implements the poller's backend seam over scripted task timelines; counts every call."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.timelines: dict[str, tuple[float, list[Step], dict[str, Any]]] = {}
        #: Fields laid over a task's snapshot on every answer (hostile values, say).
        self.overrides: dict[str, dict[str, Any]] = {}
        self.list_calls: list[list[str]] = []
        self.list_times: list[float] = []
        self.listed = asyncio.Event()
        self.fetch_calls: list[str] = []
        self.fetch_times: list[float] = []
        self.list_fault: Callable[[Sequence[str]], Exception | None] = lambda ids: None
        self.fetch_fault: Callable[[str], Exception | None] = lambda task_id: None
        self.omit: set[str] = set()  # left out of list answers though still fetchable
        self.list_missing = False  # the server has no list-by-condition
        self.hang_lists = False  # list requests never answer
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count(1_748_339_029_401_000)

    def add(self, task_id: str, steps: Sequence[Step] = PATH, **extra: Any) -> str:
        self.timelines[task_id] = (self.clock.now(), list(steps), extra)
        return task_id

    def new_id(self) -> str:
        return str(next(self._ids))

    def vanish(self, task_id: str) -> None:
        self.timelines.pop(task_id, None)

    def current(self, task_id: str) -> dict[str, Any] | None:
        entry = self.timelines.get(task_id)
        if entry is None:
            return None
        born, steps, extra = entry
        elapsed = self.clock.now() - born
        step = steps[0]
        for candidate in steps:
            if candidate[0] <= elapsed:
                step = candidate
        fail = "[Invalid parameter] Invalid value" if step[1] == "FAILURE" else ""
        raw = raw_task(task_id, step[1], step[2], failReason=fail, **extra)
        raw.update(self.overrides.get(task_id, {}))
        return raw

    async def list_raw(self, task_ids: Sequence[str]) -> list[Row] | None:
        self.list_calls.append(list(task_ids))
        self.list_times.append(self.clock.now())
        self.listed.set()
        await self._enter()
        try:
            if self.hang_lists:
                await asyncio.Event().wait()
            fault = self.list_fault(task_ids)
            if fault is not None:
                raise fault
            if self.list_missing:
                return None
            found = [self.current(task_id) for task_id in task_ids if task_id not in self.omit]
            return [row_of(raw) for raw in found if raw is not None]
        finally:
            self.in_flight -= 1

    async def fetch_raw(self, task_id: str) -> object:
        self.fetch_calls.append(task_id)
        self.fetch_times.append(self.clock.now())
        await self._enter()
        try:
            fault = self.fetch_fault(task_id)
            if fault is not None:
                raise fault
            raw = self.current(task_id)
            if raw is None:
                raise TaskNotFoundError("task_no_found", status=400, task_id=task_id)
            return raw
        finally:
            self.in_flight -= 1

    async def _enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0)


class FakeClient(FakeServer):
    """What following needs from a client: a poller over the fake server, and submits."""

    def __init__(self, clock: ManualClock, policy: PollPolicy) -> None:
        super().__init__(clock)
        self._poller = Poller(self, policy, clock=clock, rng=random.Random(0))  # noqa: S311
        self.child_steps: list[Step] = PATH
        self.submits: list[tuple[str, str]] = []
        #: (op, attempt, clock time) of every child submit.
        self.submit_times: list[tuple[str, int, float]] = []
        self.submit_fault: Callable[[str, str, int], Exception | None] = lambda p, op, n: None
        self.submitting = 0
        self.max_submitting = 0

    @property
    def poller(self) -> Poller:
        return self._poller

    def deadline_at(self, seconds: float | None) -> float | None:
        """A deadline ``seconds`` from now on the client's clock, as the client computes it."""
        return None if seconds is None else self.clock.now() + seconds

    async def simple_change(self, task_id: str, op: str) -> SubmitResult:
        self.submits.append((task_id, op))
        attempt = sum(1 for submit in self.submits if submit == (task_id, op))
        self.submit_times.append((op, attempt, self.clock.now()))
        self.submitting += 1
        self.max_submitting = max(self.max_submitting, self.submitting)
        try:
            await asyncio.sleep(0)
            fault = self.submit_fault(task_id, op, attempt)
            if fault is not None:
                raise fault
            child = self.add(self.new_id(), self.child_steps)
            return SubmitResult(task_id=child, code=1, description="提交成功")
        finally:
            self.submitting -= 1

    async def imagine(self, prompt: str) -> SubmitResult:
        if not prompt:
            raise OneChatError("blank prompt")
        child = self.add(self.new_id(), self.child_steps)
        return SubmitResult(task_id=child)

    async def aclose(self) -> None:
        await self._poller.aclose()


# -- the client's doors onto _follow, over the fake client ----------------------------------


def track(client: FakeClient, *ids: str, deadline: float | None = None) -> EventStream:
    """Follow ``ids`` in one stream, like ``OneChatClient.track``/``track_many``."""
    return _follow.track(client.poller, ids, deadline_at=client.deadline_at(deadline))


async def wait(client: FakeClient, task_id: str, *, timeout: float | None = None) -> Task:
    """The finished task, like ``OneChatClient.wait``."""
    return await _follow.wait(client.poller, task_id, deadline_at=client.deadline_at(timeout))


def fan_out(
    client: FakeClient,
    parent_id: str,
    ops: Sequence[str] = ALL_CHILDREN,
    *,
    concurrency: int = 4,
    attempts: int = 5,
) -> EventStream:
    """Submit and follow ``ops`` of ``parent_id``, like ``OneChatClient.fan_out``."""
    return _follow.fan_out(
        client.poller,
        client.simple_change,
        parent_id,
        ops,
        concurrency=concurrency,
        attempts=attempts,
        backoff=client.poller.policy.backoff,
        clock=client.clock,
        rng=random.Random(0),  # noqa: S311 - jitter, not secrets
    )


def submit_and_track(
    client: FakeClient, submit: Awaitable[SubmitResult], *, deadline: float | None = None
) -> EventStream:
    """Await ``submit`` and follow its task, like ``OneChatClient.submit_and_track``."""
    return _follow.submit_and_track(client.poller, submit, deadline_at=client.deadline_at(deadline))


async def within(clock: ManualClock, seconds: float, work: Awaitable[_T]) -> _T:
    """``work``'s result, or TimeoutError once ``seconds`` have passed on the test clock.

    A guard that costs no real time: when everything else waits for ever (a hang), the
    clock jumps to this alarm at once and the test fails instead of hanging.
    """
    task = asyncio.ensure_future(work)
    alarm = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, alarm}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        alarm.cancel()
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
        raise TimeoutError(f"still waiting after {seconds} s on the test clock")
    return task.result()


async def collect(stream: EventStream) -> list[Event]:
    """Every event of ``stream``, to its end."""
    return [event async for event in stream]


def kinds(events: Sequence[Event]) -> list[str]:
    """The event class names, in order."""
    return [type(event).__name__ for event in events]


def other_tasks() -> set[asyncio.Task[Any]]:
    """The asyncio tasks still running besides the current one."""
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


#: Where the tracking tests' clock starts: not 0, so that no time can pass for a duration.
START = 1000.0


@pytest.fixture
def clock() -> ManualClock:
    """The test clock, moving by itself whenever everything waits on it."""
    return ManualClock(auto_advance=True, start=START)


@pytest.fixture
def policy() -> PollPolicy:
    return PollPolicy(backoff=NO_JITTER)


@pytest.fixture
async def client(clock: ManualClock, policy: PollPolicy) -> AsyncIterator[FakeClient]:
    fake = FakeClient(clock, policy)
    yield fake
    await fake.aclose()
