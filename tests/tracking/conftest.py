"""Fakes for the tracking tests: a clock that jumps instead of sleeping, and a scripted server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from onechat_async._errors import OneChatError, TaskNotFoundError
from onechat_async._models import SubmitResult, Task
from onechat_async._policy import PollPolicy
from onechat_async._poller import Poller
from onechat_async._wire import decode_task


class FakeClock:
    """Monotonic time that moves only when someone sleeps on it, and then at once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t

    async def sleep(self, seconds: float) -> None:
        target = self.t + max(0.0, seconds)
        # Yield once so that other coroutines run "during" the sleep, then jump.
        await asyncio.sleep(0)
        self.t = max(self.t, target)


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

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.timelines: dict[str, tuple[float, list[Step], dict[str, Any]]] = {}
        self.list_calls: list[list[str]] = []
        self.list_times: list[float] = []
        self.listed = asyncio.Event()
        self.fetch_calls: list[str] = []
        self.list_fault: Callable[[Sequence[str]], Exception | None] = lambda ids: None
        self.fetch_fault: Callable[[str], Exception | None] = lambda task_id: None
        self.omit: set[str] = set()  # left out of list answers though still fetchable
        self.in_flight = 0
        self.max_in_flight = 0
        self.submits: list[tuple[str, str]] = []
        self.submit_fault: Callable[[str, str, int], Exception | None] = lambda p, op, n: None
        self._ids = itertools.count(1_748_339_029_401_000)

    def add(self, task_id: str, steps: Sequence[Step] = PATH, **extra: Any) -> str:
        self.timelines[task_id] = (self._clock.now(), list(steps), extra)
        return task_id

    def vanish(self, task_id: str) -> None:
        self.timelines.pop(task_id, None)

    def current(self, task_id: str) -> dict[str, Any] | None:
        entry = self.timelines.get(task_id)
        if entry is None:
            return None
        born, steps, extra = entry
        elapsed = self._clock.now() - born
        step = steps[0]
        for candidate in steps:
            if candidate[0] <= elapsed:
                step = candidate
        fail = "[Invalid parameter] Invalid value" if step[1] == "FAILURE" else ""
        return raw_task(task_id, step[1], step[2], failReason=fail, **extra)

    async def _poll_list(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        self.list_calls.append(list(ids))
        self.list_times.append(self._clock.now())
        self.listed.set()
        await self._enter()
        try:
            fault = self.list_fault(ids)
            if fault is not None:
                raise fault
            found = [self.current(task_id) for task_id in ids if task_id not in self.omit]
            return [raw for raw in found if raw is not None]
        finally:
            self.in_flight -= 1

    async def _poll_fetch(self, task_id: str) -> Task:
        self.fetch_calls.append(task_id)
        await self._enter()
        try:
            fault = self.fetch_fault(task_id)
            if fault is not None:
                raise fault
            raw = self.current(task_id)
            if raw is None:
                raise TaskNotFoundError("task_no_found", status=400, task_id=task_id)
            return decode_task(raw)
        finally:
            self.in_flight -= 1

    async def _enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0)


class FakeClient(FakeServer):
    """The client surface that following needs: the poller seam plus simple_change."""

    def __init__(self, clock: FakeClock, policy: PollPolicy) -> None:
        super().__init__(clock)
        self._poller = Poller(self, policy)
        self.child_steps: list[Step] = PATH
        self.submitting = 0
        self.max_submitting = 0

    async def simple_change(
        self, task_id: str, op: str, *, state: str | None = None
    ) -> SubmitResult:
        self.submits.append((task_id, op))
        self.submitting += 1
        self.max_submitting = max(self.max_submitting, self.submitting)
        try:
            await asyncio.sleep(0)
            attempt = sum(1 for submit in self.submits if submit == (task_id, op))
            fault = self.submit_fault(task_id, op, attempt)
            if fault is not None:
                raise fault
            child = self.add(str(next(self._ids)), self.child_steps, state=state or "")
            return SubmitResult(task_id=child, code=1, description="提交成功")
        finally:
            self.submitting -= 1

    async def imagine(self, prompt: str) -> SubmitResult:
        if not prompt:
            raise OneChatError("blank prompt")
        child = self.add(str(next(self._ids)), self.child_steps)
        return SubmitResult(task_id=child)

    async def aclose(self) -> None:
        await self._poller.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy() -> PollPolicy:
    return PollPolicy(backoff_jitter=0)


@pytest.fixture
async def client(clock: FakeClock, policy: PollPolicy) -> Any:
    fake = FakeClient(clock, policy)
    yield fake
    await fake.aclose()
