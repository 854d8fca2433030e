"""The wire rules of _wire: the converter as built, the edges of each field, the error texts."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from onechat_async import _wire
from onechat_async._models import AccountFilter, Button, SubmitResult, Task, TaskAction, TaskStatus
from onechat_async._wire import (
    MALFORMED_STATUS,
    WireError,
    decode_submit_result,
    decode_task,
    parse_json,
    wire_code,
)

#: One task as the gateway spells it, every field set.
WIRE_TASK: dict[str, Any] = {
    "id": 1730000000000001,
    "status": "IN_PROGRESS",
    "action": "UPSCALE",
    "progress": "50%",
    "prompt": "a cat",
    "promptEn": "a cat, en",
    "description": "ok",
    "state": "mine",
    "customId": "MJ::JOB::upsample::1::abc",
    "botType": "MID_JOURNEY",
    "submitTime": 1000,
    "startTime": "2000",
    "finishTime": 3000.0,
    "imageUrl": "https://example.invalid/i.png",
    "failReason": "",
    "buttons": [
        "junk",
        {"label": "no id"},
        {"customId": "", "label": "empty id"},
        {"customId": 7, "label": "number id"},
        {"customId": "MJ::JOB::reroll::0::abc", "label": 5, "emoji": "🔄", "type": 3, "style": 300},
    ],
    "properties": {"finalPrompt": "a cat"},
}


def millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


EXPECTED_TASK = Task(
    id="1730000000000001",
    status=TaskStatus.IN_PROGRESS,
    action=TaskAction.UPSCALE,
    progress=50,
    prompt="a cat",
    prompt_en="a cat, en",
    description="ok",
    state="mine",
    custom_id="MJ::JOB::upsample::1::abc",
    bot_type="MID_JOURNEY",
    submit_time=millis(1000),
    start_time=millis(2000),
    finish_time=millis(3000),
    image_url="https://example.invalid/i.png",
    fail_reason=None,
    buttons=(Button("MJ::JOB::reroll::0::abc", label="", emoji="🔄", type=3, style=2),),
    properties={"finalPrompt": "a cat"},
)


def test_a_freshly_built_converter_decodes_every_field_by_its_wire_name() -> None:
    """The converter _make_converter builds reads each camelCase field with its own rule."""
    # Built here, not taken from the module: the module builds its own once, at import.
    converter = _wire._make_converter()
    assert converter.structure(WIRE_TASK, Task) == EXPECTED_TASK
    sparse = {
        "id": 1.5,
        "action": "",
        "imageUrl": "",
        "properties": [],
        "buttons": [{"customId": "x", "emoji": 6, "type": 256}],
    }
    assert converter.structure(sparse, Task) == Task(id="", buttons=(Button("x"),))
    assert converter.structure({"id": "7", "buttons": {"customId": "x"}}, Task).buttons == ()
    assert converter.structure({"result": 1.5}, SubmitResult).task_id == ""
    submit = {"result": "123", "code": "junk", "description": 5, "properties": []}
    assert converter.structure(submit, SubmitResult) == SubmitResult(
        "123", code=1, description="5", properties={}
    )


def test_a_freshly_built_converter_has_total_scalar_hooks() -> None:
    """Bare str, int and status values decode leniently or fail as WireError, never otherwise."""
    converter = _wire._make_converter()
    assert converter.structure(5, str) == "5"
    assert converter.structure({"a": 1}, str) == ""
    assert converter.structure(12, TaskStatus) is MALFORMED_STATUS
    assert converter.structure("7", int) == 7
    with pytest.raises(WireError) as info:
        converter.structure("seven", int)
    assert str(info.value) == "expected an integer, got a str"


def test_a_freshly_built_converter_writes_account_filters_in_camel_case() -> None:
    """An AccountFilter goes out with camelCase names and without the fields left at default."""
    converter = _wire._make_converter()
    value = AccountFilter(instance_id="7", remix_auto_considered=True)
    assert converter.unstructure(value) == {"instanceId": "7", "remixAutoConsidered": True}
    assert converter.unstructure(AccountFilter()) == {}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        pytest.param(-(2**63), None, id="int-at-lower-limit"),
        pytest.param(-(2**63) + 1, -(2**63) + 1, id="int-inside-lower-limit"),
        pytest.param(float(-(2**63)), None, id="float-at-lower-limit"),
        pytest.param(float(2**63), None, id="float-at-upper-limit"),
        pytest.param(-1024.0, -1024, id="float-inside"),
    ],
)
def test_codes_stay_within_64_bits(value: object, code: int | None) -> None:
    """A code is read only strictly within the signed 64-bit range."""
    assert wire_code(value) == code


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        pytest.param("progress", 0, 0, id="progress-0"),
        pytest.param("progress", 100, 100, id="progress-100"),
        pytest.param("progress", "50%".ljust(32), 50, id="progress-text-of-32"),
        pytest.param("progress", "50%".ljust(33), None, id="progress-text-of-33"),
        pytest.param(
            "submit_time",
            "253402300799999",
            datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
            id="time-of-15-digits",
        ),
        pytest.param(
            "buttons", [{"customId": "x", "type": 255}], (Button("x", type=255),), id="type-255"
        ),
    ],
)
def test_values_at_the_edges_of_a_field_are_kept(
    field: str, value: object, expected: object
) -> None:
    """The last value a field accepts is read, not dropped as out of range."""
    wire_name = {"submit_time": "submitTime"}.get(field, field)
    assert getattr(decode_task({"id": "7", wire_name: value}), field) == expected


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param(nested(40), id="dicts-only"),
        pytest.param({"deep": nested(40), "plain": "x"}, id="deep-then-plain"),
    ],
)
def test_properties_nested_too_deep_are_dropped(properties: dict[str, Any]) -> None:
    """Nesting past MAX_DEPTH empties properties, whether or not plain values sit beside it."""
    assert decode_task({"id": "7", "properties": properties}).properties == {}


@pytest.mark.parametrize(
    ("decode", "data", "message"),
    [
        pytest.param(decode_task, [], "task is not a JSON object: a list", id="task-list"),
        pytest.param(decode_task, {}, "task has no usable id: it has none", id="task-no-id"),
        pytest.param(
            decode_task,
            {"id": None},
            "task has no usable id: null or missing, not 1 to 32 digits",
            id="task-null-id",
        ),
        pytest.param(
            decode_task,
            {"id": "abc"},
            "task has no usable id: a str of 3 characters, not 1 to 32 digits",
            id="task-word-id",
        ),
        pytest.param(
            decode_submit_result,
            "ok",
            "submit answer is not a JSON object: a str of 2 characters",
            id="submit-text",
        ),
        pytest.param(
            decode_submit_result,
            {"result": 1.5},
            "the accepted submit answer had no usable task id in 'result': a float",
            id="submit-float-id",
        ),
    ],
)
def test_a_decode_error_names_the_kind_of_value_not_its_content(
    decode: Any, data: object, message: str
) -> None:
    """The WireError says what kind of value was wrong, never echoing the value itself."""
    with pytest.raises(WireError) as info:
        decode(data)
    assert str(info.value) == message


def test_json_nested_too_deeply_is_a_wire_error() -> None:
    """A body nested past the interpreter's recursion limit is refused as such."""
    with pytest.raises(WireError) as info:
        parse_json(b"[" * 200_000)
    assert str(info.value) == "body is JSON nested too deeply to read"


def test_a_huge_integer_beside_an_escaped_surrogate_still_parses() -> None:
    """The slow path for huge integers reads the same texts as the fast one, surrogates too."""
    body = b'{"a": "\xed\xa0\x80", "b": ' + b"1" * 5000 + b"}"
    data = parse_json(body)
    assert data["a"] == "\ud800"
    assert data["b"] == math.inf


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b"[" + b"1" * 5000 + b",", "body is not JSON: '[" + "1" * 79 + "...'", id="wide"
        ),
        pytest.param(b"x" * 300, "body is not JSON: '" + "x" * 80 + "...'", id="long"),
        pytest.param(123, "body is not JSON: a int", id="not-bytes"),
    ],
)
def test_a_body_that_is_not_json_is_previewed_briefly(body: Any, message: str) -> None:
    """The error shows the body's start, cut to 80 characters, or only its type."""
    with pytest.raises(WireError) as info:
        parse_json(body)
    assert str(info.value) == message


def test_the_memo_stays_bounded_and_can_be_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full memo starts afresh rather than growing; cache_clear empties it."""
    monkeypatch.setattr(_wire, "_MEMO_SIZE", 2)
    memo = _wire._Memo(lambda key: [key])
    first = memo(1)
    assert memo(1) is first
    memo(2)
    memo(3)
    assert len(memo._values) == 1
    memo.cache_clear()
    assert memo._values == {}
    assert memo(1) is not first


def test_shared_properties_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal small all-text properties are one dict; the table starts afresh when full."""
    monkeypatch.setattr(_wire, "_SHARED_MAPPINGS", {})
    monkeypatch.setattr(_wire, "_SHARED_MAPPINGS_MAX", 2)
    first = decode_task({"id": "1", "properties": {"a": ""}}).properties
    assert decode_task({"id": "2", "properties": {"a": ""}}).properties is first
    for text in ("b", "c"):
        decode_task({"id": "3", "properties": {"a": text}})
    assert len(_wire._SHARED_MAPPINGS) == 1
    numbers = {"a": 1}
    assert decode_task({"id": "4", "properties": numbers}).properties is numbers


def test_row_properties_follow_their_text_from_one_task_to_the_next() -> None:
    """Rows read in turn get each its own text's properties, the last one shared again."""
    body = (
        b'[{"id":"1","properties":{"a":"x"}},{"id":"2","properties":{"a":"y"}},'
        b'{"id":"3","properties":{"a":"y"}},{"id":"4","properties":{"a":"x"}},'
        b'{"id":"5","properties":null},{"id":"6","properties":{"a":"x"}}]'
    )
    rows = _wire.read_rows(body)
    assert rows is not None
    found = [_wire.decode_row(row).properties for row in rows]
    assert found == [{"a": "x"}, {"a": "y"}, {"a": "y"}, {"a": "x"}, {}, {"a": "x"}]
    assert found[2] is found[1]
    assert found[3] is found[0] is found[5]
