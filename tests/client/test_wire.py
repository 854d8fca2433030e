"""The private converter: every wire rule of the task and submit objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from onechat_async import TaskAction, TaskStatus
from onechat_async._wire import WireError, decode_submit_result, decode_task, parse_json

FULL: dict[str, Any] = {
    "id": "1748339029401828",
    "action": "IMAGINE",
    "customId": "",
    "botType": "",
    "prompt": "a cat --v 7",
    "promptEn": "a cat --v 7",
    "description": "提交成功",
    "state": "order-42",
    "submitTime": 1748339029401,
    "startTime": 1748339030665,
    "finishTime": 1748339072775,
    "imageUrl": "https://gpts.onechat.fun/mj/image/1748339029401828",
    "status": "SUCCESS",
    "progress": "100%",
    "failReason": "",
    "maskBase64": "",
    "properties": {"finalPrompt": "a cat --v 7.0", "finalZhPrompt": ""},
    "buttons": [
        {
            "customId": "MJ::JOB::upsample::1::0ddb5e1c",
            "emoji": "",
            "label": "U1",
            "type": 2,
            "style": 2,
        }
    ],
}


def test_full_gateway_task_decodes() -> None:
    """The contract's example task decodes into snake_case fields with Python types."""
    task = decode_task(FULL)
    assert task.id == "1748339029401828"
    assert task.status is TaskStatus.SUCCESS
    assert task.action is TaskAction.IMAGINE
    assert task.progress == 100
    assert task.prompt_en == "a cat --v 7"
    assert task.state == "order-42"
    assert task.submit_time == datetime(2025, 5, 27, 9, 43, 49, 401000, tzinfo=UTC)
    assert task.finish_time is not None
    assert task.finish_time.tzinfo is UTC
    assert task.fail_reason is None
    assert task.final_prompt == "a cat --v 7.0"
    assert task.button("U1") is not None
    assert task.buttons[0].custom_id == "MJ::JOB::upsample::1::0ddb5e1c"
    assert task.is_terminal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("45%", 45),
        ("0%", 0),
        ("100%", 100),
        (" 12 % ", 12),
        ("", None),
        (None, None),
        ("排队中", None),
        ("150%", None),
        (30, 30),
        ("12.5%", 12),
        (True, None),
    ],
)
def test_progress_parsing(raw: object, expected: int | None) -> None:
    """'N%' becomes N; empty, null, free text and out-of-range values become None."""
    assert decode_task({"id": "1", "progress": raw}).progress == expected


@pytest.mark.parametrize(
    ("raw", "status", "known"),
    [
        ("", TaskStatus.NOT_START, True),
        (None, TaskStatus.NOT_START, True),
        ("IN_PROGRESS", TaskStatus.IN_PROGRESS, True),
        ("MODAL", TaskStatus.MODAL, True),
    ],
)
def test_status_values(raw: object, status: TaskStatus, known: bool) -> None:
    """The gateway's '' and null are NOT_START; known statuses map to their members."""
    task = decode_task({"id": "1", "status": raw})
    assert task.status is status
    assert task.status.is_known is known


def test_unknown_status_and_action_keep_the_raw_value() -> None:
    """An unknown status or action is kept as its raw string and is not terminal."""
    task = decode_task({"id": "1", "status": "PAUSED", "action": "OUTPAINT"})
    assert task.status == "PAUSED"
    assert not task.status.is_known
    assert task.status.name == "UNKNOWN"
    assert not task.is_terminal
    assert task.action == "OUTPAINT"
    assert task.action is not None
    assert not task.action.is_known


@pytest.mark.parametrize("raw", [0, None, "", "0", -5])
def test_unset_times_are_none(raw: object) -> None:
    """0, null and empty timestamps mean 'unset'."""
    assert decode_task({"id": "1", "startTime": raw}).start_time is None


def test_numeric_id_and_nulls() -> None:
    """A numeric id becomes a str; null buttons, properties and strings become empty values."""
    task = decode_task(
        {
            "id": 1320098173412546,
            "buttons": None,
            "properties": None,
            "prompt": None,
            "imageUrl": "",
            "failReason": None,
        }
    )
    assert task.id == "1320098173412546"
    assert task.buttons == ()
    assert task.properties == {}
    assert task.prompt == ""
    assert task.image_url is None


def test_extra_upstream_fields_are_ignored() -> None:
    """Fields the models do not know (imageUrls, seed, mode, ...) never break decoding."""
    task = decode_task(
        {
            **FULL,
            "imageUrls": ["a", "b"],
            "seed": "123",
            "mode": "FAST",
            "width": 1024,
            "buttons": [{"customId": "x", "extra": 1}],
        }
    )
    assert task.id == FULL["id"]
    assert task.buttons[0].label == ""


@pytest.mark.parametrize(
    "raw",
    [
        {"status": "SUCCESS"},
        {"id": ""},
        {"id": None},
        [1, 2],
        "x",
        {"id": "1", "buttons": [{"label": "U1"}]},
    ],
)
def test_undecodable_tasks_raise_wire_error(raw: object) -> None:
    """A task without an id, or of the wrong shape, raises WireError."""
    with pytest.raises(WireError):
        decode_task(raw)


@pytest.mark.parametrize("result", [1320098173412546, "1320098173412546"])
def test_submit_result_id_is_always_str(result: object) -> None:
    """'result' given as a number (as the docs show) or a string becomes a str task_id."""
    sub = decode_submit_result(
        {"code": 1, "description": "提交成功", "properties": None, "result": result}
    )
    assert sub.task_id == "1320098173412546"
    assert sub.properties == {}


def test_queue_position_from_code_or_description() -> None:
    """The queue position comes from numberOfQueues, or from the rewritten description."""
    queued = decode_submit_result(
        {"code": 22, "description": "排队中", "result": "1", "properties": {"numberOfQueues": 3}}
    )
    rewritten = decode_submit_result(
        {"code": 1, "description": "排队中，前面还有2个任务", "result": "1"}
    )
    plain = decode_submit_result({"code": 1, "description": "提交成功", "result": "1"})
    assert (queued.queue_position, rewritten.queue_position, plain.queue_position) == (3, 2, None)


def test_submit_without_result_is_refused() -> None:
    """An accepted answer without a task id is a WireError, not a task."""
    with pytest.raises(WireError):
        decode_submit_result({"code": 1, "description": "ok", "result": None})


def test_parse_json_refuses_html() -> None:
    """A body that is not JSON raises WireError with a short preview."""
    with pytest.raises(WireError, match="html"):
        parse_json(b"<html>" + b"x" * 500)
