"""The aiohttp door of the ``/v1`` routes: a gateway answers them, a bare proxy does not.

A bare midjourney-proxy has no OpenAI-compatible API: there ``/v1/...`` goes to the
simulator's usual handler and gets that server's answer to an unknown path. Requests are
counted under ``"v1/<endpoint>"`` (``"v1/chat"``, ``"v1/files"``, ...) and in ``"total"``;
faults are not applied to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ._openai import OpenAIRelay, Upload, V1Request, v1_endpoint
from ._shapes import to_response

if TYPE_CHECKING:
    from ._app import Backend

__all__ = ["openai_handler"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def openai_handler(backend: Backend, fallback: _Handler) -> _Handler:
    """The handler of ``/v1/...`` for ``backend``; ``fallback`` serves it on a bare proxy."""
    gateway = backend.gateway
    if gateway is None:
        return fallback
    relay = OpenAIRelay(backend.ctx, api_key=gateway.api_key, admin=gateway.admin)

    async def handle(request: web.Request) -> web.StreamResponse:
        busy = backend.busy
        task = asyncio.current_task()
        if busy.stopping or task is None:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        busy.enter(task)
        try:
            endpoint = v1_endpoint(request.method, request.path) or "unknown"
            backend.counters[f"v1/{endpoint}"] += 1
            backend.counters["total"] += 1
            return to_response(relay.serve(await _read(request)))
        finally:
            busy.leave(task)

    return handle


async def _read(request: web.Request) -> V1Request:
    content_type = request.headers.get("Content-Type", "")
    form: dict[str, str | Upload] | None = None
    raw: bytes | None = b""
    try:
        if content_type.startswith(_FORMS):
            form = {}
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    form[name] = Upload(value.filename, len(value.file.read()))
                elif isinstance(value, str):
                    form[name] = value
        else:
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raw = None
    except ValueError:
        form = {}  # a malformed form binds nothing
    return V1Request(
        method=request.method,
        path=request.path,
        headers=request.headers,
        content_type=content_type,
        raw=raw,
        form=form,
    )
