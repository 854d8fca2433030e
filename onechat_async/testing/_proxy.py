"""The upstream midjourney-proxy's submit logic: validate, create the task, queue it.

No HTTP here: each method takes the decoded JSON body and the clock time and returns an
:class:`Answer` (the ``{code, description, result, properties}`` body and its HTTP status).
What differs between the Java proxies and trueai is the :class:`~._flavours.Dialect`. Here:
the core (making and queueing tasks) and the endpoints that work on the task tree
(imagine, change, simple-change, action, modal, cancel); those that start from images or
text live in :mod:`._media`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from ._customids import action_of, parse_simple_change
from ._flavours import Dialect
from ._images import acceptable
from ._lifecycle import TERMINAL, Plan, upstream_at
from ._messages import QUEUED
from ._store import QueueFull, Store, TaskRecord
from ._views import buttons

__all__ = ["DEFAULT_FAIL_REASON", "MODAL_ACTIONS", "Answer", "Proxy"]

DEFAULT_FAIL_REASON = "[Invalid parameter] Invalid value"
NOT_FOUND = "关联任务不存在或已失效"
_VERSION = re.compile(r"--v\s+(\d+)(?![.\d])")
_GRID = frozenset({"IMAGINE", "VARIATION", "REROLL", "BLEND"})
#: Custom ids that open a Discord modal instead of starting a job.
MODAL_ACTIONS = frozenset({"INPAINT", "CUSTOM_ZOOM"})
#: Actions that remix can hold in MODAL (``enableRemix``) for a new prompt.
_REMIXABLE = frozenset({"VARIATION", "REROLL", "PAN", "HIGH_VARIATION", "LOW_VARIATION"})


@attrs.frozen
class Answer:
    """A submit answer; ``action`` tells the gateway which 21s it must keep.

    ``created`` says whether this submit made a new task (a /modal call and the old Java
    "upscale already exists" answer name a task that existed before). ``status`` is the
    HTTP status (trueai answers a missing parent task with 404). ``result`` is a task id,
    or the list of URLs of upload-discord-images.
    """

    code: int
    description: str
    result: str | list[str] | None = None
    properties: dict[str, Any] = attrs.field(factory=dict)
    action: str = ""
    created: bool = False
    status: int = 200

    @property
    def task_id(self) -> str | None:
        """The task the answer names, if any."""
        return self.result if isinstance(self.result, str) and self.result else None

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {
            "code": self.code,
            "description": self.description,
            "result": self.result,
            "properties": self.properties,
        }


def fail(code: int, description: str, *, status: int = 200) -> Answer:
    """A refusal."""
    return Answer(code, description, status=status)


class Proxy:
    """The upstream's submit endpoints over a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        dialect: Dialect,
        wall_of: Callable[[float], float],
        on_new_plan: Callable[[TaskRecord], None],
    ) -> None:
        self.store = store
        self.dialect = dialect
        self._wall_of = wall_of
        #: Called whenever a task's plan is fixed (again): notifyHook delivery follows it.
        self.replanned = on_new_plan
        self.failing: dict[str, str] = {}
        self.banned: list[str] = []

    # -- helpers shared with ._media ---------------------------------------------------

    def image_ok(self, value: object) -> bool:
        """Whether this upstream takes ``value`` as an image input."""
        return acceptable(value, any_image=self.dialect.any_image)

    def banned_answer(self, prompt: str) -> Answer | None:
        """Code 24 if ``prompt`` holds a banned word."""
        lowered = prompt.lower()
        for word in self.banned:
            if word.lower() in lowered:
                return Answer(
                    24, "可能包含敏感词", properties={"promptEn": prompt, "bannedWord": word}
                )
        return None

    def _fate(self, prompt: str) -> tuple[bool, str]:
        for fragment, reason in self.failing.items():
            if fragment in prompt:
                return True, reason
        return False, ""

    def not_found(self) -> Answer:
        """A missing parent task, in this upstream's words and status."""
        return fail(3, NOT_FOUND, status=self.dialect.not_found_status)

    def parent(self, task_id: object, now: float) -> TaskRecord | Answer:
        """The finished task a submit works on, or the answer refusing it."""
        record = self.store.get(str(task_id), now) if task_id else None
        if record is None:
            return self.not_found()
        if upstream_at(record.plan, now, self.store.timings).status != "SUCCESS":
            return fail(4, "关联任务状态错误")
        return record

    def create(
        self,
        body: dict[str, Any],
        now: float,
        *,
        action: str,
        prompt: str = "",
        command: str,
        final_prompt: str = "",
        result_text: str = "",
        custom_id: str = "",
        parent: TaskRecord | None = None,
        index: int = 0,
        modal: bool = False,
        batch: int = 4,
    ) -> Answer:
        """Make, store and queue a task; the accepting answer (or queue full)."""
        fails, reason = self._fate(prompt)
        task_id = self.store.new_id(self._wall_of(now))
        ahead: int | None = None
        if modal:
            p = Plan(submitted_at=now, queued_at=None, modal=True)
        else:
            try:
                p, ahead = self.store.schedule(
                    now=now, submitted_at=now, action=action, fails=fails, fail_reason=reason
                )
            except QueueFull:
                return Answer(self.dialect.queue_full_code, self.dialect.queue_full_text)
        record = TaskRecord(
            id=task_id,
            action=action,
            plan=p,
            prompt=prompt,
            state=text_of(body.get("state")),
            notify_hook=text_of(body.get("notifyHook")) or "",
            bot_type=text_of(body.get("botType")) or "MID_JOURNEY",
            custom_id=custom_id,
            command=command,
            final_prompt=final_prompt,
            result_text=result_text,
            parent_id=parent.id if parent else "",
            index=index,
            seed=self.store.new_seed(),
            message_hash=self.store.new_hash(task_id),
            batch=batch,
        )
        self.store.add(record)
        if modal:
            record.description = "Waiting for window confirm"
            return Answer(
                21,
                record.description,
                task_id,
                action=action,
                properties={"finalPrompt": prompt, "remix": True},
                created=True,
            )
        self.replanned(record)
        return self._accepted(record, ahead, created=True)

    def _accepted(self, record: TaskRecord, ahead: int | None, *, created: bool) -> Answer:
        if ahead is None:
            record.description = "提交成功"
            return Answer(1, "提交成功", record.id, action=record.action, created=created)
        record.description = QUEUED.format(ahead=ahead)
        return Answer(
            22,
            record.description,
            record.id,
            action=record.action,
            properties={"numberOfQueues": ahead, "discordInstanceId": "1118138338562560102"},
            created=created,
        )

    # -- endpoints ---------------------------------------------------------------------

    def imagine(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/imagine (the Java proxies also read a single ``base64``)."""
        prompt = text_of(body.get("prompt")) or ""
        if not prompt.strip():
            return fail(4, "prompt不能为空")
        refs = body.get("base64Array") or []
        if not isinstance(refs, list):
            return fail(4, "base64格式错误")
        single = body.get("base64")
        if not self.dialect.any_image and isinstance(single, str) and single.strip():
            refs = [*refs, single]
        if not all(self.image_ok(ref) for ref in refs):
            return fail(4, "base64格式错误")
        banned = self.banned_answer(prompt)
        if banned is not None:
            return banned
        return self.create(
            body,
            now,
            action="IMAGINE",
            prompt=prompt,
            command=f"/imagine {prompt}",
            final_prompt=final(prompt),
        )

    def change(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/change."""
        task_id = text_of(body.get("taskId")) or ""
        if not task_id.strip():
            return fail(4, "taskId不能为空")
        action = text_of(body.get("action"))
        if action not in ("UPSCALE", "VARIATION", "REROLL"):
            return fail(4, "action参数错误")
        index = body.get("index")
        if action != "REROLL" and (not isinstance(index, int) or not 1 <= index <= 4):
            return fail(4, "index参数错误")
        return self._change(body, now, task_id, action, index if isinstance(index, int) else 0)

    def simple_change(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/simple-change: only ``content`` is read."""
        parsed = parse_simple_change(body.get("content"))
        if parsed is None:
            return fail(4, "content参数错误")
        task_id, action, index = parsed
        return self._change(body, now, task_id, action, index)

    def _change(
        self,
        body: dict[str, Any],
        now: float,
        task_id: str,
        action: str,
        index: int,
    ) -> Answer:
        parent = self.parent(task_id, now)
        if isinstance(parent, Answer):
            return parent
        if parent.action not in _GRID:
            return fail(4, "关联任务不允许执行变化")
        op = "R" if action == "REROLL" else f"{action[0]}{index}"
        command = f"/up {parent.id} {op}"
        if action == "UPSCALE" and self.dialect.flavour == "java-plus":
            existing = self.store.get(self.store.upscales.get(command, ""), now)
            if existing is not None:
                snap = upstream_at(existing.plan, now, self.store.timings)
                return Answer(
                    21,
                    "任务已存在",
                    existing.id,
                    action=action,
                    properties={"status": snap.status, "imageUrl": None},
                )
        answer = self.create(
            body,
            now,
            action=action,
            prompt=parent.prompt,
            command=command,
            final_prompt=parent.final_prompt,
            parent=parent,
            index=index,
        )
        if action == "UPSCALE" and answer.code in (1, 22):
            self.store.upscales[command] = str(answer.result)
        return answer

    def action(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/action: a button of the parent task (``enableRemix``: via MODAL)."""
        task_id, custom_id = text_of(body.get("taskId")) or "", text_of(body.get("customId")) or ""
        if self.dialect.flavour == "csharp-v10" and not (task_id.strip() and custom_id.strip()):
            return fail(4, "参数错误")
        parent = self.parent(task_id, now)
        if isinstance(parent, Answer):
            return parent
        known = {b["customId"] for b in buttons(parent)}
        mapped = action_of(custom_id) if custom_id in known else None
        if mapped is None:
            return fail(4, "customId参数错误")
        action, index = mapped
        remix = body.get("enableRemix") is True and action in _REMIXABLE
        return self.create(
            body,
            now,
            action=action,
            prompt=parent.prompt,
            command=f"/action {parent.id} {custom_id}",
            final_prompt=parent.final_prompt,
            custom_id=custom_id,
            parent=parent,
            index=index,
            modal=action in MODAL_ACTIONS or remix,
            batch=parent.batch,
        )

    def modal(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/modal: confirm the window of a MODAL task; same task id."""
        record = self.store.get(str(body.get("taskId") or ""), now)
        if record is None:
            return self.not_found()
        if record.plan.queued_at is not None or not record.plan.modal:
            return fail(4, "任务状态错误")
        if record.action == "INPAINT" and not self.image_ok(body.get("maskBase64")):
            return fail(4, "maskBase64参数错误")
        prompt = text_of(body.get("prompt")) or record.prompt
        banned = self.banned_answer(prompt)
        if banned is not None:
            return banned
        fails, reason = self._fate(prompt)
        try:
            p, ahead = self.store.schedule(
                now=now,
                submitted_at=record.plan.submitted_at,
                action=record.action,
                fails=fails,
                fail_reason=reason,
                modal=True,
            )
        except QueueFull:
            return Answer(self.dialect.queue_full_code, self.dialect.queue_full_text)
        record.plan = attrs.evolve(p, stalled_at=record.plan.stalled_at)
        record.prompt, record.final_prompt = prompt, final(prompt)
        self.replanned(record)
        return self._accepted(record, ahead, created=False)

    def cancel(self, task_id: str, now: float) -> None:
        """POST /mj/task/{id}/cancel (trueai): an unfinished task ends FAILURE 取消任务."""
        record = self.store.get(task_id, now)
        if record is None:
            return
        if upstream_at(record.plan, now, self.store.timings).status in TERMINAL:
            return
        record.plan = attrs.evolve(record.plan, cancelled_at=now)
        self.replanned(record)


def text_of(value: object) -> str | None:
    """A body field as the proxies read a string (None stays None)."""
    return None if value is None else str(value)


def final(prompt: str) -> str:
    """The prompt Midjourney echoes: version made explicit, as in "--v 7" -> "--v 7.0"."""
    if _VERSION.search(prompt):
        return _VERSION.sub(lambda m: f"--v {m.group(1)}.0", prompt)
    if "--niji" in prompt or "--v" in prompt:
        return prompt
    return f"{prompt} --v 6.1"
