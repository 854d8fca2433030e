"""new-api's ``Distribute`` middleware for a Midjourney submit: decode, find a channel. Pure.

Before any Midjourney code runs, new-api reads the body (up to ``MAX_REQUEST_BODY_MB``),
decodes it into ``dto.MidjourneyRequest`` and works out the billing model
``mj_<action>`` (``GetMjRequestModel``), reading a customId itself for ``/submit/action``.
Its refusals are ``new_api_error`` JSON: 400 for a body it cannot decode or a customId it
cannot read, 503 for a model no channel serves (``mj_`` for a change without ``action``);
a customId with too few ``::`` parts panics (500 ``new_api_panic``).
"""

from __future__ import annotations

import json
from typing import Any

from ._binding import GATEWAY_SUBMIT, bind
from ._customids import gateway_action
from ._messages import INVALID_MJ_REQUEST, INVALID_REQUEST, NO_CHANNEL
from ._routes import Route
from ._shapes import Reply, new_api_error, new_api_panic

__all__ = ["distribute"]

#: The billing models new-api knows (constant.MidjourneyModel2Action).
_MODELS = frozenset(
    {
        "mj_imagine",
        "mj_describe",
        "mj_blend",
        "mj_upscale",
        "mj_variation",
        "mj_reroll",
        "mj_modal",
        "mj_inpaint",
        "mj_zoom",
        "mj_custom_zoom",
        "mj_shorten",
        "mj_high_variation",
        "mj_low_variation",
        "mj_pan",
        "swap_face",
        "mj_upload",
        "mj_video",
        "mj_edits",
    }
)
#: The action each submit route stands for (change-like ones read it from the body).
_ACTIONS = {
    "imagine": "IMAGINE",
    "describe": "DESCRIBE",
    "blend": "BLEND",
    "shorten": "SHORTEN",
    "modal": "MODAL",
    "swap-face": "SWAP_FACE",
    "upload-discord-images": "UPLOAD",
    "video": "VIDEO",
    "edits": "EDITS",
}


def distribute(
    r: Route, *, content_type: str, raw: bytes | None, max_body: int, request_id: str
) -> tuple[dict[str, Any], str] | Reply:
    """The body as bound and the action new-api makes of it, or its refusal.

    ``raw`` None: the body was over ``max_body`` bytes.
    """

    def invalid(error: str, *, midjourney: bool = False) -> Reply:
        if midjourney:
            error = INVALID_MJ_REQUEST.format(error=error)
        return new_api_error(400, INVALID_REQUEST.format(error=error), request_id=request_id)

    if raw is None:
        limit = -(-max_body // (1 << 20))
        return invalid(f"request body exceeds {limit} MB: request body too large", midjourney=True)
    body: dict[str, Any] = {}
    # UnmarshalBodyReusable decodes JSON only; any other body binds nothing.
    if content_type.startswith("application/json"):
        decoded = _go_decode(raw)
        if isinstance(decoded, str):
            return invalid(decoded, midjourney=True)
        bound = bind("gateway", GATEWAY_SUBMIT, decoded)
        if isinstance(bound, str):
            return invalid(bound, midjourney=True)
        body = bound
    if r.name == "action":
        read = gateway_action(str(body.get("customId") or ""), str(body.get("action") or ""))
        if read.panic:
            return new_api_panic(read.panic)
        if read.refusal:
            return invalid(read.refusal)
        action, body["index"] = read.action, read.index
    elif r.name in ("change", "simple-change"):
        action = str(body.get("action") or "")
    else:
        action = _ACTIONS[r.name]
    model = "swap_face" if action == "SWAP_FACE" else f"mj_{action.lower()}"
    if model not in _MODELS:
        message = NO_CHANNEL.format(group="default", model=model)
        return new_api_error(503, message, request_id=request_id, code="model_not_found")
    return body, action


def _go_decode(raw: bytes) -> Any:
    """``encoding/json`` into a struct: the value, or (roughly) Go's error text."""
    try:
        data = json.loads(raw)
    except RecursionError:
        return "exceeded max depth"
    except ValueError:
        return "unexpected end of JSON input" if not raw.strip() else "invalid character"
    if data is None:
        return {}  # JSON null into a struct: nothing set
    if not isinstance(data, dict):
        kinds = {list: "array", str: "string", bool: "bool", int: "number", float: "number"}
        kind = kinds.get(type(data), "value")
        return f"json: cannot unmarshal {kind} into Go value of type dto.MidjourneyRequest"
    return data
