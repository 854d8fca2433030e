"""Test helpers: a scripted aiohttp server on loopback that answers exact bodies."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from typing import Any

import attrs
from aiohttp import web

API_KEY = "sk-test-SECRET-0123456789"


@attrs.define
class Reply:
    """One canned answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0


@attrs.define
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer:
    """A real aiohttp server on 127.0.0.1 that answers from a script, for exact server bodies."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def reply(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json_body: Any = None,
        body: bytes | str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Queue an answer for ``method path``; the last one queued repeats forever."""
        if json_body is not None:
            raw = json.dumps(json_body, ensure_ascii=False).encode()
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body or b""
        all_headers = {"Content-Type": content_type} if raw else {}
        all_headers.update(headers or {})
        for _ in range(times):
            self.replies[(method, path)].append(Reply(status, raw, all_headers, delay))

    def paths(self) -> list[str]:
        """The paths requested, in order."""
        return [s.path for s in self.seen]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.headers), body))
        queue = self.replies.get((request.method, request.path))
        if not queue:
            return web.Response(
                status=200, text="<html><body>new-api</body></html>", content_type="text/html"
            )
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        if reply.delay:
            # A slow server, in real time: what the client's own timeouts are measured against.
            await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
