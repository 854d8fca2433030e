"""OneChatClient against a real aiohttp server on loopback that answers like each server kind."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from onechat_async import (
    AuthenticationError,
    ClientClosedError,
    InvalidRequestError,
    OneChatClient,
    QueueFullError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    SubmitOutcomeUnknownError,
    SubmitRejectedError,
    TaskNotFoundError,
    TaskStatus,
)
from onechat_async.testing import ManualClock, MockRequest, MockResponse, MockTransport
from tests.helpers import API_KEY, ScriptedServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
OK = {"code": 1, "description": "提交成功", "properties": {}, "result": "1748339029401999"}
PARENT = "1748339029401828"
TASK = {
    "id": PARENT,
    "status": "SUCCESS",
    "progress": "100%",
    "buttons": [
        {"customId": "MJ::JOB::upsample::2::abc", "label": "U2", "type": 2, "style": 2},
        {"customId": "MJ::JOB::variation::1::abc", "label": "V1", "type": 2, "style": 2},
        {
            "customId": "MJ::JOB::reroll::0::abc::SOLO",
            "label": "",
            "emoji": "🔄",
            "type": 2,
            "style": 2,
        },
    ],
}
NO_CHANNEL = {
    "error": {"message": "当前分组 default 下对于模型 mj_ 无可用渠道", "type": "new_api_error"}
}

Call = Callable[[OneChatClient], Awaitable[Any]]

ENDPOINTS: list[tuple[str, Call, str, dict[str, Any]]] = [
    (
        "imagine",
        lambda c: c.imagine("a red fox --ar 3:2", state="order-42"),
        "/mj/submit/imagine",
        {"prompt": "a red fox --ar 3:2", "state": "order-42"},
    ),
    (
        "change",
        lambda c: c.change(PARENT, "UPSCALE", 2),
        "/mj/submit/change",
        {"taskId": PARENT, "action": "UPSCALE", "index": 2},
    ),
    (
        "action",
        lambda c: c.action(PARENT, "MJ::JOB::upsample::2::abc"),
        "/mj/submit/action",
        {"taskId": PARENT, "customId": "MJ::JOB::upsample::2::abc"},
    ),
    (
        "modal",
        lambda c: c.modal(PARENT, prompt="zoom", mask=PNG),
        "/mj/submit/modal",
        {"taskId": PARENT, "prompt": "zoom"},
    ),
    (
        "blend",
        lambda c: c.blend([PNG, PNG], dimensions="PORTRAIT"),
        "/mj/submit/blend",
        {"dimensions": "PORTRAIT"},
    ),
    ("describe", lambda c: c.describe(PNG), "/mj/submit/describe", {}),
    (
        "shorten",
        lambda c: c.shorten("a very long prompt"),
        "/mj/submit/shorten",
        {"prompt": "a very long prompt"},
    ),
    (
        "swap_face",
        lambda c: c.swap_face(PNG, "data:image/png;base64,AAAA"),
        "/mj/insight-face/swap",
        {"targetBase64": "data:image/png;base64,AAAA"},
    ),
    (
        "simple_change",
        lambda c: c.simple_change(f"{PARENT} U2"),
        "/mj/submit/simple-change",
        {"content": f"{PARENT} U2"},
    ),
]


@pytest.mark.parametrize(
    ("name", "call", "path", "fields"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
async def test_every_submit_endpoint(
    server: ScriptedServer,
    client: OneChatClient,
    name: str,
    call: Call,
    path: str,
    fields: dict[str, Any],
) -> None:
    """Each submit posts JSON with mj-api-secret (the one header every server reads) to its path."""
    server.reply("POST", path, json_body=OK, content_type="text/plain;charset=utf-8")
    result = await call(client)
    assert result.task_id == "1748339029401999"
    [seen] = server.seen
    assert seen.path == path
    assert "Authorization" not in seen.headers
    assert seen.headers["mj-api-secret"] == API_KEY
    assert seen.headers["Content-Type"] == "application/json"
    assert fields.items() <= seen.json.items()


async def test_images_are_sent_as_data_urls(
    server: ScriptedServer, client: OneChatClient, tmp_path: Path
) -> None:
    """Bytes, file paths and data URLs all arrive as data: URLs."""
    image = tmp_path / "face.png"
    image.write_bytes(PNG)
    server.reply("POST", "/mj/submit/blend", json_body=OK)
    await client.blend([PNG, image, str(image), "data:image/jpeg;base64,AA=="])
    urls = server.seen[0].json["base64Array"]
    assert all(u.startswith("data:image/") for u in urls)
    assert urls[0] == urls[1] == urls[2]


async def test_bad_image_never_reaches_the_network(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """A string that is neither a data URL nor a file is refused before sending."""
    with pytest.raises(InvalidRequestError, match="readable file"):
        await client.describe("iVBORw0KGgo=")
    with pytest.raises(InvalidRequestError, match="list"):
        await client.blend(PNG)  # type: ignore[arg-type]
    assert server.seen == []


@pytest.mark.parametrize("content", ["123 U5", "123 U12", "abc U1", ""])
async def test_bad_simple_change_never_reaches_the_network(
    server: ScriptedServer, client: OneChatClient, content: str
) -> None:
    """Malformed simple-change contents raise InvalidRequestError locally."""
    with pytest.raises(InvalidRequestError):
        await client.simple_change(content)
    assert server.seen == []


@pytest.mark.parametrize(
    ("mode", "prefix"),
    [("fast", "/mj-fast/mj"), ("relax", "/mj-relax/mj"), ("turbo", "/mj-turbo/mj")],
)
async def test_mode_prefix(server: ScriptedServer, mode: Any, prefix: str) -> None:
    """The mode option selects the /mj-fast, /mj-relax or /mj-turbo path prefix."""
    server.reply("GET", f"{prefix}/task/{PARENT}/fetch", json_body=TASK)
    async with OneChatClient(api_key=API_KEY, base_url=server.url + "/", mode=mode) as client:
        task = await client.fetch(PARENT)
    assert task.status is TaskStatus.SUCCESS
    assert server.paths() == [f"{prefix}/task/{PARENT}/fetch"]


async def test_simple_change_survives_the_gateway_defect(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """With new-api's 503 on simple-change, the client falls back to /change: one task."""
    server.reply("POST", "/mj/submit/simple-change", status=503, json_body=NO_CHANNEL)
    server.reply("POST", "/mj/submit/change", json_body=OK)
    result = await client.simple_change(PARENT, "u2", state="st")
    assert result.task_id == OK["result"]
    assert server.paths() == ["/mj/submit/simple-change", "/mj/submit/change"]
    assert server.seen[1].json == {"taskId": PARENT, "action": "UPSCALE", "index": 2, "state": "st"}
    await client.simple_change(PARENT, "R")
    assert server.paths()[2:] == ["/mj/submit/change"]
    assert server.seen[2].json["index"] == 1


async def test_simple_change_on_an_upstream_without_change(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """A C# v10 upstream (404 on /change and /simple-change) is driven through /action."""
    server.reply("POST", "/mj/submit/simple-change", status=404)
    server.reply("POST", "/mj/submit/change", status=404)
    server.reply("GET", f"/mj/task/{PARENT}/fetch", json_body=TASK)
    server.reply("POST", "/mj/submit/action", json_body=OK)
    await client.simple_change(f"{PARENT} V1")
    await client.simple_change(f"{PARENT} r")
    assert server.paths() == [
        "/mj/submit/simple-change",
        "/mj/submit/change",
        f"/mj/task/{PARENT}/fetch",
        "/mj/submit/action",
        f"/mj/task/{PARENT}/fetch",
        "/mj/submit/action",
    ]
    assert server.seen[3].json["customId"] == "MJ::JOB::variation::1::abc"
    assert server.seen[5].json["customId"] == "MJ::JOB::reroll::0::abc::SOLO"


async def test_simple_change_without_the_button(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """Through /action, a parent without the asked button is refused without a submit."""
    server.reply("POST", "/mj/submit/simple-change", status=404)
    server.reply("POST", "/mj/submit/change", body="<html></html>", content_type="text/html")
    server.reply(
        "GET",
        f"/mj/task/{PARENT}/fetch",
        json_body={**TASK, "buttons": None, "status": "IN_PROGRESS"},
    )
    with pytest.raises(SubmitRejectedError, match="no U3 button"):
        await client.simple_change(f"{PARENT} U3")
    assert "/mj/submit/action" not in server.paths()


async def test_simple_change_refusal_is_not_a_fallback(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """A real refusal (parent missing) is raised, not retried through another route."""
    server.reply(
        "POST",
        "/mj/submit/simple-change",
        json_body={"code": 3, "description": "关联任务不存在或已失效"},
    )
    with pytest.raises(SubmitRejectedError) as info:
        await client.simple_change(f"{PARENT} U1", state="s9")
    assert (info.value.code, info.value.task_id, info.value.state) == (3, PARENT, "s9")
    assert server.paths() == ["/mj/submit/simple-change"]


async def test_html_on_a_wrong_path(server: ScriptedServer, clock: ManualClock) -> None:
    """A wrong base URL gets the gateway's HTML page with 200: a clear, unretried error."""
    async with OneChatClient(api_key=API_KEY, base_url=server.url + "/api", clock=clock) as client:
        with pytest.raises(ServerError, match="HTML") as info:
            await client.fetch(PARENT)
    assert not info.value.retryable
    assert len(server.seen) == 1


async def test_queries_retry_transient_failures(
    server: ScriptedServer, client: OneChatClient, clock: ManualClock
) -> None:
    """A fetch retries 5xx and 429 (honouring Retry-After) and then succeeds."""
    path = f"/mj/task/{PARENT}/fetch"
    server.reply("GET", path, status=502, body="<html>bad gateway</html>", content_type="text/html")
    server.reply("GET", path, status=429, headers={"Retry-After": "7"})
    server.reply("GET", path, json_body=TASK)
    task = await client.fetch(PARENT)
    assert task.id == PARENT
    assert len(server.seen) == 3
    assert clock.slept == [0.5, 7.0]


async def test_query_retries_are_bounded(server: ScriptedServer, client: OneChatClient) -> None:
    """After the policy's attempts the last error is raised."""
    server.reply(
        "GET",
        f"/mj/task/{PARENT}/fetch",
        status=500,
        json_body={"error": {"message": "panic", "type": "new_api_panic"}},
    )
    with pytest.raises(ServerError, match="panic"):
        await client.fetch(PARENT)
    assert len(server.seen) == 3


async def test_retry_can_be_switched_off(server: ScriptedServer) -> None:
    """RetryPolicy.off() makes one attempt."""
    server.reply("GET", f"/mj/task/{PARENT}/fetch", status=500)
    async with OneChatClient(
        api_key=API_KEY, base_url=server.url, retry=RetryPolicy.off()
    ) as client:
        with pytest.raises(ServerError):
            await client.fetch(PARENT)
    assert len(server.seen) == 1


async def test_retry_total_time_is_bounded(server: ScriptedServer, clock: ManualClock) -> None:
    """A Retry-After beyond the policy's timeout ends the retries at once."""
    server.reply("GET", f"/mj/task/{PARENT}/fetch", status=429, headers={"Retry-After": "120"})
    async with OneChatClient(
        api_key=API_KEY,
        base_url=server.url,
        clock=clock,
        retry=RetryPolicy(attempts=10, timeout=30),
    ) as client:
        with pytest.raises(RateLimitError) as info:
            await client.fetch(PARENT)
    assert info.value.retry_after == 120.0
    assert len(server.seen) == 1
    assert clock.slept == []  # not even a wait before giving up


async def test_retry_after_is_capped(server: ScriptedServer, clock: ManualClock) -> None:
    """A Retry-After of a day is waited only up to retry_after_max, then the query goes again."""
    server.reply("GET", f"/mj/task/{PARENT}/fetch", status=429, headers={"Retry-After": "86400"})
    server.reply("GET", f"/mj/task/{PARENT}/fetch", json_body={"id": PARENT, "status": "SUCCESS"})
    policy = RetryPolicy(attempts=2, timeout=600, wait_jitter=0, retry_after_max=45)
    async with OneChatClient(
        api_key=API_KEY, base_url=server.url, clock=clock, retry=policy
    ) as client:
        task = await client.fetch(PARENT)
    assert task.status == "SUCCESS"
    assert clock.slept == [45]


async def test_submits_are_not_resent_after_a_5xx(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """A submit answered 500 may have created a task: outcome unknown, never re-sent."""
    server.reply(
        "POST",
        "/mj/submit/imagine",
        status=500,
        json_body={"error": {"message": "panic", "type": "new_api_panic"}},
    )
    with pytest.raises(SubmitOutcomeUnknownError) as info:
        await client.imagine("a fox", state="order-7")
    assert info.value.state == "order-7"
    assert info.value.reason == "server_error"
    assert info.value.status == 500
    assert not info.value.retryable
    assert len(server.seen) == 1


async def test_submit_retry_is_opt_in(server: ScriptedServer, clock: ManualClock) -> None:
    """Without submit_retry or admission, queue full raises; with retry, it is sent again."""
    server.reply("POST", "/mj/submit/imagine", json_body={"code": 23, "description": "队列已满"})
    server.reply("POST", "/mj/submit/imagine", status=429, headers={"Retry-After": "3"})
    server.reply("POST", "/mj/submit/imagine", json_body=OK)
    async with OneChatClient(
        api_key=API_KEY, base_url=server.url, clock=clock, max_in_flight=None
    ) as plain:
        with pytest.raises(QueueFullError) as info:
            await plain.imagine("a fox")
    assert info.value.retryable
    async with OneChatClient(
        api_key=API_KEY, base_url=server.url, clock=clock, submit_retry=RetryPolicy(wait_jitter=0)
    ) as patient:
        result = await patient.imagine("a fox")
    assert result.task_id == OK["result"]
    assert len(server.seen) == 3
    assert clock.slept == [3.0]


async def test_submit_timeout_keeps_the_state(server: ScriptedServer) -> None:
    """A submit that times out after leaving is outcome-unknown with its state, sent once."""
    server.reply("POST", "/mj/submit/imagine", json_body=OK, delay=0.3)
    async with OneChatClient(
        api_key=API_KEY, base_url=server.url, submit_timeout=0.05, submit_retry=RetryPolicy()
    ) as client:
        with pytest.raises(SubmitOutcomeUnknownError) as info:
            await client.imagine("a fox", state="order-9")
    assert info.value.reason == "timeout"
    assert info.value.state == "order-9"
    assert len(server.seen) == 1


async def test_list_tasks_chunks_and_orders(server: ScriptedServer, client: OneChatClient) -> None:
    """list_tasks asks in chunks of 100, keeps the asked order and leaves unknown ids out."""
    ids = [str(1_000_000 + i) for i in range(250)]
    server.reply(
        "POST",
        "/mj/task/list-by-condition",
        json_body=[{"id": int(i), "status": "SUCCESS"} for i in reversed(ids[:100])],
    )
    server.reply(
        "POST",
        "/mj/task/list-by-condition",
        json_body=[{"id": i, "status": ""} for i in ids[100:200]],
    )
    server.reply(
        "POST",
        "/mj/task/list-by-condition",
        json_body=[{"id": i, "status": "IN_PROGRESS"} for i in ids[200:249]],
    )
    tasks = await client.list_tasks([*ids, ids[0]])
    assert [t.id for t in tasks] == ids[:249]
    assert sorted(len(s.json["ids"]) for s in server.seen) == [50, 100, 100]


async def test_fetch_unknown_task(server: ScriptedServer, client: OneChatClient) -> None:
    """The gateway's 400 task_no_found raises TaskNotFoundError with the id, unretried."""
    server.reply(
        "GET",
        "/mj/task/42/fetch",
        status=400,
        json_body={"description": "task_no_found ", "type": "upstream_error", "code": 4},
    )
    with pytest.raises(TaskNotFoundError) as info:
        await client.fetch("42")
    assert info.value.task_id == "42"
    assert info.value.status == 400
    assert len(server.seen) == 1


async def test_image_seed(server: ScriptedServer, client: OneChatClient) -> None:
    """image_seed returns the seed string."""
    server.reply("GET", f"/mj/task/{PARENT}/image-seed", json_body={"code": 1, "result": 987})
    assert await client.image_seed(PARENT) == "987"


async def test_the_key_never_leaks(
    server: ScriptedServer, client: OneChatClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The API key is absent from the client's repr, errors' str and repr, and log records."""
    caplog.set_level(logging.DEBUG)
    server.reply(
        "GET",
        f"/mj/task/{PARENT}/fetch",
        status=401,
        json_body={"error": {"message": "无效的令牌", "type": "new_api_error"}},
    )
    with pytest.raises(AuthenticationError) as info:
        await client.fetch(PARENT)
    texts = [
        repr(client),
        str(client),
        str(info.value),
        repr(info.value),
        *(r.getMessage() for r in caplog.records),
    ]
    assert caplog.records
    assert all(API_KEY not in t and "SECRET" not in t for t in texts)
    assert "无效的令牌" in str(info.value)


async def test_missing_key_is_explained(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a key no auth header is sent and a 401 says how to give one."""
    monkeypatch.delenv("ONECHAT_API_KEY", raising=False)
    server.reply("GET", f"/mj/task/{PARENT}/fetch", status=401)
    async with OneChatClient(base_url=server.url) as client:
        with pytest.raises(AuthenticationError, match="ONECHAT_API_KEY"):
            await client.fetch(PARENT)
    assert "Authorization" not in server.seen[0].headers


async def test_environment_defaults(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """api_key and base_url default to ONECHAT_API_KEY and ONECHAT_BASE_URL."""
    monkeypatch.setenv("ONECHAT_API_KEY", "sk-from-env")
    monkeypatch.setenv("ONECHAT_BASE_URL", server.url)
    server.reply("GET", f"/mj/task/{PARENT}/fetch", json_body=TASK)
    async with OneChatClient() as client:
        assert client.base_url == server.url
        await client.fetch(PARENT)
    assert server.seen[0].headers["mj-api-secret"] == "sk-from-env"


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ONECHAT_BASE_URL the client talks to gpts.onechat.fun."""
    monkeypatch.delenv("ONECHAT_BASE_URL", raising=False)
    assert OneChatClient(api_key="k").base_url == "https://gpts.onechat.fun"


@pytest.mark.parametrize(
    ("kwargs", "text"), [({"mode": "slow"}, "mode"), ({"base_url": "ftp://x"}, "base_url")]
)
def test_bad_options(kwargs: dict[str, Any], text: str) -> None:
    """Bad constructor options raise InvalidRequestError."""
    with pytest.raises(InvalidRequestError, match=text):
        OneChatClient(api_key="k", **kwargs)


async def test_borrowed_session_stays_open(server: ScriptedServer) -> None:
    """A session passed in is used and left open; the client itself refuses reuse."""
    server.reply("GET", f"/mj/task/{PARENT}/fetch", json_body=TASK)
    async with aiohttp.ClientSession() as session:
        client = OneChatClient(api_key=API_KEY, base_url=server.url, session=session)
        async with client:
            await client.fetch(PARENT)
        assert client.closed
        assert not session.closed
        with pytest.raises(ClientClosedError, match="closed"):
            await client.fetch(PARENT)
        with pytest.raises(ClientClosedError, match="closed"):
            async with client:
                pass


async def test_own_session_is_closed(server: ScriptedServer) -> None:
    """The session a client made is closed by aclose(), which may be called twice."""
    server.reply("GET", f"/mj/task/{PARENT}/fetch", json_body=TASK)
    client = OneChatClient(api_key=API_KEY, base_url=server.url)
    await client.fetch(PARENT)
    session = client._transport._owned  # type: ignore[attr-defined]
    await client.aclose()
    await client.aclose()
    assert session.closed


@pytest.mark.parametrize("images", [(), []], ids=["tuple", "list"])
async def test_imagine_without_images_sends_the_prompt_alone(
    server: ScriptedServer, client: OneChatClient, images: Any
) -> None:
    """An empty list or tuple of images sends no base64Array, and the prompt stays raw UTF-8."""
    server.reply("POST", "/mj/submit/imagine", json_body=OK)
    await client.imagine("一只猫 --ar 3:2", images=images)
    [seen] = server.seen
    assert seen.body == '{"prompt": "一只猫 --ar 3:2"}'.encode()


class _BusyClock(ManualClock):
    """A ManualClock that counts how often busy() is entered."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        self.held += 1
        with super().busy():
            yield
        self.held -= 1


@pytest.mark.parametrize("call", ["imagine", "fetch"])
async def test_a_clock_with_busy_is_held_while_the_request_is_in_flight(call: str) -> None:
    """A clock that offers busy() is held for each request, submit or query, and let go after."""
    clock = _BusyClock()
    during: list[int] = []

    def handler(request: MockRequest) -> MockResponse:
        during.append(clock.held)
        return MockResponse(json=OK if request.method == "POST" else TASK)

    async with OneChatClient(
        api_key=API_KEY,
        base_url="http://127.0.0.1:1",
        clock=clock,
        transport=MockTransport(handler),
    ) as client:
        await (client.imagine("a cat") if call == "imagine" else client.fetch(PARENT))
    assert during == [1]
    assert clock.held == 0
