"""The newer upstream endpoints: video, edits, upload-discord-images and cancel.

Modelled on trueai's SubmitController and TaskController (v11): video and edits make
tasks like any submit; an upload makes none and answers a list of URLs; cancel is for
admin tokens and ends an unfinished task in FAILURE 取消任务.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._lifecycle import TERMINAL, upstream_at
from ._proxy import Answer, Proxy, fail, final

__all__ = ["cancel", "edits", "upload", "video"]

_BATCH_SIZES = (1, 2, 4)


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def video(p: Proxy, body: dict[str, Any], now: float) -> Answer:
    """POST /mj/submit/video: from an image (or none), or ``action: "extend"`` of a video."""
    prompt = str(body.get("prompt") or "")
    if not prompt.strip():
        return fail(4, "Prompt 不能为空")
    for field in ("image", "endImage"):
        if _filled(body.get(field)) and not p.image_ok(body[field]):
            return fail(4, "base64格式错误")
    parent = None
    if _filled(body.get("taskId")):
        # Compared case-sensitively by the controller (videoDTO.Action?.Equals("extend")).
        if body.get("action") != "extend":
            return fail(4, "任务类型错误")
        found = p.parent(body["taskId"], now)
        if isinstance(found, Answer):
            return found
        parent = found
    batch = body.get("batchSize")
    index = body.get("index")
    flags = " --motion high" if body.get("motion") == "high" else " --motion low"
    if body.get("loop") is True:
        flags += " --end loop"
    if batch in (1, 2):
        flags += f" --bs {batch}"
    return p.create(
        body,
        now,
        action="VIDEO",
        prompt=prompt,
        command=f"/video {prompt}",
        final_prompt=final(prompt) + flags,
        parent=parent,
        index=index if isinstance(index, int) and not isinstance(index, bool) else 0,
        batch=batch if batch in _BATCH_SIZES else 4,
    )


def edits(p: Proxy, body: dict[str, Any], now: float) -> Answer:
    """POST /mj/submit/edits: a prompt applied to an image."""
    prompt, image = body.get("prompt"), body.get("image")
    if not (_filled(prompt) and _filled(image)):
        return fail(4, "image或prompt不能为空")
    if not p.image_ok(image):
        return fail(4, "base64格式错误")
    prompt = str(prompt)
    return p.create(
        body,
        now,
        action="EDIT",
        prompt=prompt,
        command=f"/edit {prompt}",
        final_prompt=final(prompt),
    )


def upload(p: Proxy, body: dict[str, Any], base_url: str) -> Answer:
    """POST /mj/submit/upload-discord-images: no task, its ``result`` is a list of URLs."""
    images = body.get("base64Array")
    if not isinstance(images, list) or not images:
        return fail(4, "base64 参数错误")
    if not all(p.image_ok(image) for image in images):
        return fail(4, "base64格式错误")
    folder = p.store.new_seed()
    p.store.uploads.add(folder)
    urls = [f"{base_url}/attachments/{folder}/upload_{i}.png" for i in range(len(images))]
    return Answer(1, "提交成功", urls)


def cancel(p: Proxy, task_id: str, now: float) -> bool:
    """POST /mj/task/{id}/cancel: fail an unfinished task; True if one was cancelled."""
    record = p.store.get(task_id, now)
    if record is None:
        return False
    if upstream_at(record.plan, now, p.store.timings).status in TERMINAL:
        return False
    record.plan = attrs.evolve(record.plan, cancelled_at=now)
    return True
