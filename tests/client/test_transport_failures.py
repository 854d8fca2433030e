"""Client-side transport failures that no server can produce on demand (aioresponses)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import aiohttp
import pytest
from aioresponses import aioresponses

from onechat_async import (
    APIConnectionError,
    OneChatClient,
    RetryPolicy,
    SubmitOutcomeUnknownError,
)
from tests.helpers import StepClock

BASE = "http://127.0.0.1:9"
OK = {"code": 1, "description": "提交成功", "result": "1748339029401999"}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


async def test_disconnected_submit_is_not_resent(mocked: aioresponses, clock: StepClock) -> None:
    """A submit cut off mid-flight is outcome-unknown with its state, never re-sent."""
    mocked.post(
        f"{BASE}/mj/submit/imagine",
        exception=aiohttp.ServerDisconnectedError("Server disconnected"),
    )
    mocked.post(f"{BASE}/mj/submit/imagine", payload=OK)
    async with OneChatClient(
        api_key="k", base_url=BASE, clock=clock, submit_retry=RetryPolicy()
    ) as client:
        with pytest.raises(SubmitOutcomeUnknownError) as info:
            await client.imagine("a fox", state="order-5")
    assert info.value.state == "order-5"
    assert info.value.reason == "connection_lost"
    assert info.value.endpoint == "imagine"
    assert len(next(iter(mocked.requests.values()))) == 1


async def test_payload_error_on_query_is_retried(mocked: aioresponses, clock: StepClock) -> None:
    """A fetch whose body broke off is retried like any transient failure, up to the bound."""
    url = f"{BASE}/mj/task/5/fetch"
    mocked.get(url, exception=aiohttp.ClientPayloadError("truncated"), repeat=True)
    async with OneChatClient(
        api_key="k", base_url=BASE, clock=clock, retry=RetryPolicy(attempts=3, wait_jitter=0)
    ) as client:
        with pytest.raises(APIConnectionError, match="truncated") as info:
            await client.fetch("5")
    assert info.value.task_id == "5"
    assert clock.sleeps == [0.5, 1.0]
    assert len(next(iter(mocked.requests.values()))) == 3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_connection_may_retry_a_submit(clock: StepClock) -> None:
    """A refused connection proves the server saw nothing, so an opted-in submit retries."""
    base = f"http://127.0.0.1:{_closed_port()}"
    async with OneChatClient(
        api_key="k", base_url=base, clock=clock, submit_retry=RetryPolicy(attempts=3, wait_jitter=0)
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.imagine("a fox", state="s")
    assert not info.value.request_sent
    assert clock.sleeps == [0.5, 1.0]
