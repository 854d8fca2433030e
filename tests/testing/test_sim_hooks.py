"""notifyHook callbacks: a POST of the task per status or progress increase, when enabled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.testing.conftest import Api, OpenApi


class Receiver:
    """A small loopback server that records what is posted to /hook."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""
        self._arrived = asyncio.Event()

    async def _hook(self, request: web.Request) -> web.Response:
        self.posts.append(json.loads(await request.read()))
        self._arrived.set()
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def until(self, count: int) -> list[dict[str, Any]]:
        """The posts, once ``count`` have arrived (they travel over loopback: real time)."""
        try:
            async with asyncio.timeout(5):
                while len(self.posts) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{len(self.posts)} of {count} callbacks arrived") from None
        return self.posts


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running hook receiver."""
    r = Receiver()
    await r.start()
    yield r
    assert r.runner is not None
    await r.runner.cleanup()


async def _walk(api: Api, seconds: int) -> None:
    """Advance the clock a second at a time, letting the dispatcher act on each second."""
    assert api.clock is not None
    for _ in range(seconds):
        api.advance(1)
        await api.clock.settle()


async def _settle(api: Api) -> int:
    """How many callbacks the simulator has sent, once nothing on the loop is left to do.

    A callback is counted when its POST starts, before it leaves: so this is deterministic,
    where looking at the receiver would depend on how fast loopback is.
    """
    assert api.clock is not None
    await api.clock.settle()
    return api.sim.counters["notify"]


@pytest.mark.parametrize("flavour", ["java", "gateway", "csharp-v10"])
async def test_every_increase_is_posted_once(
    open_api: OpenApi, receiver: Receiver, flavour: str
) -> None:
    """SUBMITTED, each progress step and SUCCESS are each posted once, as full task JSON."""
    api = await open_api(flavour=flavour, notify_hooks=True, hook_duplicate_rate=0.0)
    task_id = await api.imagine(notifyHook=receiver.url, state="cb")
    await _walk(api, 60)
    assert await _settle(api) == 12
    posts = await receiver.until(12)
    seen = sorted((p["status"], p["progress"]) for p in posts)
    assert len(posts) == 12
    assert ("SUBMITTED", "0%") in seen
    assert ("SUCCESS", "100%") in seen
    assert sum(status == "IN_PROGRESS" for status, _ in seen) == 10
    assert {p["id"] for p in posts} == {task_id}
    assert all(p["state"] == "cb" for p in posts)
    assert api.sim.counters["notify"] == 12


async def test_a_jump_in_time_posts_only_the_latest_state(
    open_api: OpenApi, receiver: Receiver
) -> None:
    """When the clock leaps past several steps the upstream reports only where it is now."""
    api = await open_api(flavour="java", notify_hooks=True, hook_duplicate_rate=0.0)
    await api.imagine(notifyHook=receiver.url)
    api.advance(600)
    assert await _settle(api) == 1
    posts = await receiver.until(1)
    assert [p["status"] for p in posts] == ["SUCCESS"]


async def test_duplicates_happen(open_api: OpenApi, receiver: Receiver) -> None:
    """With a duplicate rate of 1 every callback arrives twice."""
    api = await open_api(flavour="java", notify_hooks=True, hook_duplicate_rate=1.0)
    await api.imagine(notifyHook=receiver.url)
    api.advance(600)
    posts = await receiver.until(2)
    assert [p["status"] for p in posts] == ["SUCCESS", "SUCCESS"]


async def test_modal_tasks_notify_after_the_modal_call(
    open_api: OpenApi, receiver: Receiver
) -> None:
    """A MODAL task is silent until /modal queues it, then reports like any other."""
    api = await open_api(flavour="java-plus", notify_hooks=True, hook_duplicate_rate=0.0)
    grid = await api.finished(await api.imagine(), step=5)
    up = await api.submit("change", {"taskId": grid["id"], "action": "UPSCALE", "index": 1})
    upscaled = await api.finished(up["result"], step=5)
    zoom = next(b for b in upscaled["buttons"] if b["label"] == "Custom Zoom")
    opened = await api.submit(
        "action",
        {"taskId": upscaled["id"], "customId": zoom["customId"], "notifyHook": receiver.url},
    )
    api.advance(100)
    assert await _settle(api) == 0
    await api.submit("modal", {"taskId": opened["result"], "prompt": "zoom --zoom 2"})
    api.advance(600)
    posts = await receiver.until(1)
    assert [(p["id"], p["status"]) for p in posts] == [(opened["result"], "SUCCESS")]


async def test_hooks_off_by_default(open_api: OpenApi, receiver: Receiver) -> None:
    """Without notify_hooks nothing is posted, even by a bare proxy that keeps the URL."""
    api = await open_api(flavour="java")
    task_id = await api.imagine(notifyHook=receiver.url)
    api.advance(600)
    assert await _settle(api) == 0
    assert receiver.posts == []
    assert (await api.fetch(task_id))["properties"]["notifyHook"] == receiver.url


async def test_unreachable_hook_is_not_retried_and_close_leaks_nothing(
    open_api: OpenApi,
) -> None:
    """A dead receiver costs one failed POST, no retry, and closing leaves no task behind."""
    api = await open_api(flavour="java", notify_hooks=True, hook_duplicate_rate=0.0)
    await api.imagine(notifyHook="http://127.0.0.1:9/hook")
    api.advance(600)
    assert await _settle(api) == 1
    # Wait for that POST to fail (a refused connection: real I/O), then for whatever the
    # dispatcher would do next: a retry would be counted by then.
    posts = [t for t in asyncio.all_tasks() if "_post" in repr(t)]
    assert len(posts) == 1
    await asyncio.wait(posts, timeout=5)
    assert all(post.done() for post in posts)
    assert await _settle(api) == 1
    await api.sim.aclose()
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert not [t for t in others if "HookDispatcher" in repr(t) or "_post" in repr(t)]
