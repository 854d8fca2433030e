"""Idempotent submits end to end: the journal, the admission gate and a paid request, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest

from onechat_async._admission import AdmissionGate
from onechat_async._errors import (
    APITimeoutError,
    BannedPromptError,
    OneChatError,
    QueueFullError,
    SubmitOutcomeUnknownError,
)
from onechat_async._journal import KeyState
from onechat_async._keyed import SubmitJournal
from onechat_async._models import SubmitResult
from onechat_async._store import KeyRecord, Store, TaskRecord
from onechat_async.stores import MemoryStore
from onechat_async.testing import ManualClock

SEND_TTL = 1e6  # an auto-advancing clock must never outrun a request that is still alive


class PaidServer:
    """Answers each submit from a script and counts every one it was sent (each one is paid)."""

    def __init__(self, *answers: SubmitResult | OneChatError) -> None:
        self.answers = list(answers)
        self.sent = 0
        self.hold: asyncio.Event | None = None
        self.arrived = asyncio.Event()

    async def send(self) -> SubmitResult:
        self.sent += 1
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, OneChatError):
            raise answer
        return answer


def result(task_id: str = "1748339029401828") -> SubmitResult:
    return SubmitResult(task_id=task_id, description="提交成功")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(auto_advance=True)


@pytest.fixture
async def memory() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.aclose()


def journal(store: Store, clock: ManualClock, **changes: Any) -> SubmitJournal:
    made = SubmitJournal(store=store, owner="w1", clock=clock, send_ttl=SEND_TTL, task_ttl=60.0)
    return attrs.evolve(made, **changes)


async def test_a_second_submit_with_the_key_replays_the_result_without_sending(
    store: Store, clock: ManualClock
) -> None:
    """Once a key's task exists, the same submit answers the same result and sends nothing."""
    server = PaidServer(result())
    first = await journal(store, clock).submit("job-1", server.send, tag="order-1")
    again = await journal(store, clock, owner="w2").submit("job-1", server.send)
    assert first == again == result()
    assert server.sent == 1
    task = await store.get_task(result().task_id)
    assert task is not None
    assert (task.key, task.owner, task.terminal) == ("job-1", "w1", False)


async def test_concurrent_submits_with_one_key_send_once(store: Store, clock: ManualClock) -> None:
    """Ten callers (two workers) with one key at once: one request, ten identical results."""
    server = PaidServer(result())
    workers = [journal(store, clock, owner=f"w{n % 2}") for n in range(10)]
    results = await asyncio.gather(*(w.submit("job-1", server.send) for w in workers))
    assert results == [result()] * 10
    assert server.sent == 1


async def test_a_submit_whose_outcome_is_unknown_is_never_sent_again(
    memory: MemoryStore, clock: ManualClock
) -> None:
    """A timeout after sending records UNKNOWN; the same key then raises without sending."""
    server = PaidServer(APITimeoutError("slow"))
    with pytest.raises(APITimeoutError):
        await journal(memory, clock).submit("job-1", server.send, tag="order-1")
    with pytest.raises(SubmitOutcomeUnknownError) as caught:
        await journal(memory, clock).submit("job-1", server.send, tag="other")
    assert server.sent == 1
    assert caught.value.reason == "unknown"
    assert caught.value.state == "order-1"


async def test_a_worker_that_died_sending_leaves_an_unknown_key(
    memory: MemoryStore, clock: ManualClock
) -> None:
    """A SENDING record whose lease ran out (its worker died) raises outcome-unknown."""
    dead = KeyRecord(
        key="job-1", state=KeyState.SENDING, owner="dead", lease_until=clock.wall() + 30
    )
    await memory.swap_key(0, dead)
    server = PaidServer(result())
    with pytest.raises(SubmitOutcomeUnknownError) as caught:
        await journal(memory, clock).submit("job-1", server.send)
    assert caught.value.reason == "interrupted"
    assert server.sent == 0
    assert clock.now() >= 30  # it waited out the lease before deciding


async def test_a_refused_submit_may_be_sent_again_with_the_same_key(
    memory: MemoryStore, clock: ManualClock
) -> None:
    """A refusal proves no task: the next submit with the key sends, and its task is kept."""
    server = PaidServer(BannedPromptError("banned", code=24), result())
    with pytest.raises(BannedPromptError):
        await journal(memory, clock).submit("job-1", server.send)
    assert await journal(memory, clock).submit("job-1", server.send) == result()
    assert server.sent == 2


async def test_a_submit_cancelled_in_flight_is_recorded_as_unknown(
    memory: MemoryStore, clock: ManualClock
) -> None:
    """Cancelling the request after it left records UNKNOWN (reason 'cancelled') for the key."""
    server = PaidServer(result())
    server.hold = asyncio.Event()
    call = asyncio.create_task(journal(memory, clock).submit("job-1", server.send))
    await server.arrived.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    record = await memory.get_key("job-1")
    assert record is not None
    assert (record.state, record.detail) == (KeyState.UNKNOWN, "cancelled")


async def test_queue_full_refusals_are_retried_through_admission_until_accepted(
    memory: MemoryStore, clock: ManualClock
) -> None:
    """Queue-full answers shrink the window and go round again; the caller only sees success."""
    gate = AdmissionGate(memory, max_in_flight=8, clock=clock)
    server = PaidServer(QueueFullError("full", code=23), QueueFullError("full", code=23), result())
    submitted = await journal(memory, clock, gate=gate).submit(
        "job-1", server.send, retry=lambda attempt, error: 1.0
    )
    assert submitted == result()
    assert server.sent == 3
    assert gate.window.limit == 2
    # The submit's permit now stands for its task.
    assert await memory.count_permits(now=clock.wall()) == 1
    await gate.release(submitted.task_id)
    assert await memory.count_permits(now=clock.wall()) == 0


@pytest.mark.parametrize(
    ("retry", "error"),
    [
        (None, QueueFullError("full", code=23)),
        (lambda attempt, error: None, QueueFullError("full", code=23)),
        (lambda attempt, error: 1.0, BannedPromptError("banned", code=24)),
    ],
    ids=["no-retry", "retry-gives-up", "not-resendable"],
)
async def test_refusals_reach_the_caller_when_retry_does_not_ask_for_another_try(
    memory: MemoryStore,
    clock: ManualClock,
    retry: Callable[[int, OneChatError], float | None] | None,
    error: OneChatError,
) -> None:
    """No retry, a retry that gives up, or a refusal not worth repeating: the caller gets it."""
    gate = AdmissionGate(memory, max_in_flight=2, clock=clock)
    server = PaidServer(error)
    with pytest.raises(type(error)):
        await journal(memory, clock, gate=gate).submit("job-1", server.send, retry=retry)
    assert server.sent == 1
    assert await memory.count_permits(now=clock.wall()) == 0


async def test_an_unknown_outcome_keeps_its_permit_until_it_expires(
    memory: MemoryStore, clock: ManualClock
) -> None:
    """A submit that may have made a task keeps counting against the account for a while."""
    gate = AdmissionGate(memory, max_in_flight=2, clock=clock, ttl=60.0)
    with pytest.raises(APITimeoutError):
        await journal(memory, clock, gate=gate).submit(
            "job-1", PaidServer(APITimeoutError("x")).send
        )
    assert await memory.count_permits(now=clock.wall()) == 1
    assert await memory.count_permits(now=clock.wall() + 60) == 0


async def test_submits_without_a_key_are_admitted_and_their_tasks_journaled(
    memory: MemoryStore, clock: ManualClock
) -> None:
    """key=None skips the idempotency record but still counts the task and journals it."""
    gate = AdmissionGate(memory, max_in_flight=2, clock=clock)
    server = PaidServer(result("t-1"), result("t-2"))
    sub = journal(memory, clock, gate=gate)
    assert [await sub.submit(None, server.send) for _ in range(2)] == [result("t-1"), result("t-2")]
    assert sorted(r.task_id for r in await memory.unfinished()) == ["t-1", "t-2"]
    assert await memory.count_permits(now=clock.wall()) == 2


async def test_a_journal_that_fails_after_the_answer_still_returns_the_result(
    memory: MemoryStore, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A store error while recording the outcome is logged; the caller still gets its task."""

    class Broken(MemoryStore):
        async def swap_task(self, expected_version: int, record: TaskRecord) -> TaskRecord | None:
            raise ConnectionError("store down")

    broken = Broken()
    assert await journal(broken, clock).submit("job-1", PaidServer(result()).send) == result()
    assert "could not record" in caplog.text
    record = await broken.get_key("job-1")
    assert record is not None
    assert record.state == KeyState.ACCEPTED
