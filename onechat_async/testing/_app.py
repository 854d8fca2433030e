"""The HTTP face of the simulator: routing, auth, error shapes and faults, per flavour.

One catch-all handler resolves the path (mode prefixes included), counts the request, lets
a fault strike, then answers the way the chosen server does: the new-api gateway with all
its rewrites and defects, the bare Java proxy, or the C# v10 rewrite. Whatever a client
sends, the answer is the server's own refusal, never a crash: bodies that are not JSON, not
an object, too large, or whose fields have the wrong types are refused in each server's
shape (see :mod:`._binding`). Submit requests are logged with what they were answered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import attrs
from aiohttp import web

from onechat_async._clock import Clock

from ._binding import bind
from ._faults import Fault, FaultBook
from ._hooks import HookDispatcher
from ._lifecycle import Snapshot, Timings, gateway_at, upstream_at
from ._messages import OVERLOADED
from ._proxy import MODAL_ACTIONS, Answer, Proxy, action_of, parse_simple_change
from ._records import CreatedTask, SubmitTrace
from ._routes import Route, route
from ._store import Store, TaskRecord
from ._views import png, task_json

__all__ = ["Backend", "make_app"]

_NO_CHANNEL = "当前分组 default 下对于模型 mj_ 无可用渠道"
_TASK_FAULTS = frozenset({"stall", "vanish"})
_HTML_PAGE = (
    '<!doctype html><html lang="zh"><head><meta charset="utf-8"/>'
    "<title>New API</title></head><body><noscript>You need to enable JavaScript to run "
    'this app.</noscript><div id="root"></div></body></html>'
)
_HTML_5XX = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>"
    "{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
#: Spring's reason phrases where they differ from Python's (RFC 7231 renamed 413).
_SPRING_REASONS = {413: "Payload Too Large"}
#: The largest request body each server reads: new-api's 32 MB, Kestrel's default
#: 30,000,000 bytes; Spring sets none for JSON, so the simulator picks its own bound.
MAX_BODY = {"gateway": 32 * 1024 * 1024, "java": 64 * 1024 * 1024, "csharp-v10": 30_000_000}


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
    api_key: str
    clock: Clock
    timings: Timings
    store: Store
    proxy: Proxy
    faults: FaultBook
    counters: collections.Counter[str]
    origin: float
    wall_offset: float
    notify_hooks: bool
    hooks: HookDispatcher | None = None
    base_url: str = ""
    #: Every task created through a submit endpoint, in order.
    created: list[CreatedTask] = attrs.field(factory=list)
    #: Every submit request that reached the server, in the order they arrived.
    submits: list[SubmitTrace] = attrs.field(factory=list)
    #: Requests being served right now.
    busy: InFlight = attrs.field(factory=InFlight)

    def snapshot(self, record: TaskRecord, now: float) -> Snapshot:
        """The task as this flavour's server shows it at ``now``."""
        if self.flavour == "gateway":
            return gateway_at(record.plan, now, self.timings, origin=self.origin)
        return upstream_at(record.plan, now, self.timings)

    def render(self, record: TaskRecord, snap: Snapshot, *, flavour: str | None = None) -> Any:
        """The task object for ``snap``."""
        return task_json(
            record,
            snap,
            flavour=flavour or self.flavour,
            base_url=self.base_url,
            wall_offset=self.wall_offset,
            now=self.clock.now(),
        )

    def render_upstream(self, record: TaskRecord, snap: Snapshot) -> dict[str, Any]:
        """The task object the upstream posts to a notifyHook (Java-shaped behind a gateway)."""
        flavour = "java" if self.flavour == "gateway" else self.flavour
        result: dict[str, Any] = self.render(record, snap, flavour=flavour)
        return result


def _json(obj: Any, *, status: int = 200, content_type: str = "application/json") -> web.Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, content_type=content_type, charset="utf-8")


def _empty(status: int) -> web.Response:
    return web.Response(status=status)


def _new_api_error(status: int, message: str) -> web.Response:
    return _json({"error": {"message": message, "type": "new_api_error"}}, status=status)


def _bearerless(value: str) -> str:
    if value.startswith(("Bearer ", "bearer ")):
        value = value[7:]
    return value.strip()


def _gateway_error(description: str, code: int = 4) -> web.Response:
    # new-api joins description and (empty) result with a space: hence "task_no_found ".
    return _json(
        {"description": f"{description} ", "type": "upstream_error", "code": code}, status=400
    )


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
        if not (r.submit and request.method == "POST"):
            return await self._serve(request, r, raw, None)
        trace = SubmitTrace(r.name, raw)
        # Logged on arrival, so that the log is in the order requests came; one cut off by
        # a restart or a close keeps status None.
        self.b.submits.append(trace)
        return await self._serve(request, r, raw, trace)

    async def _serve(
        self, request: web.Request, r: Route, raw: bytes | None, trace: SubmitTrace | None
    ) -> web.Response:
        fault = self.b.faults.pick(r.name)
        if trace is not None:
            trace.fault = fault
        response = await self._faulty(request, r, raw, fault, trace)
        if trace is not None:
            dropped = fault is not None and fault.kind == "reset"
            body = response.body if isinstance(response.body, bytes) else b""
            trace.answered(None if dropped else response.status, body)
        return response

    async def _faulty(
        self,
        request: web.Request,
        r: Route,
        raw: bytes | None,
        fault: Fault | None,
        trace: SubmitTrace | None,
    ) -> web.Response:
        if fault is not None:
            if fault.kind == "slow":
                # The answer is computed after the delay even if the client has gone: aiohttp
                # does not cancel a handler whose client disconnected, like the gateway that
                # waits for the upstream and charges the task anyway.
                await asyncio.sleep(fault.delay)
            elif fault.phase == "before" and fault.kind != "truncated_body":
                return self._strike(request, fault)
        response = await self._answer(request, r, raw, trace)
        if fault is None or fault.kind == "slow":
            return response
        if fault.kind == "truncated_body":
            body = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
            return web.Response(
                status=response.status,
                body=body[: len(body) // 2],
                content_type=response.content_type,
            )
        return self._strike(request, fault)

    def _strike(self, request: web.Request, fault: Fault) -> web.Response:
        if fault.html_error:
            status = fault.http_status
            page = _HTML_5XX.format(status=status, phrase=HTTPStatus(status).phrase)
            return web.Response(status=status, text=page, content_type="text/html")
        if fault.kind == "http_429":
            headers = {"Retry-After": f"{fault.retry_after:g}"}
            if self.b.flavour == "gateway":
                body = json.dumps(
                    {"code": 30, "description": OVERLOADED, "type": "upstream_error"},
                    ensure_ascii=False,
                )
                return web.Response(
                    status=429, text=body, headers=headers, content_type="application/json"
                )
            return web.Response(status=429, headers=headers)
        if fault.kind == "reset" and request.transport is not None:
            request.transport.abort()
        # empty_body (and a reset whose transport is already gone).
        return web.Response(status=200, content_type="application/json")

    async def _answer(
        self, request: web.Request, r: Route, raw: bytes | None, trace: SubmitTrace | None
    ) -> web.Response:
        if r.name == "unknown" or request.method != r.method:
            return self._no_route(request, r)
        if r.name == "image":
            return self._image(r)
        if self.b.flavour == "csharp-v10" and r.name in ("change", "simple-change"):
            return _empty(404)
        denied = self._auth(request)
        if denied is not None:
            return denied
        if r.method == "GET":
            return await (self._fetch(r) if r.name == "fetch" else self._seed(r))
        body = self._body(request, r, raw)
        if isinstance(body, web.Response):
            return body
        bound = bind(self.b.flavour, r.name, body)
        if isinstance(bound, str):
            return self._unbound(request, r, bound)
        if r.name == "list-by-condition":
            return self._list(bound)
        return self._submit(r, bound, trace)

    # -- plumbing ----------------------------------------------------------------------

    def _no_route(self, request: web.Request, r: Route) -> web.Response:
        flavour = self.b.flavour
        if flavour == "gateway":
            # new-api serves its web UI for every path it does not route.
            return web.Response(status=200, text=_HTML_PAGE, content_type="text/html")
        status = 404 if r.name == "unknown" else 405
        if flavour == "java":
            return self._spring_error(request, status)
        return _empty(status)

    def _auth(self, request: web.Request) -> web.Response | None:
        """Check the key exactly as each real server reads it."""
        flavour = self.b.flavour
        if flavour == "java":
            # midjourney-proxy's ApiAuthorizeInterceptor: mj-api-secret only, 401 empty.
            if request.headers.get("mj-api-secret") == self.b.api_key:
                return None
            return _empty(401)
        if flavour == "csharp-v10":
            # trueai's WorkContext: Authorization verbatim when present ("Bearer sk-..." is then
            # an unknown user), Mj-Api-Secret otherwise; SimpleAuthMiddleware answers in text.
            token = request.headers.get("Authorization")
            if token is None:
                token = request.headers.get("Mj-Api-Secret", "")
            if token == self.b.api_key:
                return None
            return web.Response(status=401, text="Authorization header missing.")
        # new-api's TokenAuth: Authorization without "Bearer ", and mj-api-secret only when
        # that is empty (or the placeholder "midjourney-proxy"); "sk-" and "-<channel>" go.
        key = _bearerless(request.headers.get("Authorization", ""))
        if key in ("", "midjourney-proxy"):
            key = _bearerless(request.headers.get("mj-api-secret", ""))
        key = key.removeprefix("sk-").split("-")[0]
        if not key:
            return _new_api_error(401, "未提供令牌")
        if key != self.b.api_key.removeprefix("sk-").split("-")[0]:
            return _new_api_error(401, "无效的令牌")
        return None

    def _body(
        self, request: web.Request, r: Route, raw: bytes | None
    ) -> dict[str, Any] | web.Response:
        flavour = self.b.flavour
        if raw is None:
            return self._too_large(request)
        is_json = request.content_type == "application/json"
        if not is_json:
            if flavour == "gateway":
                return {}  # new-api binds nothing from a non-JSON body
            if flavour == "java":
                return self._spring_error(request, 415)
            return _empty(415)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):
            # RecursionError: "[[[[..." nested deeper than the parser goes.
            return self._unbound(request, r, "请求参数错误")
        if body is None and flavour == "gateway":
            body = {}  # Go decodes a JSON null into a struct as "nothing set"
        if isinstance(body, dict):
            return body
        return self._unbound(request, r, "请求参数错误")

    def _unbound(self, request: web.Request, r: Route, message: str) -> web.Response:
        """The server's refusal of a body its decoder could not bind."""
        flavour = self.b.flavour
        if flavour == "gateway":
            # RelayMidjourneyTask answers a failed BindJSON with "do_request_failed".
            failed = "do_request_failed" if r.name == "list-by-condition" else None
            return _gateway_error(failed or "bind_request_body_failed")
        if flavour == "java":
            return self._spring_error(request, 400)
        # trueai's InvalidModelStateResponseFactory: Result.Fail(message), with HTTP 200.
        return self._csharp_error(message)

    def _too_large(self, request: web.Request) -> web.Response:
        if self.b.flavour == "gateway":
            return _new_api_error(413, "request body too large")
        if self.b.flavour == "java":
            return self._spring_error(request, 413)
        return _empty(413)  # Kestrel refuses before any application code runs

    def _spring_error(self, request: web.Request, status: int) -> web.Response:
        return _json(
            {
                "timestamp": self._iso(),
                "status": status,
                "error": _SPRING_REASONS.get(status) or HTTPStatus(status).phrase,
                "path": request.path,
            },
            status=status,
        )

    def _csharp_error(self, message: str) -> web.Response:
        return _json(
            {
                "success": False,
                "code": -1,
                "message": message,
                "timestamp": str(int(self.b.clock.wall() * 1000)),
            }
        )

    def _iso(self) -> str:
        return datetime.fromtimestamp(self.b.clock.wall(), UTC).isoformat(timespec="milliseconds")

    # -- queries -----------------------------------------------------------------------

    async def _fetch(self, r: Route) -> web.Response:
        now = self.b.clock.now()
        record = self.b.store.get(r.task_id, now)
        if record is None:
            if self.b.flavour == "gateway":
                return _gateway_error("task_no_found")
            # Java returns null (an empty 200); ASP.NET turns null into 204 No Content.
            return _empty(200 if self.b.flavour == "java" else 204)
        return _json(self.b.render(record, self.b.snapshot(record, now)))

    def _list(self, body: dict[str, Any]) -> web.Response:
        ids = body.get("ids")
        if not isinstance(ids, list):
            return _json([])
        now = self.b.clock.now()
        store = self.b.store
        found = [
            rec
            for rec in (store.get(str(i), now) for i in dict.fromkeys(map(str, ids)))
            if rec is not None
        ]
        store.shuffle(found)
        return _json([self.b.render(rec, self.b.snapshot(rec, now)) for rec in found])

    async def _seed(self, r: Route) -> web.Response:
        b = self.b
        record = b.store.get(r.task_id, b.clock.now())
        if record is None:
            if b.flavour == "gateway":
                return _gateway_error("task_no_found")
            if b.flavour == "java":
                return _json(Answer(3, "关联任务不存在或已失效").body())
            return self._csharp_error("任务不存在")
        if b.timings.seed > 0:
            # The proxy reacts with an envelope on Discord and waits for the DM.
            # The client holds a simulated clock still while its request is in flight; a
            # server that takes clock time itself must let it run meanwhile.
            with getattr(b.clock, "idle", contextlib.nullcontext)():
                await b.clock.sleep(b.timings.seed)
        if upstream_at(record.plan, b.clock.now(), b.timings).status != "SUCCESS":
            if b.flavour == "csharp-v10":
                return self._csharp_error("任务未完成")
            return _json(Answer(4, "任务状态错误").body())
        return _json(Answer(1, "成功", record.seed).body())

    def _image(self, r: Route) -> web.Response:
        now = self.b.clock.now()
        record = self.b.store.get(r.task_id, now)
        snap = self.b.snapshot(record, now) if record is not None else None
        if record is None or snap is None or not self.b.render(record, snap)["imageUrl"]:
            return _json({"error": "midjourney_task_not_found"}, status=404)
        return web.Response(body=png(), content_type="image/png")

    # -- submits -----------------------------------------------------------------------

    def _submit(self, r: Route, body: dict[str, Any], trace: SubmitTrace | None) -> web.Response:
        b = self.b
        now = b.clock.now()
        if b.flavour == "gateway":
            if not b.notify_hooks:
                body.pop("notifyHook", None)
            refused = self._gateway_refusal(r, body, now)
            if refused is not None:
                return refused
        answer = self._upstream(r, body, now)
        if answer.created and answer.result:
            self._created(r, answer.result, now, trace)
        if answer.code in (1, 21, 22) and answer.result:
            self._after_accept(r, answer.result, now)
        payload = answer.body()
        if b.flavour != "gateway":
            return _json(payload)
        if answer.code == 22 or (answer.code == 21 and answer.action not in MODAL_ACTIONS):
            payload["code"] = 1
        # new-api passes the upstream body through, labelled text/plain.
        return _json(payload, content_type="text/plain")

    def _upstream(self, r: Route, body: dict[str, Any], now: float) -> Answer:
        p = self.b.proxy
        if r.name == "describe":
            return p.describe(body, now, links=self.b.flavour == "csharp-v10")
        handler = {
            "imagine": p.imagine,
            "change": p.change,
            "simple-change": p.simple_change,
            "action": p.action,
            "modal": p.modal,
            "blend": p.blend,
            "shorten": p.shorten,
            "swap-face": p.swap_face,
        }[r.name]
        return handler(body, now)

    def _created(self, r: Route, task_id: str, now: float, trace: SubmitTrace | None) -> None:
        record = self.b.store.get(task_id, now)
        if record is None:
            return
        self.b.created.append(
            CreatedTask(
                task_id=task_id,
                endpoint=r.name,
                state=record.state,
                action=record.action,
                parent_id=record.parent_id or None,
                index=record.index,
            )
        )
        if trace is not None:
            trace.task_id = task_id

    def _after_accept(self, r: Route, task_id: str, now: float) -> None:
        record = self.b.store.get(task_id, now)
        if record is None:
            return
        if r.name != "modal":
            record.mode = r.mode or "FAST"
        fault = self.b.faults.pick(r.name, _TASK_FAULTS)
        if fault is None:
            return
        if fault.kind == "stall":
            record.plan = attrs.evolve(record.plan, stalled_at=now + fault.after)
        else:
            record.vanish_at = now + fault.after

    def _gateway_refusal(
        self,
        r: Route,
        body: dict[str, Any],
        now: float,
    ) -> web.Response | None:
        """new-api's own checks, made before anything reaches the upstream."""
        refused = _gateway_field_check(r.name, body)
        if refused is not None:
            return refused
        parent_id: object = None
        if r.name in ("change", "action", "modal"):
            parent_id = body.get("taskId")
        elif r.name == "simple-change":
            parsed = parse_simple_change(body.get("content"))
            parent_id = parsed[0] if parsed else None
        if parent_id is None:
            return None
        # The gateway looks at its own table, which lags the upstream by a refresh.
        record = self.b.store.get(str(parent_id), now)
        if record is None:
            return _gateway_error("task_not_found")
        seen = gateway_at(record.plan, now, self.b.timings, origin=self.b.origin)
        if r.name != "modal" and seen.status != "SUCCESS":
            return _gateway_error("task_status_not_success")
        return None


def _gateway_field_check(name: str, body: dict[str, Any]) -> web.Response | None:
    if name in ("change", "simple-change") and not body.get("action"):
        # The billing model is "mj_" + action; an empty one has no channel.
        return _new_api_error(503, _NO_CHANNEL)
    required = {
        "imagine": (("prompt", "prompt_is_required"),),
        "change": (("taskId", "task_id_is_required"), ("index", "index_is_required")),
        "action": (("taskId", "task_id_is_required"), ("customId", "custom_id_is_required")),
        "modal": (("taskId", "task_id_is_required"),),
        "swap-face": (
            ("sourceBase64", "sour_base64_and_target_base64_is_required"),
            ("targetBase64", "sour_base64_and_target_base64_is_required"),
        ),
    }
    for field, message in required.get(name, ()):
        if not body.get(field):
            return _gateway_error(message)
    if name == "action" and action_of(str(body["customId"])) is None:
        return _gateway_error("unknown_action")
    return None


async def _read(request: web.Request) -> bytes | None:
    """The whole body, or None when it is larger than the server reads."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None


def make_app(backend: Backend) -> web.Application:
    """The aiohttp application serving ``backend``."""
    # Reference images arrive as base64 in the body: allow what the real server allows.
    app = web.Application(client_max_size=MAX_BODY[backend.flavour])
    app.router.add_route("*", "/{tail:.*}", _Handler(backend).handle)
    return app
