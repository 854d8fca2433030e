"""The simulator's callback mode against a real receiver on 127.0.0.1, every door of it."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from onechat_async import OneChatClient, Task
from onechat_async.callbacks import TOKEN_PARAM, CallbackReceiver
from onechat_async.testing import ManualClock, Simulator
from tests.callbacks.conftest import OTHER_SECRET, SECRET

KEY = "sk-test"
#: SUBMITTED, ten progress steps, SUCCESS: what an imagine reports with default timings.
CHANGES = 12


@attrs.define
class Arrivals:
    """A sink that lets a test wait for the n-th task (callbacks travel over real loopback)."""

    tasks: list[Task] = attrs.field(factory=list)
    known_ids: set[str] | None = None
    _arrived: asyncio.Event = attrs.field(factory=asyncio.Event)

    def __call__(self, task: Task) -> None:
        self.tasks.append(task)
        self._arrived.set()

    def known(self, task: Task) -> bool:
        return self.known_ids is None or task.id in self.known_ids

    async def until(self, count: int) -> list[Task]:
        try:
            async with asyncio.timeout(5):
                while len(self.tasks) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{len(self.tasks)} of {count} callbacks arrived") from None
        return self.tasks


@attrs.define
class World:
    """A simulator, a client and a started receiver sharing one manual clock."""

    sim: Simulator
    client: OneChatClient
    receiver: CallbackReceiver
    sink: Arrivals
    clock: ManualClock

    async def submit(self, state: str, prompt: str = "a red fox") -> str:
        result = await self.client.imagine(
            prompt, notify_hook=self.receiver.hook_url(state), state=state
        )
        if self.sink.known_ids is not None:
            self.sink.known_ids.add(result.task_id)
        return result.task_id

    async def walk(self, seconds: int) -> None:
        """Advance a second at a time, letting the dispatcher post each second's changes."""
        for _ in range(seconds):
            self.clock.advance(1)
            await self.clock.settle()

    def posted(self) -> collections.Counter[tuple[str, str, str]]:
        return collections.Counter(
            (h.task_id, h.status, h.progress) for h in self.sim.hooks_sent if h.posted
        )

    def received(self) -> collections.Counter[tuple[str, str, str]]:
        return collections.Counter(
            (t.id, t.status.value, f"{t.progress}%") for t in self.sink.tasks
        )


OpenWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def open_world() -> AsyncIterator[OpenWorld]:
    """Start a world on demand (simulator options as keywords); all closed at teardown."""
    closers: list[Callable[[], Awaitable[None]]] = []

    async def factory(
        *,
        receiver: CallbackReceiver | None = None,
        clock: ManualClock | None = None,
        **options: Any,
    ) -> World:
        clock = clock or ManualClock()
        sim = Simulator(api_key=KEY, clock=clock, notify_hooks=True, **options)
        await sim.start()
        closers.append(sim.aclose)
        sink = Arrivals(known_ids=set())
        if receiver is None:
            receiver = CallbackReceiver(secret=SECRET, clock=clock)
            await receiver.start()
            closers.append(receiver.stop)
        receiver.connect(sink=sink, known=sink.known)
        client = OneChatClient(api_key=KEY, base_url=sim.url, clock=clock)
        closers.append(client.aclose)
        return World(sim, client, receiver, sink, clock)

    try:
        yield factory
    finally:
        for close in reversed(closers):
            await close()


async def test_every_change_reaches_the_sink_as_a_task(open_world: OpenWorld) -> None:
    """Each status and progress change the upstream posts arrives once, decoded, with its state."""
    world = await open_world(hook_duplicate_rate=0.0)
    task_id = await world.submit("oc-one")
    await world.walk(60)
    tasks = await world.sink.until(CHANGES)
    assert len(tasks) == CHANGES
    assert {(t.id, t.state) for t in tasks} == {(task_id, "oc-one")}
    assert {t.status.value for t in tasks} == {"SUBMITTED", "IN_PROGRESS", "SUCCESS"}
    assert world.received() == world.posted()
    assert world.receiver.rejected == {}


async def test_duplicates_and_reordering_reach_the_sink_unchanged(open_world: OpenWorld) -> None:
    """Seeded duplicates and late old states all arrive as sent: deduplication is not here."""
    world = await open_world(hook_duplicate_rate=0.3, hook_reorder_rate=0.3, seed=7)
    ids = [await world.submit(f"oc-{n}") for n in range(3)]
    await world.walk(120)
    sent = world.posted()
    await world.sink.until(sum(sent.values()))
    assert world.received() == sent
    # The dice did both things: some change twice, some change after a later one.
    assert max(sent.values()) == 2
    order = [(h.task_id, h.status, h.progress) for h in world.sim.hooks_sent]
    ranks = {"SUBMITTED": 0, "IN_PROGRESS": 1, "SUCCESS": 2}

    def rank(item: tuple[str, str, str]) -> tuple[int, int]:
        return ranks[item[1]], int(item[2].rstrip("%"))

    assert any(
        rank(later) < rank(earlier)
        for task_id in ids
        for earlier, later in itertools.pairwise(o for o in order if o[0] == task_id)
    )


async def test_dropped_callbacks_never_arrive_and_the_rest_do(open_world: OpenWorld) -> None:
    """With drops on, exactly the calls the simulator posted arrive; the dropped ones are marked."""
    world = await open_world(hook_duplicate_rate=0.0, hook_drop_rate=0.5, seed=3)
    await world.submit("oc-drop")
    await world.walk(60)
    sent = world.posted()
    dropped = [h for h in world.sim.hooks_sent if not h.posted]
    assert dropped
    assert sum(sent.values()) + len(dropped) == CHANGES
    await world.sink.until(sum(sent.values()))
    assert world.received() == sent


async def _post(url: str, body: bytes) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        return response.status, json.loads(await response.read())


async def test_forged_and_unknown_calls_are_refused_and_the_real_ones_still_land(
    open_world: OpenWorld,
) -> None:
    """Fake SUCCESS posts (no token, a forged one, a stolen one re-bound, another task) all fail."""
    world = await open_world(hook_duplicate_rate=0.0)
    task_id = await world.submit("oc-victim")
    stolen = world.receiver.hook_url("oc-victim")
    forger = CallbackReceiver(public_url=world.receiver.url, secret=OTHER_SECRET)
    fake = {
        "id": task_id,
        "status": "SUCCESS",
        "progress": "100%",
        "imageUrl": "https://evil/x.png",
    }
    attempts = [
        (world.receiver.url, {**fake, "state": "oc-victim"}, 401, "no_token"),
        (forger.hook_url("oc-victim"), {**fake, "state": "oc-victim"}, 401, "bad_token"),
        (stolen, {**fake, "state": "oc-attacker"}, 401, "bad_token"),
        (stolen, {**fake, "id": "1750000000000999", "state": "oc-victim"}, 403, "unknown_task"),
        (stolen, "not json at all", 400, "not_json"),
    ]
    for url, body, status, reason in attempts:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        assert await _post(url, raw) == (status, {"error": reason})
    assert world.sink.tasks == []
    await world.walk(60)
    tasks = await world.sink.until(CHANGES)
    assert all(t.image_url != "https://evil/x.png" for t in tasks)
    assert sum(world.receiver.rejected.values()) == len(attempts)


async def test_an_expired_token_is_refused_over_http(open_world: OpenWorld) -> None:
    """A genuine URL used after its ttl is answered 401 expired."""
    world = await open_world()
    url = world.receiver.hook_url("oc-late")
    body = json.dumps({"id": "1750000000000001", "status": "SUCCESS", "state": "oc-late"})
    world.clock.advance(3 * 3600 + 1)
    assert await _post(url, body.encode()) == (401, {"error": "expired"})


@pytest.mark.parametrize("announced", [True, False])
async def test_an_oversized_body_is_refused_over_http(
    open_world: OpenWorld, announced: bool
) -> None:
    """Over the limit is 413 whether Content-Length says so or the body is chunked."""
    world = await open_world()
    url = world.receiver.hook_url("oc-big")
    body = b'{"id": "1", "state": "oc-big", "prompt": "' + b"x" * (300 * 1024) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    data: Any = body if announced else chunks()
    async with aiohttp.ClientSession() as session, session.post(url, data=data) as response:
        assert response.status == 413
        assert json.loads(await response.read()) == {"error": "too_large"}


async def test_mounted_in_a_users_aiohttp_app(open_world: OpenWorld) -> None:
    """As a sub-app and as a plain route of the user's own aiohttp app, callbacks arrive."""
    app = web.Application()
    clock = ManualClock()
    receiver = CallbackReceiver(public_url="http://127.0.0.1:1/", secret=SECRET, clock=clock)
    app.add_subapp("/hooks/", receiver.aiohttp_app())
    app.router.add_post("/direct", receiver.aiohttp_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        world = await open_world(receiver=receiver, clock=clock, hook_duplicate_rate=0.0)
        ids = []
        for path in ("/hooks/onechat", "/direct"):
            # The same secret: a receiver made only to mint URLs for this address.
            minting = CallbackReceiver(public_url=base + path, secret=SECRET, clock=clock)
            result = await world.client.imagine(
                "a fox", notify_hook=minting.hook_url("oc-m"), state="oc-m"
            )
            assert world.sink.known_ids is not None
            world.sink.known_ids.add(result.task_id)
            ids.append(result.task_id)
        world.clock.advance(600)
        tasks = await world.sink.until(2)
        assert sorted((t.id, t.status.value) for t in tasks) == [(i, "SUCCESS") for i in ids]
    finally:
        await runner.cleanup()


def _serving(receiver: CallbackReceiver) -> bool:
    # A function, so that mypy does not carry its narrowing of .running across the block.
    return receiver.running


async def test_the_self_served_receiver_starts_stops_and_starts_again() -> None:
    """start() binds a port, url and public_url follow it, stop() is idempotent, restart works."""
    receiver = CallbackReceiver(secret=SECRET)
    with pytest.raises(RuntimeError):
        _ = receiver.public_url
    with pytest.raises(RuntimeError):
        _ = receiver.url
    async with receiver:
        assert receiver.running
        assert receiver.public_url == receiver.url
        assert receiver.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError):
            await receiver.start()
        status, answer = await _post(receiver.url, b"{}")
        assert (status, answer) == (401, {"error": "no_token"})
    assert not _serving(receiver)
    await receiver.stop()
    await receiver.start()
    assert (await _post(receiver.url, b"{}"))[0] == 401
    await receiver.stop()
    assert "secret" not in repr(receiver).lower() or "sss" not in repr(receiver)


async def test_without_hooks_the_gateway_strips_them_and_nothing_arrives(
    open_world: OpenWorld,
) -> None:
    """With the gateway's MjNotifyEnabled off no callback comes; the task still ends by polling."""
    world = await open_world(hook_duplicate_rate=0.0)
    plain = Simulator(api_key=KEY, clock=world.clock)
    await plain.start()
    try:
        async with OneChatClient(api_key=KEY, base_url=plain.url, clock=world.clock) as client:
            result = await client.imagine(
                "a fox", notify_hook=world.receiver.hook_url("oc-s"), state="oc-s"
            )
            world.clock.advance(600)
            await world.clock.settle()
            assert (await client.fetch(result.task_id)).status.value == "SUCCESS"
        assert plain.hooks_sent == ()
        assert world.sink.tasks == []
    finally:
        await plain.aclose()


async def test_the_simulator_logs_no_token(
    open_world: OpenWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed callback POST is logged without the URL's query, where the token is."""
    world = await open_world(hook_duplicate_rate=0.0)
    caplog.set_level(logging.DEBUG, logger="onechat_async.testing")
    await world.client.imagine(
        "a fox", notify_hook=f"http://127.0.0.1:9/cb?{TOKEN_PARAM}=123.SECRETTOKEN", state="s"
    )
    world.clock.advance(600)
    await world.clock.settle()
    posts = [t for t in asyncio.all_tasks() if "_post" in repr(t)]
    await asyncio.wait(posts, timeout=5)
    assert "notifyHook http://127.0.0.1:9/cb failed" in caplog.text
    assert "SECRETTOKEN" not in caplog.text


@pytest.mark.parametrize("option", ["hook_duplicate_rate", "hook_drop_rate", "hook_reorder_rate"])
def test_hook_rates_must_be_shares(option: str) -> None:
    """A rate outside 0..1 is refused when the simulator is made."""
    options: dict[str, Any] = {option: 1.5}
    with pytest.raises(ValueError, match=option):
        Simulator(notify_hooks=True, **options)
