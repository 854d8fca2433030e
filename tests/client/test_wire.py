"""The private converter: every wire rule of the task and submit objects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from onechat_async import TaskAction, TaskStatus, _wire
from onechat_async._wire import (
    MALFORMED_STATUS,
    MAX_DEPTH,
    WireError,
    decode_submit_result,
    decode_task,
    parse_json,
    wire_code,
    wire_task_id,
)

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
        (101, None),
        (-1, None),
        (45.0, None),
        ("²%", None),
        ("45%\n", 45),
        ("4" * 100 + "%", None),
        ({"value": 45}, None),
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


@pytest.mark.parametrize(
    "raw", [1, 0, 1.5, 1e400, float("nan"), True, False, {"v": "SUCCESS"}, ["SUCCESS"], []]
)
def test_status_of_another_type_is_malformed_and_never_terminal(raw: object) -> None:
    """A status that is not a string is the one malformed UNKNOWN member, never terminal."""
    task = decode_task({"id": "1", "status": raw})
    assert task.status is MALFORMED_STATUS
    assert task.status.name == "UNKNOWN"
    assert not task.status.is_known
    assert not task.is_terminal


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


@pytest.mark.parametrize(
    "raw",
    [
        0,
        None,
        "",
        "0",
        -5,
        # Out of datetime's range, or not a number at all: unset rather than an escape.
        1e400,
        float("-inf"),
        float("nan"),
        1e20,
        10**30,
        253_402_300_800_000,
        "1" * 5000,
        "²",
        "-5",
        "1.7e12",
        True,
        [1748339029401],
        {"ms": 1748339029401},
    ],
)
@pytest.mark.parametrize("field", ["submitTime", "startTime", "finishTime"])
def test_unusable_times_are_none(field: str, raw: object) -> None:
    """0, null, negative, non-finite, out-of-range or non-numeric timestamps mean 'unset'."""
    task = decode_task({"id": "1", field: raw})
    assert (task.submit_time, task.start_time, task.finish_time) == (None, None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1748339029401, datetime(2025, 5, 27, 9, 43, 49, 401000, tzinfo=UTC)),
        ("1748339029401", datetime(2025, 5, 27, 9, 43, 49, 401000, tzinfo=UTC)),
        (1748339029401.0, datetime(2025, 5, 27, 9, 43, 49, 401000, tzinfo=UTC)),
        (1, datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)),
        (253_402_300_799_999, datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_usable_times(raw: object, expected: datetime) -> None:
    """Epoch milliseconds as an int, a float or a digit string, up to year 9999, are read."""
    assert decode_task({"id": "1", "finishTime": raw}).finish_time == expected


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
    ("raw", "expected"),
    [
        ({"id": 0}, "0"),
        ({"id": "0042"}, "0042"),
        ({"id": "9" * 32}, "9" * 32),
        ({"id": 10**32 - 1}, "9" * 32),
    ],
)
def test_usable_ids(raw: object, expected: str) -> None:
    """Non-bool ints and strings of 1 to 32 ASCII digits are ids, kept as strings."""
    assert decode_task(raw).id == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"status": "SUCCESS"},
        {"id": ""},
        {"id": None},
        {"id": 1.7e15},
        {"id": 1e400},
        {"id": True},
        {"id": -5},
        {"id": 10**32},
        {"id": "9" * 33},
        {"id": "²"},
        {"id": "١٢"},
        {"id": "12 "},
        {"id": "12\n"},
        {"id": "abc"},
        {"id": {"v": 1}},
        {"id": [1]},
        [1, 2],
        "x",
        None,
    ],
)
def test_tasks_without_a_usable_id_raise_wire_error(raw: object) -> None:
    """A task without a usable id, or that is not an object, raises WireError."""
    with pytest.raises(WireError, match=r"no usable id|not a JSON object"):
        decode_task(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"customId": "MJ::a", "label": "U1", "emoji": "x", "type": 2, "style": 1},
            ("MJ::a", "U1", "x", 2, 1),
        ),
        ({"customId": "MJ::a", "type": 9, "style": 0}, ("MJ::a", "", "", 9, 0)),
        ({"customId": "MJ::a", "type": None, "style": 1e400}, ("MJ::a", "", "", 2, 2)),
        ({"customId": "MJ::a", "type": True, "style": -1}, ("MJ::a", "", "", 2, 2)),
        ({"customId": "MJ::a", "type": 256, "style": 2.0}, ("MJ::a", "", "", 2, 2)),
        ({"customId": "MJ::a", "type": "2", "style": [2]}, ("MJ::a", "", "", 2, 2)),
        ({"customId": "MJ::a", "label": 1, "emoji": {"name": "x"}}, ("MJ::a", "", "", 2, 2)),
    ],
)
def test_button_fields_are_lenient(raw: object, expected: tuple[object, ...]) -> None:
    """Unknown button types are kept; other numbers default to 2 and other texts to ''."""
    (button,) = decode_task({"id": "1", "buttons": [raw]}).buttons
    assert (button.custom_id, button.label, button.emoji, button.type, button.style) == expected


def test_buttons_that_cannot_be_pressed_are_dropped() -> None:
    """Items that are not objects or lack a non-empty str customId are dropped, not fatal."""
    task = decode_task(
        {
            "id": "1",
            "buttons": [
                {"label": "U1"},
                {"customId": "", "label": "U2"},
                {"customId": 5, "label": "U3"},
                {"customId": None},
                "MJ::x",
                None,
                [{"customId": "MJ::nested"}],
                {"customId": "MJ::ok", "label": "U4"},
            ],
        }
    )
    assert [b.label for b in task.buttons] == ["U4"]


@pytest.mark.parametrize("raw", [{"customId": "a"}, "x", 5, 1e400, True])
def test_buttons_that_are_not_a_list_are_none(raw: object) -> None:
    """A buttons field that is not a list means no buttons."""
    assert decode_task({"id": "1", "buttons": raw}).buttons == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("text", "text"),
        (12, "12"),
        (1.5, "1.5"),
        (None, ""),
        (True, ""),
        ({"a": 1}, ""),
        ([1], ""),
    ],
)
def test_text_fields_are_lenient(raw: object, expected: str) -> None:
    """Text fields keep a str, write numbers out, and take anything else as ''."""
    task = decode_task({"id": "1", "prompt": raw, "state": raw, "failReason": raw})
    assert (task.prompt, task.state, task.fail_reason) == (expected, expected, expected or None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("IMAGINE", TaskAction.IMAGINE),
        ("", None),
        (None, None),
        (1, None),
        (["IMAGINE"], None),
        ({"a": "IMAGINE"}, None),
    ],
)
def test_action_values(raw: object, expected: TaskAction | None) -> None:
    """A non-empty string is an action; anything else is None."""
    assert decode_task({"id": "1", "action": raw}).action is expected


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ({"finalPrompt": "x"}, True),
        ({"deep": _nested(MAX_DEPTH - 1)}, True),
        ({"deep": _nested(MAX_DEPTH)}, False),
        ({"deep": _nested(5000)}, False),
        ([{"finalPrompt": "x"}], False),
        ("x", False),
        (1e400, False),
    ],
)
def test_properties_must_be_a_shallow_object(raw: object, kept: bool) -> None:
    """Properties are an object nested at most MAX_DEPTH deep, else {}: never a stack risk."""
    assert decode_task({"id": "1", "properties": raw}).properties == (raw if kept else {})


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


@pytest.mark.parametrize(
    "result",
    [None, "", "abc", "0", 0, -1, 1.7e15, 1e400, float("nan"), True, {"a": 1}, [1], "1" * 33, "²"],
)
def test_submit_without_usable_result_is_refused(result: object) -> None:
    """An accepted answer whose result is not a usable task id is a WireError, not a task."""
    with pytest.raises(WireError, match="accepted submit answer had no usable task id"):
        decode_submit_result({"code": 1, "description": "ok", "result": result})


def test_submit_error_never_echoes_the_result() -> None:
    """The WireError names the kind of a bad result, never its content."""
    with pytest.raises(WireError) as info:
        decode_submit_result({"code": 1, "result": "sk-secret-key"})
    assert "sk-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"code": "22", "description": 5, "properties": [1]}, (22, "5", {})),
        ({"code": 1e400, "description": None, "properties": None}, (1, "", {})),
        ({"code": {"a": 1}, "description": ["x"]}, (1, "", {})),
        (
            {"code": 21.0, "description": "窗口等待", "properties": {"a": 1}},
            (21, "窗口等待", {"a": 1}),
        ),
    ],
)
def test_submit_result_fields_are_lenient(
    fields: dict[str, Any], expected: tuple[object, ...]
) -> None:
    """An accepted answer's code, description and properties never fail it."""
    result = decode_submit_result({"result": "7", **fields})
    assert (result.code, result.description, dict(result.properties)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, 1),
        (-1, -1),
        (" 24 ", 24),
        ("-1", -1),
        (21.0, 21),
        (True, None),
        ("²", None),
        ("-", None),
        ("", None),
        ("1" * 19, None),
        ("9" * 5000, None),
        (1.5, None),
        (1e400, None),
        (float("nan"), None),
        (2**63, None),
        (None, None),
        ({"code": 1}, None),
    ],
)
def test_wire_code(raw: object, expected: int | None) -> None:
    """A code is a plain integer, an integral float or a short digit string, else None."""
    assert wire_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("123", "123"), (123, "123"), ("²", None), (1.0, None), (False, None), ("", None)],
)
def test_wire_task_id(raw: object, expected: str | None) -> None:
    """Task ids are ints or ASCII digit strings of at most 32 characters."""
    assert wire_task_id(raw) == expected


def test_parse_json_refuses_html() -> None:
    """A body that is not JSON raises WireError with a short preview."""
    with pytest.raises(WireError, match="html") as info:
        parse_json(b"<html>" + b"x" * 500)
    assert len(str(info.value)) < 120


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b"\xff\xfe\x00",
        b"\x80abc",
        b"",
        b"nul",
        b"[1,]",
        b"[" + b"9" * 5000,
    ],
)
def test_parse_json_refuses_what_it_cannot_read(body: bytes) -> None:
    """Deep nesting, bad encodings and broken syntax are WireErrors, never other exceptions."""
    with pytest.raises(WireError):
        parse_json(body)


def test_parse_json_reads_huge_integers_as_infinity() -> None:
    """An integer literal past Python's digit limit spoils its field, not the whole body."""
    assert parse_json(b'[{"id": "1", "finishTime": ' + b"9" * 5000 + b"}]") == [
        {"id": "1", "finishTime": float("inf")}
    ]
    assert decode_task(parse_json(b'{"id": "1", "finishTime": ' + b"9" * 5000 + b"}")).id == "1"


def test_parse_json_keeps_nan_and_infinity_literals_as_floats() -> None:
    """NaN and Infinity literals parse; the field decoders then treat them as unusable."""
    task = decode_task(
        parse_json(b'{"id": "1", "startTime": NaN, "finishTime": -Infinity, "progress": NaN}')
    )
    assert (task.start_time, task.finish_time, task.progress) == (None, None, None)


def test_parse_json_reads_other_unicode_encodings() -> None:
    """UTF-16 and a UTF-8 BOM are read as JSON, as json.loads does."""
    assert parse_json('{"id": "1"}'.encode("utf-16")) == {"id": "1"}
    assert parse_json(b"\xef\xbb\xbf[1]") == [1]


@pytest.mark.parametrize("raw", [[1], "x", None, 5])
def test_submit_answer_that_is_not_an_object_is_refused(raw: object) -> None:
    """A submit answer that is not a JSON object raises WireError."""
    with pytest.raises(WireError, match="not a JSON object"):
        decode_submit_result(raw)


def test_parse_json_refuses_what_is_not_bytes() -> None:
    """Even a value that is not bytes at all is a WireError, not a TypeError."""
    with pytest.raises(WireError, match="NoneType"):
        parse_json(None)  # type: ignore[arg-type]


def test_text_of_an_int_past_the_digit_limit_is_empty() -> None:
    """An int too long to write out (a Python caller's, not JSON's) becomes ''."""
    assert decode_task({"id": "1", "prompt": 10**5000}).prompt == ""


@pytest.mark.parametrize(("raw", "expected"), [(5, 5), ("7", 7), (3.0, 3)])
def test_plain_int_fields_read_like_codes(raw: object, expected: int) -> None:
    """The converter's fallback for int fields reads them as codes are read."""
    assert _wire._converter.structure(raw, int) == expected


@pytest.mark.parametrize("raw", ["x", None, 1.5, True])
def test_plain_int_fields_refuse_other_values(raw: object) -> None:
    """The converter's fallback for int fields raises WireError, never another exception."""
    with pytest.raises(WireError):
        _wire._converter.structure(raw, int)


@pytest.mark.parametrize(
    ("hook", "decode", "data", "message"),
    [
        pytest.param(
            "_structure_task", decode_task, {"id": "7"}, "Task cannot be decoded", id="task"
        ),
        pytest.param(
            "_submit_result",
            _wire.decode_submit_result,
            {"result": "7"},
            "SubmitResult cannot be decoded",
            id="submit",
        ),
    ],
)
def test_a_failing_hook_still_gives_a_wire_error(
    monkeypatch: pytest.MonkeyPatch,
    hook: str,
    decode: Callable[[object], object],
    data: dict[str, object],
    message: str,
) -> None:
    """Should a future field hook raise, decoding still ends in a WireError."""

    def broken(*args: object) -> object:
        raise KeyError("boom")

    monkeypatch.setattr(_wire, hook, broken)
    with pytest.raises(WireError, match=f"{message}: KeyError"):
        decode(data)
