"""Property tests of the wire decoders: any input is a value of the right shape or a WireError."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from onechat_async import Button, SubmitResult, Task, TaskStatus
from onechat_async._wire import (
    MAX_DEPTH,
    WireError,
    decode_submit_result,
    decode_task,
    parse_json,
    wire_code,
    wire_task_id,
)
from tests.fuzz.strategies import (
    bodies,
    deep_bodies,
    field_values,
    fuzz,
    nested,
    submit_answers,
    task_objects,
)

_TERMINAL_WIRE = {"SUCCESS", "FAILURE", "CANCEL"}


def _is_id(value: object) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 32


@fuzz(60)
@given(bodies)
@example(b"[" * 200_000 + b"]" * 200_000)
@example(b'{"finishTime": ' + b"9" * 5000 + b"}")
@example(b"[NaN, Infinity, -Infinity, 1e400]")
def test_parse_json_is_total(body: bytes) -> None:
    """Any bytes parse to a JSON value or raise WireError, nothing else."""
    try:
        value = parse_json(body)
    except WireError:
        return
    assert value is None or isinstance(value, dict | list | str | int | float | bool)


@fuzz(10)
@given(deep_bodies)
@example(b"[" * 200_000 + b"]" * 200_000)
@example(b'{"a":' * 200_000 + b"1" + b"}" * 200_000)
def test_parse_json_is_total_on_deep_nesting(body: bytes) -> None:
    """Nesting of any depth parses or raises WireError, never RecursionError."""
    with contextlib.suppress(WireError):
        parse_json(body)


@fuzz(100)
@given(st.binary(max_size=64))
def test_parse_json_is_total_on_raw_bytes(body: bytes) -> None:
    """Random short byte strings, mostly not JSON, never escape as another exception."""
    with contextlib.suppress(WireError):
        parse_json(body)


def _check_task(task: Task, raw: dict[str, Any]) -> None:
    assert isinstance(task, Task)
    assert _is_id(task.id)
    assert task.id == wire_task_id(raw["id"])
    assert isinstance(task.status, TaskStatus)
    if task.is_terminal:
        # Bad data must never end a task by accident.
        assert raw.get("status") in _TERMINAL_WIRE
    assert task.progress is None or (type(task.progress) is int and 0 <= task.progress <= 100)
    for when in (task.submit_time, task.start_time, task.finish_time):
        assert when is None or (isinstance(when, datetime) and when.tzinfo is not None)
    for text in (
        task.prompt,
        task.prompt_en,
        task.description,
        task.state,
        task.custom_id,
        task.bot_type,
    ):
        assert type(text) is str
    assert task.image_url is None or (type(task.image_url) is str and task.image_url)
    assert task.fail_reason is None or (type(task.fail_reason) is str and task.fail_reason)
    assert task.action is None or type(task.action.value) is str
    assert isinstance(task.buttons, tuple)
    for button in task.buttons:
        assert isinstance(button, Button)
        assert type(button.custom_id) is str
        assert button.custom_id
        assert type(button.label) is str
        assert type(button.emoji) is str
        assert type(button.type) is int
        assert 0 <= button.type <= 255
        assert type(button.style) is int
        assert 0 <= button.style <= 255
    assert type(task.properties) is dict
    # What callers do with a task (print it, compare it) must not exhaust the stack either.
    repr(task)
    assert task == decode_task(raw)


@fuzz(60)
@given(task_objects)
@example({"id": "1", "finishTime": 1e400, "startTime": 1e20})
@example({"id": "1", "buttons": [{"customId": "a", "type": None, "style": 1e400}]})
@example({"id": "1", "status": 1e400, "progress": float("nan")})
@example({"id": 1.7e15})
@example({"id": "1", "properties": {"deep": nested(MAX_DEPTH)}})
def test_decode_task_is_total(raw: dict[str, Any]) -> None:
    """Any object with any wire keys and values decodes to a well-formed Task or WireError."""
    try:
        task = decode_task(raw)
    except WireError:
        # Only a task without a usable id is refused.
        assert wire_task_id(raw.get("id")) is None
        return
    _check_task(task, raw)


@fuzz(40)
@given(field_values)
def test_decode_task_refuses_what_is_not_an_object(raw: Any) -> None:
    """Anything that is not a JSON object raises WireError."""
    if isinstance(raw, dict):
        return
    try:
        decode_task(raw)
    except WireError:
        return
    raise AssertionError("a non-object decoded as a task")


@fuzz(60)
@given(submit_answers)
@example({"code": 1, "result": 1e400})
@example({"code": 1, "result": {"a": 1}})
@example({"code": 1, "result": "000"})
@example({"code": "²", "result": "7", "properties": {"numberOfQueues": 1e400}})
def test_decode_submit_result_is_total(raw: dict[str, Any]) -> None:
    """Any accepted answer decodes to a SubmitResult with a digit id, or raises WireError."""
    try:
        result = decode_submit_result(raw)
    except WireError as exc:
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        assert "no usable task id" in refusal
        return
    assert isinstance(result, SubmitResult)
    assert _is_id(result.task_id)
    assert result.task_id.strip("0")
    assert type(result.code) is int
    assert type(result.description) is str
    assert type(result.properties) is dict
    position = result.queue_position
    assert position is None or type(position) is int


@fuzz(80)
@given(field_values)
def test_wire_code_and_task_id_are_total(raw: Any) -> None:
    """The code and id readers return a bounded int or a digit str, or None, for anything."""
    code = wire_code(raw)
    assert code is None or (type(code) is int and -(2**63) < code < 2**63)
    task_id = wire_task_id(raw)
    assert task_id is None or _is_id(task_id)
