"""Fixtures for the simulator's own tests: a plain aiohttp session talking to a Simulator."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest

from onechat_async.testing import ManualClock, Simulator

__all__ = ["IMAGE", "Api", "Reply", "until"]

KEY = "sk-test"
IMAGE = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


@attrs.frozen
class Reply:
    """One HTTP answer as the test sees it."""

    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@attrs.define
class Api:
    """A raw client for one simulator: no retries, no parsing beyond JSON on request."""

    sim: Simulator
    session: aiohttp.ClientSession
    clock: ManualClock | None = None

    def auth(self) -> dict[str, str]:
        if self.sim.flavour == "gateway":
            return {"Authorization": f"Bearer {self.sim.api_key}"}
        return {"mj-api-secret": self.sim.api_key}

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        sent = self.auth() if headers is None else headers
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None and raw is None:
            sent = {"Content-Type": "application/json", **sent}
        async with self.session.request(
            method, self.sim.url + path, data=data, headers=sent
        ) as response:
            return Reply(
                response.status,
                response.content_type,
                dict(response.headers),
                await response.read(),
            )

    async def submit(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        path = "/mj/insight-face/swap" if endpoint == "swap-face" else f"/mj/submit/{endpoint}"
        reply = await self.request("POST", path, body)
        assert reply.status == 200, reply
        answer: dict[str, Any] = reply.json
        return answer

    async def fetch(self, task_id: str) -> dict[str, Any]:
        reply = await self.request("GET", f"/mj/task/{task_id}/fetch")
        assert reply.status == 200, reply
        task: dict[str, Any] = reply.json
        return task

    async def imagine(self, prompt: str = "a red fox", **extra: Any) -> str:
        answer = await self.submit("imagine", {"prompt": prompt, **extra})
        assert answer["code"] in (1, 22), answer
        return str(answer["result"])

    def advance(self, seconds: float) -> None:
        assert self.clock is not None
        self.clock.advance(seconds)

    async def finished(self, task_id: str, *, step: float = 15.0) -> dict[str, Any]:
        """Advance the manual clock until the task is terminal; returns it."""
        for _ in range(1000):
            task = await self.fetch(task_id)
            if task["status"] in ("SUCCESS", "FAILURE"):
                return task
            self.advance(step)
        raise AssertionError(f"task {task_id} never finished")


OpenApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def open_api() -> AsyncIterator[OpenApi]:
    """Start simulators on demand (keyword options as for Simulator), closed at teardown."""
    opened: list[Simulator] = []
    async with aiohttp.ClientSession() as session:

        async def factory(**options: Any) -> Api:
            clock = options.setdefault("clock", ManualClock())
            options.setdefault("api_key", KEY)
            sim = Simulator(**options)
            await sim.start()
            opened.append(sim)
            return Api(sim, session, clock if isinstance(clock, ManualClock) else None)

        try:
            yield factory
        finally:
            for sim in opened:
                await sim.aclose()


@pytest.fixture
async def api(open_api: OpenApi) -> Api:
    """A gateway simulator on a ManualClock."""
    return await open_api()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Yield to the loop until ``condition()`` holds; no clock time passes, nothing sleeps."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")
