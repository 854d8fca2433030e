"""Client-level proxy=/trust_env=, and a clear error for a session of another event loop."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from onechat_async import (
    APIConnectionError,
    InvalidRequestError,
    OneChatClient,
    RetryPolicy,
)
from onechat_async._secrets import registered_secrets
from tests.helpers import API_KEY, ScriptedServer

#: A host that never resolves: a request that reaches the server went through the proxy.
NOWHERE = "http://api.invalid"
TASK = {"id": "17", "status": "SUCCESS"}


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


async def test_proxy_carries_every_request(server: ScriptedServer) -> None:
    """proxy= sends the request to the proxy, addressed to the real server."""
    server.reply("GET", "/mj/task/17/fetch", json_body=TASK)
    async with OneChatClient(api_key=API_KEY, base_url=NOWHERE, proxy=server.url) as client:
        task = await client.fetch("17")
    assert task.id == "17"
    assert server.seen[0].headers["Host"] == "api.invalid"


@pytest.mark.parametrize(
    ("trust_env", "no_proxy", "through_proxy"),
    [
        pytest.param(True, "", True, id="trusted"),
        pytest.param(False, "", False, id="ignored-by-default"),
        pytest.param(True, "api.invalid", False, id="no-proxy-honoured"),
    ],
)
async def test_environment_proxy_only_when_trusted(
    server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    trust_env: bool,
    no_proxy: str,
    through_proxy: bool,
) -> None:
    """HTTP_PROXY is used with trust_env=True only, and NO_PROXY is honoured."""
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    server.reply("GET", "/mj/task/17/fetch", json_body=TASK)
    async with OneChatClient(
        api_key=API_KEY, base_url=NOWHERE, trust_env=trust_env, retry=RetryPolicy.off()
    ) as client:
        if through_proxy:
            assert (await client.fetch("17")).id == "17"
        else:
            with pytest.raises(APIConnectionError):
                await client.fetch("17")
    assert bool(server.seen) == through_proxy


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"proxy": "socks5://127.0.0.1:1080"}, id="socks"),
        pytest.param({"proxy": 3128}, id="int"),
        pytest.param({"trust_env": "yes"}, id="trust-env-str"),
        pytest.param(
            {"proxy": "http://127.0.0.1:3128", "transport": object()}, id="with-transport"
        ),
    ],
)
def test_bad_proxy_options_are_refused(options: dict[str, object]) -> None:
    """A proxy that is not http(s), or one next to a transport of your own, is refused."""
    with pytest.raises(InvalidRequestError):
        OneChatClient(api_key=API_KEY, base_url=NOWHERE, **options)  # type: ignore[arg-type]


def test_a_proxy_password_is_registered_as_a_secret() -> None:
    """The proxy's password joins the API key among the secrets no error or log shows."""
    OneChatClient(api_key=API_KEY, base_url=NOWHERE, proxy="http://u:pr0xy-secret-9@127.0.0.1:1")
    assert "pr0xy-secret-9" in registered_secrets()


def test_a_session_of_another_loop_is_a_clear_error() -> None:
    """A session made in one loop and used by a client in another: an InvalidRequestError."""
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    session = first.run_until_complete(make())
    client = OneChatClient(api_key=API_KEY, base_url="http://127.0.0.1:9", session=session)
    try:
        with pytest.raises(InvalidRequestError, match="session given to this OneChatClient"):
            second.run_until_complete(client.fetch("17"))
        second.run_until_complete(client.aclose())
        first.run_until_complete(session.close())
    finally:
        first.close()
        second.close()
