"""What the servers send, as plain dicts and bytes: task objects per flavour, buttons, a PNG.

Pure functions: a record, a snapshot and the flavour in, JSON-ready data out.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import Any

from ._lifecycle import Snapshot
from ._store import TaskRecord

__all__ = ["FLAVOURS", "buttons", "png", "task_json"]

FLAVOURS = ("gateway", "java", "csharp-v10")

#: Actions whose result is a 2x2 grid (U1-U4, reroll, V1-V4 follow); the rest give one image.
GRID_ACTIONS = frozenset(
    {
        "IMAGINE",
        "VARIATION",
        "REROLL",
        "BLEND",
        "HIGH_VARIATION",
        "LOW_VARIATION",
        "ZOOM",
        "PAN",
        "CUSTOM_ZOOM",
        "INPAINT",
    }
)


def _button(custom_id: str, label: str = "", emoji: str = "") -> dict[str, Any]:
    return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}


def buttons(action: str, message_hash: str) -> list[dict[str, Any]]:
    """The buttons Discord puts under a finished task of ``action``."""
    h = message_hash
    if action in GRID_ACTIONS:
        ups = [_button(f"MJ::JOB::upsample::{i}::{h}", f"U{i}") for i in range(1, 5)]
        reroll = [_button(f"MJ::JOB::reroll::0::{h}::SOLO", emoji="🔄")]
        variations = [_button(f"MJ::JOB::variation::{i}::{h}", f"V{i}") for i in range(1, 5)]
        return ups + reroll + variations
    if action == "UPSCALE":
        return [
            _button(f"MJ::JOB::high_variation::1::{h}::SOLO", "Vary (Strong)", "🪄"),
            _button(f"MJ::JOB::low_variation::1::{h}::SOLO", "Vary (Subtle)", "🪄"),
            _button(f"MJ::Inpaint::1::{h}::SOLO", "Vary (Region)", "🖌️"),
            _button(f"MJ::Outpaint::50::1::{h}::SOLO", "Zoom Out 2x", "🔍"),
            _button(f"MJ::Outpaint::75::1::{h}::SOLO", "Zoom Out 1.5x", "🔍"),
            _button(f"MJ::CustomZoom::{h}", "Custom Zoom", "🔍"),
            _button(f"MJ::JOB::pan_left::1::{h}::SOLO", emoji="⬅️"),
            _button(f"MJ::JOB::pan_right::1::{h}::SOLO", emoji="➡️"),
            _button(f"MJ::JOB::pan_up::1::{h}::SOLO", emoji="⬆️"),
            _button(f"MJ::JOB::pan_down::1::{h}::SOLO", emoji="⬇️"),
        ]
    return []


def _has_image(record: TaskRecord, snap: Snapshot) -> bool:
    if record.action == "SHORTEN":
        return False
    if record.action == "DESCRIBE":
        # The described image is the task's image from the moment Discord has it.
        return snap.start_at is not None
    return snap.has_image


def _final_prompt(record: TaskRecord, snap: Snapshot) -> str:
    if record.result_text:
        return record.result_text if snap.status == "SUCCESS" else ""
    return record.final_prompt if snap.start_at is not None else ""


def task_json(
    record: TaskRecord,
    snap: Snapshot,
    *,
    flavour: str,
    base_url: str,
    wall_offset: float,
    now: float,
) -> dict[str, Any]:
    """The task object a ``flavour`` server sends at ``now`` for ``record`` seen as ``snap``."""
    if flavour == "gateway":
        return _gateway_json(record, snap, base_url=base_url, wall_offset=wall_offset, now=now)
    return _upstream_json(record, snap, flavour=flavour, base_url=base_url, wall_offset=wall_offset)


def _ms(t: float | None, wall_offset: float) -> int | None:
    return None if t is None else int((t + wall_offset) * 1000)


def _gateway_json(
    record: TaskRecord,
    snap: Snapshot,
    *,
    base_url: str,
    wall_offset: float,
    now: float,
) -> dict[str, Any]:
    image_url = ""
    if _has_image(record, snap):
        image_url = f"{base_url}/mj/image/{record.id}"
        if snap.status != "SUCCESS":
            # new-api appends the current nanosecond time so that previews are not cached.
            image_url += f"?rand={int((now + wall_offset) * 1e9)}"
    refreshed = snap.refreshed
    return {
        "id": record.id,
        "action": record.action,
        "customId": "",
        "botType": "",
        "prompt": record.prompt,
        "promptEn": record.prompt if refreshed else "",
        "description": record.description,
        "state": record.state or "",
        "submitTime": _ms(record.plan.submitted_at, wall_offset),
        "startTime": _ms(snap.start_at, wall_offset) or 0,
        "finishTime": _ms(snap.finish_at, wall_offset) or 0,
        "imageUrl": image_url,
        "status": snap.status,
        "progress": "" if snap.progress is None else f"{snap.progress}%",
        "failReason": snap.fail_reason,
        "buttons": _buttons_seen(record, snap) if refreshed else None,
        "maskBase64": "",
        "properties": (
            {"finalPrompt": _final_prompt(record, snap), "finalZhPrompt": ""} if refreshed else None
        ),
    }


def _buttons_seen(record: TaskRecord, snap: Snapshot) -> list[dict[str, Any]]:
    return buttons(record.action, record.message_hash) if snap.status == "SUCCESS" else []


def _upstream_json(
    record: TaskRecord,
    snap: Snapshot,
    *,
    flavour: str,
    base_url: str,
    wall_offset: float,
) -> dict[str, Any]:
    image_url = (
        f"{base_url}/attachments/{record.id}/grid_0.png" if _has_image(record, snap) else None
    )
    properties: dict[str, Any] = {
        "finalPrompt": _final_prompt(record, snap) or None,
        "notifyHook": record.notify_hook or None,
        "discordInstanceId": "1118138338562560102",
    }
    if snap.start_at is not None:
        properties["messageHash"] = record.message_hash
        properties["messageId"] = record.id[::-1][:16].rjust(19, "1")
    body: dict[str, Any] = {
        "id": record.id,
        "action": record.action,
        "customId": record.custom_id,
        "botType": record.bot_type,
        "prompt": record.prompt,
        "promptEn": record.prompt,
        "description": record.command,
        "state": record.state,
        "submitTime": _ms(record.plan.submitted_at, wall_offset),
        "startTime": _ms(snap.start_at, wall_offset),
        "finishTime": _ms(snap.finish_at, wall_offset),
        "imageUrl": image_url,
        "status": snap.status,
        "progress": None if snap.progress is None else f"{snap.progress}%",
        "failReason": snap.fail_reason or None,
        "properties": properties,
        "buttons": _buttons_seen(record, snap),
    }
    # Upstream-only extras, which clients must ignore.
    if flavour == "csharp-v10":
        body["mode"] = record.mode
        body["seed"] = record.seed if snap.status == "SUCCESS" else None
        body["instanceId"] = "1118138338562560102"
        body["imageUrls"] = [{"url": image_url}] if image_url else []
    else:
        body["maskBase64"] = None
    return body


@functools.cache
def png() -> bytes:
    """A small valid PNG (a 2x2 grid of colours, 64x64), made once."""
    size = 64
    colours = ((220, 90, 60), (60, 160, 220), (90, 200, 110), (240, 200, 70))
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type None
        for x in range(size):
            rows.extend(colours[(y >= size // 2) * 2 + (x >= size // 2)])

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )
