"""Task to and from JSON, in the Python and the wire form: round trips and hostile input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from onechat_async import (
    Button,
    InvalidRequestError,
    OneChatClient,
    Task,
    TaskAction,
    TaskStatus,
    task_from_dict,
    task_from_json,
    task_to_dict,
    task_to_json,
)
from onechat_async.testing import ScaledClock, Simulator

FULL = Task(
    "1712345678901234",
    status=TaskStatus.SUCCESS,
    action=TaskAction.IMAGINE,
    progress=100,
    prompt="一只猫 --ar 3:2",
    prompt_en="a cat --ar 3:2",
    description="/imagine",
    state="order-17",
    custom_id="MJ::JOB::x",
    bot_type="MID_JOURNEY",
    submit_time=datetime(2026, 11, 30, 20, 0, 0, 123000, tzinfo=UTC),
    start_time=datetime(2026, 11, 30, 20, 0, 5, tzinfo=UTC),
    finish_time=datetime(2026, 11, 30, 20, 1, 0, 999000, tzinfo=UTC),
    image_url="https://cdn.example/grid.png",
    fail_reason=None,
    buttons=(Button("MJ::JOB::upsample::1::h", "U1"), Button("MJ::JOB::reroll::0::h", emoji="🔄")),
    properties={"finalPrompt": "a cat", "nested": {"list": [1, 2.5, None, "x"]}},
    image_urls=("https://cdn.example/1.png", "https://cdn.example/2.png"),
    video_url=None,
    video_urls=(),
)
BARE = Task("1")
ODD = Task("42", status=TaskStatus("SOMETHING_NEW"), action=TaskAction("FUTURE_ACTION"))

TASKS = [
    pytest.param(FULL, id="full"),
    pytest.param(BARE, id="bare"),
    pytest.param(ODD, id="unknown-status-and-action"),
]


@pytest.mark.parametrize("wire", [False, True], ids=["python", "wire"])
@pytest.mark.parametrize("task", TASKS)
def test_a_task_survives_the_round_trip(task: Task, wire: bool) -> None:
    """to_json then from_json gives back an equal Task, in both forms."""
    text = task_to_json(task, wire=wire)
    assert task_from_json(text, wire=wire) == task
    assert task_from_dict(json.loads(text), wire=wire) == task


def test_the_python_form_keeps_microseconds_and_offsets() -> None:
    """Python form times are ISO 8601 with their offset; microseconds are not rounded."""
    shanghai = timezone(timedelta(hours=8))
    task = Task("7", submit_time=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=shanghai))
    data = task_to_dict(task)
    assert data["submit_time"] == "2026-01-02T03:04:05.678901+08:00"
    assert task_from_dict(data) == task


def test_the_wire_form_is_what_a_server_sends() -> None:
    """CamelCase names, epoch milliseconds, progress as a percentage."""
    data = task_to_dict(FULL, wire=True)
    assert data["imageUrl"] == FULL.image_url
    assert data["promptEn"] == FULL.prompt_en
    assert data["submitTime"] == 1796068800123
    assert data["progress"] == "100%"
    assert data["buttons"][0] == {
        "customId": "MJ::JOB::upsample::1::h",
        "label": "U1",
        "emoji": "",
        "type": 2,
        "style": 2,
    }


def test_a_naive_time_is_taken_as_utc_on_the_wire() -> None:
    """A datetime without tzinfo is written as UTC milliseconds, not local time."""
    naive = Task("8", submit_time=datetime(1970, 1, 1, 0, 0, 1))
    assert task_to_dict(naive, wire=True)["submitTime"] == 1000


async def test_a_task_from_the_simulator_round_trips() -> None:
    """A real finished task, as the client read it, comes back equal from both forms."""
    async with Simulator(api_key="sk-test", clock=ScaledClock(speed=1000)) as sim:
        client = OneChatClient(api_key="sk-test", base_url=sim.url, clock=sim.clock)
        async with client:
            result = await client.imagine("a cat")
            task = await client.wait(result.task_id, deadline=600)
    assert task.buttons
    for wire in (False, True):
        assert task_from_json(task_to_json(task, wire=wire), wire=wire) == task


HOSTILE_PYTHON: list[Any] = [
    pytest.param([], "JSON object", id="a-list"),
    pytest.param("1", "JSON object", id="a-str"),
    pytest.param({}, "id", id="no-id"),
    pytest.param({"id": 1}, "id", id="int-id"),
    pytest.param({"id": "../x"}, "id", id="path-id"),
    pytest.param({"id": "1", "status": 3}, "status", id="int-status"),
    pytest.param({"id": "1", "progress": "45%"}, "progress", id="wire-progress"),
    pytest.param({"id": "1", "progress": 101}, "progress", id="progress-over-100"),
    pytest.param({"id": "1", "progress": True}, "progress", id="bool-progress"),
    pytest.param({"id": "1", "submit_time": 1700000000000}, "submit_time", id="millis-time"),
    pytest.param({"id": "1", "submit_time": "yesterday"}, "submit_time", id="text-time"),
    pytest.param({"id": "1", "buttons": {}}, "buttons", id="buttons-object"),
    pytest.param({"id": "1", "buttons": [{"label": "U1"}]}, "buttons", id="button-no-id"),
    pytest.param({"id": "1", "buttons": [{"custom_id": 5}]}, "buttons", id="button-int-id"),
    pytest.param({"id": "1", "properties": []}, "properties", id="properties-list"),
    pytest.param({"id": "1", "properties": {"x": object()}}, "properties", id="not-json"),
    pytest.param({"id": "1", "image_urls": "u"}, "image_urls", id="urls-str"),
    pytest.param({"id": "1", "image_urls": [1]}, "image_urls", id="urls-int"),
    pytest.param({"id": "1", "prompt": None}, "prompt", id="null-prompt"),
]


@pytest.mark.parametrize(("data", "field"), HOSTILE_PYTHON)
def test_hostile_python_form_is_an_invalid_request(data: object, field: str) -> None:
    """Anything that is not a task in the Python form is an InvalidRequestError naming the field."""
    with pytest.raises(InvalidRequestError, match=field):
        task_from_dict(data)


def test_a_deep_nesting_is_refused_not_a_crash() -> None:
    """Properties nested past the recursion limit are an InvalidRequestError."""
    deep: dict[str, Any] = {}
    for _ in range(100_000):
        deep = {"x": deep}
    with pytest.raises(InvalidRequestError, match="properties"):
        task_from_dict({"id": "1", "properties": deep})


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[" * 100_000, id="deep"),
        pytest.param(b'{"id": 1.5e400}', id="huge-number"),
        pytest.param(b"null", id="null"),
    ],
)
@pytest.mark.parametrize("wire", [False, True], ids=["python", "wire"])
def test_hostile_text_is_an_invalid_request(text: bytes, wire: bool) -> None:
    """Bytes that are no task JSON are an InvalidRequestError in both forms."""
    with pytest.raises(InvalidRequestError):
        task_from_json(text, wire=wire)


def test_the_wire_form_is_read_as_leniently_as_a_server_answer() -> None:
    """Wire quirks a server sends ("45%", int ids, "" status) read as the client reads them."""
    task = task_from_dict({"id": 17, "status": "", "progress": "45%", "junk": [1]}, wire=True)
    assert task == Task("17", status=TaskStatus.NOT_START, progress=45)


def test_errors_never_quote_the_value() -> None:
    """A hostile value (a key, say) is named by type only in the message."""
    with pytest.raises(InvalidRequestError) as info:
        task_from_dict({"id": "1", "prompt": ["sk-secret-value"]})
    assert "sk-secret-value" not in str(info.value)


def test_to_dict_refuses_what_is_not_a_task() -> None:
    """Only a Task is converted; a dict is refused rather than half-written."""
    with pytest.raises(InvalidRequestError, match="Task"):
        task_to_dict({"id": "1"})  # type: ignore[arg-type]
