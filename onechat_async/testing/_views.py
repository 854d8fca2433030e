"""What the servers send, as plain dicts: task objects per flavour, buttons, CDN URLs.

Pure functions: a record, a snapshot and the flavour in, JSON-ready data out. The gateway's
task object is built from one of its rows (see :mod:`._rows`), which keeps its own action,
prompt and description.
"""

from __future__ import annotations

from typing import Any

from ._lifecycle import Snapshot
from ._rows import Row
from ._store import TaskRecord

__all__ = ["GRID_ACTIONS", "buttons", "cdn_url", "gateway_json", "upstream_json"]

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
        "EDIT",
    }
)


def _button(custom_id: str, label: str = "", emoji: str = "") -> dict[str, Any]:
    return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}


def buttons(record: TaskRecord) -> list[dict[str, Any]]:
    """The buttons Discord puts under a finished task."""
    h = record.message_hash
    if record.action in GRID_ACTIONS:
        ups = [_button(f"MJ::JOB::upsample::{i}::{h}", f"U{i}") for i in range(1, 5)]
        reroll = [_button(f"MJ::JOB::reroll::0::{h}::SOLO", emoji="🔄")]
        variations = [_button(f"MJ::JOB::variation::{i}::{h}", f"V{i}") for i in range(1, 5)]
        return ups + reroll + variations
    if record.action == "UPSCALE":
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
    if record.action == "VIDEO":
        return [
            _button(f"MJ::JOB::animate_{motion}_extend::{i}::{h}", f"Extend {motion} {i}")
            for i in range(1, record.batch + 1)
            for motion in ("high", "low")
        ]
    return []


def cdn_url(base_url: str, record: TaskRecord, name: str) -> str:
    """A file of ``record`` on the simulated CDN."""
    return f"{base_url}/attachments/{record.id}/{name}"


def _has_image(record: TaskRecord, snap: Snapshot) -> bool:
    if record.action == "SHORTEN":
        return False
    if record.action == "DESCRIBE":
        # The described image is the task's image from the moment Discord has it.
        return snap.start_at is not None
    return snap.has_image


def _image_url(record: TaskRecord, snap: Snapshot, base_url: str) -> str | None:
    if not _has_image(record, snap):
        return None
    # A video task's image is its first video (trueai: VideoUrl = ImageUrl).
    return cdn_url(base_url, record, "0_0.mp4" if record.action == "VIDEO" else "grid_0.png")


def _videos(record: TaskRecord, snap: Snapshot, base_url: str) -> list[dict[str, str]] | None:
    if record.action != "VIDEO" or snap.status != "SUCCESS":
        return None
    return [
        {
            "url": cdn_url(base_url, record, f"0_{i}.mp4"),
            "thumbnail": cdn_url(base_url, record, f"0_{i}_640_N.webp"),
        }
        for i in range(record.batch)
    ]


def _grid_images(record: TaskRecord, snap: Snapshot, base_url: str) -> list[dict[str, str]] | None:
    """The ``imageUrls`` of trueai: the four images of a finished grid (the videos of a video)."""
    if snap.status != "SUCCESS":
        return None
    if record.action == "VIDEO":
        return _videos(record, snap, base_url)
    if record.action not in GRID_ACTIONS:
        return None
    return [
        {
            "url": cdn_url(base_url, record, f"0_{i}.png"),
            "thumbnail": cdn_url(base_url, record, f"0_{i}_640_N.webp"),
        }
        for i in range(4)
    ]


def _final_prompt(record: TaskRecord, snap: Snapshot) -> str:
    if record.result_text:
        return record.result_text if snap.status == "SUCCESS" else ""
    return record.final_prompt if snap.start_at is not None else ""


def _ms(t: float | None, wall_offset: float) -> int | None:
    return None if t is None else int((t + wall_offset) * 1000)


def _buttons_seen(record: TaskRecord, snap: Snapshot) -> list[dict[str, Any]]:
    return buttons(record) if snap.status == "SUCCESS" else []


def gateway_json(
    row: Row,
    record: TaskRecord,
    snap: Snapshot,
    *,
    base_url: str,
    wall_offset: float,
    now: float,
) -> dict[str, Any]:
    """new-api's ``dto.MidjourneyDto`` for one row (no omitempty: every field, always)."""
    image_url = ""
    if _has_image(record, snap):
        image_url = f"{base_url}/mj/image/{record.id}"
        if snap.status != "SUCCESS":
            # new-api appends the current nanosecond time so that previews are not cached.
            image_url += f"?rand={int((now + wall_offset) * 1e9)}"
    refreshed = snap.refreshed
    videos = _videos(record, snap, base_url) if refreshed else None
    return {
        "id": record.id,
        "action": row.action,
        "customId": "",
        "botType": "",
        "prompt": row.prompt,
        "promptEn": record.prompt if refreshed else "",
        "description": row.description,
        # The row is inserted with State "" and the poller copies the upstream's.
        "state": (record.state or "") if refreshed else "",
        "submitTime": _ms(record.plan.submitted_at if refreshed else row.inserted_at, wall_offset),
        "startTime": _ms(snap.start_at, wall_offset) or 0,
        "finishTime": _ms(snap.finish_at, wall_offset) or 0,
        "imageUrl": image_url,
        "videoUrl": videos[0]["url"] if videos else "",
        # dto.ImgUrls has only a url: the thumbnails are dropped.
        "videoUrls": [{"url": v["url"]} for v in videos] if videos else None,
        "status": snap.status,
        "progress": "" if snap.progress is None else f"{snap.progress}%",
        "failReason": snap.fail_reason,
        "buttons": _buttons_seen(record, snap) if refreshed else None,
        "maskBase64": "",
        "properties": (
            {"finalPrompt": _final_prompt(record, snap), "finalZhPrompt": ""} if refreshed else None
        ),
    }


def upstream_json(
    record: TaskRecord,
    snap: Snapshot,
    *,
    flavour: str,
    base_url: str,
    wall_offset: float,
) -> dict[str, Any]:
    """The task object of a bare proxy: Java, plus or trueai."""
    image_url = _image_url(record, snap, base_url)
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
    }
    if flavour == "java":
        return body  # the open-source Task: no buttons, customId or botType
    body |= {
        "customId": record.custom_id,
        "botType": record.bot_type,
        "buttons": _buttons_seen(record, snap),
    }
    videos = _videos(record, snap, base_url)
    # Upstream-only extras, which clients must ignore.
    if flavour == "csharp-v10":
        body["mode"] = record.mode
        body["requestMode"] = record.request_mode
        body["seed"] = record.seed if snap.status == "SUCCESS" else None
        body["instanceId"] = "1118138338562560102"
        body["imageUrls"] = _grid_images(record, snap, base_url)
        body["videoUrl"] = videos[0]["url"] if videos else None
        body["videoUrls"] = videos
    else:
        body["maskBase64"] = None
        if record.action == "VIDEO":
            body["videoUrl"] = videos[0]["url"] if videos else None
            body["videoUrls"] = [{"url": v["url"]} for v in videos] if videos else None
    return body
