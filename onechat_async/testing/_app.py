"""The HTTP face of the simulator: counting, faults and records around the server's answer.

One catch-all handler resolves the path, counts the request, lets a fault strike, and asks
the server for its answer: the new-api gateway (:mod:`._gateway`) or a bare proxy
(:mod:`._upstream`). Whatever a client sends, the answer is the server's own, never a crash
of the simulator. Submit requests are logged with what they were answered.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import attrs
from aiohttp import web

from ._context import Context
from ._faults import Fault, FaultBook
from ._gateway import Gateway
from ._hooks import HookDispatcher
from ._messages import OVERLOADED
from ._openai_http import openai_handler
from ._records import CreatedTask, SubmitTrace
from ._routes import Route, route
from ._shapes import Reply, html_5xx, json_reply, to_response
from ._upstream import Outcome, Upstream

__all__ = ["Backend", "InFlight", "make_app"]

_TASK_FAULTS = frozenset({"stall", "vanish"})


class InFlight:
    """The requests being served: wait until there are none, or cut them all off."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle: asyncio.Event | None = None
        #: Set while the server stops: requests that still come in are dropped at once.
        self.stopping = False

    @property
    def count(self) -> int:
        """How many requests are being served."""
        return len(self._tasks)

    def enter(self, task: asyncio.Task[Any]) -> None:
        """A request started, served by ``task``."""
        self._tasks.add(task)

    def leave(self, task: asyncio.Task[Any]) -> None:
        """A request ended (answered, dropped or cut off)."""
        self._tasks.discard(task)
        if not self._tasks and self._idle is not None:
            self._idle.set()

    async def idle(self) -> None:
        """Return once no request is being served (any number of waiters)."""
        while self._tasks:
            # Made inside the running loop; shared by waiters until it is set.
            if self._idle is None or self._idle.is_set():
                self._idle = asyncio.Event()
            await self._idle.wait()

    async def cut_off(self) -> None:
        """Cancel every request being served and wait until they are gone.

        aiohttp's own graceful shutdown races a handler that ends just as its grace period
        does (InvalidStateError in web_protocol); with nothing in flight it never waits.
        """
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


@attrs.define(eq=False)
class Backend:
    """Everything the handlers share; owned by :class:`~onechat_async.testing.Simulator`."""

    flavour: str
    ctx: Context
    upstream: Upstream
    gateway: Gateway | None
    faults: FaultBook
    counters: collections.Counter[str]
    max_body: int
    hooks: HookDispatcher | None = None
    #: Every task created through a submit endpoint, in order.
    created: list[CreatedTask] = attrs.field(factory=list)
    #: Every submit request that reached the server, in the order they arrived.
    submits: list[SubmitTrace] = attrs.field(factory=list)
    #: Requests being served right now.
    busy: InFlight = attrs.field(factory=InFlight)

    def task(self, task_id: str) -> dict[str, Any] | None:
        """What a fetch of ``task_id`` answers now (None: the server does not know it)."""
        if self.gateway is not None:
            return self.gateway.task(task_id)
        now = self.ctx.clock.now()
        record = self.ctx.store.get(task_id, now)
        return None if record is None else self.upstream.render(record, now)

    def task_rows(self, task_id: str) -> list[dict[str, Any]]:
        """Every task object list-by-condition answers for ``task_id``, oldest row first."""
        if self.gateway is None:
            found = self.task(task_id)
            return [] if found is None else [found]
        now = self.ctx.clock.now()
        return [self.gateway.view(row, now) for row in self.gateway.rows.of(task_id)]


class _Handler:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    async def handle(self, request: web.Request) -> web.StreamResponse:
        busy = self.b.busy
        task = asyncio.current_task()
        if busy.stopping or task is None:
            # A request on a kept-alive connection while the server stops: dropped unread.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        busy.enter(task)
        try:
            return await self._handle(request)
        finally:
            busy.leave(task)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        r = route(request.path)
        counters = self.b.counters
        counters[r.name] += 1
        counters["total"] += 1
        raw = await _read(request)
        trace = None
        if r.submit and request.method == "POST":
            trace = SubmitTrace(r.name, raw)
            # Logged on arrival, so that the log is in the order requests came; one cut off
            # by a restart or a close keeps status None.
            self.b.submits.append(trace)
        fault = self.b.faults.pick(r.name)
        if trace is not None:
            trace.fault = fault
        reply = await self._faulty(request, r, raw, fault, trace)
        if trace is not None:
            dropped = fault is not None and fault.kind == "reset"
            trace.answered(None if dropped else reply.status, reply.body)
        return to_response(reply)

    async def _faulty(
        self,
        request: web.Request,
        r: Route,
        raw: bytes | None,
        fault: Fault | None,
        trace: SubmitTrace | None,
    ) -> Reply:
        if fault is not None:
            if fault.kind == "slow":
                # The answer is computed after the delay even if the client has gone: aiohttp
                # does not cancel a handler whose client disconnected, like the gateway that
                # waits for the upstream and charges the task anyway.
                await asyncio.sleep(fault.delay)
            elif fault.phase == "before" and fault.kind != "truncated_body":
                return self._strike(request, fault)
        reply = await self._answer(request, r, raw, trace)
        if fault is None or fault.kind == "slow":
            return reply
        if fault.kind == "truncated_body":
            return attrs.evolve(reply, body=reply.body[: len(reply.body) // 2])
        return self._strike(request, fault)

    def _strike(self, request: web.Request, fault: Fault) -> Reply:
        if fault.html_error:
            return html_5xx(fault.http_status)
        if fault.kind == "http_429":
            if self.b.flavour == "gateway":
                # new-api's code 30 answer; it copies no upstream header: no Retry-After.
                body = {"code": 30, "description": OVERLOADED, "type": "upstream_error"}
                return json_reply(body, status=429)
            return Reply(429, headers={"Retry-After": f"{fault.retry_after:g}"})
        if fault.kind == "reset" and request.transport is not None:
            request.transport.abort()
        # empty_body (and a reset whose transport is already gone).
        return Reply(200, content_type="application/json")

    async def _answer(
        self, request: web.Request, r: Route, raw: bytes | None, trace: SubmitTrace | None
    ) -> Reply:
        b = self.b
        served = b.gateway or b.upstream
        outcome = await served.serve(
            r,
            method=request.method,
            path=request.path,
            content_type=request.headers.get("Content-Type", ""),
            raw=raw,
            headers=request.headers,
        )
        self._recorded(outcome, trace)
        return outcome.reply

    def _recorded(self, outcome: Outcome, trace: SubmitTrace | None) -> None:
        b = self.b
        now = b.ctx.clock.now()
        if outcome.created is not None:
            record = b.ctx.store.get(outcome.created, now)
            if record is not None:
                b.created.append(
                    CreatedTask(
                        task_id=record.id,
                        endpoint=outcome.endpoint,
                        state=record.state,
                        action=record.action,
                        parent_id=record.parent_id or None,
                        index=record.index,
                    )
                )
                if trace is not None:
                    trace.task_id = record.id
        if outcome.accepted is None:
            return
        record = b.ctx.store.get(outcome.accepted, now)
        fault = b.faults.pick(outcome.endpoint, _TASK_FAULTS) if record is not None else None
        if record is None or fault is None:
            return
        if fault.kind == "stall":
            record.plan = attrs.evolve(record.plan, stalled_at=now + fault.after)
        else:
            record.lost_at = now + fault.after


async def _read(request: web.Request) -> bytes | None:
    """The whole body, or None when it is larger than the server reads."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None


def make_app(backend: Backend) -> web.Application:
    """The aiohttp application serving ``backend``."""
    # Reference images arrive as base64 in the body: allow what the real server allows.
    app = web.Application(client_max_size=backend.max_body)
    handler = _Handler(backend).handle
    app.router.add_route("*", "/v1/{tail:.*}", openai_handler(backend, handler))
    app.router.add_route("*", "/{tail:.*}", handler)
    return app
