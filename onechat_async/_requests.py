"""Building requests: pure functions from Python arguments to wire requests.

Everything here validates before anything is sent, so a malformed call raises
:class:`InvalidRequestError` without touching the network. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs

from ._errors import InvalidRequestError
from ._models import AccountFilter
from ._wire import encode

__all__ = [
    "MAX_BODY_BYTES",
    "ChangeOp",
    "Request",
    "change_op_button_prefix",
    "data_url",
    "encode_body",
    "parse_simple_change",
]

#: The largest request body sent: new-api refuses bodies over its MAX_REQUEST_BODY_MB (32 MB
#: in some 2025 releases, 128 MB by default since), and a refusal there is a 400, not a 413.
MAX_BODY_BYTES = 32 * 1024 * 1024

ChangeOp = str
"""``"U1"``..``"U4"``, ``"V1"``..``"V4"`` or ``"R"`` (upper case once parsed)."""

# [0-9], not \d (which takes "²" and Arabic-Indic digits), matched whole (no trailing "\n").
_TASK_ID = re.compile(r"[0-9]{1,32}")
_SIMPLE_CHANGE = re.compile(r"^(\S+) (\S+)$")
_OP = re.compile(r"^(?:[UV][1-4]|R)$")
_MAX_HOOK = 2000
#: json.dumps(..., ensure_ascii=False) would build a new encoder for every body.
_ENCODER = json.JSONEncoder(ensure_ascii=False)
#: And JSONEncoder.encode builds a new C encoder on every call: the same one (same
#: separators, ensure_ascii=False), made once. No circular check: every body is built
#: here from fresh dicts and lists, never from a caller's object graph.
_make_c_encoder: Callable[..., Callable[[object, int], tuple[str, ...]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_C_ENCODE = (
    None
    if _make_c_encoder is None
    else _make_c_encoder(
        None,  # markers: no circular check
        _ENCODER.default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        _ENCODER.indent,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
)
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


def encode_body(request: Request) -> bytes | None:
    """The request's JSON body as bytes, refused here when a gateway would refuse its size."""
    if request.body is None:
        return None
    if _C_ENCODE is not None:
        body = "".join(_C_ENCODE(request.body, 0)).encode()
    else:  # pragma: no cover - only an interpreter without json's C speedups
        body = _ENCODER.encode(request.body).encode()
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(
            f"the {request.endpoint} request is {len(body) / 2**20:.1f} MiB, over the "
            f"{MAX_BODY_BYTES // 2**20} MiB a gateway may accept: send smaller images"
        )
    return body


def check_task_id(task_id: object, *, what: str = "task id") -> str:
    """Return ``task_id`` as a str, or raise if it is not the decimal id servers hand out."""
    text = str(task_id) if isinstance(task_id, int) and not isinstance(task_id, bool) else task_id
    if not isinstance(text, str) or not _TASK_ID.fullmatch(text):
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
        if (
            not isinstance(notify_hook, str)
            or not notify_hook.startswith(("http://", "https://"))
            or len(notify_hook) > _MAX_HOOK
        ):
            raise InvalidRequestError(
                f"notify_hook must be an http(s) URL of at most {_MAX_HOOK} characters"
            )
        body["notifyHook"] = notify_hook
    if check_state(state) is not None:
        body["state"] = state
    return body


def _image_options(bot_type: str | None, account_filter: AccountFilter | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if bot_type is not None:
        body["botType"] = one_of(bot_type, BOT_TYPES, "bot_type")
    if account_filter is not None:
        if not isinstance(account_filter, AccountFilter):
            raise InvalidRequestError(
                f"account_filter must be an AccountFilter, got {type(account_filter).__name__}"
            )
        body["accountFilter"] = encode(account_filter)
    return body


def one_of(value: object, choices: frozenset[str], what: str) -> str:
    """``value`` when it is one of the ``choices`` strings, else InvalidRequestError."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidRequestError(f"{what} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_state(state: object) -> str | None:
    """A submit's ``state``: None or a str the servers keep (at most 255 characters)."""
    if state is not None and (not isinstance(state, str) or len(state) > _MAX_STATE):
        raise InvalidRequestError(f"state must be a str of at most {_MAX_STATE} characters")
    return state


def _submit(
    path: str,
    body: dict[str, Any],
    *,
    notify_hook: str | None,
    state: str | None,
    task_id: str | None = None,
) -> Request:
    if notify_hook is not None or state is not None:
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
    if bot_type is not None or account_filter is not None:
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
    action = one_of(action.upper() if isinstance(action, str) else action, CHANGE_ACTIONS, "action")
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


def check_custom_id(custom_id: object) -> str:
    """A button's customId, refused here when new-api would crash on it.

    new-api splits it on ``::`` and reads the second, third and (for upsample and variation)
    fourth parts without checking that they exist: a shorter one makes it answer 500
    ``new_api_panic``.
    """
    if not isinstance(custom_id, str) or not custom_id.strip():
        raise InvalidRequestError("action needs the button's non-empty custom_id")
    parts = custom_id.split("::")
    least = 4 if parts[1:3] in (["JOB", "upsample"], ["JOB", "variation"]) else 3
    if parts[0] != "MJ" or len(parts) < least:
        raise InvalidRequestError(
            f"custom_id must be a button's customId such as 'MJ::JOB::upsample::1::<hash>', "
            f"got {custom_id[:80]!r}"
        )
    return custom_id


def action(
    task_id: str,
    custom_id: str,
    *,
    enable_remix: bool | None = None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/action``: press a button of a finished task.

    ``enable_remix`` (trueai) sends the action through the remix window (a MODAL task that
    waits for ``/modal``) even where the account would submit it directly.
    """
    task_id = check_task_id(task_id)
    body: dict[str, Any] = {"taskId": task_id, "customId": check_custom_id(custom_id)}
    if enable_remix is not None:
        body["enableRemix"] = _flag(enable_remix, "enable_remix")
    return _submit("/submit/action", body, notify_hook=notify_hook, state=state, task_id=task_id)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{what} must be True or False, got {value!r}")
    return value


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
        if not isinstance(prompt, str):
            raise InvalidRequestError(f"prompt must be a str, got {type(prompt).__name__}")
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
    one_of(dimensions, DIMENSIONS, "dimensions")
    body: dict[str, Any] = {
        "base64Array": _check_images(images, least=2, most=5, what="blend"),
        "dimensions": dimensions,
    }
    body.update(_image_options(bot_type, account_filter))
    return _submit("/submit/blend", body, notify_hook=notify_hook, state=state)


def describe(
    image: str | None,
    *,
    link: str | None = None,
    bot_type: str | None,
    account_filter: AccountFilter | None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/describe``: one image (data URL) or a ``link`` to one, four prompts back.

    ``link`` is trueai's: the gateway passes it on, open-source Java ignores it.
    """
    if (image is None) == (link is None):
        raise InvalidRequestError("describe takes one image or one link, not both or neither")
    body: dict[str, Any] = {"base64": image} if image is not None else {"link": _url(link, "link")}
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


def _url(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidRequestError(f"{what} must be an http(s) URL, got {str(value)[:80]!r}")
    return value


_MOTIONS = frozenset({"low", "high"})
_BATCH_SIZES = frozenset({1, 2, 4})


def video(
    prompt: str,
    *,
    image: str | None,
    end_image: str | None,
    motion: str | None,
    loop: bool | None,
    batch_size: int | None,
    extend: str | None,
    index: int | None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/video``: animate an image, or extend a finished video.

    With ``extend`` (the finished video task's id) and ``index`` (1 to 4, which of its videos),
    the body carries ``action: "extend"`` and the 0-based index the servers read.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("video needs a non-blank prompt")
    body: dict[str, Any] = {"prompt": prompt}
    if image is not None:
        body["image"] = image
    if end_image is not None:
        body["endImage"] = end_image
    if motion is not None:
        if motion not in _MOTIONS:
            raise InvalidRequestError(f"motion must be 'low' or 'high', got {motion!r}")
        body["motion"] = motion
    if loop is not None:
        body["loop"] = _flag(loop, "loop")
    if batch_size is not None:
        if isinstance(batch_size, bool) or batch_size not in _BATCH_SIZES:
            raise InvalidRequestError(f"batch_size must be 1, 2 or 4, got {batch_size!r}")
        body["batchSize"] = batch_size
    parent = None
    if extend is not None or index is not None:
        parent = check_task_id(extend, what="extend (the video task's id)")
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= 4:
            raise InvalidRequestError(f"extending a video needs index 1 to 4, got {index!r}")
        body.update(action="extend", taskId=parent, index=index - 1)
    elif image is None:
        raise InvalidRequestError("video needs an image to animate, or extend= a finished video")
    return _submit("/submit/video", body, notify_hook=notify_hook, state=state, task_id=parent)


def edits(
    prompt: str,
    image: str,
    *,
    account_filter: AccountFilter | None,
    notify_hook: str | None,
    state: str | None,
) -> Request:
    """``POST /submit/edits``: edit an image as the prompt says."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("edits needs a non-blank prompt")
    body: dict[str, Any] = {"prompt": prompt, "image": image}
    body.update(_image_options(None, account_filter))
    return _submit("/submit/edits", body, notify_hook=notify_hook, state=state)


def upload_images(images: Sequence[str], *, account_filter: AccountFilter | None) -> Request:
    """``POST /submit/upload-discord-images``: host images; the answer is their URLs, no task.

    Sent once like every submit: the gateway charges for it.
    """
    body: dict[str, Any] = {
        "base64Array": _check_images(images, least=1, most=10, what="upload_images")
    }
    body.update(_image_options(None, account_filter))
    return Request(
        "POST",
        "/submit/upload-discord-images",
        "upload-discord-images",
        body,
        is_submit=True,
    )


def cancel(task_id: str) -> Request:
    """``POST /task/{id}/cancel`` (trueai only, for an admin key)."""
    task_id = check_task_id(task_id)
    return Request("POST", f"/task/{task_id}/cancel", "cancel", task_id=task_id)


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
