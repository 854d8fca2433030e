"""The upstream's submits that start from images or text rather than from a grid.

blend, describe (by ``link`` too on trueai), shorten and swap-face as every proxy with them
has them; video, edits and upload-discord-images as trueai's SubmitController (v11) has
them: video and edits make tasks like any submit, an upload makes none and answers a list
of URLs.
"""

from __future__ import annotations

import re
from typing import Any

from ._proxy import Answer, Proxy, fail, final, text_of

__all__ = ["blend", "describe", "edits", "shorten", "swap_face", "upload", "video"]

_DIMENSIONS = frozenset({"PORTRAIT", "SQUARE", "LANDSCAPE"})
_KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣")

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


def blend(p: Proxy, body: dict[str, Any], now: float) -> Answer:
    """POST /mj/submit/blend: 2 to 5 images."""
    images = body.get("base64Array")
    if not isinstance(images, list) or not 2 <= len(images) <= 5:
        return fail(4, "base64List参数错误")
    # Java: an explicit null overrides the DTO's SQUARE default; trueai defaults it.
    if "dimensions" in body and body["dimensions"] is None and not p.dialect.any_image:
        return fail(4, "dimensions参数错误")
    dimensions = body.get("dimensions") or "SQUARE"
    if not isinstance(dimensions, str) or dimensions not in _DIMENSIONS:
        return fail(4, "dimensions参数错误")
    if not all(p.image_ok(image) for image in images):
        return fail(4, "base64格式错误")
    ratio = {"PORTRAIT": "2:3", "SQUARE": "1:1", "LANDSCAPE": "3:2"}[dimensions]
    links = " ".join(f"https://s.mj.run/{p.store.new_seed()}" for _ in images)
    return p.create(
        body,
        now,
        action="BLEND",
        command=f"/blend {len(images)} images",
        final_prompt=f"{links} --ar {ratio}",
    )


def describe(p: Proxy, body: dict[str, Any], now: float) -> Answer:
    """POST /mj/submit/describe (trueai also takes ``link``)."""
    image, link = body.get("base64"), body.get("link")
    if p.dialect.links:
        has_image = isinstance(image, str) and bool(image.strip())
        has_link = isinstance(link, str) and bool(link.strip())
        if not (has_image or has_link):
            return fail(4, "base64或link不能为空")
        if has_link and not re.match(r"^https?://.+", str(link)):
            return fail(4, "链接格式错误")
        if has_image and not p.image_ok(image):
            return fail(4, "base64格式错误")
    elif not image:
        return fail(4, "base64不能为空")
    elif not p.image_ok(image):
        return fail(4, "base64格式错误")
    return p.create(
        body,
        now,
        action="DESCRIBE",
        command="/describe image.png",
        result_text=_described(p),
    )


def _described(p: Proxy) -> str:
    subjects = (
        "a watercolor fox",
        "a neon city street",
        "an old lighthouse",
        "a bowl of ramen",
        "a paper boat",
        "a snowy mountain cabin",
    )
    start = int(p.store.new_seed()) % len(subjects)
    return "\n\n".join(
        f"{_KEYCAPS[i]} {subjects[(start + i) % len(subjects)]}, soft light, highly "
        f"detailed --ar 1:1"
        for i in range(4)
    )


def shorten(p: Proxy, body: dict[str, Any], now: float) -> Answer:
    """POST /mj/submit/shorten: prompt analysis."""
    prompt = text_of(body.get("prompt")) or ""
    if not prompt.strip():
        return fail(4, "prompt不能为空")
    banned = p.banned_answer(prompt)
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
    return p.create(
        body,
        now,
        action="SHORTEN",
        prompt=prompt,
        command=f"/shorten {prompt}",
        result_text=text,
    )


def swap_face(p: Proxy, body: dict[str, Any], now: float) -> Answer:
    """POST /mj/insight-face/swap."""
    for field in ("sourceBase64", "targetBase64"):
        if not p.image_ok(body.get(field)):
            return fail(4, f"{field}参数错误")
    return p.create(body, now, action="SWAP_FACE", command="/swap_face")
