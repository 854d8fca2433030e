"""The transport under failure: classification, bounded reads, decoding, closed sessions.

Flows run against real aiohttp servers on 127.0.0.1; failures that no server can produce on
demand (a DNS failure) come from aioresponses.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from onechat_async import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    InvalidRequestError,
    OneChatClient,
    OneChatError,
    RetryPolicy,
    ServerError,
    SubmitOutcomeUnknownError,
)
from onechat_async._transport import DEFAULT_MAX_RESPONSE_BYTES, AiohttpTransport
from onechat_async.testing import ManualClock

BASE = "http://127.0.0.1:9"
OK = {"code": 1, "description": "提交成功", "result": "1748339029401999"}
KEY = "sk-transport-SECRET-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}", "mj-api-secret": KEY}
MIB = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


class RawServer:
    """An aiohttp server on 127.0.0.1 whose one route runs the handler a test gives it."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.url = ""
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self.handler is not None
        return await self.handler(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    yield server
    await server.stop()


async def send(transport: AiohttpTransport, url: str, *, timeout: float = 5.0) -> bytes:
    """One GET through ``transport``; the body it returned."""
    response = await transport.send("GET", url, headers=HEADERS, body=None, timeout=timeout)
    return response.body


def assert_clean(error: BaseException) -> None:
    """No aiohttp exception is reachable from ``error`` and the key is nowhere in it."""
    assert error.__cause__ is None
    assert error.__context__ is None
    assert KEY not in str(error)
    assert KEY not in repr(error)


# -- bounded reads -------------------------------------------------------------------------


async def endless(request: web.Request) -> web.StreamResponse:
    """A chunked body that goes on (bounded at 256 MiB so the test stops by itself)."""
    response = web.StreamResponse()
    await response.prepare(request)
    chunk = b"x" * 65536
    for _ in range(4096):
        await response.write(chunk)
    return response


def bomb(size: int) -> Handler:
    """A gzip body that inflates to ``size`` zero bytes (10 MB packs into about 10 KB)."""
    packed = gzip.compress(b"\0" * size, compresslevel=9)

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=packed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    return handler


async def peak_growth(work: Awaitable[object]) -> tuple[int, BaseException | None]:
    """Peak traced memory growth while ``work`` runs, and what it raised."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        raised: BaseException | None = None
        try:
            await work
        except OneChatError as exc:
            raised = exc
        return tracemalloc.get_traced_memory()[1] - before, raised
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("borrowed", [False, True], ids=["owned", "borrowed"])
@pytest.mark.parametrize(
    ("handler", "what"), [(endless, "endless body"), (bomb(10_000_000), "gzip bomb")]
)
async def test_oversized_answers_are_cut_off_with_bounded_memory(
    raw: RawServer, handler: Handler, what: str, borrowed: bool
) -> None:
    """An endless body or a gzip bomb raises ServerError at the limit, memory kept bounded."""
    raw.handler = handler
    async with aiohttp.ClientSession() as lent:
        transport = AiohttpTransport(lent if borrowed else None, max_response_bytes=MIB)
        try:
            growth, raised = await peak_growth(send(transport, raw.url + "/x"))
        finally:
            await transport.aclose()
    assert isinstance(raised, ServerError), what
    assert raised.status == 200
    assert not raised.retryable
    assert "larger than 1048576 bytes" in raised.message
    assert_clean(raised)
    # The limit, its join and the read buffers; a runaway read would be 10 MB or more.
    assert growth < 4 * MIB, f"{what}: grew {growth} bytes"


async def test_content_length_over_the_limit_is_refused_before_reading(raw: RawServer) -> None:
    """A Content-Length above the limit is refused at once, whatever the body."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"{}" * 600, status=503)

    raw.handler = handler
    transport = AiohttpTransport(max_response_bytes=1000)
    try:
        with pytest.raises(ServerError, match="larger than 1000 bytes") as info:
            await send(transport, raw.url + "/x")
    finally:
        await transport.aclose()
    assert info.value.status == 503
    assert_clean(info.value)


async def test_default_limit_is_sixteen_mebibytes(raw: RawServer) -> None:
    """Without max_response_bytes an answer of 16 MiB passes and one byte more does not."""
    assert DEFAULT_MAX_RESPONSE_BYTES == 16 * MIB
    sizes = iter([DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RESPONSE_BYTES + 1])

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"\0" * next(sizes))

    raw.handler = handler
    transport = AiohttpTransport()
    try:
        assert len(await send(transport, raw.url + "/x")) == DEFAULT_MAX_RESPONSE_BYTES
        with pytest.raises(ServerError, match="larger than"):
            await send(transport, raw.url + "/x")
    finally:
        await transport.aclose()


@pytest.mark.parametrize("max_response_bytes", [0, -1, 1.5, True])
def test_max_response_bytes_must_be_a_positive_int(max_response_bytes: object) -> None:
    """A limit that is not a positive int is refused when the transport is made."""
    with pytest.raises(InvalidRequestError, match="max_response_bytes"):
        AiohttpTransport(max_response_bytes=max_response_bytes)  # type: ignore[arg-type]


BODY = b'{"code": 1, "result": "1748339029401999", "description": "\xe6\x8f\x90\xe4\xba\xa4"}'


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize("borrowed", [False, True], ids=["owned", "borrowed"])
@pytest.mark.parametrize(
    ("encoding", "packed", "chunked"),
    [
        ("gzip", gzip.compress(BODY), False),
        ("gzip", gzip.compress(BODY), True),
        ("x-gzip", gzip.compress(BODY), False),
        ("deflate", zlib.compress(BODY), False),
        ("deflate", _raw_deflate(BODY), False),
        ("identity", BODY, True),
        ("", BODY, True),
    ],
)
async def test_compressed_answers_are_decoded(
    raw: RawServer, encoding: str, packed: bytes, chunked: bool, borrowed: bool
) -> None:
    """gzip, zlib and raw deflate answers decode to the same body, chunked or not."""

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": encoding} if encoding else {}
        if not chunked:
            return web.Response(body=packed, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(packed), 7):
            await response.write(packed[i : i + 7])
        return response

    raw.handler = handler
    async with aiohttp.ClientSession() as lent:
        transport = AiohttpTransport(lent if borrowed else None)
        try:
            assert await send(transport, raw.url + "/x") == BODY
        finally:
            await transport.aclose()


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        ("br", b"\x1b\x00", "unsupported Content-Encoding 'br'"),
        ("gzip", b"not gzip at all", "corrupt compressed body"),
    ],
)
async def test_undecodable_answers_are_server_errors(
    raw: RawServer, encoding: str, body: bytes, reason: str
) -> None:
    """An unknown encoding or a corrupt compressed body is a ServerError naming why."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, headers={"Content-Encoding": encoding})

    raw.handler = handler
    transport = AiohttpTransport()
    try:
        with pytest.raises(ServerError, match=reason) as info:
            await send(transport, raw.url + "/x")
    finally:
        await transport.aclose()
    assert info.value.status == 200
    assert_clean(info.value)


async def test_only_decodable_encodings_are_asked_for(raw: RawServer) -> None:
    """Requests offer gzip and deflate only, so a polite server never sends brotli."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Accept-Encoding", ""))
        return web.Response(body=b"{}")

    raw.handler = handler
    async with aiohttp.ClientSession() as lent:
        for transport in (AiohttpTransport(), AiohttpTransport(lent)):
            try:
                await send(transport, raw.url + "/x")
            finally:
                await transport.aclose()
    assert seen == ["gzip, deflate", "gzip, deflate"]


# -- classification ------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_connection_was_not_sent() -> None:
    """A refused connection is an APIConnectionError that says the request never left."""
    transport = AiohttpTransport()
    try:
        with pytest.raises(APIConnectionError) as info:
            await send(transport, f"http://127.0.0.1:{_closed_port()}/x")
    finally:
        await transport.aclose()
    assert not isinstance(info.value, APITimeoutError)
    assert not info.value.request_sent
    assert "cannot connect (ConnectionRefusedError" in info.value.message
    assert_clean(info.value)


async def test_dns_failure_was_not_sent(mocked: aioresponses) -> None:
    """A name that does not resolve means the request never left."""
    key = aiohttp.client_reqrep.ConnectionKey(
        "nowhere.test", 443, True, True, None, None, None, None
    )
    mocked.get(
        "https://nowhere.test/x",
        exception=aiohttp.ClientConnectorDNSError(key, OSError(-2, "Name or service not known")),
    )
    transport = AiohttpTransport()
    try:
        with pytest.raises(APIConnectionError) as info:
            await send(transport, "https://nowhere.test/x")
    finally:
        await transport.aclose()
    assert not info.value.request_sent
    assert "ClientConnectorDNSError" not in info.value.message  # the OS error is named
    assert "Name or service not known" in info.value.message
    assert_clean(info.value)


async def test_read_timeout_may_have_been_sent(raw: RawServer) -> None:
    """A server that takes the request and never answers: a timeout with request_sent."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        await raw.release.wait()
        return web.Response()

    raw.handler = handler
    transport = AiohttpTransport()
    try:
        with pytest.raises(APITimeoutError, match=r"no answer within 0\.2 s") as info:
            await send(transport, raw.url + "/x", timeout=0.2)
    finally:
        await transport.aclose()
    assert info.value.request_sent
    assert_clean(info.value)


async def test_connect_phase_timeout_was_not_sent(raw: RawServer) -> None:
    """Waiting for a connection past the connect share of the timeout: not sent."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        raw.arrived.set()
        await raw.release.wait()
        return web.Response()

    raw.handler = handler
    # One connection, held by a request that never ends: the next cannot even connect.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as lent:
        transport = AiohttpTransport(lent)
        holder = asyncio.create_task(send(transport, raw.url + "/hold", timeout=30))
        await raw.arrived.wait()
        with pytest.raises(APITimeoutError, match=r"no connection within 0\.1 s") as info:
            await send(transport, raw.url + "/x", timeout=0.2)
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
    assert not info.value.request_sent
    assert_clean(info.value)


async def test_reset_after_sending_may_have_been_sent(raw: RawServer) -> None:
    """A connection the server drops after reading the request: request_sent, named."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        request.transport.abort()
        await raw.release.wait()
        return web.Response()

    raw.handler = handler
    transport = AiohttpTransport()
    try:
        with pytest.raises(APIConnectionError) as info:
            await send(transport, raw.url + "/x")
    finally:
        await transport.aclose()
    assert info.value.request_sent
    assert "connection lost after the request was sent (ServerDisconnectedError" in str(info.value)
    assert_clean(info.value)


async def test_malformed_answer_echoing_the_key_is_named_without_it() -> None:
    """An answer that is not HTTP, quoting the key back, names aiohttp's error minus the key."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        echoed = [line for line in head.split(b"\r\n") if line.startswith(b"Authorization")]
        writer.write(b"HTTP/1.1 200 OK\r\nBad Line " + echoed[0] + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = AiohttpTransport()
    try:
        with pytest.raises(APIConnectionError) as info:
            await send(transport, f"http://127.0.0.1:{port}/x")
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
    assert info.value.request_sent
    assert "(ClientResponseError: 400" in info.value.message
    assert_clean(info.value)


async def test_invalid_url_is_refused_before_sending() -> None:
    """A URL aiohttp cannot use is an InvalidRequestError: nothing was sent."""
    transport = AiohttpTransport()
    try:
        with pytest.raises(InvalidRequestError, match="is not valid"):
            await send(transport, "http://127.0.0.1:99999/x")
    finally:
        await transport.aclose()


async def test_header_breaking_key_is_refused_without_echo(raw: RawServer) -> None:
    """A key with a newline is an InvalidRequestError that does not repeat the key."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"{}")

    raw.handler = handler
    transport = AiohttpTransport()
    bad = {"Authorization": f"Bearer {KEY}\r\nX-Evil: 1"}
    try:
        with pytest.raises(InvalidRequestError, match="newline") as info:
            await transport.send("GET", raw.url + "/x", headers=bad, body=None, timeout=5)
    finally:
        await transport.aclose()
    assert_clean(info.value)


async def test_closed_borrowed_session_says_what_to_do() -> None:
    """A session lent and then closed gives ClientClosedError naming the lent session."""
    lent = aiohttp.ClientSession()
    await lent.close()
    transport = AiohttpTransport(lent)
    with pytest.raises(ClientClosedError, match="session you lent to this client is closed"):
        await send(transport, BASE + "/x")


def test_second_event_loop_is_refused() -> None:
    """A client's own session is tied to its first loop: using it on another is refused."""
    transport = AiohttpTransport()
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        with pytest.raises(APIConnectionError):
            first.run_until_complete(send(transport, f"http://127.0.0.1:{_closed_port()}/x"))
        with pytest.raises(ClientClosedError, match="another event loop"):
            second.run_until_complete(send(transport, BASE + "/x"))
        first.run_until_complete(transport.aclose())
    finally:
        first.close()
        second.close()


# -- through the client --------------------------------------------------------------------


async def test_disconnected_submit_is_not_resent(mocked: aioresponses, clock: ManualClock) -> None:
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


async def test_payload_error_on_query_is_retried(mocked: aioresponses, clock: ManualClock) -> None:
    """A fetch whose body broke off is retried like any transient failure, up to the bound."""
    url = f"{BASE}/mj/task/5/fetch"
    mocked.get(url, exception=aiohttp.ClientPayloadError("truncated"), repeat=True)
    async with OneChatClient(
        api_key="k", base_url=BASE, clock=clock, retry=RetryPolicy(attempts=3, wait_jitter=0)
    ) as client:
        with pytest.raises(APIConnectionError, match="truncated") as info:
            await client.fetch("5")
    assert info.value.task_id == "5"
    assert clock.slept == [0.5, 1.0]
    assert len(next(iter(mocked.requests.values()))) == 3


async def test_refused_connection_may_retry_a_submit(clock: ManualClock) -> None:
    """A refused connection proves the server saw nothing, so an opted-in submit retries."""
    base = f"http://127.0.0.1:{_closed_port()}"
    async with OneChatClient(
        api_key="k", base_url=base, clock=clock, submit_retry=RetryPolicy(attempts=3, wait_jitter=0)
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.imagine("a fox", state="s")
    assert not info.value.request_sent
    assert clock.slept == [0.5, 1.0]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            lambda key: web.Response(body=b"x" * 2000, headers={"X-Echo": key}), id="large"
        ),
        pytest.param(
            lambda key: web.Response(body=b"x", headers={"X-Echo": key, "Content-Encoding": "br"}),
            id="undecodable",
        ),
    ],
)
async def test_no_transport_frame_keeps_the_answer_after_a_failure(
    raw: RawServer, answer: Callable[[str], web.Response]
) -> None:
    """After a failed read no transport frame a traceback keeps holds the key-echoing answer."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return answer(request.headers["mj-api-secret"])

    raw.handler = handler
    transport = AiohttpTransport(max_response_bytes=1000)
    try:
        with pytest.raises(ServerError) as info:
            await send(transport, raw.url)
    finally:
        await transport.aclose()
    assert_clean(info.value)
    frame_tb = info.value.__traceback__
    while frame_tb is not None:
        for name, value in frame_tb.tb_frame.f_locals.items():
            assert KEY not in repr(value), f"local {name} of {frame_tb.tb_frame.f_code.co_name}"
        frame_tb = frame_tb.tb_next
