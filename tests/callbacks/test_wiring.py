"""OneChatClient(callbacks=...) against the simulator's callback mode, over real loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest

from onechat_async import (
    Event,
    OneChatClient,
    PollPolicy,
    ProgressChanged,
    StatusChanged,
    SubmitOutcomeUnknownError,
    Task,
    TaskStatus,
)
from onechat_async.callbacks import CallbackReceiver
from onechat_async.testing import Fault, ManualClock, Simulator
from tests.callbacks.conftest import OTHER_SECRET, SECRET

KEY = "sk-test"
FAKE_IMAGE = "https://evil.example/x.png"


@attrs.define
class World:
    """A simulator, a client with a receiver, one auto-advancing clock."""

    sim: Simulator
    client: OneChatClient
    receiver: CallbackReceiver
    clock: ManualClock

    def queries(self) -> int:
        return self.sim.counters["fetch"] + self.sim.counters["list-by-condition"]


OpenWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def open_world() -> AsyncIterator[OpenWorld]:
    """Start a world on demand (simulator options as keywords); closed at teardown."""
    closers: list[Callable[[], Awaitable[None]]] = []

    async def factory(*, callbacks: bool = True, **options: Any) -> World:
        clock = ManualClock(auto_advance=True)
        sim = Simulator(api_key=KEY, clock=clock, **options)
        await sim.start()
        closers.append(sim.aclose)
        receiver = CallbackReceiver(secret=SECRET, clock=clock)
        client = OneChatClient(
            api_key=KEY,
            base_url=sim.url,
            clock=clock,
            callbacks=receiver if callbacks else None,
        )
        closers.append(client.aclose)
        return World(sim, client, receiver, clock)

    try:
        yield factory
    finally:
        for close in reversed(closers):
            await close()


async def _events(world: World, task_id: str) -> list[Event]:
    async with asyncio.timeout(10):
        return [event async for event in world.client.track(task_id)]


def _check_monotonic(events: list[Event]) -> None:
    """Exactly once and in order: each status once, progress only up, one terminal last."""
    statuses = [e.status for e in events if isinstance(e, StatusChanged)]
    assert len(statuses) == len(set(statuses))
    progress = [e.progress for e in events if isinstance(e, ProgressChanged)]
    assert progress == sorted(set(progress))
    assert sum(e.is_terminal for e in events) == 1
    assert events[-1].is_terminal


def _final(events: list[Event]) -> TaskStatus:
    task = getattr(events[-1], "task", None)
    assert isinstance(task, Task)
    return task.status


async def test_each_submit_carries_the_receivers_hook_and_a_state(open_world: OpenWorld) -> None:
    """A submit without a hook gets the receiver's (with a token); one with its own keeps it."""
    world = await open_world(notify_hooks=True)
    results = [
        await world.client.imagine("a fox"),
        await world.client.imagine("a cat", state="mine"),
        await world.client.imagine("a dog", notify_hook="http://127.0.0.1:9/own", state="own"),
    ]
    # What the upstream received (the gateway's own view hides the hook).
    records = [world.sim._record(r.task_id) for r in results]
    hooks = [record.notify_hook for record in records]
    assert hooks[0].startswith(world.receiver.url)
    assert "oc_token=" in hooks[0]
    assert (records[0].state or "").startswith("oc-")
    assert records[1].state == "mine"
    assert hooks[1].startswith(world.receiver.url)
    assert (hooks[2], records[2].state) == ("http://127.0.0.1:9/own", "own")
    assert world.receiver.running


async def test_callbacks_give_every_event_exactly_once_with_fewer_queries(
    open_world: OpenWorld,
) -> None:
    """With callbacks on, a task's events are the same, once each, and polling mostly stops."""
    counts = {}
    for callbacks in (False, True):
        world = await open_world(notify_hooks=True, callbacks=callbacks, hook_duplicate_rate=0.0)
        task_id = (await world.client.imagine("a red fox")).task_id
        events = await _events(world, task_id)
        _check_monotonic(events)
        assert _final(events) is TaskStatus.SUCCESS
        counts[callbacks] = world.queries()
        assert (world.receiver.accepted > 0) is callbacks
    assert counts[True] < counts[False] / 2


async def test_duplicates_and_reordering_change_nothing(open_world: OpenWorld) -> None:
    """Seeded duplicate and late callbacks leave each task's events exactly once and monotonic."""
    world = await open_world(
        notify_hooks=True, hook_duplicate_rate=0.4, hook_reorder_rate=0.4, seed=11
    )
    ids = [(await world.client.imagine(f"task {n}")).task_id for n in range(4)]
    async with asyncio.timeout(10):
        streams = await asyncio.gather(*(_events(world, t) for t in ids))
    for events in streams:
        _check_monotonic(events)
        assert _final(events) is TaskStatus.SUCCESS
    sent = [h for h in world.sim.hooks_sent if h.posted]
    assert len(sent) > len({(h.task_id, h.status, h.progress) for h in sent})  # duplicates came
    assert world.receiver.rejected == {}


async def _post(url: str, body: bytes) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        return response.status, json.loads(await response.read())


async def test_rejected_calls_change_nothing_in_the_clients_events(open_world: OpenWorld) -> None:
    """Forged, replayed, expired, oversized and unknown-task calls are refused; events stay true."""
    world = await open_world(notify_hooks=True, hook_duplicate_rate=0.0)
    result = await world.client.imagine("a red fox", state="oc-victim")
    task_id = result.task_id
    genuine = world.receiver.hook_url("oc-victim")
    forger = CallbackReceiver(public_url=world.receiver.url, secret=OTHER_SECRET)
    fake = {"id": task_id, "status": "SUCCESS", "progress": "100%", "imageUrl": FAKE_IMAGE}
    other_state = world.receiver.hook_url("oc-other")
    expired = CallbackReceiver(
        public_url=world.receiver.url, secret=SECRET, ttl=1, clock=ManualClock(start_wall=0)
    ).hook_url("oc-victim")
    attempts = [
        (world.receiver.url, {**fake, "state": "oc-victim"}, 401, "no_token"),
        (forger.hook_url("oc-victim"), {**fake, "state": "oc-victim"}, 401, "bad_token"),
        # A genuine token replayed for another state (another submit's URL).
        (other_state, {**fake, "state": "oc-victim"}, 401, "bad_token"),
        (expired, {**fake, "state": "oc-victim"}, 401, "expired"),
        (genuine, {**fake, "state": "oc-victim", "prompt": "x" * 300_000}, 413, "too_large"),
        (genuine, {**fake, "id": "1750000000000999", "state": "oc-victim"}, 403, "unknown_task"),
    ]
    stream = world.client.track(task_id)
    first = await anext(stream)  # the task is tracked from here on
    for url, body, status, reason in attempts:
        assert await _post(url, json.dumps(body).encode()) == (status, {"error": reason})
    events = [first, *[event async for event in stream]]
    _check_monotonic(events)
    final = getattr(events[-1], "task", None)
    assert isinstance(final, Task)
    assert final.image_url != FAKE_IMAGE
    assert final.status is TaskStatus.SUCCESS
    assert final.image_url
    assert sum(world.receiver.rejected.values()) == len(attempts)
    assert world.receiver.accepted > 0


async def test_with_callbacks_stripped_everything_completes_by_polling(
    open_world: OpenWorld,
) -> None:
    """The gateway without MjNotifyEnabled drops the hook: tasks still end, by polling alone."""
    world = await open_world(notify_hooks=False)
    ids = [(await world.client.imagine(f"task {n}")).task_id for n in range(3)]
    async with asyncio.timeout(10):
        streams = await asyncio.gather(*(_events(world, t) for t in ids))
    for events in streams:
        _check_monotonic(events)
        assert _final(events) is TaskStatus.SUCCESS
    assert world.receiver.accepted == 0
    assert world.sim.hooks_sent == ()
    assert all(world.sim._record(t).notify_hook == "" for t in ids)


async def test_a_lost_submit_answer_is_resolved_by_the_callbacks_state(
    open_world: OpenWorld,
) -> None:
    """The submit's answer is dropped; its first callback adopts the task, which is tracked."""
    world = await open_world(notify_hooks=True, hook_duplicate_rate=0.0)
    world.sim.inject(Fault(endpoint="imagine", kind="reset", phase="after", count=1))
    with pytest.raises(SubmitOutcomeUnknownError) as caught:
        await world.client.imagine("a lost fox")
    state = caught.value.state
    assert state is not None
    assert world.client.adopted(state) == ()
    (created,) = world.sim.created
    assert world.client._poller.tracker.state(created.task_id) is None
    # Time passes (auto-advance) until a callback has adopted the task.
    async with asyncio.timeout(10):
        while not world.client.adopted(state):
            await world.clock.sleep(1)
    assert world.client.adopted(state) == (created.task_id,)
    assert created.task_id in world.client._poller.tracker
    task = await asyncio.wait_for(world.client.wait(created.task_id), 10)
    assert (task.id, task.state, task.status) == (created.task_id, state, TaskStatus.SUCCESS)
    assert len(world.sim.created) == 1  # adopted, never sent again


async def test_a_callback_for_a_state_this_client_never_sent_is_refused(
    open_world: OpenWorld,
) -> None:
    """A genuine token on a task nobody tracks and no open submit: 403, and nothing adopted."""
    world = await open_world(notify_hooks=True)
    await world.client.imagine("warm up")  # starts the receiver
    url = world.receiver.hook_url("oc-stray")
    body = {"id": "1750000000000777", "status": "SUBMITTED", "state": "oc-stray"}
    assert await _post(url, json.dumps(body).encode()) == (403, {"error": "unknown_task"})
    assert world.client.adopted("oc-stray") == ()
    assert "1750000000000777" not in world.client._poller.tracker


async def test_the_client_stops_the_receiver_it_started_and_not_one_it_was_lent() -> None:
    """A receiver the client started is stopped on close; an already-running one stays up."""
    async with Simulator(api_key=KEY) as sim:
        started = CallbackReceiver(secret=SECRET)
        async with OneChatClient(api_key=KEY, base_url=sim.url, callbacks=started) as client:
            await client.imagine("a fox")
            assert started.running
        assert not _serving(started)
        async with CallbackReceiver(secret=SECRET) as lent:
            async with OneChatClient(api_key=KEY, base_url=sim.url, callbacks=lent) as client:
                await client.imagine("a fox")
                state = lent.new_state()
                client._callbacks._opened(state)  # type: ignore[union-attr]  # a lost submit
            assert _serving(lent)
            # Calls that come after the client closed are refused, not a crash of the server.
            body = {"id": "1750000000000555", "status": "SUBMITTED", "state": state}
            answer = await _post(lent.hook_url(state), json.dumps(body).encode())
            assert answer == (403, {"error": "unknown_task"})
        mounted = CallbackReceiver(public_url="https://hooks.example/", serve=False)
        async with OneChatClient(api_key=KEY, base_url=sim.url, callbacks=mounted) as client:
            await client.imagine("a fox")
            assert not mounted.running


def _serving(receiver: CallbackReceiver) -> bool:
    # A function, so that mypy does not carry its narrowing of .running across the block.
    return receiver.running


def test_callbacks_must_be_a_receiver() -> None:
    """Anything else given as callbacks= is refused at construction."""
    with pytest.raises(ValueError, match="CallbackReceiver"):
        OneChatClient(api_key=KEY, callbacks="http://127.0.0.1/")  # type: ignore[arg-type]


def test_reconcile_interval_follows_the_interval() -> None:
    """The reconcile interval defaults to three intervals and can be set."""
    assert PollPolicy(interval=2).reconcile_interval == 6
    assert PollPolicy(reconcile_interval=30).reconcile_interval == 30
    with pytest.raises(ValueError, match="reconcile_interval"):
        PollPolicy(reconcile_interval=0)
