"""Building requests: pure functions from Python arguments to wire requests.

Everything here validates before anything is sent, so a malformed call raises
:class:`InvalidRequestError` without touching the network. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from ._errors import InvalidRequestError
from ._models import AccountFilter
from ._wire import encode

__all__ = [
    "ChangeOp",
    "Request",
    "change_op_button_prefix",
    "data_url",
    "parse_simple_change",
]

ChangeOp = str
"""``"U1"``..``"U4"``, ``"V1"``..``"V4"`` or ``"R"`` (upper case once parsed)."""

_TASK_ID = re.compile(r"^\d{1,32}$")
_SIMPLE_CHANGE = re.compile(r"^(\S+) (\S+)$")
_OP = re.compile(r"^(?:[UV][1-4]|R)$")
_MAX_HOOK = 2000
_MAX_STATE = 255

BOT_TYPES = frozenset({"MID_JOURNEY", "NIJI_JOURNEY"})
DIMENSIONS = frozenset({"PORTRAIT", "SQUARE", "LANDSCAPE"})
CHANGE_ACTIONS = frozenset({"UPSCALE", "VARIATION", "REROLL"})


@attrs.frozen
class Request:
    """One HTTP request, described as data; the I/O shell sends it."""

    method: Literal["GET", "POST"]
    path: str
    endpoint: str
    body: dict[str, Any] | None = None
    is_submit: bool = False
    task_id: str | None = None
    state: str | None = None


def check_task_id(task_id: object, *, what: str = "task id") -> str:
    """Return ``task_id`` as a str, or raise if it is not the decimal id servers hand out."""
    text = str(task_id) if isinstance(task_id, int) and not isinstance(task_id, bool) else task_id
    if not isinstance(text, str) or not _TASK_ID.match(text):
        raise InvalidRequestError(f"{what} must be a string of digits, got {task_id!r}")
    return text


def parse_simple_change(content: str, op: str | None = None) -> tuple[str, ChangeOp]:
    """Split ``"<id> U2"`` (or ``(id, "U2")``) into the id and the upper-cased operation.

    The proxy reads only the operation's second character, so ``"U12"`` would silently act as
    U1 and ``"U5"`` would come back as a code 4: both are refused here instead.
    """
    if op is not None:
        content = f"{content} {op}"
    if not isinstance(content, str):
        raise InvalidRequestError(f"simple-change content must be a str, got {content!r}")
    match = _SIMPLE_CHANGE.match(content)
    if not match:
        raise InvalidRequestError(
            f"simple-change content must be '<task id> <U1..U4|V1..V4|R>', got {content!r}"
        )
    raw_id, raw_op = match.groups()
    task_id = check_task_id(raw_id)
    upper = raw_op.upper()
    if not _OP.match(upper):
        raise InvalidRequestError(
            f"simple-change operation must be U1..U4, V1..V4 or R, got {raw_op!r}"
        )
    return task_id, upper


def op_action_index(op: ChangeOp) -> tuple[str, int]:
    """The ``/change`` equivalent of a simple-change operation.

    The gateway refuses ``index == 0`` even for REROLL, so a reroll is sent with index 1.
    """
    if op == "R":
        return "REROLL", 1
    return ("UPSCALE" if op[0] == "U" else "VARIATION"), int(op[1])


def change_op_button_prefix(op: ChangeOp) -> str:
    """The customId prefix of the parent's button that performs ``op``."""
    if op == "R":
        return "MJ::JOB::reroll::0::"
    kind = "upsample" if op[0] == "U" else "variation"
    return f"MJ::JOB::{kind}::{op[1]}::"


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def data_url(image: bytes) -> str:
    """Encode image bytes as the ``data:`` URL the proxies require (raw base64 is refused)."""
    mime = next((m for magic, m in _MAGIC if image.startswith(magic)), None)
    if mime is None and image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise InvalidRequestError("image bytes are not PNG, JPEG, GIF or WEBP")
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def _options(
    notify_hook: str | None,
    state: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if notify_hook is not None:
        if not notify_hook.startswith(("http://", "https://")) or len(notify_hook) > _MAX_HOOK:
            raise InvalidRequestError(
                f"notify_hook must be an http(s) URL of at most {_MAX_HOOK} characters"
            )
        body["notifyHook"] = notify_hook
    if state is not None:
        if not isinstance(state, str) or len(state) > _MAX_STATE:
            raise InvalidRequestError(f"state must be a str of at most {_MAX_STATE} characters")
        body["state"] = state
    return body


def _image_options(bot_type: str | None, account_filter: AccountFilter | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if bot_type is not None:
        if bot_type not in BOT_TYPES:
            raise InvalidRequestError(
                f"bot_type must be one of {sorted(BOT_TYPES)}, got {bot_type!r}"
            )
        body["botType"] = bot_type
    if account_filter is not None:
        body["accountFilter"] = encode(account_filter)
    return body


def _submit(
    path: str,
    body: dict[str, Any],
    *,
    notify_hook: str | None,
    state: str | None,
    task_id: str | None = None,
) -> Request:
    body.update(_options(notify_hook, state))
    return Request(
        "POST", path, path.rsplit("/", 1)[-1], body, is_submit=True, task_id=task_id, state=state
    )


def _check_images(images: Sequence[str], *, least: int, most: int, what: str) -> list[str]:
    if not least <= len(images) <= most:
        raise InvalidRequestError(f"{what} takes {least} to {most} images, got {len(images)}")
    return list(images)


def imagine(
    prompt: str,
    images: Sequence[str],
    *,
    bot_type: str | None,
    account_filter: AccountFilter | None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/imagine``: a prompt, optionally with reference images (data URLs)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("imagine needs a non-blank prompt")
    body: dict[str, Any] = {"prompt": prompt}
    if images:
        body["base64Array"] = list(images)
    body.update(_image_options(bot_type, account_filter))
    return _submit("/submit/imagine", body, notify_hook=notify_hook, state=state)


def change(
    task_id: str,
    action: str,
    index: int | None,
    *,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/change``: UPSCALE / VARIATION index 1..4, or REROLL."""
    task_id = check_task_id(task_id)
    action = action.upper() if isinstance(action, str) else action
    if action not in CHANGE_ACTIONS:
        raise InvalidRequestError(f"action must be one of {sorted(CHANGE_ACTIONS)}, got {action!r}")
    if action == "REROLL":
        index = index or 1
    if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= 4:
        raise InvalidRequestError(f"{action} needs an index from 1 to 4, got {index!r}")
    body = {"taskId": task_id, "action": action, "index": index}
    return _submit("/submit/change", body, notify_hook=notify_hook, state=state, task_id=task_id)


def simple_change(
    task_id: str,
    op: ChangeOp,
    *,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/simple-change``, with the fields that let the gateway route it.

    new-api derives its billing model from ``action``, which a plain simple-change body lacks,
    and answers 503. The upstream reads only ``content``, so sending both is harmless.
    """
    action, index = op_action_index(op)
    body = {"content": f"{task_id} {op}", "taskId": task_id, "action": action, "index": index}
    return _submit(
        "/submit/simple-change", body, notify_hook=notify_hook, state=state, task_id=task_id
    )


def action(
    task_id: str,
    custom_id: str,
    *,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/action``: press a button of a finished task."""
    task_id = check_task_id(task_id)
    if not isinstance(custom_id, str) or not custom_id.strip():
        raise InvalidRequestError("action needs the button's non-empty custom_id")
    body = {"taskId": task_id, "customId": custom_id}
    return _submit("/submit/action", body, notify_hook=notify_hook, state=state, task_id=task_id)


def modal(
    task_id: str,
    prompt: str | None,
    mask: str | None,
    *,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/modal``: complete a task waiting in MODAL (Custom Zoom, Vary Region)."""
    task_id = check_task_id(task_id)
    body: dict[str, Any] = {"taskId": task_id}
    if prompt is not None:
        body["prompt"] = prompt
    if mask is not None:
        body["maskBase64"] = mask
    return _submit("/submit/modal", body, notify_hook=notify_hook, state=state, task_id=task_id)


def blend(
    images: Sequence[str],
    dimensions: str,
    *,
    bot_type: str | None,
    account_filter: AccountFilter | None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/blend``: two to five images."""
    if dimensions not in DIMENSIONS:
        raise InvalidRequestError(
            f"dimensions must be one of {sorted(DIMENSIONS)}, got {dimensions!r}"
        )
    body: dict[str, Any] = {
        "base64Array": _check_images(images, least=2, most=5, what="blend"),
        "dimensions": dimensions,
    }
    body.update(_image_options(bot_type, account_filter))
    return _submit("/submit/blend", body, notify_hook=notify_hook, state=state)


def describe(
    image: str,
    *,
    bot_type: str | None,
    account_filter: AccountFilter | None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/describe``: one image, answered with four prompts."""
    body: dict[str, Any] = {"base64": image}
    body.update(_image_options(bot_type, account_filter))
    return _submit("/submit/describe", body, notify_hook=notify_hook, state=state)


def shorten(
    prompt: str,
    *,
    bot_type: str | None,
    account_filter: AccountFilter | None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/shorten``: analyse a prompt."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("shorten needs a non-blank prompt")
    body: dict[str, Any] = {"prompt": prompt}
    body.update(_image_options(bot_type, account_filter))
    return _submit("/submit/shorten", body, notify_hook=notify_hook, state=state)


def swap_face(
    source: str,
    target: str,
    *,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /insight-face/swap``: put the face of ``source`` on ``target``."""
    body = {"sourceBase64": source, "targetBase64": target}
    return _submit("/insight-face/swap", body, notify_hook=notify_hook, state=state)


def fetch(task_id: str) -> Request:
    """``GET /task/{id}/fetch``."""
    task_id = check_task_id(task_id)
    return Request("GET", f"/task/{task_id}/fetch", "fetch", task_id=task_id)


def list_by_condition(task_ids: Sequence[str]) -> Request:
    """``POST /task/list-by-condition`` for at most one chunk of ids."""
    return Request("POST", "/task/list-by-condition", "list-by-condition", {"ids": list(task_ids)})


def image_seed(task_id: str) -> Request:
    """``GET /task/{id}/image-seed``."""
    task_id = check_task_id(task_id)
    return Request("GET", f"/task/{task_id}/image-seed", "image-seed", task_id=task_id)
