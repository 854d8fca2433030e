"""The aiohttp side of the callback receiver: a route handler, a sub-app, a small server.

The receiver's one answering function (:meth:`CallbackReceiver.answer`) does the work; this
module only moves bytes. It is the receiver's counterpart of ``_transport.py``: the one place
where the receiver touches aiohttp, whose server is used rather than a hand-written HTTP
parser because a receiver may face the internet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ._callbacks import CallbackRejectedError, CallbackRequest, check_size, too_large

__all__ = ["Answer", "Handler", "Server", "make_app", "make_handler", "read_limited"]

Answer = Callable[[CallbackRequest], Awaitable[tuple[int, bytes]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_JSON = "application/json"


async def read_limited(request: web.Request, max_body: int) -> bytes | None:
    """The body, or None as soon as it grows past ``max_body`` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(max_body + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body:
            return None


def make_handler(
    answer: Answer, rejection: Callable[[CallbackRejectedError], tuple[int, bytes]], max_body: int
) -> Handler:
    """An aiohttp route handler that hands each request to ``answer``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            # A body that announces itself too large is refused before a byte of it is read.
            check_size(request.content_length, max_body)
            body = await read_limited(request, max_body)
            if body is None:
                raise too_large(max_body)
        except CallbackRejectedError as exc:
            status, payload = rejection(exc)
        else:
            status, payload = await answer(
                CallbackRequest(request.method, request.query_string, body)
            )
        return web.Response(status=status, body=payload, content_type=_JSON)

    return handle


def make_app(handler: Handler) -> web.Application:
    """A sub-application answering every path and method with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


class Server:
    """A loopback-or-public aiohttp server around one handler; no access log (tokens)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0

    @property
    def running(self) -> bool:
        """Whether it is listening."""
        return self._runner is not None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0: any free port, read :attr:`port` afterwards)."""
        if self._runner is not None:
            raise RuntimeError("the callback receiver is already serving")
        # access_log=None: an access log line would carry the URL, and so the token.
        runner = web.AppRunner(make_app(self._handler), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening; safe to call when not running."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
