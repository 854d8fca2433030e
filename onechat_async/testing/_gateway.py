"""The new-api gateway in front of an upstream proxy, as its source does it.

One request goes: router (an unknown path or method gets the web UI's HTML page) ->
``TokenAuth`` -> ``Distribute`` (reads and decodes the body, works out the billing model
``mj_<action>``, refuses in ``new_api_error`` JSON, or panics on a customId without ``::``) ->
``RelayMidjourney*`` (its own checks against its own table, then the upstream call and the
relay of its answer, rewrites included) -> a row in its table (:mod:`._rows`).

Queries never reach the upstream: ``fetch`` and ``list-by-condition`` read the rows, which
the poller fills from the upstream every ``timings.refresh``; a task the upstream forgot
stays in its last state forever. image-seed is relayed with a 30 s limit.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ._auth import gateway_key
from ._binding import bind
from ._context import Context
from ._distributor import distribute
from ._files import mp4, png
from ._flavours import serves
from ._lifecycle import gateway_at
from ._relay import forwarded, no_route, relayed, remarshalled
from ._routes import Route, route
from ._rows import Row, Rows
from ._shapes import (
    Reply,
    gateway_error,
    json_reply,
    new_api_error,
)
from ._upstream import Outcome, Upstream
from ._views import gateway_json

__all__ = ["DEFAULT_MAX_BODY", "Gateway"]

#: new-api's MAX_REQUEST_BODY_MB default (128 since January 2026; 32, then 64, before).
DEFAULT_MAX_BODY = 128 << 20
# RelayMidjourneySubmit checks its own table only for these, and only given a taskId.
_ON_A_TASK = frozenset({"change", "simple-change", "action", "modal", "video"})
_CHANGE_LIKE = frozenset({"change", "simple-change", "action"})


class Gateway:
    """new-api with one channel (id 1) to ``upstream``."""

    def __init__(
        self,
        ctx: Context,
        upstream: Upstream,
        *,
        api_key: str,
        admin: bool,
        notify_hooks: bool,
        max_body: int,
        seed: int,
    ) -> None:
        self.ctx = ctx
        self.max_body = max_body
        self.upstream = upstream
        self.api_key = api_key
        self.admin = admin
        self.notify_hooks = notify_hooks
        self.rows = Rows()
        # Not security: request ids only need to look real and replay.
        self._rng = random.Random(f"{seed}:requests")  # noqa: S311

    # -- rows ----------------------------------------------------------------------------

    def view(self, row: Row, now: float) -> dict[str, Any]:
        """The task object a row shows at ``now``."""
        if row.frozen is not None:
            return row.frozen
        ctx = self.ctx
        record = ctx.store.peek(row.task_id)
        assert record is not None  # noqa: S101 - rows are made for known tasks only
        snap = gateway_at(
            record.plan,
            now,
            ctx.timings,
            origin=ctx.origin,
            inserted_at=row.inserted_at,
            lost_at=record.lost_at,
        )
        return gateway_json(
            row, record, snap, base_url=ctx.base_url, wall_offset=ctx.wall_offset, now=now
        )

    def task(self, task_id: str) -> dict[str, Any] | None:
        """What ``fetch`` answers now, or None for an id without a row."""
        row = self.rows.first(task_id)
        return None if row is None else self.view(row, self.ctx.clock.now())

    # -- requests ------------------------------------------------------------------------

    def _request_id(self) -> str:
        # common.NewRequestId: time, nanoseconds, a build hash and 8 random characters.
        wall = self.ctx.wall()
        stamp = datetime.fromtimestamp(wall, UTC).strftime("%Y%m%d%H%M%S")
        nanos = int(wall * 1e9) % 1_000_000_000
        tail = "".join(self._rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=8))
        return f"{stamp}{nanos:09d}6a0f2c1e{tail}"

    async def serve(
        self,
        r: Route,
        *,
        method: str,
        path: str,
        content_type: str,
        raw: bytes | None,
        headers: Mapping[str, str],
    ) -> Outcome:
        """Answer one request, with new-api's request id header."""
        request_id = self._request_id()
        outcome = await self._serve(
            r,
            method=method,
            path=path,
            content_type=content_type,
            raw=raw,
            headers=headers,
            request_id=request_id,
        )
        reply = outcome.reply.with_headers(**{"X-Oneapi-Request-Id": request_id})
        return Outcome(reply, outcome.created, outcome.accepted, outcome.endpoint)

    async def _serve(
        self,
        r: Route,
        *,
        method: str,
        path: str,
        content_type: str,
        raw: bytes | None,
        headers: Mapping[str, str],
        request_id: str,
    ) -> Outcome:
        if r.name == "cdn":
            return Outcome(self.upstream.cdn(r))
        if r.name == "unknown" or not serves("gateway", r.name) or method != r.method:
            return Outcome(no_route(method, path))
        if r.name == "image":
            return Outcome(self._image(r))  # registered before TokenAuth: no key needed
        key = gateway_key(headers, api_key=self.api_key, admin=self.admin, request_id=request_id)
        if key.refusal is not None:
            return Outcome(key.refusal)
        if key.channel is not None and key.channel != "1":
            return Outcome(new_api_error(400, "无效的渠道 Id", request_id=request_id))
        if r.name == "fetch":
            row = self.rows.first(r.task_id)
            if row is None:
                return Outcome(gateway_error("task_no_found"))
            return Outcome(json_reply(self.view(row, self.ctx.clock.now())))
        if r.name == "list-by-condition":
            return Outcome(self._list(raw))
        if r.name == "image-seed":
            return Outcome(await self._seed(r))
        return await self._submit(r, path, content_type, raw, request_id)

    def _list(self, raw: bytes | None) -> Reply:
        # BindJSON of {ids []string}, whatever the Content-Type.
        try:
            data = json.loads(raw or b"")
        except (ValueError, RecursionError):
            data = []
        if data is None:
            data = {}
        bound = bind("gateway", "list-by-condition", data) if isinstance(data, dict) else ""
        if isinstance(bound, str):
            return gateway_error("do_request_failed")
        ids = [str(i) for i in bound.get("ids") or () if i is not None]
        rows = [row for task_id in dict.fromkeys(ids) for row in self.rows.of(task_id)]
        self.ctx.store.shuffle(rows)
        now = self.ctx.clock.now()
        return json_reply([self.view(row, now) for row in rows])

    async def _seed(self, r: Route) -> Reply:
        if self.rows.first(r.task_id) is None:
            return gateway_error("task_no_found")
        limit = self.ctx.timings.gateway_seed_timeout
        answer = await self.upstream.image_seed(r.task_id, limit=limit)
        if answer is None:
            return gateway_error("do_request_failed", 5)
        return remarshalled(answer)

    def _image(self, r: Route) -> Reply:
        # GetByOnlyMJId: the oldest row of any user; then the upstream URL it stored.
        row = self.rows.first(r.task_id)
        if row is None:
            return json_reply({"error": "midjourney_task_not_found"}, status=400)
        if not self.view(row, self.ctx.clock.now())["imageUrl"]:
            return json_reply({"error": "request blocked: invalid URL"}, status=403)
        record = self.ctx.store.peek(row.task_id)
        if record is not None and record.action == "VIDEO":
            return Reply(200, mp4(), "video/mp4")
        return Reply(200, png(), "image/png")

    # -- submits -------------------------------------------------------------------------

    async def _submit(
        self, r: Route, path: str, content_type: str, raw: bytes | None, request_id: str
    ) -> Outcome:
        distributed = distribute(
            r, content_type=content_type, raw=raw, max_body=self.max_body, request_id=request_id
        )
        if isinstance(distributed, Reply):
            return Outcome(distributed, endpoint=r.name)
        body, action = distributed
        checked = self._checks(r, body, action)
        if isinstance(checked, Reply):
            return Outcome(checked, endpoint=r.name)
        prompt = checked
        sending = forwarded(raw or b"", notify_hooks=self.notify_hooks)
        if isinstance(sending, Reply):
            return Outcome(sending, endpoint=r.name)
        now = self.ctx.clock.now()
        before = self._before_modal(r, body, now)
        # getMjRequestPath: a "/mj-<x>/mj/..." prefix goes; any other is forwarded as is.
        upstream_path = path[len(r.prefix) + 1 :] if r.prefix.startswith("mj-") else path
        sent = await self.upstream.serve(
            route(upstream_path),
            method="POST",
            path=upstream_path,
            content_type=content_type,
            raw=sending,
        )
        reply = sent.reply
        answer = remarshalled(reply) if r.name == "swap-face" else relayed(reply, action)
        data = reply.data()
        if isinstance(data, dict):
            self._record(data, action=action, prompt=prompt, before=before, now=now)
        return Outcome(answer, sent.created, sent.accepted, r.name)

    def _checks(self, r: Route, body: dict[str, Any], action: str) -> str | Reply:
        """RelayMidjourneySubmit's own checks; the prompt its row keeps."""
        if r.name == "swap-face":
            swap = bind("gateway", "swap-face", body)
            if isinstance(swap, str):
                return gateway_error("bind_request_body_failed")
            if not (swap.get("sourceBase64") and swap.get("targetBase64")):
                return gateway_error("sour_base64_and_target_base64_is_required")
            return "InsightFace"
        prompt = str(body.get("prompt") or "")
        if r.name == "imagine" and not prompt:
            return gateway_error("prompt_is_required")
        task_id = str(body.get("taskId") or "")
        if r.name not in _ON_A_TASK or not task_id:
            return prompt
        if r.name in _CHANGE_LIKE:
            if not action:
                return gateway_error("action_is_required")
            if not body.get("index"):
                return gateway_error("index_is_required")
        # GetByMJId: the oldest row, which for a task given to /modal is the stale one.
        row = self.rows.first(task_id)
        if row is None:
            return gateway_error("task_not_found")
        seen = self.view(row, self.ctx.clock.now())
        if r.name != "modal" and seen["status"] != "SUCCESS":
            return gateway_error("task_status_not_success")
        return row.prompt

    def _before_modal(
        self, r: Route, body: dict[str, Any], now: float
    ) -> tuple[str, dict[str, Any]] | None:
        """What the live row of a task given to /modal shows before the upstream acts."""
        task_id = str(body.get("taskId") or "")
        live = self.rows.live(task_id) if r.name == "modal" else None
        return None if live is None else (task_id, self.view(live, now))

    def _record(
        self,
        data: dict[str, Any],
        *,
        action: str,
        prompt: str,
        before: tuple[str, dict[str, Any]] | None,
        now: float,
    ) -> None:
        """midjourneyTask.Insert(): a row for an accepted answer that names a task."""
        task_id = data.get("result")
        if data.get("code") not in (1, 21, 22) or not isinstance(task_id, str) or not task_id:
            return  # a row with mj_id "" (or a failure), which no query ever shows
        if self.ctx.store.peek(task_id) is None:
            return
        live = self.rows.live(task_id)
        if live is not None and live.frozen is None:
            # From now on the poller's map holds the new row: the old one stops here.
            seen = before[1] if before is not None and before[0] == task_id else None
            live.frozen = seen if seen is not None else self.view(live, now)
        description = data.get("description")
        self.rows.insert(
            task_id,
            action=action,
            prompt=prompt,
            description=description if isinstance(description, str) else "",
            now=now,
        )
