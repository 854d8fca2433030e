"""A bare midjourney-proxy over HTTP: Java, plus or trueai, answering in replies.

The bare flavours serve this directly; the gateway flavour calls it in-process as its
upstream, with the body new-api forwards, and reads the reply as bytes the way new-api does.
Routing, each framework's body decoding (:mod:`._binding`), the queries and the HTTP status
of each answer live here; what a submit does is :mod:`._proxy` and :mod:`._media`.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._auth import upstream_refusal
from ._binding import bind
from ._context import Context
from ._files import mp4, png
from ._flavours import mode_of, serves
from ._lifecycle import TERMINAL, Snapshot, upstream_at
from ._media import blend, describe, edits, shorten, swap_face, upload, video
from ._messages import CANCEL_REFUSED
from ._proxy import NOT_FOUND, Answer, Proxy
from ._routes import Route
from ._shapes import Reply, csharp_fail, empty, json_reply, spring_error, text
from ._store import TaskRecord
from ._views import upstream_json

__all__ = ["Outcome", "Upstream"]

_JSON = "application/json"
_AUTHED_PATHS = ("/mj/submit/", "/mj/task/", "/mj/account/")


@attrs.frozen
class Outcome:
    """A reply, and the task the request created or had accepted, for the records."""

    reply: Reply
    created: str | None = None
    accepted: str | None = None
    endpoint: str = ""


class Upstream:
    """One midjourney-proxy: ``flavour`` is ``java``, ``java-plus`` or ``csharp-v10``."""

    def __init__(
        self, flavour: str, *, ctx: Context, proxy: Proxy, api_key: str, admin: bool
    ) -> None:
        self.flavour = flavour
        self.ctx = ctx
        self.proxy = proxy
        self.api_key = api_key
        self.admin = admin

    # -- views ---------------------------------------------------------------------------

    def render(self, record: TaskRecord, now: float) -> dict[str, Any]:
        """The task object this proxy shows at ``now``."""
        return self.render_snapshot(record, upstream_at(record.plan, now, self.ctx.timings))

    def render_snapshot(self, record: TaskRecord, snap: Snapshot) -> dict[str, Any]:
        """The task object this proxy shows for ``record`` seen as ``snap`` (notifyHook's)."""
        ctx = self.ctx
        return upstream_json(
            record, snap, flavour=self.flavour, base_url=ctx.base_url, wall_offset=ctx.wall_offset
        )

    # -- requests ------------------------------------------------------------------------

    async def serve(
        self,
        r: Route,
        *,
        method: str,
        path: str,
        content_type: str,
        raw: bytes | None,
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Answer one request; ``headers`` None: the gateway's own (trusted) call."""
        if r.name == "cdn":
            return Outcome(self.cdn(r))
        if headers is not None:
            refused = self._auth(path, headers)
            if refused is not None:
                return Outcome(refused)
        mode = mode_of(self.flavour, r.prefix)
        if r.name == "unknown" or mode is None or not serves(self.flavour, r.name):
            return Outcome(self._no_route(path, 404))
        if method != r.method:
            return Outcome(self._no_route(path, 405))
        if r.method == "GET":
            return Outcome(await self._query(r))
        if r.name == "cancel":
            return Outcome(self._cancel(r))
        body = self._decode(r, path, content_type, raw)
        if isinstance(body, Reply):
            return Outcome(body, endpoint=r.name)
        if r.name == "list-by-condition":
            return Outcome(self._list(body))
        return self._submit(r, body, mode)

    def _auth(self, path: str, headers: Mapping[str, str]) -> Reply | None:
        # Spring's interceptor guards /submit, /task and /account only; trueai's middleware
        # runs before routing, so even a missing route asks for the key first.
        if self.flavour != "csharp-v10" and not path.startswith(_AUTHED_PATHS):
            return None
        return upstream_refusal(self.flavour, headers, api_key=self.api_key)

    def _no_route(self, path: str, status: int) -> Reply:
        if self.flavour == "csharp-v10":
            return empty(status)  # ASP.NET: no endpoint, no body
        return spring_error(path, status, wall=self.ctx.wall())

    def _fail(self, message: str) -> Reply:
        # trueai's InvalidModelStateResponseFactory: Result.Fail(message), with HTTP 200.
        return csharp_fail(message, wall=self.ctx.wall())

    def _decode(
        self, r: Route, path: str, content_type: str, raw: bytes | None
    ) -> dict[str, Any] | Reply:
        if raw is None:
            return self.too_large(path)
        if not content_type.startswith(_JSON):
            if self.flavour == "csharp-v10":
                return empty(415)
            return spring_error(path, 415, wall=self.ctx.wall())
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            # RecursionError: "[[[[..." nested deeper than the parser goes.
            body = []
        if not isinstance(body, dict):
            if self.flavour == "csharp-v10":
                return self._fail("请求参数错误")
            return spring_error(path, 400, wall=self.ctx.wall())
        bound = bind(self.flavour, r.name, body)
        if isinstance(bound, str):
            if self.flavour == "csharp-v10":
                return self._fail(bound)
            return spring_error(path, 400, wall=self.ctx.wall())
        return bound

    def too_large(self, path: str) -> Reply:
        """A body over the limit: Spring's 413 object, or Kestrel's empty 413."""
        if self.flavour == "csharp-v10":
            return empty(413)
        return spring_error(path, 413, wall=self.ctx.wall())

    # -- queries -------------------------------------------------------------------------

    async def _query(self, r: Route) -> Reply:
        now = self.ctx.clock.now()
        store = self.ctx.store
        if r.name == "fetch":
            record = store.get(r.task_id, now)
            if record is None:
                # Java returns null (an empty 200); ASP.NET turns null into 204 No Content.
                return empty(204 if self.flavour == "csharp-v10" else 200)
            return json_reply(self.render(record, now))
        if r.name == "image-seed":
            seeded = await self.image_seed(r.task_id, limit=None)
            assert seeded is not None  # noqa: S101 - no limit, so never given up on
            return seeded
        known = [rec for rec in store.records() if not rec.lost(now)]
        if r.name == "queue":
            waiting = [
                rec
                for rec in known
                if upstream_at(rec.plan, now, self.ctx.timings).status not in TERMINAL
            ]
            return json_reply([self.render(rec, now) for rec in waiting])
        newest = sorted(known, key=lambda rec: rec.plan.submitted_at, reverse=True)
        if self.flavour == "csharp-v10":
            newest = newest[:100]
        return json_reply([self.render(rec, now) for rec in newest])

    def _list(self, body: dict[str, Any]) -> Reply:
        ids = body.get("ids")
        if not isinstance(ids, list):
            return json_reply([])
        now = self.ctx.clock.now()
        store = self.ctx.store
        found = [
            rec
            for rec in (store.get(str(i), now) for i in dict.fromkeys(map(str, ids)))
            if rec is not None
        ]
        store.shuffle(found)
        return json_reply([self.render(rec, now) for rec in found])

    async def image_seed(self, task_id: str, *, limit: float | None) -> Reply | None:
        """GET /mj/task/{id}/image-seed; None when it takes longer than ``limit`` clock s."""
        ctx = self.ctx
        record = ctx.store.get(task_id, ctx.clock.now())
        csharp = self.flavour == "csharp-v10"
        if record is None:
            status = 404 if csharp else 200
            return json_reply(Answer(3, NOT_FOUND).body(), status=status)
        if csharp and self._unfinished(record):
            # trueai refuses at once a task without a message hash (not started).
            return json_reply(Answer(4, "关联任务状态错误").body(), status=400)
        delay = ctx.timings.seed
        if limit is not None and delay > limit:
            await self._wait(limit)
            return None
        if delay > 0:
            # The proxy reacts with an envelope on Discord and waits for the DM.
            await self._wait(delay)
        if self._unfinished(record):
            return json_reply(Answer(4, "任务状态错误").body())
        return json_reply(Answer(1, "成功", record.seed).body())

    def _unfinished(self, record: TaskRecord) -> bool:
        now = self.ctx.clock.now()
        return upstream_at(record.plan, now, self.ctx.timings).status != "SUCCESS"

    async def _wait(self, seconds: float) -> None:
        clock = self.ctx.clock
        # The client holds a simulated clock still while its request is in flight; a
        # server that takes clock time itself must let it run meanwhile.
        with getattr(clock, "idle", contextlib.nullcontext)():
            await clock.sleep(seconds)

    def cdn(self, r: Route) -> Reply:
        """The simulated CDN: a PNG for images and thumbnails, an MP4 for videos."""
        store = self.ctx.store
        if r.task_id not in store.uploads and store.peek(r.task_id) is None:
            return empty(404)
        if r.file.endswith(".mp4"):
            return Reply(200, mp4(), "video/mp4")
        return Reply(200, png(), "image/png")

    def _cancel(self, r: Route) -> Reply:
        if not self.admin:
            # TaskController: _isAnonymous = user?.Role != ADMIN.
            return text(400, CANCEL_REFUSED)
        self.proxy.cancel(r.task_id, self.ctx.clock.now())
        return empty(200)

    # -- submits -------------------------------------------------------------------------

    def _submit(self, r: Route, body: dict[str, Any], mode: str) -> Outcome:
        p = self.proxy
        now = self.ctx.clock.now()
        if r.name == "upload-discord-images":
            answer = upload(p, body, self.ctx.base_url)
        else:
            handlers: dict[str, Callable[[dict[str, Any], float], Answer]] = {
                "imagine": p.imagine,
                "change": p.change,
                "simple-change": p.simple_change,
                "action": p.action,
                "modal": p.modal,
                "blend": functools.partial(blend, p),
                "describe": functools.partial(describe, p),
                "shorten": functools.partial(shorten, p),
                "swap-face": functools.partial(swap_face, p),
                "video": functools.partial(video, p),
                "edits": functools.partial(edits, p),
            }
            answer = handlers[r.name](body, now)
        reply = json_reply(answer.body(), status=answer.status)
        accepted = answer.task_id if answer.code in (1, 21, 22) else None
        created = accepted if answer.created else None
        if created is not None:
            record = self.ctx.store.get(created, now)
            if record is not None and self.flavour == "csharp-v10":
                record.mode, record.request_mode = mode or "FAST", mode or None
        return Outcome(reply, created, accepted, r.name)
