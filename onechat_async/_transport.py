"""The only module that speaks aiohttp: send one request, return the raw answer.

Transport failures become :class:`APIConnectionError` / :class:`APITimeoutError` here, so
the rest of the library never sees an aiohttp exception. A session handed in is borrowed
and never closed; one made here is closed by :meth:`AiohttpTransport.aclose`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp

from ._errors import APIConnectionError, APITimeoutError
from ._responses import Response

__all__ = ["AiohttpTransport", "Transport"]


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
        """Send one request and return the whole answer, or raise APIConnectionError."""
        ...

    async def aclose(self) -> None:
        """Release what this transport owns."""
        ...


class AiohttpTransport:
    """A :class:`Transport` on an :class:`aiohttp.ClientSession`."""

    def __init__(self, session: aiohttp.ClientSession | None = None, *, limit: int = 100) -> None:
        self._borrowed = session
        self._owned: aiohttp.ClientSession | None = None
        self._limit = limit

    def _session(self) -> aiohttp.ClientSession:
        if self._borrowed is not None:
            return self._borrowed
        if self._owned is None:
            # Made lazily so that constructing a client outside a running loop is fine.
            # trust_env stays off: it costs two thread-pool hops per request (.netrc and proxy
            # look-ups) and a .netrc entry for the host would clash with our Authorization
            # header. Whoever needs a proxy passes a session configured for it.
            self._owned = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
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
        """Send one request; connection and timeout failures become our own errors."""
        try:
            async with self._session().request(
                method,
                url,
                headers=headers,
                data=body,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                return Response(resp.status, dict(resp.headers), payload)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise APITimeoutError(f"no answer within {timeout:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise APIConnectionError(
                f"cannot connect: {exc.os_error or exc}", request_sent=False
            ) from exc
        except aiohttp.ClientError as exc:
            raise APIConnectionError(f"connection failed: {exc!s}") from exc

    async def aclose(self) -> None:
        """Close the session if this transport made it; a borrowed one stays open."""
        if self._owned is not None:
            await self._owned.close()
            self._owned = None
