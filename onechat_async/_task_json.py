"""A :class:`Task` as JSON and back, for webhooks, queues and databases.

Two forms:

- **Python form** (the default): the attribute names (``image_url``), datetimes as ISO 8601
  text, statuses and actions as their strings, tuples as lists. ``task_from_dict`` reads it
  strictly: every field must have its type, so a mistake shows at once.
- **wire form** (``wire=True``): what the servers send (``imageUrl``, times in epoch
  milliseconds, progress as ``"45%"``). ``task_from_dict(..., wire=True)`` reads it by the
  same lenient rules as a server's answer (see ``_wire``), so a Task that came from a
  server, or a notifyHook body, reads back the same.

Both readers are total: whatever they are given, a Task or an :class:`InvalidRequestError`
comes out, and its message names the field and the type, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from ._errors import InvalidRequestError
from ._models import Button, Task, TaskAction, TaskStatus
from ._wire import WireError, decode_task, parse_json, wire_task_id

__all__ = ["task_from_dict", "task_from_json", "task_to_dict", "task_to_json"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)
_TEXT = ("prompt", "prompt_en", "description", "state", "custom_id", "bot_type")
_OPTIONAL_TEXT = ("image_url", "fail_reason", "video_url")
_URLS = ("image_urls", "video_urls")
_TIMES = ("submit_time", "start_time", "finish_time")
_BUTTON_TEXT = ("custom_id", "label", "emoji")
_BUTTON_NUMBERS = ("type", "style")


def task_to_dict(task: Task, *, wire: bool = False) -> dict[str, Any]:
    """``task`` as a dict of JSON values (``json.dumps`` takes it as it is).

    :param task: the task to convert.
    :param wire: the servers' camelCase form instead of the Python form.

    Example::

        body = task_to_dict(task)  # {"id": "1712345", "status": "SUCCESS", ...}
    """
    if not isinstance(task, Task):
        raise InvalidRequestError(f"task_to_dict takes a Task, got {type(task).__name__}")
    return _to_wire(task) if wire else _to_python(task)


def task_to_json(task: Task, *, wire: bool = False) -> str:
    """``task`` as JSON text; see :func:`task_to_dict` for the two forms.

    Example::

        await redis.set(f"task:{task.id}", task_to_json(task))
    """
    return json.dumps(task_to_dict(task, wire=wire), ensure_ascii=False)


def task_from_dict(data: object, *, wire: bool = False) -> Task:
    """The :class:`Task` that ``data`` describes, in the form :func:`task_to_dict` makes.

    :param data: a dict of JSON values.
    :param wire: read the servers' camelCase form (leniently, as a server's answer).
    :raises InvalidRequestError: ``data`` is not a task in that form; the message names the
        field and the type found.

    Example::

        task = task_from_dict(json.loads(body))
    """
    if not isinstance(data, dict):
        raise InvalidRequestError(f"a task must be a JSON object, got {_kind(data)}")
    if wire:
        try:
            return decode_task(data)
        except WireError as exc:
            raise InvalidRequestError(f"not a wire task: {exc}") from None
    return _from_python(data)


def task_from_json(text: str | bytes, *, wire: bool = False) -> Task:
    """The :class:`Task` in JSON ``text``; see :func:`task_from_dict`.

    :raises InvalidRequestError: ``text`` is not JSON, or not a task in that form.

    Example::

        task = task_from_json(await redis.get(f"task:{task_id}"))
    """
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    if not isinstance(text, bytes | bytearray):
        raise InvalidRequestError(f"task_from_json takes str or bytes, got {type(text).__name__}")
    try:
        data = parse_json(bytes(text))
    except WireError as exc:
        raise InvalidRequestError(f"not task JSON: {exc}") from None
    return task_from_dict(data, wire=wire)


# -- the Python form -------------------------------------------------------------------------


def _to_python(task: Task) -> dict[str, Any]:
    data = attrs.asdict(task, recurse=False)
    data["status"] = task.status.value
    data["action"] = None if task.action is None else task.action.value
    for name in _TIMES:
        value = data[name]
        data[name] = None if value is None else value.isoformat()
    data["buttons"] = [attrs.asdict(button) for button in task.buttons]
    data["properties"] = dict(task.properties)
    for name in _URLS:
        data[name] = list(data[name])
    return data


def _from_python(data: dict[Any, Any]) -> Task:
    task_id = data.get("id")
    if not isinstance(task_id, str) or wire_task_id(task_id) is None:
        raise InvalidRequestError(
            f"task JSON: id must be a str of 1 to 32 digits, got {_kind(task_id)}"
        )
    fields: dict[str, Any] = {"id": task_id}
    for name, read in _READERS.items():
        if name in data:
            try:
                fields[name] = read(data[name])
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                raise InvalidRequestError(f"task JSON: {name}: {exc}") from None
    return Task(**fields)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a str, got {_kind(value)}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _urls(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of str, got {_kind(value)}")
    return tuple(_text(item) for item in value)


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    # fromisoformat's own ValueError never quotes more than the text it was given, which
    # is not repeated here.
    try:
        return datetime.fromisoformat(_text(value))
    except ValueError:
        raise ValueError("expected an ISO 8601 date and time") from None


def _number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an int, got {_kind(value)}")
    return value


def _progress(value: object) -> int | None:
    if value is None:
        return None
    number = _number(value)
    if not 0 <= number <= 100:
        raise ValueError("expected 0 to 100")
    return number


def _status(value: object) -> TaskStatus:
    return TaskStatus(_text(value))


def _action(value: object) -> TaskAction | None:
    return None if value is None else TaskAction(_text(value))


def _buttons(value: object) -> tuple[Button, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of buttons, got {_kind(value)}")
    return tuple(_button(item) for item in value)


def _button(value: object) -> Button:
    if not isinstance(value, dict):
        raise TypeError(f"expected a button object, got {_kind(value)}")
    fields: dict[str, Any] = {}
    for name in _BUTTON_TEXT:
        if name in value:
            fields[name] = _text(value[name])
    for name in _BUTTON_NUMBERS:
        if name in value:
            fields[name] = _number(value[name])
    if not fields.get("custom_id"):
        raise ValueError("a button needs a non-empty custom_id")
    return Button(**fields)


def _properties(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {_kind(value)}")
    # Only JSON values, so that the task can be written out again; too deep a nesting
    # raises RecursionError here rather than later in a repr or a comparison.
    json.dumps(value)
    return value


_READERS: Final[Mapping[str, Callable[[object], Any]]] = {
    "status": _status,
    "action": _action,
    "progress": _progress,
    **dict.fromkeys(_TEXT, _text),
    **dict.fromkeys(_TIMES, _time),
    **dict.fromkeys(_OPTIONAL_TEXT, _optional_text),
    **dict.fromkeys(_URLS, _urls),
    "buttons": _buttons,
    "properties": _properties,
}


# -- the wire form -----------------------------------------------------------------------------


def _to_wire(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "status": task.status.value,
        "action": None if task.action is None else task.action.value,
        "progress": None if task.progress is None else f"{task.progress}%",
        "prompt": task.prompt,
        "promptEn": task.prompt_en,
        "description": task.description,
        "state": task.state,
        "customId": task.custom_id,
        "botType": task.bot_type,
        "submitTime": _millis(task.submit_time),
        "startTime": _millis(task.start_time),
        "finishTime": _millis(task.finish_time),
        "imageUrl": task.image_url,
        "failReason": task.fail_reason,
        "buttons": [
            {
                "customId": b.custom_id,
                "label": b.label,
                "emoji": b.emoji,
                "type": b.type,
                "style": b.style,
            }
            for b in task.buttons
        ],
        "properties": dict(task.properties),
        "imageUrls": list(task.image_urls),
        "videoUrl": task.video_url,
        "videoUrls": list(task.video_urls),
    }


def _millis(value: datetime | None) -> int | None:
    if value is None:
        return None
    # The servers' times are UTC; a naive datetime is taken to be UTC as well.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MILLISECOND


def _kind(value: object) -> str:
    """The type of a value, never the value itself (it may be huge, or a secret)."""
    return "null" if value is None else type(value).__name__
