"""The one place that knows how the servers spell things.

A private cattrs converter turns wire JSON into the models of :mod:`onechat_async._models`
and back. Every wire rule lives here: camelCase names, ids that arrive as numbers or strings,
``"45%"`` progress, epoch-millisecond times where 0 means unset, ``""`` statuses, ``null``
where a list or an object was expected, and extra upstream fields (ignored, never fatal).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from ._models import AccountFilter, Button, SubmitResult, Task, TaskAction, TaskStatus

__all__ = ["WireError", "decode_submit_result", "decode_task", "encode", "parse_json"]

_T = TypeVar("_T")
_PERCENT = re.compile(r"^\s*(\d{1,3})(?:\.\d+)?\s*%\s*$")


class WireError(ValueError):
    """A body that is not what the contract promises; the shell maps it to ServerError."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _text(value: object, _: object = None) -> str:
    if type(value) is str:
        return value
    return "" if value is None else str(value)


def _optional_text(value: object, _: object = None) -> str | None:
    return None if value is None or value == "" else str(value)


def _integer(value: object, _: object = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise WireError(f"expected an integer, got {value!r}")
    return int(value)


def _progress(value: object, _: object = None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= 100 else None
    if isinstance(value, str):
        return _percent(value)
    return None


@functools.lru_cache(maxsize=256)
def _percent(value: str) -> int | None:
    # The same few dozen "N%" strings recur on every poll tick; parse each once.
    match = _PERCENT.match(value)
    if match:
        percent = int(match.group(1))
        return percent if percent <= 100 else None
    return None


def _millis(value: object, _: object = None) -> datetime | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return _datetime(value)


@functools.lru_cache(maxsize=65536)
def _datetime(millis: float) -> datetime:
    # A task's submit and start times come back unchanged on every tick; datetimes are
    # immutable, so one instance per timestamp is shared.
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


_STATUSES = {member.value: member for member in TaskStatus} | {"": TaskStatus.NOT_START}


def _status(value: object, _: object = None) -> TaskStatus:
    known = _STATUSES.get(value) if isinstance(value, str) else None
    return known if known is not None else TaskStatus(_text(value))


_ACTIONS = {member.value: member for member in TaskAction}


def _action(value: object, _: object = None) -> TaskAction | None:
    if not isinstance(value, str) or not value:
        return None
    return _ACTIONS.get(value) or TaskAction(value)


def _mapping(value: object, _: object = None) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _make_converter() -> cattrs.Converter:
    conv = make_converter(detailed_validation=False)
    conv.register_structure_hook(str, _text)
    conv.register_structure_hook(int, _integer)
    conv.register_structure_hook(TaskStatus, _status)

    def buttons(value: object, _: object) -> tuple[Button, ...]:
        if not isinstance(value, list):
            return ()
        return tuple(conv.structure(item, Button) for item in value if isinstance(item, dict))

    field_hooks: dict[str, Any] = {
        "progress": _progress,
        "submit_time": _millis,
        "start_time": _millis,
        "finish_time": _millis,
        "image_url": _optional_text,
        "fail_reason": _optional_text,
        "action": _action,
        "buttons": buttons,
        "properties": _mapping,
    }
    for cls in (Task, Button, SubmitResult):
        overrides: dict[str, Any] = {
            a.name: override(rename=_camel(a.name), struct_hook=field_hooks.get(a.name))
            for a in attrs.fields(cls)
        }
        if cls is SubmitResult:
            overrides["task_id"] = override(rename="result")
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **overrides))

    camel_names: dict[str, Any] = {
        a.name: override(rename=_camel(a.name)) for a in attrs.fields(AccountFilter)
    }
    conv.register_unstructure_hook(
        AccountFilter,
        make_dict_unstructure_fn(
            AccountFilter,
            conv,
            _cattrs_omit_if_default=True,
            **camel_names,
        ),
    )
    return conv


_converter = _make_converter()


def parse_json(body: bytes) -> Any:
    """Decode a body as JSON whatever its Content-Type claimed; raise WireError if it is not."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"body is not JSON: {_preview(body)}") from exc


def _preview(body: bytes, limit: int = 80) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return repr(text + ("..." if len(body) > limit else ""))


# Looked up once: the poller decodes thousands of tasks a tick, and dispatch by type each
# time is a measurable share of that.
_structure_task = _converter.get_structure_hook(Task)


def _structure(
    data: object, cls: type[_T], what: str, hook: Callable[[Any, type[_T]], _T] | None = None
) -> _T:
    if not isinstance(data, dict):
        raise WireError(f"{what} is not a JSON object: {type(data).__name__}")
    try:
        return hook(data, cls) if hook is not None else _converter.structure(data, cls)
    except (KeyError, TypeError, ValueError, cattrs.BaseValidationError) as exc:
        raise WireError(f"{what} cannot be decoded: {exc!r}") from exc


def decode_task(data: object) -> Task:
    """Turn one wire task object into a :class:`Task`."""
    task = _structure(data, Task, "task", _structure_task)
    if not task.id:
        raise WireError("task has no id")
    return task


def decode_submit_result(data: object) -> SubmitResult:
    """Turn an accepted submit answer into a :class:`SubmitResult` (``result`` becomes a str)."""
    if isinstance(data, dict) and data.get("result") in (None, ""):
        raise WireError("submit answer has no task id in 'result'")
    return _structure(data, SubmitResult, "submit answer")


def encode(value: object) -> Any:
    """Turn a model (an AccountFilter, say) into its wire JSON shape."""
    return _converter.unstructure(value)
