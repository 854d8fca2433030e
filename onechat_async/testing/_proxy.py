"""The upstream midjourney-proxy's submit logic: validate, create the task, queue it.

No HTTP here: each method takes the decoded JSON body and the clock time and returns an
:class:`Answer` (the ``{code, description, result, properties}`` body). The gateway's own
checks and rewrites, and the HTTP shapes of each flavour, live in :mod:`._app`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

import attrs

from ._lifecycle import Plan, upstream_at
from ._messages import QUEUED
from ._store import QueueFull, Store, TaskRecord
from ._views import buttons

__all__ = ["Answer", "Proxy", "parse_simple_change"]

DEFAULT_FAIL_REASON = "[Invalid parameter] Invalid value"
_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,(?P<data>.*)$", re.DOTALL)
_VERSION = re.compile(r"--v\s+(\d+)(?![.\d])")
_GRID = frozenset({"IMAGINE", "VARIATION", "REROLL", "BLEND"})
_DIMENSIONS = frozenset({"PORTRAIT", "SQUARE", "LANDSCAPE"})
_KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣")
#: Custom ids that open a Discord modal instead of starting a job.
MODAL_ACTIONS = frozenset({"INPAINT", "CUSTOM_ZOOM"})


@attrs.frozen
class Answer:
    """A submit answer; ``action`` tells the gateway which 21s it must keep.

    ``created`` says whether this submit made a new task (a /modal call and the old Java
    "upscale already exists" answer name a task that existed before).
    """

    code: int
    description: str
    result: str | None = None
    properties: dict[str, Any] = attrs.field(factory=dict)
    action: str = ""
    created: bool = False

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {
            "code": self.code,
            "description": self.description,
            "result": self.result,
            "properties": self.properties,
        }


def _fail(code: int, description: str) -> Answer:
    return Answer(code, description)


def is_data_url(value: object) -> bool:
    """Whether ``value`` is a ``data:image/...;base64,`` URL holding valid base64."""
    if not isinstance(value, str):
        return False
    match = _DATA_URL.match(value)
    if match is None:
        return False
    try:
        base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def parse_simple_change(content: object) -> tuple[str, str, int] | None:
    """``"<id> <op>"`` as the Java proxy reads it: only the op's first two characters count."""
    if not isinstance(content, str):
        return None
    parts = content.split(" ")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    task_id, op = parts[0], parts[1].lower()
    if op == "r":
        return task_id, "REROLL", 0
    if op[0] not in "uv" or len(op) < 2 or op[1] not in "1234":
        return None
    return task_id, "UPSCALE" if op[0] == "u" else "VARIATION", int(op[1])


def action_of(custom_id: str) -> tuple[str, int] | None:
    """The task action and index a button's custom id starts."""
    parts = custom_id.split("::")
    if len(parts) < 3 or parts[0] != "MJ":
        return None
    kind = parts[2] if parts[1] == "JOB" else parts[1]
    simple = {
        "upsample": "UPSCALE",
        "variation": "VARIATION",
        "reroll": "REROLL",
        "high_variation": "HIGH_VARIATION",
        "low_variation": "LOW_VARIATION",
        "Inpaint": "INPAINT",
        "Outpaint": "ZOOM",
        "CustomZoom": "CUSTOM_ZOOM",
    }
    action = "PAN" if kind.startswith("pan_") else simple.get(kind)
    if action is None:
        return None
    number = parts[3] if len(parts) > 3 else ""
    # isdigit() alone would let "²" through to int().
    index = int(number) if action in ("UPSCALE", "VARIATION") and number.isdecimal() else 0
    return action, index


class Proxy:
    """The upstream's submit endpoints over a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        queue_full: Answer,
        wall_of: Callable[[float], float],
        on_new_plan: Callable[[TaskRecord], None],
    ) -> None:
        self.store = store
        self._queue_full = queue_full
        self._wall_of = wall_of
        self._on_new_plan = on_new_plan
        self.failing: dict[str, str] = {}
        self.banned: list[str] = []

    # -- helpers -----------------------------------------------------------------------

    def _banned(self, prompt: str) -> Answer | None:
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

    def _create(
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
    ) -> Answer:
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
                return self._queue_full
        record = TaskRecord(
            id=task_id,
            action=action,
            plan=p,
            prompt=prompt,
            state=_text(body.get("state")),
            notify_hook=_text(body.get("notifyHook")) or "",
            bot_type=_text(body.get("botType")) or "MID_JOURNEY",
            custom_id=custom_id,
            command=command,
            final_prompt=final_prompt,
            result_text=result_text,
            parent_id=parent.id if parent else "",
            index=index,
            seed=self.store.new_seed(),
            message_hash=self.store.new_hash(task_id),
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
        self._on_new_plan(record)
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

    def _parent(self, task_id: object, now: float) -> TaskRecord | Answer:
        record = self.store.get(str(task_id), now) if task_id else None
        if record is None:
            return _fail(3, "关联任务不存在或已失效")
        if upstream_at(record.plan, now, self.store.timings).status != "SUCCESS":
            return _fail(4, "关联任务状态错误")
        return record

    # -- endpoints ---------------------------------------------------------------------

    def imagine(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/imagine."""
        prompt = _text(body.get("prompt")) or ""
        if not prompt.strip():
            return _fail(4, "prompt不能为空")
        refs = body.get("base64Array") or []
        if not isinstance(refs, list) or not all(is_data_url(ref) for ref in refs):
            return _fail(4, "base64格式错误")
        banned = self._banned(prompt)
        if banned is not None:
            return banned
        return self._create(
            body,
            now,
            action="IMAGINE",
            prompt=prompt,
            command=f"/imagine {prompt}",
            final_prompt=_final(prompt),
        )

    def change(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/change."""
        action = _text(body.get("action"))
        if action not in ("UPSCALE", "VARIATION", "REROLL"):
            return _fail(4, "action参数错误")
        index = body.get("index")
        if action != "REROLL" and (not isinstance(index, int) or not 1 <= index <= 4):
            return _fail(4, "index参数错误")
        return self._change(
            body, now, str(body.get("taskId") or ""), action, index if isinstance(index, int) else 0
        )

    def simple_change(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/simple-change: only ``content`` is read."""
        parsed = parse_simple_change(body.get("content"))
        if parsed is None:
            return _fail(4, "content参数错误")
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
        parent = self._parent(task_id, now)
        if isinstance(parent, Answer):
            return parent
        if parent.action not in _GRID:
            return _fail(4, "关联任务不允许执行变化")
        op = "R" if action == "REROLL" else f"{action[0]}{index}"
        command = f"/up {parent.id} {op}"
        if action == "UPSCALE":
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
        answer = self._create(
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
        """POST /mj/submit/action: a button of the parent task."""
        parent = self._parent(body.get("taskId"), now)
        if isinstance(parent, Answer):
            return parent
        custom_id = _text(body.get("customId")) or ""
        known = {b["customId"] for b in buttons(parent.action, parent.message_hash)}
        mapped = action_of(custom_id) if custom_id in known else None
        if mapped is None:
            return _fail(4, "customId参数错误")
        action, index = mapped
        return self._create(
            body,
            now,
            action=action,
            prompt=parent.prompt,
            command=f"/action {parent.id} {custom_id}",
            final_prompt=parent.final_prompt,
            custom_id=custom_id,
            parent=parent,
            index=index,
            modal=action in MODAL_ACTIONS,
        )

    def modal(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/modal: confirm the window of a MODAL task; same task id."""
        record = self.store.get(str(body.get("taskId") or ""), now)
        if record is None:
            return _fail(3, "关联任务不存在或已失效")
        if record.plan.queued_at is not None or not record.plan.modal:
            return _fail(4, "任务状态错误")
        if record.action == "INPAINT" and not is_data_url(body.get("maskBase64")):
            return _fail(4, "maskBase64参数错误")
        prompt = _text(body.get("prompt")) or record.prompt
        banned = self._banned(prompt)
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
            return self._queue_full
        record.plan = attrs.evolve(p, stalled_at=record.plan.stalled_at)
        record.prompt, record.final_prompt = prompt, _final(prompt)
        self._on_new_plan(record)
        return self._accepted(record, ahead, created=False)

    def blend(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/blend: 2 to 5 images."""
        images = body.get("base64Array")
        if not isinstance(images, list) or not 2 <= len(images) <= 5:
            return _fail(4, "base64List参数错误")
        if not all(is_data_url(image) for image in images):
            return _fail(4, "base64格式错误")
        dimensions = body.get("dimensions") or "SQUARE"
        if not isinstance(dimensions, str) or dimensions not in _DIMENSIONS:
            return _fail(4, "dimensions参数错误")
        ratio = {"PORTRAIT": "2:3", "SQUARE": "1:1", "LANDSCAPE": "3:2"}[dimensions]
        links = " ".join(f"https://s.mj.run/{self.store.new_seed()}" for _ in images)
        return self._create(
            body,
            now,
            action="BLEND",
            command=f"/blend {len(images)} images",
            final_prompt=f"{links} --ar {ratio}",
        )

    def describe(self, body: dict[str, Any], now: float, *, links: bool = False) -> Answer:
        """POST /mj/submit/describe (the C# upstream also takes ``link``)."""
        image, link = body.get("base64"), body.get("link")
        if not (links and isinstance(link, str) and link.startswith(("http://", "https://"))):
            if not image:
                return _fail(4, "base64不能为空")
            if not is_data_url(image):
                return _fail(4, "base64格式错误")
        subjects = (
            "a watercolor fox",
            "a neon city street",
            "an old lighthouse",
            "a bowl of ramen",
            "a paper boat",
            "a snowy mountain cabin",
        )
        start = int(self.store.new_seed()) % len(subjects)
        lines = [
            f"{_KEYCAPS[i]} {subjects[(start + i) % len(subjects)]}, soft light, highly "
            f"detailed --ar 1:1"
            for i in range(4)
        ]
        return self._create(
            body,
            now,
            action="DESCRIBE",
            command="/describe image.png",
            result_text="\n\n".join(lines),
        )

    def shorten(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/submit/shorten: prompt analysis."""
        prompt = _text(body.get("prompt")) or ""
        if not prompt.strip():
            return _fail(4, "prompt不能为空")
        banned = self._banned(prompt)
        if banned is not None:
            return banned
        words = [w for w in re.split(r"[\s,]+", prompt) if w and not w.startswith("--")]
        tokens = ", ".join(words[:8]) or prompt
        shortened = [" ".join(words[: max(1, len(words) - i)]) for i in range(5)]
        text = (
            "**Important tokens**\n"
            + tokens
            + "\n\n**Shortened prompts**\n"
            + "\n\n".join(f"{_KEYCAPS[i]} {s}" for i, s in enumerate(shortened))
        )
        return self._create(
            body,
            now,
            action="SHORTEN",
            prompt=prompt,
            command=f"/shorten {prompt}",
            result_text=text,
        )

    def swap_face(self, body: dict[str, Any], now: float) -> Answer:
        """POST /mj/insight-face/swap."""
        for field in ("sourceBase64", "targetBase64"):
            if not is_data_url(body.get(field)):
                return _fail(4, f"{field}参数错误")
        return self._create(body, now, action="SWAP_FACE", command="/swap_face")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _final(prompt: str) -> str:
    """The prompt Midjourney echoes: version made explicit, as in "--v 7" -> "--v 7.0"."""
    if _VERSION.search(prompt):
        return _VERSION.sub(lambda m: f"--v {m.group(1)}.0", prompt)
    if "--niji" in prompt or "--v" in prompt:
        return prompt
    return f"{prompt} --v 6.1"
