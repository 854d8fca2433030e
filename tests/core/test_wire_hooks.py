"""_wire's hand-written task hook and cattrs' generated one, built fresh, field by field.

The module builds its converter once, at import; these tests build their own, so that a change
to ``_make_converter`` or ``_task_builder`` is seen here even when the module's copy is older.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from onechat_async import _wire
from onechat_async._events import ProgressChanged, progress_changed
from onechat_async._models import Button, Task, TaskStatus
from onechat_async._wire import MALFORMED_STATUS, decode_task

#: (wire fields besides the id, the Task fields they give besides the id); ``id`` is "7".
FIELDS: list[Any] = [
    pytest.param(
        {
            "failReason": "banned prompt",
            "imageUrls": [{"url": "https://a.invalid/1.png"}, "https://a.invalid/2.png", 3],
            "videoUrl": "https://a.invalid/v.mp4",
            "videoUrls": [{"url": "https://a.invalid/v1.mp4"}, {"url": ""}],
        },
        {
            "fail_reason": "banned prompt",
            "image_urls": ("https://a.invalid/1.png", "https://a.invalid/2.png"),
            "video_url": "https://a.invalid/v.mp4",
            "video_urls": ("https://a.invalid/v1.mp4",),
        },
        id="results-and-failure",
    ),
    pytest.param(
        {
            "prompt": 5,
            "promptEn": 6,
            "description": 7,
            "state": 8.5,
            "customId": 9,
            "botType": 10,
            "imageUrl": 11,
            "failReason": 12,
            "videoUrl": 13,
        },
        {
            "prompt": "5",
            "prompt_en": "6",
            "description": "7",
            "state": "8.5",
            "custom_id": "9",
            "bot_type": "10",
            "image_url": "11",
            "fail_reason": "12",
            "video_url": "13",
        },
        id="numbers-in-text-fields",
    ),
    pytest.param(
        {"imageUrl": "", "failReason": "", "videoUrl": "", "imageUrls": [], "videoUrls": "x"},
        {},
        id="empty-values-unset",
    ),
    pytest.param(
        {"imageUrl": [1], "failReason": {"a": 1}, "videoUrl": None, "prompt": [1]},
        {},
        id="containers-in-text-fields",
    ),
    pytest.param(
        {
            "status": "WEIRD",
            "progress": "50%",
            "submitTime": 1000,
            "startTime": "2000",
            "action": "UPSCALE",
        },
        {
            "status": TaskStatus("WEIRD"),
            "progress": 50,
            "submit_time": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            "start_time": datetime(1970, 1, 1, 0, 0, 2, tzinfo=UTC),
            "action": "UPSCALE",
        },
        id="unknown-status-kept",
    ),
    pytest.param(
        {
            "action": "",
            "buttons": ["junk", {"label": "no id"}, {"customId": "b", "type": 300}],
            "properties": [1],
        },
        {"buttons": (Button("b"),)},
        id="junk-in-containers",
    ),
    pytest.param(
        {"action": 5, "buttons": {"customId": "x"}, "properties": "x"},
        {},
        id="containers-of-the-wrong-type",
    ),
    pytest.param({"status": []}, {"status": MALFORMED_STATUS}, id="status-a-list"),
    pytest.param({"status": {"a": 1}}, {"status": MALFORMED_STATUS}, id="status-an-object"),
    pytest.param({"status": 3}, {"status": MALFORMED_STATUS}, id="status-a-number"),
    pytest.param(
        {"buttons": [{"customId": "b"}], "properties": {"k": "v"}, "finishTime": "3000"},
        {
            "buttons": (Button("b"),),
            "properties": {"k": "v"},
            "finish_time": datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC),
        },
        id="buttons-properties-finish",
    ),
]

CONVERTERS = [
    pytest.param(True, id="hand-written"),
    pytest.param(False, id="cattrs-generated"),
]


@pytest.mark.parametrize("specialised", CONVERTERS)
@pytest.mark.parametrize(("wire", "fields"), FIELDS)
def test_each_converter_reads_every_task_field_by_its_rule(
    specialised: bool, wire: dict[str, Any], fields: dict[str, Any]
) -> None:
    """Both converters give each field its lenient rule: text from numbers, None from "", lists."""
    converter = _wire._make_converter(specialised=specialised)
    assert converter.structure({"id": "7", **wire}, Task) == Task(id="7", **fields)


@pytest.mark.parametrize("specialised", CONVERTERS)
def test_an_id_that_is_no_id_becomes_empty_in_both_converters(specialised: bool) -> None:
    """A float id is no usable id in either converter, never its str()."""
    converter = _wire._make_converter(specialised=specialised)
    assert converter.structure({"id": 1.5}, Task).id == ""


def test_the_built_converter_uses_the_hand_written_task_hook() -> None:
    """_make_converter installs the fast hand-written hook by default, not cattrs' own."""
    hook = _wire._make_converter().get_structure_hook(Task)
    reference = _wire._make_converter(specialised=False).get_structure_hook(Task)
    assert isinstance(hook, _wire._TaskReader)
    assert not isinstance(reference, _wire._TaskReader)


def test_the_hand_written_hook_reuses_the_id_the_caller_holds() -> None:
    """Given the id the tracker holds, the decoded task carries that very str."""
    hook: Callable[..., Task] = _wire._make_converter().get_structure_hook(Task)
    known = "".join(["123", "45"])
    task = hook({"id": "12345"}, Task, known)
    assert task.id is known
    assert hook({"id": "12346"}, Task, known).id == "12346"


def test_times_are_computed_when_not_remembered() -> None:
    """With the time memo emptied, an epoch-milliseconds time is still read after the epoch."""
    _wire._datetime.cache_clear()  # type: ignore[attr-defined]
    task = decode_task({"id": "7", "submitTime": 1500, "startTime": 2500})
    assert task.submit_time == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert task.start_time == datetime(1970, 1, 1, 0, 0, 2, 500000, tzinfo=UTC)


def test_small_text_properties_are_shared_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal small all-text properties are one mapping, with their values, from the first on."""
    monkeypatch.setattr(_wire, "_SHARED_MAPPINGS", {})
    first = decode_task({"id": "7", "properties": {"finalPrompt": "a cat"}})
    second = decode_task({"id": "8", "properties": {"finalPrompt": "a cat"}})
    assert first.properties == {"finalPrompt": "a cat"}
    assert second.properties is first.properties


@pytest.mark.parametrize(
    ("first", "then"),
    [
        pytest.param(1, True, id="int-then-bool"),
        pytest.param(1.0, 1, id="float-then-int"),
        pytest.param(None, None, id="null"),
    ],
)
def test_properties_with_numbers_are_never_shared(
    monkeypatch: pytest.MonkeyPatch, first: object, then: object
) -> None:
    """Properties holding numbers are not shared: 1, 1.0 and true are equal but not the same."""
    monkeypatch.setattr(_wire, "_SHARED_MAPPINGS", {})
    one = decode_task({"id": "7", "properties": {"n": first}})
    other = decode_task({"id": "8", "properties": {"n": then}})
    assert one.properties is not other.properties
    assert type(other.properties["n"]) is type(then)


def test_the_task_builder_sets_every_field_as_tasks_init_does() -> None:
    """The decoder fills the Task's twin and switches its class: what cattrs' own hook makes."""
    wire = {
        "id": "7", "status": "SUCCESS", "action": "UPSCALE", "progress": "100%",
        "prompt": "a cat", "promptEn": "a cat, en", "description": "ok", "state": "s",
        "customId": "c", "botType": "MID_JOURNEY", "submitTime": 1000, "startTime": 2000,
        "finishTime": 3000, "imageUrl": "https://x/1.png", "failReason": "no",
        "buttons": [{"customId": "MJ::JOB::upsample::1::a", "label": "U1"}],
        "properties": {"finalPrompt": "p"}, "imageUrls": [{"url": "https://x/2.png"}],
        "videoUrl": "https://x/v.mp4", "videoUrls": ["https://x/w.mp4"],
    }  # fmt: skip
    made = decode_task(wire)
    assert type(made) is Task
    reference = _wire._make_converter(specialised=False).structure(wire, Task)
    for field in attrs.fields(Task):
        assert getattr(made, field.name) == getattr(reference, field.name), field.name
    assert made == reference


def test_progress_changed_maker_builds_what_init_builds() -> None:
    """The tracker's fast ProgressChanged is the event attrs' __init__ makes, unnumbered."""
    task = Task("7")
    made = progress_changed("7", task, 40, 20)
    assert type(made) is ProgressChanged
    assert made == ProgressChanged("7", task, 40, 20)
    assert (made.task_id, made.task, made.progress, made.previous, made.seq) == (
        "7",
        task,
        40,
        20,
        None,
    )
