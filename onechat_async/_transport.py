"""The only module that speaks aiohttp: send one request, return the raw answer, bounded.

Every failure becomes one of our errors here, and none of aiohttp's stays reachable from it
(neither ``__cause__`` nor ``__context__``: aiohttp's exceptions carry the request headers,
the key included):

- :class:`APIConnectionError` with ``request_sent=False`` only when the request provably
  never left: the connection was refused, the name did not resolve, the connect phase
  (pool wait, DNS, TCP, TLS) timed out. Anything later says ``request_sent=True``.
- :class:`APITimeoutError` (a subclass) for timeouts, with the same rule: aiohttp's
  ``connect`` timeout is set below the total one, so that a connect-phase timeout surfaces
  as its own exception and can be told from a wait for the answer.
- :class:`ServerError` (not retryable) for an answer larger than ``max_response_bytes``,
  judged on Content-Length when there is one and counted while reading, after
  decompression: a gzip bomb or an endless body is cut off at the limit.
- :class:`ClientClosedError` for a borrowed session that was closed, or a client used on
  a second event loop.

Decompression is ours, for a borrowed session too (per-request ``auto_decompress=False``):
aiohttp hands over the raw body and gzip/deflate are inflated with zlib's ``max_length``,
so no single compressed chunk can expand past the limit before it is counted (aiohttp's
own bound, since 3.13.3, is per chunk and best effort). ``Accept-Encoding`` names only
what is decoded here; any other encoding is refused as a ServerError.

A session handed in is borrowed and never closed; one made here is closed by
:meth:`AiohttpTransport.aclose`.
"""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections.abc import Mapping
from typing import Protocol

import aiohttp

from ._errors import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    InvalidRequestError,
    OneChatError,
    ServerError,
)
from ._responses import Response
from ._secrets import redact, shorten

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "AiohttpTransport", "Transport"]

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""The largest answer read (16 MiB): a list of 100 tasks is well under 1 MiB."""

#: The share of a request's timeout allowed for getting a connection (pool, DNS, TCP, TLS).
#: It must stay below the total so that aiohttp reports a connect-phase timeout as such.
_CONNECT_SHARE = 0.5
_READ_CHUNK = 64 * 1024
#: Only what :class:`_Inflater` can decode is asked for.
_ACCEPT_ENCODING = "gzip, deflate"
_SECRET_HEADERS = ("authorization", "mj-api-secret")


class Transport(Protocol):
    """The one seam between the client and the network; tests may provide their own."""

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        """Send one request and return the whole answer, or raise a OneChatError."""
        ...

    async def aclose(self) -> None:
        """Release what this transport owns."""
        ...


class _TooLarge(Exception):  # noqa: N818 - private signal, never leaves this module
    """The answer grew past the limit."""


class _Undecodable(Exception):  # noqa: N818 - private signal, never leaves this module
    """The answer's Content-Encoding is unknown here, or its compressed body is corrupt."""


class _Inflater:
    """Bounded gzip/deflate decoding: never produces more than the room left, plus one byte."""

    def __init__(self, encoding: str) -> None:
        # 47 = 32 + 15: zlib or gzip header, detected; raw deflate is switched to below.
        self._decoder = zlib.decompressobj(47 if encoding == "deflate" else 31)
        self._deflate = encoding == "deflate"
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        if not self._started and data:
            self._started = True
            # Some servers send raw deflate under "deflate"; a zlib stream starts with CM=8.
            if self._deflate and data[0] & 0x0F != 8:
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = self._decoder.decompress(data, room + 1)
        except zlib.error as exc:
            raise _Undecodable(f"corrupt compressed body ({exc})") from None
        if len(out) > room:
            raise _TooLarge
        return out


class AiohttpTransport:
    """A :class:`Transport` on an :class:`aiohttp.ClientSession`.

    ``max_response_bytes`` caps every answer, after decompression (default 16 MiB).
    ``proxy`` (an http(s) URL) sends every request through that proxy.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        limit: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        proxy: str | None = None,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidRequestError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
            raise InvalidRequestError("max_response_bytes must be an int")
        if max_response_bytes < 1:
            raise InvalidRequestError(
                f"max_response_bytes must be at least 1, got {max_response_bytes}"
            )
        self._borrowed = session
        self._owned: aiohttp.ClientSession | None = None
        self._owned_loop: asyncio.AbstractEventLoop | None = None
        self._limit = limit
        self._max = max_response_bytes
        self._proxy = proxy

    def _session(self) -> aiohttp.ClientSession:
        if self._borrowed is not None:
            if self._borrowed.closed:
                raise ClientClosedError(
                    "the aiohttp session you lent to this client is closed: keep it open "
                    "until the client is closed, or pass no session and let the client "
                    "make its own"
                )
            return self._borrowed
        loop = asyncio.get_running_loop()
        if self._owned is None:
            # Made lazily so that constructing a client outside a running loop is fine.
            # trust_env stays off: it costs two thread-pool hops per request (.netrc and proxy
            # look-ups) and a .netrc entry for the host would clash with our Authorization
            # header. Whoever needs a proxy passes a session configured for it.
            self._owned = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                auto_decompress=False,
            )
            self._owned_loop = loop
        elif self._owned_loop is not loop:
            raise ClientClosedError(
                "this client was used on another event loop (a second asyncio.run?): "
                "its connections belong to the first one; make one client per event loop"
            )
        return self._owned

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        """Send one request; every failure becomes a OneChatError with no aiohttp cause."""
        session = self._session()
        status: int | None = None
        resp: aiohttp.ClientResponse | None = None
        try:
            async with session.request(
                method,
                url,
                headers={**headers, "Accept-Encoding": _ACCEPT_ENCODING},
                data=body,
                timeout=_client_timeout(timeout),
                allow_redirects=False,
                auto_decompress=False,
                proxy=self._proxy,
            ) as resp:
                status = resp.status
                length = resp.content_length
                if (
                    length is not None
                    and length <= self._max
                    and "Content-Encoding" not in resp.headers
                ):
                    # The common case (every submit's answer), read without _read's coroutine:
                    # aiohttp reads no more than Content-Length.
                    payload = await resp.read()
                else:
                    payload = await self._read(resp)
                return Response(status, dict(resp.headers), payload)
        except (_TooLarge, _Undecodable, TimeoutError, ValueError, aiohttp.ClientError) as exc:
            error = self._failure(exc, status, url, headers=headers, timeout=timeout)
        # Raised here, outside the except block, so that no aiohttp exception becomes its
        # __context__; and with neither the headers nor aiohttp's response (whose
        # request_info holds them) left in this frame, whose locals a traceback (or an error
        # tracker that records locals) would otherwise carry.
        del headers, resp
        raise error

    def _failure(
        self,
        exc: BaseException,
        status: int | None,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
    ) -> OneChatError:
        """Our error for a failed request; checked in order, like except clauses would be."""
        if isinstance(exc, _TooLarge):
            return ServerError(
                f"answer larger than {self._max} bytes; refused", status=status, retryable=False
            )
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return APITimeoutError(
                f"no connection within {timeout * _CONNECT_SHARE:g} s", request_sent=False
            )
        if isinstance(exc, TimeoutError):
            # aiohttp's total timeout and its read timeout (SocketTimeoutError) both land
            # here: the connection was made, so the request may have been acted on.
            return APITimeoutError(f"no answer within {timeout:g} s")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return APIConnectionError(
                _redacted(f"cannot connect ({_describe(exc.os_error)})", headers),
                request_sent=False,
            )
        if isinstance(exc, aiohttp.InvalidURL):
            return InvalidRequestError(f"the URL {url[:200]!r} is not valid")
        if isinstance(exc, aiohttp.ClientError):
            return APIConnectionError(
                _redacted(f"connection lost after the request was sent ({_describe(exc)})", headers)
            )
        if isinstance(exc, _Undecodable):
            return ServerError(f"the answer cannot be decoded: {exc}", status=status)
        if status is not None:
            return ServerError("the answer could not be read", status=status)
        # aiohttp refuses header values that would break the request (a newline in the
        # key); its message may quote the value, so it is not repeated.
        return InvalidRequestError(
            "a request header is not valid HTTP: does the API key contain a newline "
            "or another control character?"
        )

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, decompressed, and never more than ``max_response_bytes`` of it."""
        length = resp.content_length
        if length is not None and length > self._max:
            raise _TooLarge
        raw_encoding = resp.headers.get("Content-Encoding")
        if raw_encoding is None and length is not None:
            # The common case, kept cheap: aiohttp reads no more than Content-Length.
            return await resp.read()
        encoding = (raw_encoding or "").strip().lower()
        if not encoding or encoding == "identity":
            if length is not None:
                return await resp.read()
            inflater = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            inflater = _Inflater(encoding)
        else:
            raise _Undecodable(f"unsupported Content-Encoding {encoding[:40]!r}")
        return await self._read_bounded(resp.content, inflater)

    async def _read_bounded(
        self, stream: aiohttp.StreamReader, inflater: _Inflater | None
    ) -> bytes:
        parts: list[bytes] = []
        size = raw = 0
        async for chunk in stream.iter_chunked(_READ_CHUNK):
            raw += len(chunk)
            if raw > self._max:
                # Even compressed input that inflates to little is not read forever.
                raise _TooLarge
            data = chunk if inflater is None else inflater.feed(chunk, self._max - size)
            size += len(data)
            if size > self._max:
                raise _TooLarge
            parts.append(data)
        return b"".join(parts)

    async def aclose(self) -> None:
        """Close the session if this transport made it; a borrowed one stays open."""
        if self._owned is not None:
            await self._owned.close()
            self._owned = None


@functools.lru_cache(maxsize=32)
def _client_timeout(total: float) -> aiohttp.ClientTimeout:
    """The ClientTimeout for a request of ``total`` seconds; frozen, so made once per value."""
    return aiohttp.ClientTimeout(total=total, connect=total * _CONNECT_SHARE)


def _describe(exc: BaseException | None) -> str:
    """What failed, by class and OS error text; never a request's headers."""
    if exc is None:
        return "unknown error"
    name = type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: {exc.strerror}"
    if isinstance(exc, aiohttp.ClientResponseError):
        # Its str() names the request; only the status and aiohttp's reason are kept.
        return shorten(f"{name}: {exc.status} {exc.message}", 300)
    text = str(exc)
    return shorten(f"{name}: {text}", 300) if text else name


def _redacted(message: str, headers: Mapping[str, str]) -> str:
    """``message`` without the values of the secret headers, should a server have echoed one."""
    secrets = [v for k, v in headers.items() if k.lower() in _SECRET_HEADERS]
    return redact(message, secrets)
