"""The fast wire path against the reference one: msgspec against json, hand hook against cattrs'."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from onechat_async import SubmitResult, Task
from onechat_async._wire import (
    WireError,
    _converter,
    _make_converter,
    _parse_standard,
    _structure_task,
    decode_row,
    decode_submit_result,
    decode_task,
    parse_json,
    read_rows,
    row_of,
    wire_code,
)
from tests.fuzz.strategies import bodies, fuzz, json_values, submit_answers, task_objects

_REFERENCE = _make_converter(specialised=False)
_REFERENCE_TASK_HOOK = _REFERENCE.get_structure_hook(Task)
_REFERENCE_SUBMIT_HOOK = _REFERENCE.get_structure_hook(SubmitResult)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 is not 1.0 nor True; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _outcome(parse: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "value", parse(body)
    except WireError as exc:
        return "error", str(exc)


def _assert_parsed_alike(body: bytes) -> None:
    fast, reference = _outcome(parse_json, body), _outcome(_parse_standard, body)
    assert fast[0] == reference[0]
    assert _same(fast[1], reference[1])


# Both refuse nesting past the interpreter's recursion limit, counted from the current stack;
# within the last few levels below it (994 to 997 deep in one run) msgspec still reads what
# json refuses, so bodies that deep are left to test_fuzz_wire's totality tests.
_SHALLOW_BODIES = bodies.filter(lambda body: body.count(b"[") + body.count(b"{") < 900)


@fuzz(120)
@given(_SHALLOW_BODIES)
@example(b"[18446744073709551615, 18446744073709551616, -9223372036854775808]")
@example(b"[-9223372036854775809, 99999999999999999999999999999999]")
@example(b'{"id": 12345678901234567890123456789012}')
@example(b'["1234567890123456789012345"]')
@example(b"[NaN, Infinity, -Infinity, 1e400, -1e400, 1.7976931348623157e309]")
@example(b'["\\ud800", "\\udfff", "\\ud83d\\ude00", "\xed\xa0\x80"]')
@example(b'{"a": 1, "a": 2, "b": {"c": 1, "c": [3]}}')
@example(b'\xef\xbb\xbf{"a": 1}')
@example('{"a": "é"}'.encode("utf-16"))
@example(b"[-0, -0.0, 0.1, 5e-324, 1e-400, 1E2, 0.30000000000000004]")
@example(b'"\\u0000"')
@example(b"[1]\x00")
def test_parse_json_gives_what_the_standard_library_gives(body: bytes) -> None:
    """The msgspec path gives json.loads's value, types and all, or the same WireError."""
    _assert_parsed_alike(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"[18446744073709551616]", [2**64], id="int-past-64-bits"),
        pytest.param(b"[-9223372036854775809]", [-(2**63) - 1], id="int-below-64-bits"),
        pytest.param(b"[NaN]", "nan", id="nan"),
        pytest.param(b'["\\ud800"]', ["\ud800"], id="escaped-lone-surrogate"),
        pytest.param(b'["\xed\xa0\x80"]', ["\ud800"], id="encoded-lone-surrogate"),
        pytest.param(b'{"a": 1, "a": 2}', {"a": 2}, id="duplicate-keys-last-wins"),
        pytest.param(b"\xef\xbb\xbf[1]", [1], id="utf-8-bom"),
    ],
)
def test_what_msgspec_refuses_is_read_as_before(body: bytes, expected: Any) -> None:
    """Big ints stay ints, NaN a float, lone surrogates and duplicate keys as json has them."""
    value = parse_json(body)
    if expected == "nan":
        assert math.isnan(value[0])
    else:
        assert _same(value, expected)


@fuzz(120)
@given(task_objects)
@example({"id": "7", "imageUrl": "", "failReason": "", "videoUrl": "", "imageUrls": []})
@example({"id": "7", "imageUrl": 5, "failReason": [], "videoUrl": "v", "videoUrls": ["a", {}]})
@example({"id": "7", "properties": {"a": 1}})
@example({"id": "7", "properties": {"a": True}})
@example({"id": "7", "properties": {"a": ""}, "prompt": "p", "promptEn": "p"})
@example(
    {"id": "7", "status": ["IN_PROGRESS"], "progress": {"a": 1}, "buttons": [{"customId": "x"}]}
)
def test_the_hand_written_task_hook_gives_what_cattrs_generates(data: dict[str, Any]) -> None:
    """Field for field and type for type, the fast hook and the generated one agree."""
    try:
        expected = _REFERENCE_TASK_HOOK(data, Task)
    except (KeyError, TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            _structure_task(data, Task)
        return
    task = _structure_task(data, Task)
    for field in attrs.fields(Task):
        assert _same(getattr(task, field.name), getattr(expected, field.name)), field.name


def test_the_reference_task_hook_is_cattrs_own() -> None:
    """The converter built for reference keeps cattrs' generated hook, not the hand one."""
    assert _REFERENCE_TASK_HOOK is not _structure_task
    assert "structure_Task" in _REFERENCE_TASK_HOOK.__name__


def _assert_same_submit(result: SubmitResult, expected: SubmitResult) -> None:
    for field in attrs.fields(SubmitResult):
        assert _same(getattr(result, field.name), getattr(expected, field.name)), field.name


@fuzz(120)
@given(submit_answers)
@example({})
@example({"result": "7", "code": "22", "description": 5, "properties": None})
@example({"result": 7, "code": 1.0, "properties": {"numberOfQueues": 3}})
@example({"result": "7", "properties": {"a": "", "b": "x"}})
def test_the_hand_written_submit_hooks_give_what_cattrs_generates(data: dict[str, Any]) -> None:
    """The SubmitResult hook, and decode_submit_result given the code, agree with cattrs' hook."""
    try:
        expected = _REFERENCE_SUBMIT_HOOK(data, SubmitResult)
    except KeyError:
        # No "result": the required field is missing for both hooks, and decoding refuses it.
        with pytest.raises(KeyError):
            _converter.structure(data, SubmitResult)
        with pytest.raises(WireError):
            decode_submit_result(data)
        return
    _assert_same_submit(_converter.structure(data, SubmitResult), expected)
    code = wire_code(data.get("code"))
    try:
        decoded = decode_submit_result(data)
    except WireError:
        # Refused for its id alike whether or not the caller read the code first.
        with pytest.raises(WireError):
            decode_submit_result(data, code=code)
        return
    _assert_same_submit(decoded, expected)
    if code is not None:
        _assert_same_submit(decode_submit_result(data, code=code), expected)


def test_the_reference_submit_hook_is_cattrs_own() -> None:
    """The converter built for reference keeps cattrs' generated SubmitResult hook."""
    assert "structure_SubmitResult" in _REFERENCE_SUBMIT_HOOK.__name__
    assert "structure_SubmitResult" not in _converter.get_structure_hook(SubmitResult).__name__


def _decoded(decode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "task", decode(value)
    except WireError as exc:
        return "error", str(exc)


def _assert_same_task(got: tuple[str, Any], expected: tuple[str, Any]) -> None:
    assert got[0] == expected[0], (got, expected)
    if expected[0] == "error":
        assert got[1] == expected[1]
        return
    for field in attrs.fields(Task):
        name = field.name
        assert _same(getattr(got[1], name), getattr(expected[1], name)), name


@fuzz(120)
@given(st.lists(task_objects | json_values, max_size=4))
@example([{"id": "7", "properties": {"a": 1}, "buttons": [{"customId": "x"}], "imageUrls": ["u"]}])
@example([{"id": "7", "properties": {"a": 1.0}}, {"id": "8", "properties": {"a": True}}])
@example([{"id": "7", "buttons": None, "properties": None, "videoUrls": ["a", {}]}])
@example([{"id": "7", "imageUrls": ["a"], "videoUrls": [""], "buttons": [{}]}])
@example([{"status": "SUCCESS"}, {"id": 1.5}, {"id": "²"}])
def test_rows_decode_to_what_the_parsed_objects_decode_to(items: list[Any]) -> None:
    """Read by msgspec into rows or parsed then made rows, each object gives decode_task's Task."""
    body = json.dumps(items).encode()
    objects = [item for item in parse_json(body) if type(item) is dict]
    rows = read_rows(body)
    if rows is None:
        # msgspec cannot read it as rows (an item that is no object, NaN...): the caller
        # falls back to parsing, and row_of carries the same values.
        rows = [row_of(item) for item in objects]
    assert len(rows) == len(objects)
    for row, data in zip(rows, objects, strict=True):
        expected = _decoded(decode_task, data)
        _assert_same_task(_decoded(decode_row, row), expected)
        _assert_same_task(_decoded(decode_row, row_of(data)), expected)
        known = expected[1].id if expected[0] == "task" else None
        with_known = _decoded(functools.partial(decode_row, known_id=known), row)
        _assert_same_task(with_known, expected)
        if known is not None:
            assert with_known[1].id is known


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'[{"id": "7", "status": NaN}]', id="nan"),
        pytest.param(b'[{"id": "7", "progress": 1e400}]', id="out-of-range"),
        pytest.param(b'[{"id": "7", "prompt": "\\ud800"}]', id="lone-surrogate"),
        pytest.param(b'[{"id": ' + b"9" * 5000 + b"}]", id="past-the-digit-limit"),
        pytest.param(b'[{"id": "7"}, 5]', id="not-an-object"),
        pytest.param(b'{"id": "7"}', id="not-a-list"),
    ],
)
def test_what_rows_cannot_read_is_left_to_the_parser(body: bytes) -> None:
    """Bodies msgspec refuses as rows give None, so the caller parses them as any answer."""
    assert read_rows(body) is None


def test_rows_ignore_what_an_unused_field_holds() -> None:
    """A field the library ignores is skipped unread: bytes json.loads refuses do not matter."""
    rows = read_rows(b'[{"id": "7", "maskBase64": "\xff", "extra": 1e400, "progress": "5%"}]')
    assert rows is not None
    assert decode_row(rows[0]).progress == 5


def test_equal_properties_texts_share_one_mapping() -> None:
    """Two rows whose properties read the same share the decoded mapping, numbers and all."""
    body = b'[{"id": "7", "properties": {"n": 1}}, {"id": "8", "properties": {"n": 1}}]'
    rows = read_rows(body)
    assert rows is not None
    first, second = (decode_row(row).properties for row in rows)
    assert first is second
    assert _same(dict(first), {"n": 1})
