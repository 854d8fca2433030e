"""The :class:`CallbackReceiver`: notifyHook calls in, verified task snapshots out.

One answering function, :meth:`CallbackReceiver.answer`, decides every call (the rules live
in :mod:`onechat_async._callbacks`); three doors lead to it: an aiohttp handler or sub-app,
a plain ASGI application (written here by hand, so Starlette and FastAPI users need no new
dependency), and a small server the receiver runs itself.
"""

from __future__ import annotations

import collections
import inspect
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, Self
from urllib.parse import urlsplit

from ._callback_http import Handler, Server, make_app, make_handler
from ._callbacks import (
    DEFAULT_MAX_BODY,
    CallbackRejectedError,
    CallbackRequest,
    Signer,
    check_size,
    hook_url,
    too_large,
    verify,
)
from ._clock import Clock, SystemClock
from ._errors import InvalidRequestError
from ._models import Task
from ._secrets import get_logger
from ._validate import count, seconds

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["CallbackReceiver", "Known", "Refresh", "Sink"]

_log = get_logger("onechat_async.callbacks")

Sink = Callable[[Task], None]
"""Takes each verified task snapshot; runs on the event loop, so it must not block."""
Known = Callable[[Task], bool | Awaitable[bool]]
"""Whether a verified task is one this client (or its shared store) tracks (may be async)."""


class Refresh(Protocol):
    """Loads the shared secrets before a call is checked (``force``: read them again now)."""

    def __call__(self, *, force: bool) -> Awaitable[None]: ...


_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]

_ACCEPTED: Final = json.dumps({"accepted": True}).encode()
_NOT_READY: Final = 503
_SINK_FAILED: Final = 500
_JSON_HEADERS: Final = [(b"content-type", b"application/json")]
#: 1008 "policy violation": this app speaks plain HTTP POSTs only.
_WS_POLICY: Final = 1008
_STATE_PREFIX: Final = "oc-"


def _error_body(reason: str) -> bytes:
    return json.dumps({"error": reason}).encode()


class CallbackReceiver:
    """Receives notifyHook callbacks, checks each one, and hands verified tasks to a sink.

    Given to ``OneChatClient(callbacks=...)``, the receiver is started by the client before
    its first submit and stopped when the client closes, unless ``serve=False`` (you mount
    it in your own application) or it is already running (you started it).

    Use it in three ways: :meth:`aiohttp_app` (or :meth:`aiohttp_handler`) mounted in your
    aiohttp application; the receiver itself as an ASGI application; or :meth:`start` /
    :meth:`stop` (or ``async with``) to serve on ``host:port``.

    Every rejected call is answered with a 4xx and a JSON ``{"error": reason}`` and counted in
    :attr:`rejected`; nothing it logs contains a token, the secret or a body.

    ```python
    receiver = CallbackReceiver(public_url="https://hooks.example.com/onechat", port=8788)
    async with OneChatClient(callbacks=receiver) as client:
        task = await client.submit_and_wait(client.imagine("a red fox"))
    ```

    :param public_url: The URL the upstream can reach (behind a proxy, the proxy's URL of
        this receiver); None means the address this receiver listens on once started, which
        only suits a receiver on the same host as the upstream (tests).
    :param host: Where :meth:`start` listens.
    :param port: The port :meth:`start` listens on (0: any free port).
    :param secret: Signs the tokens (at least 32 bytes; give every worker that receives for
        the same tasks the same secret); None makes a fresh random one, so tokens minted
        before a restart stop verifying, unless the receiver is given to a client with a
        shared store: it then takes the store's secret, shared by every worker on it
        (docs/callbacks.md).
    :param ttl: How long a token stays valid, in seconds or a timedelta: longer than a task
        can take, queue included.
    :param max_body: The largest body read, in bytes.
    :param sink: Receives each verified :class:`~onechat_async.Task`; can be given later by
        :meth:`connect`, which is what a client does.
    :param known: Says whether a task is tracked (None: a genuine token is enough).
    :param clock: The clock tokens are minted and checked against (tests pass a fake one).
    :param serve: Whether a client given this receiver starts (and stops) its server.
    :raises InvalidRequestError: A bad ``port``, ``max_body``, ``ttl``, ``secret`` (shorter
        than 32 bytes) or ``serve``.
    :ivar host: Where :meth:`start` listens.
    :ivar port: The port; after :meth:`start` with port 0, the one picked.
    :ivar serve: Whether a client given this receiver starts (and stops) its own server.
    :ivar accepted: How many calls were accepted.
    :ivar rejected: How many calls were rejected, by reason (``"bad_token"``...).
    """

    def __init__(
        self,
        *,
        public_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: bytes | str | None = None,
        ttl: float | timedelta = 3 * 3600.0,
        max_body: int = DEFAULT_MAX_BODY,
        sink: Sink | None = None,
        known: Known | None = None,
        clock: Clock | None = None,
        serve: bool = True,
    ) -> None:
        if public_url is not None and (
            not isinstance(public_url, str) or urlsplit(public_url).scheme not in ("http", "https")
        ):
            raise InvalidRequestError("public_url must be an http(s) URL")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidRequestError("port must be an int in 0..65535")
        self._public_url = public_url
        self.host = host
        self.port = port
        #: Whether the secret was given (a client with a shared store then leaves it alone).
        self.secret_given = secret is not None
        self._signer = Signer(
            secrets.token_bytes(32) if secret is None else secret, seconds(ttl, what="ttl")
        )
        self._refresh: Refresh | None = None
        self._max_body = count(max_body, what="max_body")
        if not isinstance(serve, bool):
            raise InvalidRequestError("serve must be True or False")
        #: Whether a client given this receiver starts (and stops) its own server.
        self.serve = serve
        self._sink = sink
        self._known = known
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._handler = make_handler(self.answer, self._rejection, self._max_body)
        self._server = Server(self._handler)
        #: How many calls were accepted.
        self.accepted = 0
        #: How many calls were rejected, by reason.
        self.rejected: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        return f"CallbackReceiver(public_url={self._public_url!r}, serving={self.running})"

    # -- minting -------------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        """The URL notifyHooks point at (before the token is added)."""
        if self._public_url is not None:
            return self._public_url
        if not self._server.running:
            raise RuntimeError("public_url=None means the served address: start() first")
        return self.url

    @property
    def ttl(self) -> float:
        """How long a minted token stays valid, in seconds."""
        return self._signer.ttl

    def hook_url(self, state: str) -> str:
        """The notifyHook URL for a submit carrying ``state`` (which must not be empty).

        :param state: The submit's ``state``; the token in the URL binds it.
        :raises InvalidRequestError: ``state`` is empty.
        :raises RuntimeError: ``public_url`` is None and the receiver is not serving yet.
        """
        return hook_url(self.public_url, self._signer.token(state, self._clock.wall()))

    def hook_fields(self, state: str | None = None) -> dict[str, str]:
        """The ``state`` and ``notifyHook`` body fields for one submit (a fresh state if None).

        What a client adds to a submit that names no hook of its own; mint them once per
        submit, before it is first sent, so that a re-send carries the same pair.

        :param state: The submit's ``state``, or None for a fresh random one.
        """
        state = state or self.new_state()
        return {"state": state, "notifyHook": self.hook_url(state)}

    @staticmethod
    def new_state() -> str:
        """A fresh random ``state`` for a submit the caller gave none (binds its token)."""
        return _STATE_PREFIX + secrets.token_urlsafe(16)

    def connect(
        self, *, sink: Sink, known: Known | None = None, refresh: Refresh | None = None
    ) -> None:
        """Send verified tasks to ``sink`` from now on, accepting those ``known`` approves.

        :param sink: Called with each verified task, on the event loop (do not block in it).
        :param known: Says whether a task is one of yours; None accepts any genuine token.
        :param refresh: What a client with a shared store passes: awaited before each call
            is checked, and once more with ``force=True`` when a token fails, in case the
            secrets changed; it calls :meth:`use_secrets`.
        """
        self._sink = sink
        self._known = known
        self._refresh = refresh

    def use_secrets(self, mint: bytes, verify: tuple[bytes, ...] = ()) -> None:
        """Mint with ``mint`` from now on; tokens verify under it or any of ``verify``."""
        if self.secret_given:
            return  # the caller's own secret wins over a shared one
        previous = tuple(secret for secret in verify if secret != mint)
        if mint != self._signer.secret or previous != self._signer.previous:
            self._signer = Signer(mint, self._signer.ttl, previous=previous)

    # -- answering -----------------------------------------------------------------------

    async def answer(self, request: CallbackRequest) -> tuple[int, bytes]:
        """The HTTP status and JSON body for one call; verified tasks go to the sink.

        :param request: The call as received: method, query and body.
        """
        try:
            task = await self._verified(request)
            await self._check_known(task)
        except CallbackRejectedError as exc:
            return self._rejection(exc)
        if self._sink is None:
            _log.warning("callback for task %s refused: no sink connected yet", task.id)
            return _NOT_READY, _error_body("not_ready")
        try:
            self._sink(task)
        except Exception as exc:  # noqa: BLE001 - a sink's bug must not kill the server
            _log.error("the callback sink failed on task %s: %s", task.id, type(exc).__name__)
            return _SINK_FAILED, _error_body("sink_failed")
        self.accepted += 1
        return 200, _ACCEPTED

    async def _verified(self, request: CallbackRequest) -> Task:
        refresh = self._refresh
        if refresh is not None:
            await refresh(force=False)
        try:
            return self._verify(request)
        except CallbackRejectedError as exc:
            if refresh is None or exc.reason != "bad_token":
                raise
        # Another worker may have rotated the secret since we read it: read it again.
        await refresh(force=True)
        return self._verify(request)

    def _verify(self, request: CallbackRequest) -> Task:
        return verify(request, self._signer, now_wall=self._clock.wall(), max_body=self._max_body)

    async def _check_known(self, task: Task) -> None:
        if self._known is None:
            return
        known = self._known(task)
        if inspect.isawaitable(known):
            known = await known
        if not known:
            raise CallbackRejectedError(
                "unknown_task", "the callback is about a task nobody tracks", task_id=task.id
            )

    def _rejection(self, exc: CallbackRejectedError) -> tuple[int, bytes]:
        self.rejected[exc.reason] += 1
        # Only the reason and the id: never the query (the token) or the body.
        _log.info("callback rejected: %s (task %s)", exc.reason, exc.task_id)
        return exc.status or 400, _error_body(exc.reason)

    # -- door 1: aiohttp -------------------------------------------------------------------

    @property
    def aiohttp_handler(self) -> Handler:
        """An aiohttp route handler: ``app.router.add_post("/onechat", r.aiohttp_handler)``."""
        return self._handler

    def aiohttp_app(self) -> web.Application:
        """An aiohttp sub-application: ``app.add_subapp("/onechat/", r.aiohttp_app())``."""
        return make_app(self._handler)

    # -- door 2: ASGI ----------------------------------------------------------------------

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        """The ASGI application: every path, POST only; lifespan handled, websockets closed."""
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": _WS_POLICY})
        elif kind == "http":
            await self._asgi_http(scope, receive, send)

    async def _asgi_http(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        try:
            check_size(_content_length(scope.get("headers", ())), self._max_body)
            body = await _asgi_body(receive, self._max_body)
            if body is None:
                raise too_large(self._max_body)
        except CallbackRejectedError as exc:
            status, payload = self._rejection(exc)
        except _Disconnected:
            return
        else:
            query = scope.get("query_string", b"")
            status, payload = await self.answer(
                CallbackRequest(str(scope.get("method", "")), query, body)
            )
        await send({"type": "http.response.start", "status": status, "headers": _JSON_HEADERS})
        await send({"type": "http.response.body", "body": payload})

    # -- door 3: its own server ----------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host:port``; read :attr:`url` for the address it got."""
        await self._server.start(self.host, self.port)

    async def stop(self) -> None:
        """Stop listening; safe to call twice. A stopped receiver may be started again."""
        await self._server.stop()

    @property
    def running(self) -> bool:
        """Whether :meth:`start` is serving."""
        return self._server.running

    @property
    def url(self) -> str:
        """The served address, e.g. ``http://127.0.0.1:8788/``; only while running."""
        if not self._server.running:
            raise RuntimeError("the callback receiver is not serving")
        host = self._server.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._server.port}/"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class _Disconnected(Exception):  # noqa: N818 - control flow, never leaves this module
    """The ASGI client went away before its body was read."""


def _content_length(headers: Any) -> int | None:
    for name, value in headers:
        if bytes(name).lower() == b"content-length":
            text = bytes(value).strip()
            # A malformed length is the server's to refuse; here it only enables an early 413.
            return int(text) if text.isdigit() else None
    return None


async def _asgi_body(receive: _Receive, max_body: int) -> bytes | None:
    """The request body, or None once it grows past ``max_body`` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            raise _Disconnected
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > max_body:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: _Receive, send: _Send) -> None:
    while True:
        message = await receive()
        if message.get("type") == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message.get("type") == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
