"""What the servers read out of a button's ``customId`` or a simple-change ``content``. Pure.

Three readers: the upstream proxy's (:func:`action_of`), the Java proxy's simple-change
grammar (:func:`parse_simple_change`), and new-api's ``CoverPlusActionToNormalAction``
(:func:`gateway_action`), whose defects (a panic on an id without ``::``, unknown video
buttons) the gateway flavour keeps.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["GatewayAction", "action_of", "gateway_action", "parse_simple_change"]

_SIMPLE = {
    "upsample": "UPSCALE",
    "variation": "VARIATION",
    "reroll": "REROLL",
    "high_variation": "HIGH_VARIATION",
    "low_variation": "LOW_VARIATION",
    "Inpaint": "INPAINT",
    "Outpaint": "ZOOM",
    "CustomZoom": "CUSTOM_ZOOM",
}
# Go's strconv.Atoi: an optional sign and ASCII digits, within int64.
_ATOI = re.compile(r"^[+-]?[0-9]+$")


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
    """The task action and index a button's custom id starts, as the upstream reads it."""
    parts = custom_id.split("::")
    if len(parts) < 3 or parts[0] != "MJ":
        return None
    kind = parts[2] if parts[1] == "JOB" else parts[1]
    if kind.startswith("animate_") and kind.endswith("_extend"):
        action: str | None = "VIDEO"
    else:
        action = "PAN" if kind.startswith("pan_") else _SIMPLE.get(kind)
    if action is None:
        return None
    number = parts[3] if len(parts) > 3 else ""
    # isdigit() alone would let "²" through to int().
    numbered = action in ("UPSCALE", "VARIATION", "VIDEO")
    index = int(number) if numbered and number.isascii() and number.isdecimal() else 0
    return action, index


@attrs.frozen
class GatewayAction:
    """new-api's reading of a customId: an action and index, or why it refused.

    ``refusal`` is the description of a 400 from its distributor; ``panic`` the Go runtime
    error of an index out of range, which gin turns into a 500.
    """

    action: str = ""
    index: int = 0
    refusal: str = ""
    panic: str = ""


def _out_of_range(index: int, length: int) -> GatewayAction:
    return GatewayAction(panic=f"runtime error: index out of range [{index}] with length {length}")


def _atoi(parts: list[str]) -> int | GatewayAction:
    if len(parts) < 4:
        return _out_of_range(3, len(parts))
    if not _ATOI.match(parts[3]) or not -(2**63) <= int(parts[3]) < 2**63:
        return GatewayAction(refusal="index_parse_failed")
    return int(parts[3])


def gateway_action(custom_id: str, body_action: str) -> GatewayAction:
    """What new-api's ``CoverPlusActionToNormalAction`` makes of ``custom_id``.

    ``body_action`` is the request's own ``action`` field, which survives for a kind that
    merely contains "variation".
    """
    if not custom_id:
        return GatewayAction(refusal="custom_id_is_required")
    parts = custom_id.split("::")
    if len(parts) < 2:
        return _out_of_range(1, len(parts))
    if parts[1] == "JOB":
        if len(parts) < 3:
            return _out_of_range(2, len(parts))
        kind = parts[2]
    else:
        kind = parts[1]
    if not kind:
        return GatewayAction(refusal="unknown_action")
    if "upsample" in kind:
        index = _atoi(parts)
        return index if isinstance(index, GatewayAction) else GatewayAction("UPSCALE", index)
    if "variation" in kind:
        if kind == "variation":
            index = _atoi(parts)
            return index if isinstance(index, GatewayAction) else GatewayAction("VARIATION", index)
        named = {"low_variation": "LOW_VARIATION", "high_variation": "HIGH_VARIATION"}
        return GatewayAction(named.get(kind, body_action), 1)
    for fragment, action in (("pan", "PAN"), ("reroll", "REROLL")):
        if fragment in kind:
            return GatewayAction(action, 1)
    exact = {"Outpaint": "ZOOM", "CustomZoom": "CUSTOM_ZOOM", "Inpaint": "INPAINT"}
    if kind in exact:
        return GatewayAction(exact[kind], 1)
    return GatewayAction(refusal=f"unknown_action:{custom_id}")
