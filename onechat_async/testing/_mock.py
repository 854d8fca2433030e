"""A transport that answers from a function: test code over a client with no server at all.

:class:`MockTransport` takes the place of the client's aiohttp transport (the
``transport=`` argument of :class:`~onechat_async.OneChatClient`), as httpx's
``MockTransport`` does for httpx: every request the client would send becomes a frozen
:class:`MockRequest` handed to your handler, and what the handler returns (a
:class:`MockResponse`) is what the client reads, through all of its real parsing, error
mapping, retries and polling. A handler that raises a
:class:`~onechat_async.OneChatError` stands for a failure in transit
(``APIConnectionError(request_sent=False)`` for a refused connection,
``APITimeoutError()`` for an answer that never came).

Use it for unit tests of code built on the client, and where a simulated server is too
much (the benchmarks replay prepared answers through it). For flows through a real HTTP
server with task lifecycles, use :class:`~onechat_async.testing.Simulator`.
"""

from __future__ import annotations

import inspect
import json as _json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final, TypeAlias
from urllib.parse import urlsplit

import attrs

from onechat_async._errors import ClientClosedError
from onechat_async._responses import Response
from onechat_async._secrets import MARKER

__all__ = ["MockAnswer", "MockHandler", "MockRequest", "MockResponse", "MockTransport"]

#: The headers that carry the key: a repr shows that they are there, never their value.
_SECRET_HEADERS: Final = frozenset({"authorization", "mj-api-secret"})
_JSON_HEADERS: Final = {"Content-Type": "application/json"}
#: How much of a body a repr shows: a submit may carry megabytes of data URLs.
_REPR_BODY: Final = 200


class _Unset:
    """The "no value given" marker: ``None`` is a JSON value (``null``) and a result."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()


class _Headers(Mapping[str, str]):
    """Request headers, read-only, looked up by case-insensitive name; the repr hides the key.

    A copy is kept, so a record does not change if the sender's dict does.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = dict(headers)

    def __getitem__(self, name: str) -> str:
        try:
            return self._items[name]
        except KeyError:
            lowered = name.lower()
            for key, value in self._items.items():
                if key.lower() == lowered:
                    return value
            raise

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        shown = {k: MARKER if k.lower() in _SECRET_HEADERS else v for k, v in self._items.items()}
        return repr(shown)


# The converters test exact types first: they run on every request of the tick-CPU
# benchmark, where an ABC isinstance check would be the dearest step.
def _headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return value if type(value) is _Headers else _Headers(value)


def _bytes(value: bytes | None) -> bytes:
    if type(value) is bytes:
        return value
    return b"" if value is None else bytes(value)


def _path(url: str) -> str:
    """The path of ``url`` (``/mj/submit/imagine``), without scheme, host or query."""
    # urlsplit keeps a cache: a client sends the same few URLs over and over.
    return urlsplit(url).path or "/"


@attrs.frozen(repr=False)
class MockRequest:
    """One request the client sent, as the handler of a :class:`MockTransport` sees it.

    :ivar method: As sent (``"POST"``, ``"GET"``).
    :ivar url: As sent (``"http://127.0.0.1:9/mj/submit/imagine"``).
    :ivar path: The URL's path alone (``"/mj/submit/imagine"``, or
        ``"/mj-fast/mj/submit/imagine"`` with ``mode="fast"``).
    :ivar headers: A read-only mapping, looked up by case-insensitive name. It holds what a
        real request carries, the key included (``Authorization``, ``mj-api-secret``); its
        repr, and this request's, show ``<redacted>`` in place of their values.
    :ivar body: The bytes sent, ``b""`` when none (a GET); :attr:`json` is them parsed.
    :ivar timeout: The per-request timeout in seconds the client gave the transport.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(converter=_headers)
    body: bytes = attrs.field(default=b"", converter=_bytes)
    timeout: float = 30.0
    path: str = attrs.field(init=False, eq=False)
    # Parsed on first use: a handler that routes by path alone never pays for it.
    _parsed: object = attrs.field(init=False, eq=False, default=_UNSET)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "path", _path(self.url))

    @property
    def json(self) -> Any:
        """The body parsed as JSON; None when it is empty or not JSON."""
        parsed = self._parsed
        if parsed is _UNSET:
            try:
                parsed = _json.loads(self.body) if self.body else None
            except (ValueError, RecursionError):
                parsed = None
            object.__setattr__(self, "_parsed", parsed)
        return parsed

    def __repr__(self) -> str:
        body = self.body[:_REPR_BODY] + (b"..." if len(self.body) > _REPR_BODY else b"")
        return (
            f"MockRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={self.headers!r}, body={body!r}, timeout={self.timeout!r})"
        )


@attrs.frozen(init=False)
class MockResponse:
    """An answer for a :class:`MockTransport` handler to return: a status and a body.

    ``json=`` is encoded as the servers do (UTF-8, ``Content-Type: application/json``
    unless ``headers`` name one); ``body=`` is sent as given (a str is UTF-8 encoded), for
    an HTML page, an empty or a cut-off answer. Give one of them, or neither for an empty
    body. :attr:`response` is the answer as the client reads it.

    :param status: The HTTP status.
    :param json: A value to send as JSON.
    :param body: Bytes (or a str, UTF-8 encoded) to send as they are.
    :param headers: Response headers.
    :raises ValueError: Both ``json`` and ``body`` were given.
    :raises TypeError: A ``status`` that is not an int, a ``body`` that is not bytes or str.
    :ivar status: The HTTP status.
    :ivar headers: The headers sent, ``Content-Type`` included for ``json=``.
    :ivar body: The bytes sent.
    :ivar response: The answer as the client's transport layer reads it.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    response: Response = attrs.field(repr=False, eq=False)

    def __init__(
        self,
        status: int = 200,
        *,
        json: Any = _UNSET,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"status must be an int, got {type(status).__name__}")
        sent = dict(headers or {})
        if json is not _UNSET:
            if body is not None:
                raise ValueError("give json= or body=, not both")
            data = _json.dumps(json, ensure_ascii=False).encode()
            if not any(k.lower() == "content-type" for k in sent):
                sent = {**_JSON_HEADERS, **sent}
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b""
        elif isinstance(body, bytes | bytearray | memoryview):
            data = bytes(body)
        else:
            raise TypeError(f"body must be bytes or str, got {type(body).__name__}")
        self.__attrs_init__(status, sent, data, Response(status, sent, data))


MockAnswer: TypeAlias = MockResponse | Response
"""What a handler returns: a :class:`MockResponse`, or the client's own ``Response``."""

MockHandler: TypeAlias = Callable[[MockRequest], MockAnswer | Awaitable[MockAnswer]]
"""A function, plain or ``async``, from a :class:`MockRequest` to an answer."""


class MockTransport:
    """A client transport whose answers come from ``handler``: no network, no server.

    ``handler`` is called with each :class:`MockRequest` and returns a
    :class:`MockResponse` (or awaits to one: it may be ``async``), or raises a
    :class:`~onechat_async.OneChatError` to stand for a failure in transit, which the
    client treats as it would the real one (a submit that raises
    ``APIConnectionError()`` becomes ``SubmitOutcomeUnknownError``). Any other exception
    is a bug of the handler and propagates unchanged from a query; a submit turns it into
    ``SubmitOutcomeUnknownError``, as it does any surprise after sending, so check
    requests after the call rather than with ``assert`` inside the handler.

    Every request is kept in :attr:`requests` (``record=False`` keeps none, for long runs)
    and counted in :attr:`request_count`. :meth:`aclose`, which the client calls when it
    closes, makes every later send raise :class:`~onechat_async.ClientClosedError`:
    use one transport per client. Example::

        from onechat_async import OneChatClient
        from onechat_async.testing import MockRequest, MockResponse, MockTransport

        def answer(request: MockRequest) -> MockResponse:
            if request.path == "/mj/submit/imagine":
                return MockResponse(json={"code": 1, "result": "1748339029401828"})
            return MockResponse(404, body="")

        mock = MockTransport(answer)
        async with OneChatClient(api_key="sk-test", transport=mock) as client:
            submitted = await client.imagine("a red fox")
        assert submitted.task_id == "1748339029401828"
        assert mock.requests[0].json == {"prompt": "a red fox"}

    :param handler: Answers each request: a function, plain or ``async``
        (:data:`MockHandler`).
    :param record: Keep every request in :attr:`requests` (False: count only).
    :raises TypeError: ``handler`` is not callable.
    """

    __slots__ = ("_closed", "_handler", "_record", "request_count", "requests")

    def __init__(self, handler: MockHandler, *, record: bool = True) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {type(handler).__name__}")
        self._handler = handler
        self._record = record
        self._closed = False
        self.requests: list[MockRequest] = []
        """Every request sent so far, oldest first (none with ``record=False``)."""
        self.request_count = 0
        """How many requests were sent, recorded or not."""

    def __repr__(self) -> str:
        name = getattr(self._handler, "__qualname__", type(self._handler).__qualname__)
        return (
            f"MockTransport(handler={name}, request_count={self.request_count}, "
            f"closed={self._closed})"
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        """Hand the request to the handler; its answer, or the OneChatError it raised.

        :param method: The HTTP method.
        :param url: The full URL.
        :param headers: The request headers, the key included.
        :param body: The request body, or None.
        :param timeout: The per-request timeout, in seconds.
        :raises ClientClosedError: The transport was closed.
        """
        if self._closed:
            raise ClientClosedError(
                "this MockTransport is closed (its client was closed); make a new one"
            )
        request = MockRequest(method, url, headers, body, timeout)
        self.request_count += 1
        if self._record:
            self.requests.append(request)
        answer = self._handler(request)
        # The common answer, a ready MockResponse, is told apart first and most cheaply.
        if type(answer) is MockResponse:
            return answer.response
        if not isinstance(answer, MockResponse | Response):
            if not inspect.isawaitable(answer):
                raise TypeError(_wrong_answer(answer))
            answer = await answer
            if not isinstance(answer, MockResponse | Response):
                raise TypeError(_wrong_answer(answer))
        return answer.response if isinstance(answer, MockResponse) else answer

    async def aclose(self) -> None:
        """Refuse every later request; closing twice is fine."""
        self._closed = True


def _wrong_answer(answer: object) -> str:
    return (
        f"the MockTransport handler returned {type(answer).__name__}; "
        "return a MockResponse (or raise a OneChatError)"
    )
