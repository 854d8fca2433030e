"""How the CLI reaches the server: which proxy, and whether the server answers at all.

``--proxy URL`` sends every request (API calls and image downloads) through that proxy;
``--trust-env`` takes it from ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` instead. Which
proxy that is, the library decides (:func:`onechat_async._proxy.proxy_for`, the rule behind
``OneChatClient(proxy=, trust_env=)``); the CLI hands it to the transport it watches.

:class:`WatchedTransport` notices when the server stops answering: the library's poller
retries quietly until ``--timeout``, which on a terminal looks like a frozen NOT_START.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import attrs

from .._errors import APIConnectionError, InvalidRequestError
from .._proxy import proxy_for as _library_proxy_for
from .._responses import Response
from .._transport import AiohttpTransport, Transport

__all__ = [
    "Reachability",
    "WatchedTransport",
    "host_of",
    "proxy_for",
    "transport",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> str:
    """``host:port`` of ``url``, the port spelled out even when it is the scheme's default."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port or _DEFAULT_PORTS.get(parts.scheme, '?')}"


def proxy_for(url: str, *, proxy: str | None, trust_env: bool) -> str | None:
    """The library's choice of proxy for ``url``, its refusal worded for the command line."""
    try:
        return _library_proxy_for(url, proxy=proxy, trust_env=trust_env)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"--{exc.message}") from None


@attrs.define
class Reachability:
    """Whether the server answered the last request, and since when it has not."""

    #: ``host:port`` of the server, for the messages.
    host: str
    #: When the first failure of the current run of failures happened (monotonic), or None.
    down_since: float | None = None
    #: The last failure's message.
    last_error: str = ""
    #: Called with this object each time the server goes down or comes back.
    on_change: Callable[[Reachability], None] | None = None
    clock: Callable[[], float] = time.monotonic

    @property
    def down(self) -> bool:
        """True while the latest request could not reach the server."""
        return self.down_since is not None

    def seconds_down(self) -> float:
        """How long the server has not answered (0 while it does)."""
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    def failed(self, error: APIConnectionError) -> None:
        """A request did not get through."""
        self.last_error = error.message
        if self.down_since is None:
            self.down_since = self.clock()
            self._changed()

    def answered(self) -> None:
        """A request got an answer (any answer: the server is there)."""
        if self.down_since is not None:
            self.down_since = None
            self._changed()

    def warning(self) -> str:
        """One line for people: what is wrong, for how long, and that it keeps trying."""
        down = self.seconds_down()
        since = f" for {down:.0f} s" if down >= 1 else ""
        return f"cannot reach {self.host}{since} ({self.last_error}); still trying until --timeout"

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


class WatchedTransport:
    """A :class:`Transport` that tells :class:`Reachability` how each request went."""

    def __init__(self, inner: Transport, reach: Reachability) -> None:
        self._inner = inner
        self.reach = reach

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        """Send through the inner transport, noting whether the server answered."""
        try:
            response = await self._inner.send(
                method, url, headers=headers, body=body, timeout=timeout
            )
        except APIConnectionError as exc:
            self.reach.failed(exc)
            raise
        self.reach.answered()
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


def transport(proxy: str | None, reach: Reachability) -> WatchedTransport:
    """The client's transport: through ``proxy`` if there is one, watched."""
    return WatchedTransport(AiohttpTransport(proxy=proxy), reach)
