"""Callbacks shared by two workers on one real store (SQLite file, redis-server), over loopback.

Each worker is a client with its own store connection and its own receiver, as two processes
would have; the simulator strips the hooks, so every callback here is one the test posts.
The clock stands still: nothing is polled, so whatever changes came by a callback.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs
import pytest

from onechat_async import (
    APIConnectionError,
    OneChatClient,
    ProgressChanged,
    SubmitOutcomeUnknownError,
    TaskStatus,
)
from onechat_async._callback_shared import SECRET_NOTE, inbox_note
from onechat_async._journal import KeyState
from onechat_async._store import NoteRecord, TaskRecord
from onechat_async.callbacks import CallbackReceiver, rotate_callback_secret
from onechat_async.stores import MemoryStore, RedisStore, SQLiteStore
from onechat_async.testing import Fault, ManualClock, Simulator
from tests.callbacks.conftest import OTHER_SECRET
from tests.stores.fixtures import redis_url  # noqa: F401 - the session fixture

KEY = "sk-test"


@attrs.define
class Worker:
    """One worker: a client with its own store connection and receiver."""

    client: OneChatClient
    receiver: CallbackReceiver
    store: SQLiteStore | RedisStore

    def link(self) -> Any:
        return self.client._callbacks

    def owner(self) -> str:
        return self.client._durable.owner


@attrs.define
class Pair:
    """Two workers on one store, one simulator, one still clock."""

    sim: Simulator
    clock: ManualClock
    a: Worker
    b: Worker


OpenStore = Callable[[], SQLiteStore | RedisStore]


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """Opens another connection to one shared store (a SQLite file, or a Redis prefix)."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "shared.db")
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{uuid.uuid4().hex}:"
    return lambda: RedisStore(url, prefix=prefix)


@pytest.fixture
async def pair(open_store: OpenStore) -> AsyncIterator[Pair]:
    """Two workers whose receivers serve on loopback, neither given a secret."""
    clock = ManualClock()
    async with Simulator(api_key=KEY, clock=clock, notify_hooks=False) as sim:
        workers = []
        for _ in range(2):
            receiver = CallbackReceiver(clock=clock)
            store = open_store()
            client = OneChatClient(
                api_key=KEY, base_url=sim.url, clock=clock, callbacks=receiver, store=store
            )
            workers.append(Worker(client, receiver, store))
        for worker in workers:
            await worker.receiver.start()
            worker.link().inbox_every = 3600.0  # the tests read inboxes themselves
        try:
            yield Pair(sim, clock, *workers)
        finally:
            for worker in workers:
                await worker.client.aclose()
                await worker.receiver.stop()
                await worker.store.aclose()


def _at(receiver: CallbackReceiver, url: str) -> str:
    """``url`` (a notifyHook minted anywhere) pointed at ``receiver``, its token kept."""
    return f"{receiver.url}?{urlsplit(url).query}"


async def _post(url: str, body: dict[str, Any] | bytes) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as session, session.post(url, data=data) as response:
        return response.status, json.loads(await response.read())


async def test_two_workers_starting_at_once_agree_on_one_secret(pair: Pair) -> None:
    """Both mint at the same moment: one secret is written, and each verifies the other's."""
    await asyncio.gather(pair.a.client.imagine("a fox"), pair.b.client.imagine("a cat"))
    assert pair.a.receiver._signer.secret == pair.b.receiver._signer.secret
    note = await pair.a.store.get_note(SECRET_NOTE)
    assert note is not None
    assert note.version == 1  # written once: the loser of the race read the winner's


async def test_a_callback_minted_by_one_worker_reaches_the_worker_holding_the_task(
    pair: Pair,
) -> None:
    """A's task's callback lands at B: B accepts it, A's inbox gets it, A's tracker applies it."""
    result = await pair.a.client.imagine("a fox")
    state = pair.sim._record(result.task_id).state
    assert state
    body = {"id": result.task_id, "status": "IN_PROGRESS", "progress": "37%", "state": state}
    stream = pair.a.client.track(result.task_id)
    await anext(stream)  # tracked from here on
    url = pair.a.receiver.hook_url(state)
    assert await _post(_at(pair.b.receiver, url), body) == (200, {"accepted": True})
    assert pair.b.receiver.accepted == 1
    assert await pair.a.link().read_inbox() == 1
    tracked = pair.a.client._poller.tracker.task(result.task_id)
    assert tracked is not None
    assert (tracked.status, tracked.progress) == (TaskStatus.IN_PROGRESS, 37)
    assert await pair.a.link().read_inbox() == 0  # drained once
    await stream.aclose()


async def test_a_lost_submit_is_adopted_by_the_worker_that_hears_of_it_and_journaled(
    pair: Pair,
) -> None:
    """A's answer is lost; B receives the first callback, adopts the task, journals the key."""
    pair.sim.inject(Fault(endpoint="imagine", kind="reset", phase="after", count=1))
    with pytest.raises(SubmitOutcomeUnknownError) as caught:
        await pair.a.client.imagine("a lost fox", idempotency_key="job-1")
    state = caught.value.state
    assert state is not None
    assert state.startswith("oc-")  # the link's state, minted before the journal tagged it
    key = await pair.a.store.get_key("job-1")
    assert key is not None
    assert (key.state, key.tag) == (KeyState.UNKNOWN, state)
    (created,) = pair.sim.created
    body = {"id": created.task_id, "status": "SUBMITTED", "state": state}
    url = _at(pair.b.receiver, pair.a.receiver.hook_url(state))
    assert await _post(url, body) == (200, {"accepted": True})
    assert pair.b.client.adopted(state) == (created.task_id,)
    key = await pair.a.store.get_key("job-1")
    assert key is not None
    assert key.state == KeyState.ACCEPTED
    assert key.result is not None
    assert key.result["task_id"] == created.task_id
    task = await pair.a.store.get_task(created.task_id)
    assert task is not None
    assert (task.key, task.owner, task.terminal) == ("job-1", pair.b.owner(), False)
    # The same key now replays the adopted task on either worker; nothing is sent again.
    again = await pair.a.client.imagine("a lost fox", idempotency_key="job-1")
    assert again.task_id == created.task_id
    assert len(pair.sim.created) == 1
    # A duplicate at A is accepted and, B holding the task, forwarded to B.
    assert await _post(pair.a.receiver.hook_url(state), body) == (200, {"accepted": True})
    assert pair.a.client.adopted(state) == ()
    assert await pair.b.link().read_inbox() == 1


async def test_a_rotated_secret_keeps_the_old_tokens_valid_for_the_grace_period(
    pair: Pair,
) -> None:
    """After a rotation new tokens use the new secret; old ones verify until the grace ends."""
    result = await pair.a.client.imagine("a fox")
    state = pair.sim._record(result.task_id).state
    assert state
    body = {"id": result.task_id, "status": "SUBMITTED", "state": state}
    old_url = pair.a.receiver.hook_url(state)
    assert await _post(_at(pair.b.receiver, old_url), body) == (200, {"accepted": True})
    old_secret = pair.b.receiver._signer.secret
    await rotate_callback_secret(pair.a.store, grace=600, clock=pair.clock)
    pair.clock.advance(2)  # past the least time between two reads forced by a failing token
    await pair.a.link()._refresh(force=True)  # A reads it first (as after its next refresh)
    new_url = pair.a.receiver.hook_url(state)
    assert pair.a.receiver._signer.secret != old_secret
    # B still has the old one: the new token fails once, B reads the store again, accepts it.
    assert pair.b.receiver._signer.secret == old_secret
    assert await _post(_at(pair.b.receiver, new_url), body) == (200, {"accepted": True})
    assert pair.b.receiver._signer.secret == pair.a.receiver._signer.secret
    # Tokens minted before the rotation still verify everywhere during the grace period...
    for worker in (pair.a, pair.b):
        assert await _post(_at(worker.receiver, old_url), body) == (200, {"accepted": True})
    # ...and nowhere after it.
    pair.clock.advance(600)
    for worker in (pair.a, pair.b):
        assert await _post(_at(worker.receiver, old_url), body) == (401, {"error": "bad_token"})
    assert await _post(_at(pair.b.receiver, new_url), body) == (200, {"accepted": True})


async def test_bad_calls_are_refused_on_the_other_worker_and_change_nothing(pair: Pair) -> None:
    """Forged, replayed, expired, oversized and unknown-task calls at B: refused, nothing moves."""
    result = await pair.a.client.imagine("a fox")
    state = pair.sim._record(result.task_id).state
    assert state
    genuine = _at(pair.b.receiver, pair.a.receiver.hook_url(state))
    fake = {"id": result.task_id, "status": "SUCCESS", "progress": "100%", "state": state}
    forger = CallbackReceiver(public_url="http://127.0.0.1:9/", secret=OTHER_SECRET)
    expired = CallbackReceiver(
        public_url="http://127.0.0.1:9/",
        secret=pair.a.receiver._signer.secret,
        ttl=1,
        clock=ManualClock(start_wall=0),
    )
    other = _at(pair.b.receiver, pair.a.receiver.hook_url("oc-other"))
    stray = _at(pair.b.receiver, pair.a.receiver.hook_url("oc-stray"))
    attempts = [
        (pair.b.receiver.url, fake, 401, "no_token"),
        (_at(pair.b.receiver, forger.hook_url(state)), fake, 401, "bad_token"),
        (other, fake, 401, "bad_token"),  # a genuine token replayed for another submit
        (_at(pair.b.receiver, expired.hook_url(state)), fake, 401, "expired"),
        (genuine, {**fake, "prompt": "x" * 300_000}, 413, "too_large"),
        (stray, {**fake, "id": "1750000000000999", "state": "oc-stray"}, 403, "unknown_task"),
    ]
    for url, body, status, reason in attempts:
        assert await _post(url, body) == (status, {"error": reason})
    assert pair.b.receiver.accepted == 0
    assert sum(pair.b.receiver.rejected.values()) == len(attempts)
    inbox = await pair.a.store.get_note(inbox_note(pair.a.owner()))
    assert inbox is None
    assert pair.b.client.adopted("oc-stray") == ()
    # A genuine replay is accepted (the upstream repeats itself) and only forwarded.
    assert await _post(genuine, fake) == (200, {"accepted": True})
    assert await _post(genuine, fake) == (200, {"accepted": True})
    assert await pair.a.link().read_inbox() == 2


async def test_the_holder_reads_its_inbox_by_itself(pair: Pair) -> None:
    """A forwarded callback reaches the holder's stream as an event, with no call to read it."""
    pair.a.link().inbox_every = 0.25  # before the first poll (0.5 s after the watch)
    result = await pair.a.client.imagine("a fox")
    state = pair.sim._record(result.task_id).state
    assert state
    body = {"id": result.task_id, "status": "IN_PROGRESS", "progress": "37%", "state": state}
    stream = pair.a.client.track(result.task_id)
    await anext(stream)
    url = _at(pair.b.receiver, pair.a.receiver.hook_url(state))
    assert await _post(url, body) == (200, {"accepted": True})
    pair.clock.advance(0.25)
    async with asyncio.timeout(10):
        event = await anext(stream)
        while not isinstance(event, ProgressChanged):
            event = await anext(stream)
    assert event.progress == 37
    await stream.aclose()


class FlakyStore(MemoryStore):
    """A MemoryStore whose notes or task reads fail on demand, as a store that went away."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()
        self.secret_reads = 0

    async def get_note(self, name: str) -> NoteRecord | None:
        self.secret_reads += name == SECRET_NOTE
        if "notes" in self.broken:
            raise OSError("the store went away")
        return await super().get_note(name)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        if "tasks" in self.broken:
            raise OSError("the store went away")
        return await super().get_task(task_id)


async def test_a_store_failure_before_sending_sends_nothing_and_refuses_the_key() -> None:
    """The shared secret cannot be read: the submit fails as never sent, its key REFUSED."""
    clock = ManualClock()
    store = FlakyStore()
    store.broken.add("notes")
    async with Simulator(api_key=KEY, clock=clock) as sim:
        receiver = CallbackReceiver(clock=clock)
        async with OneChatClient(
            api_key=KEY, base_url=sim.url, clock=clock, callbacks=receiver, store=store
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.imagine("a fox", idempotency_key="job-1")
            assert not caught.value.request_sent
            assert "OSError" in str(caught.value)
            key = await store.get_key("job-1")
            assert key is not None
            assert key.state == KeyState.REFUSED
            assert not sim.created
            # Once the store is back, the same key is sent, once.
            store.broken.clear()
            result = await client.imagine("a fox", idempotency_key="job-1")
            assert [r.task_id for r in sim.created] == [result.task_id]


async def test_a_store_failure_while_checking_refuses_the_call_and_keeps_serving() -> None:
    """A task lookup that fails answers 403 unknown_task; the next call is answered normally."""
    clock = ManualClock()
    store = FlakyStore()
    async with Simulator(api_key=KEY, clock=clock, notify_hooks=False) as sim:
        receiver = CallbackReceiver(clock=clock)
        async with OneChatClient(
            api_key=KEY, base_url=sim.url, clock=clock, callbacks=receiver, store=store
        ) as client:
            await client.imagine("warm up")  # reads the secret, starts the receiver
            url = receiver.hook_url("oc-stray")
            body = {"id": "1750000000000999", "status": "SUBMITTED", "state": "oc-stray"}
            store.broken.add("tasks")
            assert await _post(url, body) == (403, {"error": "unknown_task"})
            store.broken.clear()
            await store.swap_task(0, TaskRecord("1750000000000999"))  # another worker's, free
            assert await _post(url, body) == (200, {"accepted": True})


async def test_forged_calls_cost_the_store_one_read_a_second_at_most() -> None:
    """Each failing token may re-read the secret, but not more than once a second."""
    clock = ManualClock()
    store = FlakyStore()
    async with Simulator(api_key=KEY, clock=clock, notify_hooks=False) as sim:
        receiver = CallbackReceiver(clock=clock)
        async with OneChatClient(
            api_key=KEY, base_url=sim.url, clock=clock, callbacks=receiver, store=store
        ) as client:
            await client.imagine("warm up")  # reads the secret, starts the receiver
            forger = CallbackReceiver(public_url=receiver.url, secret=OTHER_SECRET)
            body = {"id": "1750000000000999", "status": "SUCCESS", "state": "oc-x"}
            reads = store.secret_reads
            for second in range(3):
                clock.advance(1)
                for _ in range(10):
                    answer = await _post(forger.hook_url("oc-x"), body)
                    assert answer == (401, {"error": "bad_token"})
                assert store.secret_reads - reads == second + 1


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_notes_change_by_compare_and_swap(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A note is written once at version 0; a stale version loses; the winner's data stays."""
    if kind == "memory":
        shared_memory = MemoryStore()
        first: MemoryStore | SQLiteStore | RedisStore = shared_memory
        second: MemoryStore | SQLiteStore | RedisStore = shared_memory
    elif kind == "sqlite":
        first, second = SQLiteStore(tmp_path / "n.db"), SQLiteStore(tmp_path / "n.db")
    else:
        url, prefix = request.getfixturevalue("redis_url"), f"test:{uuid.uuid4().hex}:"
        first, second = RedisStore(url, prefix=prefix), RedisStore(url, prefix=prefix)
    try:
        won = await first.swap_note(0, NoteRecord("n", {"a": 1}))
        lost = await second.swap_note(0, NoteRecord("n", {"a": 2}))
        assert won == NoteRecord("n", {"a": 1}, 1)
        assert lost is None
        moved = await second.swap_note(1, NoteRecord("n", {"a": 3}))
        assert moved == NoteRecord("n", {"a": 3}, 2)
        assert await first.swap_note(1, NoteRecord("n", {})) is None
        assert await first.get_note("n") == moved
        assert await first.get_note("missing") is None
    finally:
        await first.aclose()
        await second.aclose()


@pytest.fixture(params=["memory", "sqlite"])
async def alone(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    """One worker (its b is a second look at the same store), with no store or a SQLite one."""
    clock = ManualClock()
    async with Simulator(api_key=KEY, clock=clock, notify_hooks=False) as sim:
        receiver = CallbackReceiver(clock=clock)
        store = None if request.param == "memory" else SQLiteStore(tmp_path / "one.db")
        client = OneChatClient(
            api_key=KEY, base_url=sim.url, clock=clock, callbacks=receiver, store=store
        )
        await receiver.start()
        worker = Worker(client, receiver, client.store)  # type: ignore[arg-type]
        try:
            yield Pair(sim, clock, worker, worker)
        finally:
            await client.aclose()
            await receiver.stop()
            if store is not None:
                await store.aclose()


async def test_a_journaled_submit_is_tagged_with_the_state_its_callbacks_echo(
    alone: Pair,
) -> None:
    """With callbacks on, the key's tag is the minted state the upstream received and echoes."""
    result = await alone.a.client.imagine("a fox", idempotency_key="job-0")
    key = await alone.a.store.get_key("job-0")
    assert key is not None
    state = alone.sim._record(result.task_id).state
    assert state
    assert state.startswith("oc-")
    assert key.tag == state


@pytest.mark.parametrize("keyed", [True, False])
async def test_an_adoption_after_a_lost_answer_is_journaled(alone: Pair, keyed: bool) -> None:
    """The callback's state adopts the task: its record is written and held, its key ACCEPTED."""
    if not keyed and alone.a.client._durable.owns_store:
        pytest.skip("without a store an unkeyed submit is not journaled")
    alone.sim.inject(Fault(endpoint="imagine", kind="reset", phase="after", count=1))
    key = "job-1" if keyed else None
    with pytest.raises(SubmitOutcomeUnknownError) as caught:
        await alone.a.client.imagine("a lost fox", idempotency_key=key)
    state = caught.value.state
    assert state is not None
    (created,) = alone.sim.created
    assert await alone.a.store.get_task(created.task_id) is None
    body = {"id": created.task_id, "status": "SUBMITTED", "state": state}
    assert await _post(alone.a.receiver.hook_url(state), body) == (200, {"accepted": True})
    assert alone.a.client.adopted(state) == (created.task_id,)
    task = await alone.a.store.get_task(created.task_id)
    assert task is not None
    assert (task.key, task.owner) == (key or "", alone.a.owner())
    assert alone.a.client._durable.tasks.record(created.task_id) is not None  # held here
    assert created.task_id in [r.task_id for r in await alone.a.store.unfinished()]  # resume()
    if keyed:
        record = await alone.a.store.get_key("job-1")
        assert record is not None
        assert record.state == KeyState.ACCEPTED
        again = await alone.a.client.imagine("a lost fox", idempotency_key="job-1")
        assert again.task_id == created.task_id
    assert len(alone.sim.created) == 1
