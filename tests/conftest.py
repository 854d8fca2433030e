"""Fixtures shared by the whole suite: a scripted aiohttp server on loopback and the test clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from onechat_async import OneChatClient, RetryPolicy
from onechat_async.testing import ManualClock
from tests.helpers import API_KEY, ScriptedServer


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    srv = ScriptedServer()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that jumps to the next wait once the client has nothing else to do; keeps waits."""
    return ManualClock(auto_advance=True, record=True)


@pytest.fixture
async def client(server: ScriptedServer, clock: ManualClock) -> AsyncIterator[OneChatClient]:
    async with OneChatClient(
        api_key=API_KEY,
        base_url=server.url,
        clock=clock,
        timeout=5.0,
        retry=RetryPolicy(attempts=3, wait_initial=0.5, wait_jitter=0.0),
    ) as c:
        yield c
