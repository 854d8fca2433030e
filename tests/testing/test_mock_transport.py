"""MockTransport: a client over a handler, with no server; what it hands over and records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from onechat_async import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    OneChatClient,
    OneChatError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    SubmitOutcomeUnknownError,
    SubmitRejectedError,
    TaskNotFoundError,
)
from onechat_async._responses import Response
from onechat_async.testing import (
    ManualClock,
    MockAnswer,
    MockHandler,
    MockRequest,
    MockResponse,
    MockTransport,
)

KEY = "sk-mock-SECRET-0123456789"
BASE = "http://127.0.0.1:9"
TASK_ID = "1748339029401828"


def task(status: str = "SUCCESS", progress: str = "100%", task_id: str = TASK_ID) -> dict[str, Any]:
    """A task object with the gateway's field set."""
    return {
        "id": task_id,
        "action": "IMAGINE",
        "prompt": "a red fox",
        "status": status,
        "progress": progress,
        "submitTime": 1748339029401,
        "imageUrl": f"https://example.invalid/mj/image/{task_id}",
        "failReason": "",
        "properties": {},
        "buttons": [],
    }


def routes(request: MockRequest) -> MockResponse:
    """A handler answering by method and path, as a small server would."""
    match request.method, request.path:
        case "POST", "/mj/submit/imagine":
            return MockResponse(json={"code": 1, "description": "提交成功", "result": TASK_ID})
        case "GET", "/mj/task/1748339029401828/fetch":
            return MockResponse(json=task())
        case "POST", "/mj/task/list-by-condition":
            return MockResponse(json=[task(task_id=i) for i in request.json["ids"]])
        case _:
            return MockResponse(404, body="")


async def async_routes(request: MockRequest) -> MockResponse:
    """The same answers, from a coroutine."""
    return routes(request)


def client_over(mock: MockTransport, **options: Any) -> OneChatClient:
    options.setdefault("retry", RetryPolicy.off())
    return OneChatClient(api_key=KEY, base_url=BASE, transport=mock, **options)


@pytest.fixture
async def mock() -> AsyncIterator[MockTransport]:
    """A mock answering ``routes``, closed at teardown."""
    transport = MockTransport(routes)
    yield transport
    await transport.aclose()


# -- routes and what the handler sees ------------------------------------------------------


@pytest.mark.parametrize("handler", [routes, async_routes], ids=["sync", "async"])
async def test_each_call_reaches_its_route(handler: MockHandler) -> None:
    """A plain or async handler answers imagine, fetch and list, and the client decodes each."""
    mock = MockTransport(handler)
    async with client_over(mock) as client:
        submitted = await client.imagine("a red fox")
        fetched = await client.fetch(TASK_ID)
        listed = await client.list_tasks([TASK_ID, "1748339029401999"])
    assert submitted.task_id == TASK_ID
    assert (fetched.id, fetched.status) == (TASK_ID, "SUCCESS")
    assert sorted(t.id for t in listed) == [TASK_ID, "1748339029401999"]
    assert [(r.method, r.path) for r in mock.requests] == [
        ("POST", "/mj/submit/imagine"),
        ("GET", f"/mj/task/{TASK_ID}/fetch"),
        ("POST", "/mj/task/list-by-condition"),
    ]


async def test_handler_sees_the_request_as_sent(mock: MockTransport) -> None:
    """Method, URL, path, body, parsed JSON and each call's own timeout reach the handler."""
    async with client_over(mock, timeout=7.0, submit_timeout=45.0) as client:
        await client.imagine("a red fox", state="order-42")
        await client.fetch(TASK_ID)
    submit, fetch = mock.requests
    assert submit.url == f"{BASE}/mj/submit/imagine"
    assert submit.json == {"prompt": "a red fox", "state": "order-42"}
    assert submit.body.startswith(b"{")
    assert submit.timeout == 45.0
    assert (fetch.method, fetch.body, fetch.json, fetch.timeout) == ("GET", b"", None, 7.0)


async def test_mode_prefix_is_in_the_path(mock: MockTransport) -> None:
    """With ``mode="fast"`` the path a handler routes on carries the mode's prefix."""
    async with client_over(mock, mode="fast") as client:
        with pytest.raises(OneChatError):
            await client.imagine("a red fox")
    assert mock.requests[0].path == "/mj-fast/mj/submit/imagine"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://127.0.0.1:9/mj/task/1/fetch", "/mj/task/1/fetch"),
        ("https://host.example/mj/submit/imagine?x=1#top", "/mj/submit/imagine"),
        ("http://127.0.0.1:9", "/"),
        ("http://127.0.0.1:9?q=1", "/"),
        ("/mj/task/list-by-condition", "/mj/task/list-by-condition"),
    ],
)
def test_path_is_the_urls_path_alone(url: str, path: str) -> None:
    """``path`` drops scheme, host, query and fragment."""
    assert MockRequest("GET", url, {}).path == path


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        (b'{"ids": ["1", "2"]}', {"ids": ["1", "2"]}),
        ('["狐"]'.encode(), ["狐"]),
        (b"null", None),
        (b"", None),
        (None, None),
        (b"not json", None),
        (b"\xff\xfe", None),
        (b"[" * 100_000, None),
    ],
    ids=["object", "utf-8", "null", "empty", "none", "text", "not-utf-8", "too-deep"],
)
def test_json_is_the_parsed_body_or_none(body: bytes | None, parsed: object) -> None:
    """``json`` parses the body, and is None for an empty or unreadable one (never raises)."""
    request = MockRequest("POST", BASE, {}, body)
    assert request.json == parsed
    assert request.json == parsed  # parsed once, the same on every read


def test_request_is_frozen_and_its_headers_read_only() -> None:
    """A recorded request cannot be changed: not its fields, not its headers, not by the sender."""
    sent = {"Content-Type": "application/json"}
    request = MockRequest("GET", BASE, sent)
    sent["Content-Type"] = "text/plain"
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.method = "POST"  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.headers["Content-Type"] = "text/html"  # type: ignore[index]


async def test_headers_are_the_ones_sent_by_any_case(mock: MockTransport) -> None:
    """The recorded headers are exactly the client's, found by any case, and nothing more."""
    async with client_over(mock) as client:
        await client.fetch(TASK_ID)
    headers = mock.requests[0].headers
    assert sorted(headers) == sorted(["Content-Type", "Accept", "User-Agent", "mj-api-secret"])
    assert len(headers) == 4
    assert headers["ACCEPT"] == "application/json"
    assert headers.get("Cookie") is None
    assert "content-type" in headers


# -- the key -------------------------------------------------------------------------------


async def test_key_is_only_where_a_real_request_carries_it(mock: MockTransport) -> None:
    """The key is in the auth header, as on the wire, and in no URL, body or repr."""
    async with client_over(mock) as client:
        await client.imagine("a red fox")
        await client.fetch(TASK_ID)
    for request in mock.requests:
        assert request.headers.get("authorization") is None
        assert request.headers["MJ-API-SECRET"] == KEY
        assert KEY not in request.url
        assert KEY.encode() not in request.body
        for text in (repr(request), repr(request.headers), str(mock.requests), repr(mock)):
            assert KEY not in text
        assert "<redacted>" in repr(request)


# -- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "headers", "body"),
    [
        (MockResponse(json={"a": "狐"}), 200, {"Content-Type": "application/json"}, '{"a": "狐"}'),
        (MockResponse(json=None), 200, {"Content-Type": "application/json"}, "null"),
        (
            MockResponse(201, json=[], headers={"content-type": "text/plain"}),
            201,
            {"content-type": "text/plain"},
            "[]",
        ),
        (MockResponse(502, body="<html>"), 502, {}, "<html>"),
        (MockResponse(body=b"\x00\xff"), 200, {}, "\x00\ufffd"),
        (MockResponse(204), 204, {}, ""),
    ],
    ids=["json", "json-null", "own-content-type", "str-body", "bytes-body", "empty"],
)
def test_mock_response_encodes_its_body(
    answer: MockResponse, status: int, headers: dict[str, str], body: str
) -> None:
    """JSON is sent as UTF-8 with a JSON content type unless told otherwise; bodies as given."""
    assert answer.response == Response(status, headers, answer.body)
    assert answer.body.decode(errors="replace") == body


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: MockResponse(json={}, body=b"{}"), ValueError),
        (lambda: MockResponse(True), TypeError),
        (lambda: MockResponse(body=12), TypeError),  # type: ignore[arg-type]
        (lambda: MockTransport("not a function"), TypeError),  # type: ignore[arg-type]
    ],
    ids=["json-and-body", "bool-status", "int-body", "handler-not-callable"],
)
def test_misuse_is_refused_at_once(make: Callable[[], object], error: type[Exception]) -> None:
    """A mock built wrong fails where it is built, not later inside the client."""
    with pytest.raises(error):
        make()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (MockResponse(429, json={"error": {"message": "slow down"}}), RateLimitError),
        (MockResponse(200, body="<!doctype html><html></html>"), ServerError),
        (
            MockResponse(400, json={"description": "task_no_found ", "code": 4}),
            TaskNotFoundError,
        ),
    ],
    ids=["429", "html", "not-found"],
)
async def test_answers_become_the_clients_errors(
    answer: MockResponse, expected: type[OneChatError]
) -> None:
    """A mocked answer goes through the client's own reading, as a server's would."""
    mock = MockTransport(lambda _: answer)
    async with client_over(mock) as client:
        with pytest.raises(expected) as caught:
            await client.fetch(TASK_ID)
    assert caught.value.endpoint == "fetch"


# -- failures raised by the handler --------------------------------------------------------


def raising(error: OneChatError) -> MockHandler:
    def handler(request: MockRequest) -> MockResponse:
        raise error

    return handler


@pytest.mark.parametrize(
    ("raised", "expected", "reason"),
    [
        (APIConnectionError("refused", request_sent=False), APIConnectionError, None),
        (APIConnectionError("reset"), SubmitOutcomeUnknownError, "connection_lost"),
        (APITimeoutError("no answer"), SubmitOutcomeUnknownError, "timeout"),
        (SubmitRejectedError("bad prompt", code=4), SubmitRejectedError, None),
    ],
    ids=["refused", "lost", "timeout", "rejected"],
)
async def test_submit_failures_are_settled_as_the_client_settles_them(
    raised: OneChatError, expected: type[OneChatError], reason: str | None
) -> None:
    """A failure raised by the handler meets the client's money rules: unknown unless proven."""
    mock = MockTransport(raising(raised))
    async with client_over(mock) as client:
        with pytest.raises(expected) as caught:
            await client.imagine("a red fox", state="order-7")
    assert caught.value.state == "order-7"
    assert getattr(caught.value, "reason", None) == reason
    assert mock.request_count == 1  # never sent again


async def test_query_failures_are_retried_then_raised() -> None:
    """A query whose handler keeps failing is retried by the client's policy, then raises."""
    mock = MockTransport(raising(APITimeoutError("no answer")))
    retry = RetryPolicy(attempts=3, wait_initial=1.0, wait_jitter=0.0)
    async with client_over(mock, retry=retry, clock=ManualClock(auto_advance=True)) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.fetch(TASK_ID)
    assert (caught.value.endpoint, caught.value.task_id) == ("fetch", TASK_ID)
    assert mock.request_count == 3


async def test_a_transient_failure_then_an_answer() -> None:
    """A handler that fails once and then answers gives the caller the answer."""
    calls: list[MockRequest] = []

    def flaky(request: MockRequest) -> MockResponse:
        calls.append(request)
        if len(calls) == 1:
            raise APIConnectionError("refused", request_sent=False)
        return routes(request)

    mock = MockTransport(flaky)
    retry = RetryPolicy(attempts=2, wait_initial=1.0, wait_jitter=0.0)
    async with client_over(mock, retry=retry, clock=ManualClock(auto_advance=True)) as client:
        fetched = await client.fetch(TASK_ID)
    assert fetched.status == "SUCCESS"
    assert mock.requests == calls


async def async_bytes(request: MockRequest) -> object:
    """An async handler returning bytes rather than an answer."""
    return b"{}"


@pytest.mark.parametrize(
    "handler",
    [lambda _: None, lambda _: {"code": 1}, async_bytes],
    ids=["none", "dict", "async-bytes"],
)
async def test_a_handler_returning_something_else_is_a_type_error(handler: Any) -> None:
    """Returning anything but an answer is a bug in the test, said plainly."""
    mock = MockTransport(handler)
    with pytest.raises(TypeError, match="return a MockResponse"):
        await mock.send("GET", BASE, headers={}, body=None, timeout=1.0)


# -- recording and closing -----------------------------------------------------------------


async def test_every_request_is_recorded_and_counted(mock: MockTransport) -> None:
    """Requests are kept in order and counted; ``record=False`` counts without keeping."""
    quiet = MockTransport(routes, record=False)
    for transport in (mock, quiet):
        async with client_over(transport) as client:
            for _ in range(3):
                await client.fetch(TASK_ID)
    assert mock.request_count == 3
    assert [r.path for r in mock.requests] == [f"/mj/task/{TASK_ID}/fetch"] * 3
    assert quiet.request_count == 3
    assert quiet.requests == []


async def test_a_closed_mock_refuses_to_send(mock: MockTransport) -> None:
    """Closing the client closes its mock; a later send raises ClientClosedError, unrecorded."""
    async with client_over(mock) as client:
        await client.fetch(TASK_ID)
    assert mock.closed
    with pytest.raises(ClientClosedError):
        await mock.send("GET", BASE, headers={}, body=None, timeout=1.0)
    await mock.aclose()  # twice is fine
    assert mock.request_count == 1
    async with client_over(mock) as second:
        with pytest.raises(ClientClosedError):
            await second.fetch(TASK_ID)


async def test_a_raw_response_is_passed_through() -> None:
    """A handler may return the client's own Response; it reaches the reader untouched."""
    raw = Response(200, {"Content-Type": "application/json"}, b'{"code": 1, "result": "42"}')
    answers: list[MockAnswer] = [raw]
    mock = MockTransport(lambda _: answers[0])
    assert await mock.send("POST", BASE, headers={}, body=b"{}", timeout=1.0) is raw


# -- end to end ----------------------------------------------------------------------------


async def test_submit_and_wait_end_to_end() -> None:
    """A client over a mock submits, polls through progress and returns the finished task."""
    snapshots = iter([task("SUBMITTED", "0%"), task("IN_PROGRESS", "46%")])

    def server(request: MockRequest) -> MockResponse:
        if request.path == "/mj/submit/imagine":
            return MockResponse(json={"code": 1, "result": TASK_ID})
        if request.path == "/mj/task/list-by-condition" and request.json == {"ids": [TASK_ID]}:
            return MockResponse(json=[next(snapshots, task())])
        return MockResponse(404, body="")

    mock = MockTransport(server)
    async with client_over(mock, clock=ManualClock(auto_advance=True)) as client:
        done = await client.submit_and_wait(client.imagine("a red fox"))
    assert (done.id, done.status, done.progress) == (TASK_ID, "SUCCESS", 100)
    paths = [r.path for r in mock.requests]
    assert paths[0] == "/mj/submit/imagine"
    assert paths[1:] == ["/mj/task/list-by-condition"] * 3


DOCS = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
DOCS_TESTS = ["test_imagine_then_wait", "test_a_lost_submit_is_never_sent_again"]


def docs_example() -> dict[str, Any]:
    """The names the MockTransport example of docs/testing.md defines, once it has run."""
    section = DOCS.read_text().split("## Without a server: MockTransport", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs, run as a test
    return namespace


def test_docs_example_tests_are_all_run() -> None:
    """Every test the docs example defines is one that the test below runs."""
    assert sorted(n for n in docs_example() if n.startswith("test_")) == sorted(DOCS_TESTS)


@pytest.mark.parametrize("name", DOCS_TESTS)
async def test_docs_example_passes(name: str) -> None:
    """The MockTransport example of docs/testing.md passes as written."""
    await docs_example()[name]()
