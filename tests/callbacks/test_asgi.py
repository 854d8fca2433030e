"""The receiver as a plain ASGI application, driven by hand-written ASGI calls and by uvicorn."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterable
from typing import Any

import aiohttp
import pytest

from onechat_async.callbacks import TOKEN_PARAM, CallbackReceiver
from onechat_async.testing import ManualClock
from tests.callbacks.conftest import NOW, OTHER_SECRET, SECRET, STATE, Sink, task_body


def _receiver(sink: Sink, **options: Any) -> CallbackReceiver:
    options.setdefault("clock", ManualClock(start_wall=NOW))
    return CallbackReceiver(
        public_url="https://cb.example/onechat",
        secret=SECRET,
        sink=sink,
        known=sink.known,
        **options,
    )


def _query_of(url: str) -> bytes:
    return url.split("?", 1)[1].encode()


async def _call(
    app: CallbackReceiver,
    *,
    body: bytes | Iterable[bytes] = b"",
    query: bytes = b"",
    method: str = "POST",
    headers: list[tuple[bytes, bytes]] | None = None,
    disconnect: bool = False,
) -> tuple[int | None, Any]:
    """One ASGI HTTP call; returns the status and the decoded JSON body (None: no answer)."""
    chunks = [body] if isinstance(body, bytes) else list(body)
    inbox: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        inbox = [{"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": "/onechat",
        "query_string": query,
        "headers": headers or [],
    }
    await app(scope, receive, send)
    if not sent:
        return None, None
    start, end = sent
    assert start["type"] == "http.response.start"
    assert (b"content-type", b"application/json") in start["headers"]
    assert end["type"] == "http.response.body"
    return start["status"], json.loads(end["body"])


async def test_a_genuine_call_reaches_the_sink() -> None:
    """A POST with a genuine token and a task body is answered 200 and handed to the sink."""
    sink = Sink()
    app = _receiver(sink)
    status, answer = await _call(app, body=task_body(), query=_query_of(app.hook_url(STATE)))
    assert (status, answer) == (200, {"accepted": True})
    assert [t.id for t in sink.tasks] == ["1750000000000123"]
    assert app.accepted == 1


def _forged_query() -> bytes:
    other = CallbackReceiver(public_url="https://cb.example/onechat", secret=OTHER_SECRET)
    return _query_of(other.hook_url(STATE))


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("forged", 401, "bad_token"),
        ("replayed for another state", 401, "bad_token"),
        ("no token", 401, "no_token"),
        ("expired", 401, "expired"),
        ("oversized", 413, "too_large"),
        ("oversized in chunks", 413, "too_large"),
        ("announced oversized", 413, "too_large"),
        ("not JSON", 400, "not_json"),
        ("not a task", 422, "not_a_task"),
        ("unknown task", 403, "unknown_task"),
        ("GET", 405, "method_not_allowed"),
    ],
)
async def test_every_bad_call_is_refused_and_changes_nothing(
    case: str, status: int, reason: str
) -> None:
    """Each kind of bad call gets its 4xx and reason, and the sink sees nothing."""
    sink = Sink(known_ids={"1750000000000123"})
    clock = ManualClock(start_wall=NOW)
    app = _receiver(sink, clock=clock, max_body=1024)
    query = _query_of(app.hook_url(STATE))
    call: dict[str, Any] = {"body": task_body(), "query": query}
    if case == "forged":
        call["query"] = _forged_query()
    elif case == "replayed for another state":
        call["body"] = task_body(state="oc-another-submit")
    elif case == "no token":
        call["query"] = b"x=1"
    elif case == "expired":
        clock.advance(3 * 3600 + 1)
    elif case == "oversized":
        call["body"] = task_body(prompt="x" * 2000)
    elif case == "oversized in chunks":
        call["body"] = [b"{" + b" " * 600, b" " * 600 + b"}"]
    elif case == "announced oversized":
        call["headers"] = [(b"content-length", b"999999")]
    elif case == "not JSON":
        call["body"] = b"id=1&status=SUCCESS"
    elif case == "not a task":
        call["body"] = b'{"status": "SUCCESS"}'
    elif case == "unknown task":
        call["body"] = task_body(id="1750000000000999")
    elif case == "GET":
        call["method"] = "GET"
    assert await _call(app, **call) == (status, {"error": reason})
    assert sink.tasks == []
    assert app.rejected == {reason: 1}


async def test_nothing_logged_carries_the_token_or_the_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Rejections are logged by reason and task id only: no token, no query, no body."""
    sink = Sink(known_ids=set())
    app = _receiver(sink)
    query = _query_of(app.hook_url(STATE))
    caplog.set_level(logging.DEBUG)
    await _call(app, body=task_body(prompt="PRIVATE-PROMPT"), query=query)
    await _call(app, body=task_body(state="oc-x", prompt="PRIVATE-PROMPT"), query=query)
    token = query.decode().split(f"{TOKEN_PARAM}=", 1)[1]
    logged = caplog.text
    assert "unknown_task" in logged
    assert "bad_token" in logged
    assert token.split(".")[1] not in logged
    assert "PRIVATE-PROMPT" not in logged


async def test_without_a_sink_calls_are_refused_as_not_ready() -> None:
    """Before a client connects a sink, a genuine call is answered 503 and dropped."""
    app = CallbackReceiver(public_url="https://cb.example/", secret=SECRET)
    status, answer = await _call(app, body=task_body(), query=_query_of(app.hook_url(STATE)))
    assert (status, answer) == (503, {"error": "not_ready"})
    sink = Sink()
    app.connect(sink=sink)
    status, _ = await _call(app, body=task_body(), query=_query_of(app.hook_url(STATE)))
    assert status == 200
    assert len(sink.tasks) == 1


async def test_a_failing_sink_answers_500_and_the_app_lives_on() -> None:
    """A sink that raises costs that call a 500; the next call is served normally."""
    calls: list[str] = []

    def sink(task: Any) -> None:
        calls.append(task.id)
        if len(calls) == 1:
            raise RuntimeError("boom")

    app = CallbackReceiver(public_url="https://cb.example/", secret=SECRET, sink=sink)
    query = _query_of(app.hook_url(STATE))
    assert await _call(app, body=task_body(), query=query) == (500, {"error": "sink_failed"})
    assert (await _call(app, body=task_body(), query=query))[0] == 200


async def test_a_client_that_leaves_mid_body_gets_no_answer() -> None:
    """An http.disconnect before the body ends: nothing is sent, nothing reaches the sink."""
    sink = Sink()
    app = _receiver(sink)
    assert await _call(app, disconnect=True, query=_query_of(app.hook_url(STATE))) == (None, None)
    assert sink.tasks == []


async def test_lifespan_and_websocket_scopes_are_handled() -> None:
    """Lifespan startup and shutdown complete; a websocket is closed, not left hanging."""
    app = _receiver(Sink())
    inbox: list[dict[str, Any]] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    sent.clear()
    inbox.append({"type": "websocket.connect"})
    await app({"type": "websocket", "path": "/"}, receive, send)
    assert sent == ["websocket.close"]


async def test_served_by_uvicorn() -> None:
    """Under a real ASGI server (uvicorn, when installed) a genuine POST reaches the sink."""
    uvicorn = pytest.importorskip("uvicorn")
    sink = Sink()
    app = _receiver(sink)
    # A socket bound and listening before uvicorn starts: a POST waits in its backlog, so
    # nothing has to poll for the server to be up.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        url = f"http://127.0.0.1:{port}/onechat?" + _query_of(app.hook_url(STATE)).decode()
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=task_body()) as response:
                assert response.status == 200
            async with session.post(url, data=task_body(state="oc-x")) as response:
                assert response.status == 401
    finally:
        server.should_exit = True
        await serving
        sock.close()
    assert [t.progress for t in sink.tasks] == [9]


async def test_an_endless_body_is_not_read_past_the_limit() -> None:
    """Once the chunks pass max_body the app answers 413 without asking for more."""
    app = _receiver(Sink(), max_body=1024)
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        # Endless, but bounded so that a regression fails fast instead of hanging.
        return {"type": "http.request", "body": b" " * 700, "more_body": asked < 50}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "query_string": b"", "headers": []}
    await app(scope, receive, send)
    assert asked == 2
    assert sent[0]["status"] == 413


async def test_hook_fields_bind_a_given_or_fresh_state() -> None:
    """hook_fields keeps a given state, makes a fresh one otherwise, and its URL verifies."""
    sink = Sink()
    app = _receiver(sink)
    given = app.hook_fields("job-42")
    assert given["state"] == "job-42"
    fresh, other = app.hook_fields(), app.hook_fields()
    assert fresh["state"].startswith("oc-")
    assert fresh["state"] != other["state"]
    query = _query_of(fresh["notifyHook"])
    assert (await _call(app, body=task_body(state=fresh["state"]), query=query))[0] == 200
    assert (await _call(app, body=task_body(state=other["state"]), query=query))[0] == 401
