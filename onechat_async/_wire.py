"""The one place that knows how the servers spell things.

A private cattrs converter turns wire JSON into the models of :mod:`onechat_async._models`
and back. Decoding is total: whatever a server sends, each function here returns a value or
raises :class:`WireError`, never anything else. Where the servers are loose it is lenient,
by these rules:

- **JSON** (:func:`parse_json`): any bytes, read by msgspec and, where msgspec refuses, by
  the standard library, with the same values; not JSON, not decodable text, or nested past
  the interpreter's recursion limit is a WireError. ``NaN``/``Infinity`` literals stay
  floats, and integer literals longer than Python's digit limit become floats (``inf``), so
  that one absurd number spoils only the field it sits in, never the whole list.
- **id**: a non-bool int in ``0..10**32-1`` or a str of 1 to 32 ASCII digits becomes the str
  id; anything else (a float such as ``1.7e15``, ``""``, ``"²"``, an object) means the task
  has no usable id and :func:`decode_task` raises WireError.
- **times** (``submitTime``, ``startTime``, ``finishTime``): epoch milliseconds as a non-bool
  int, a float or a str of ASCII digits, between 1 and the end of year 9999. Anything else
  (0, negative, ``NaN``, ``inf``, ``1e20``, a bool, free text) means unset: ``None``.
- **progress**: ``"N%"`` (``" 12.5 %"`` reads 12) or a non-bool int, within 0..100; else None.
- **status**: ``""`` and ``null`` are NOT_START; a known string is its member; any other
  string is kept raw as an ``UNKNOWN`` pseudo-member. Any other type (a number, a bool, an
  object, a list) becomes the one ``UNKNOWN`` pseudo-member :data:`MALFORMED_STATUS`
  (value ``"<malformed>"``): unknown and never terminal, so bad data cannot end a task.
- **action**: a non-empty str (unknown ones kept raw); anything else is None.
- **text** fields: a str as is; an int or a float as its ``str()``; anything else is ``""``
  (``None`` for ``imageUrl``/``failReason``, which are also None when ``""``).
- **buttons**: a list, else none. Items that are not objects, or have no non-empty str
  ``customId``, are dropped. ``label``/``emoji`` that are not str become ``""``; ``type`` and
  ``style`` that are not an int in ``0..255`` become 2 (unknown button types are kept).
- **properties**: an object, else ``{}``; one nested deeper than :data:`MAX_DEPTH` levels is
  also ``{}``, so that comparing or printing a task can never exhaust the stack.
- **code**: a non-bool int or an integral finite float within 64 bits, or a str of at most
  18 ASCII digits with an optional minus; anything else is unknown (None).
- **submit result**: ``result`` must be a usable id (as above) that is not all zeros; anything
  else (a float, ``1e400``, ``""``, ``"abc"``, an object) is a WireError saying the accepted
  answer had no usable task id.
- Extra fields are ignored everywhere. A list answer is read by msgspec straight into
  :class:`Row` s (:func:`read_rows`), which skips the fields the library does not use
  without building them, so what they hold does not matter there (bytes the standard
  library would refuse included); the fields it uses follow the rules above, read the same
  way as from a parsed dict (:func:`row_of`, :func:`decode_row`).
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import attrs
import cattrs
import msgspec
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from ._models import AccountFilter, Button, SubmitResult, Task, TaskAction, TaskStatus, _TaskLayout
from ._secrets import shorten

__all__ = [
    "MALFORMED_STATUS",
    "MAX_DEPTH",
    "Row",
    "WireError",
    "decode_row",
    "decode_submit_result",
    "decode_task",
    "encode",
    "parse_json",
    "read_rows",
    "row_of",
    "wire_code",
    "wire_task_id",
]

_PERCENT = re.compile(r"\s*([0-9]{1,3})(?:\.[0-9]+)?\s*%\s*", re.ASCII)
_CODE = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_MAX_ID_DIGITS: Final = 32
_ID_LIMIT: Final = 10**_MAX_ID_DIGITS
# 9999-12-31T23:59:59.999Z, the last millisecond a datetime can hold.
_MAX_MILLIS: Final = 253_402_300_799_999
_MAX_MILLIS_DIGITS: Final = 15
_MAX_PERCENT_TEXT: Final = 32
_CODE_LIMIT: Final = 2**63
_BUTTON_DEFAULT: Final = 2
_BUTTON_MAX: Final = 255

MAX_DEPTH: Final = 32
"""How deeply a task's or a submit answer's ``properties`` may nest before it is dropped."""

MALFORMED_STATUS: Final = TaskStatus("<malformed>")
"""The status of a task whose ``status`` was not a string: unknown, never terminal."""


class WireError(ValueError):
    """A body that is not what the contract promises; the shell maps it to ServerError."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _text(value: object, _: object = None) -> str:
    if type(value) is str:
        return value
    if type(value) is int or type(value) is float:
        try:
            return str(value)
        except ValueError:
            # An int past the interpreter's digit limit, built after that limit was lowered.
            return ""
    return ""


def _optional_text(value: object, _: object = None) -> str | None:
    return _text(value) or None


def _urls(value: object, _: object = None) -> tuple[str, ...]:
    """``[{"url": ..., "thumbnail": ...}]`` (trueai), ``[{"url": ...}]`` (new-api) or strings."""
    if type(value) is not list:
        return ()
    urls = (item.get("url") if type(item) is dict else item for item in value)
    return tuple(url for url in urls if type(url) is str and url)


def _str_only(value: object, _: object = None) -> str:
    return value if type(value) is str else ""


def _button_number(value: object, _: object = None) -> int:
    if type(value) is int and 0 <= value <= _BUTTON_MAX:
        return value
    return _BUTTON_DEFAULT


def _integer(value: object, _: object = None) -> int:
    # Only reached for an int field without its own hook; none is left, but stay total.
    code = wire_code(value)
    if code is None:
        raise WireError(f"expected an integer, got a {type(value).__name__}")
    return code


def _submit_code(value: object, _: object = None) -> int:
    # Only accepted answers are decoded: an unreadable code there means "accepted".
    code = wire_code(value)
    return 1 if code is None else code


def wire_code(value: object) -> int | None:
    """An answer's ``code`` as an int, or None when it is not a plain integer."""
    if type(value) is int:
        return value if -_CODE_LIMIT < value < _CODE_LIMIT else None
    if type(value) is float:
        if math.isfinite(value) and value.is_integer() and -_CODE_LIMIT < value < _CODE_LIMIT:
            return int(value)
        return None
    if type(value) is str:
        text = value.strip()
        return int(text) if _CODE.fullmatch(text) else None
    return None


def wire_task_id(value: object) -> str | None:
    """A wire task id as the str the library uses, or None when it is not a usable id."""
    if type(value) is str:
        # isdigit alone is true for "²" and Arabic-Indic digits; ASCII first makes it [0-9].
        if len(value) <= _MAX_ID_DIGITS and value.isascii() and value.isdigit():
            return value
        return None
    if type(value) is int and 0 <= value < _ID_LIMIT:
        return str(value)
    return None


def _id_or_empty(value: object, _: object = None) -> str:
    return wire_task_id(value) or ""


def _progress(value: object, _: object = None) -> int | None:
    if type(value) is int:
        return value if 0 <= value <= 100 else None
    if type(value) is str and len(value) <= _MAX_PERCENT_TEXT:
        return _percent(value)
    return None


#: The usual spelling of every percentage, read without the pattern: ``"45%"`` is 45.
_PERCENTS: Final = {f"{percent}%": percent for percent in range(101)}


@functools.lru_cache(maxsize=256)
def _percent(value: str) -> int | None:
    # The same few dozen "N%" strings recur on every poll tick; parse each once.
    match = _PERCENT.fullmatch(value)
    if match:
        percent = int(match.group(1))
        return percent if percent <= 100 else None
    return None


def _millis(value: object, _: object = None) -> datetime | None:
    millis: float
    if type(value) is int or type(value) is float:
        millis = value
    elif type(value) is str:
        if not (len(value) <= _MAX_MILLIS_DIGITS and value.isascii() and value.isdigit()):
            return None
        millis = int(value)
    else:
        return None
    # Written so that NaN, which compares false with everything, falls out as unset too;
    # within these bounds the datetime arithmetic below cannot overflow.
    if not 0 < millis <= _MAX_MILLIS:
        return None
    return _datetime(millis)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MEMO_SIZE: Final = 65_536


class _Memo:
    """A bounded memo of one pure function of a hashable value, emptied when full.

    Cheaper than ``functools.lru_cache`` per entry and per hit: no recency list to keep,
    which at 100,000 tasks costs more than the values it saves. ``cache_clear`` as lru_cache
    names it, so that code that empties caches (the memory benchmark) finds it.
    """

    __slots__ = ("_function", "_values", "cache_clear", "known")

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self._function = function
        self._values: dict[Any, Any] = {}
        # An attribute, not a method: code that scans a module for ``cache_clear`` (the
        # memory benchmark) then finds it on the memo only, never unbound on the class.
        self.cache_clear: Callable[[], None] = self._values.clear
        #: The value already made for a key, or None: a lookup without the call.
        self.known: Callable[[Any], Any] = self._values.get

    def __call__(self, key: Any) -> Any:
        values = self._values
        value = values.get(key)
        if value is None:
            value = self._function(key)
            if len(values) >= _MEMO_SIZE:
                values.clear()
            values[key] = value
        return value


def _datetime_of(millis: float) -> datetime:
    # Adding a timedelta is exact to the millisecond and, unlike fromtimestamp, does not
    # depend on the platform's time_t.
    return _EPOCH + timedelta(milliseconds=millis)


# A task's submit and start times come back unchanged on every tick; datetimes are
# immutable, so one instance per timestamp is shared.
_datetimes = _Memo(_datetime_of)
_datetime: Callable[[float], datetime] = _datetimes


_STATUSES = {member.value: member for member in TaskStatus} | {"": TaskStatus.NOT_START}


def _status(value: object, _: object = None) -> TaskStatus:
    if type(value) is str:
        known = _STATUSES.get(value)
        return known if known is not None else TaskStatus(value)
    return TaskStatus.NOT_START if value is None else MALFORMED_STATUS


_ACTIONS = {member.value: member for member in TaskAction}


def _action(value: object, _: object = None) -> TaskAction | None:
    if type(value) is not str or not value:
        return None
    return _ACTIONS.get(value) or TaskAction(value)


_Raw: Final = msgspec.Raw

#: The one empty ``properties``: most tasks have none, and a Task's mapping is read-only.
_EMPTY_MAPPING: Final[Mapping[str, Any]] = {}
#: Small all-text ``properties`` (``{"finalPrompt": "", "finalZhPrompt": ""}`` while a task
#: runs) recur across tasks: one shared dict per distinct content, emptied when this full.
_SHARED_MAPPINGS: dict[tuple[tuple[str, str], ...], Mapping[str, Any]] = {}
_SHARED_MAPPINGS_MAX: Final = 1024
_SHAREABLE_ITEMS: Final = 8
_SHAREABLE_TEXT: Final = 32


def _mapping(value: object, _: object = None) -> Mapping[str, Any]:
    if type(value) is not dict or not value:
        # A Row's properties come still as text, decoded only now (see decode_row).
        return _raw_mapping(value) if type(value) is _Raw else _EMPTY_MAPPING
    shareable = len(value) <= _SHAREABLE_ITEMS
    for key, item in value.items():
        if type(item) is str:
            if len(item) > _SHAREABLE_TEXT or type(key) is not str:
                shareable = False
        elif type(item) is dict or type(item) is list:
            # Rare: the usual properties hold only strings, so the walk is skipped.
            return value if _within_depth(value, MAX_DEPTH) else _EMPTY_MAPPING
        else:
            # Numbers are not shared: 1, 1.0 and true are equal keys but not equal values.
            shareable = False
    return _shared_mapping(value) if shareable else value


def _shared_mapping(value: dict[str, str]) -> Mapping[str, Any]:
    key = tuple(value.items())
    shared = _SHARED_MAPPINGS.get(key)
    if shared is None:
        if len(_SHARED_MAPPINGS) >= _SHARED_MAPPINGS_MAX:
            # Emptied rather than frozen, so that values of the past never crowd out today's.
            _SHARED_MAPPINGS.clear()
        _SHARED_MAPPINGS[key] = shared = value
    return shared


def _within_depth(value: object, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep; iterative, stack-safe."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
        if type(item) is dict:
            children = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


_intern = sys.intern


#: A Raw field's value when the object lacks it: as if it said null, which it may also say.
_NULL: Final = msgspec.Raw(b"null")
#: JSON texts of at most this many bytes ("null", "[{}]", "12") make no button, URL or property.
_EMPTY_RAW: Final = 4


class Row(msgspec.Struct, gc=False, rename="camel"):
    """One task object as read, before the rules of :func:`_task_builder`.

    A task object parsed as a dict (a fetch, a callback) is put in one to be decoded;
    msgspec reads a list answer straight into these: fields the library does not use are
    skipped without being built, and the containers (``buttons``, ``properties``, the URL
    lists) stay :class:`msgspec.Raw` slices of the body until the task is decoded, which
    only a task that moved is (:func:`decode_row`). Any JSON value fits any field, as in a
    dict; a missing field is None (a Raw one: ``null``), except ``id``, which is ``UNSET``
    (no id at all).
    Not tracked by the garbage collector: nothing read from JSON can form a cycle.
    """

    id: Any = msgspec.UNSET
    status: Any = None
    action: Any = None
    progress: Any = None
    prompt: Any = None
    prompt_en: Any = None
    description: Any = None
    state: Any = None
    custom_id: Any = None
    bot_type: Any = None
    submit_time: Any = None
    start_time: Any = None
    finish_time: Any = None
    image_url: Any = None
    fail_reason: Any = None
    buttons: msgspec.Raw = _NULL
    properties: msgspec.Raw = _NULL
    image_urls: msgspec.Raw = _NULL
    video_url: Any = None
    video_urls: msgspec.Raw = _NULL


def _task_builder(  # noqa: PLR0915 - the builder below is one straight function on purpose
    structure_buttons: Callable[[object, object], tuple[Button, ...]],
) -> Callable[..., Task]:
    """Task's structure rules, written out by hand: the same rules as the generated hook.

    The poller decodes every task that moved on every tick, and cattrs' generated hook (one
    call per field, then attrs' ``__init__`` through a kwargs dict) costs more than parsing
    the JSON. Here a field of the expected type costs a type check, the rest go to the same
    field hooks, and the result is the generated hook's field for field (``tests/fuzz``
    compares the two).
    Repeated text is shared: ``promptEn`` equal to ``prompt`` is one string, and the few
    descriptions and bot types are interned.
    """
    known_times = _datetimes.known
    new = object.__new__

    # One straight function on purpose: each field costs a type check, not a call, and is
    # stored straight into the Task's slot (see _TaskLayout).
    def build_task(row: Row, known_id: str | None) -> Task:  # noqa: PLR0915
        # The rules, once, for both shapes a task arrives in: a Row of a list answer, and a
        # dict (fetch, callbacks) made into one. A field missing from either is None here,
        # or a Raw null; a Row's containers come as Raw text, a dict's already parsed.
        task: Any = new(_TaskLayout)
        value: Any = row.id
        if value == known_id and type(value) is str:
            # The tracker's own str, checked when it was watched: one per task, not one more
            # per decoded snapshot.
            task.id = known_id
        else:
            task_id = _id_or_empty(value)
            task.id = known_id if task_id == known_id else task_id
        value = row.status
        status = _STATUSES.get(value) if type(value) is str else None
        task.status = status if status is not None else _status(value)
        value = row.action
        action = _ACTIONS.get(value) if type(value) is str else None
        task.action = action if action is not None else _action(value)
        value = row.progress
        progress = _PERCENTS.get(value) if type(value) is str else None
        task.progress = progress if progress is not None else _progress(value)
        value = row.prompt
        task.prompt = prompt = value if type(value) is str else _text(value)
        value = row.prompt_en
        prompt_en = value if type(value) is str else _text(value)
        task.prompt_en = prompt if prompt_en == prompt else prompt_en
        value = row.description
        task.description = _intern(value) if type(value) is str else _text(value)
        value = row.state
        task.state = value if type(value) is str else _text(value)
        value = row.custom_id
        task.custom_id = value if type(value) is str else _text(value)
        value = row.bot_type
        task.bot_type = _intern(value) if type(value) is str else _text(value)
        # A task's times come back unchanged on every tick: a valid one is in the memo.
        value = row.submit_time
        time = known_times(value) if type(value) is int else None
        task.submit_time = time if time is not None else _millis(value)
        value = row.start_time
        time = known_times(value) if type(value) is int else None
        task.start_time = time if time is not None else _millis(value)
        value = row.finish_time
        if type(value) is int:
            # 0, the gateway's "not finished", is unset without a call.
            time = known_times(value) if value else None
            task.finish_time = time if time is not None or not value else _millis(value)
        else:
            task.finish_time = _millis(value)
        value = row.image_url
        task.image_url = (value or None) if type(value) is str else _optional_text(value)
        value = row.fail_reason
        task.fail_reason = (value or None) if type(value) is str else _optional_text(value)
        # The usual containers are short texts ("[]", null): no call for them.
        value = row.buttons
        if type(value) is _Raw:
            value = None if len(value) <= _EMPTY_RAW else _raw_value(value)
        task.buttons = structure_buttons(value, None) if type(value) is list and value else ()
        task.properties = _mapping(row.properties)
        value = row.image_urls
        if type(value) is _Raw:
            value = None if len(value) <= _EMPTY_RAW else _raw_value(value)
        task.image_urls = _urls(value) if type(value) is list and value else ()
        value = row.video_url
        # Missing from every gateway answer: None without a call.
        task.video_url = (
            None
            if value is None
            else (value or None)
            if type(value) is str
            else _optional_text(value)
        )
        value = row.video_urls
        if type(value) is _Raw:
            value = None if len(value) <= _EMPTY_RAW else _raw_value(value)
        task.video_urls = _urls(value) if type(value) is list and value else ()
        task.__class__ = Task
        built: Task = task
        return built

    return build_task


class _TaskReader:
    """Task's structure hook on the converter: a dict's fields handed to the builder."""

    __slots__ = ("build",)

    def __init__(self, structure_buttons: Callable[[object, object], tuple[Button, ...]]) -> None:
        self.build = _task_builder(structure_buttons)

    def __call__(self, o: dict[str, Any], _: object = None, known_id: str | None = None) -> Task:
        if "id" not in o:
            raise KeyError("id")  # as the generated hook: a Task has no id without one
        return self.build(row_of(o), known_id)


def _submit_result(o: dict[str, Any], task_id: str, code: int) -> SubmitResult:
    """A SubmitResult from an answer whose id and code are read already (the hot path's part).

    Field for field what cattrs' generated hook gives, without reading the id and the code a
    second time: every submit's answer comes through here.
    """
    description = o.get("description")
    if "properties" not in o:
        # The model's own default (a fresh dict), as the generated hook leaves it.
        return SubmitResult(task_id, code, _text(description))
    return SubmitResult(task_id, code, _text(description), _mapping(o["properties"]))


def _structure_submit_result(o: dict[str, Any], _: object = None) -> SubmitResult:
    # o["result"]: like cattrs' hook, a missing id is a KeyError (the required field).
    return _submit_result(o, _id_or_empty(o["result"]), _submit_code(o.get("code")))


def _make_converter(*, specialised: bool = True) -> cattrs.Converter:
    """The converter; ``specialised=False`` keeps cattrs' generated hooks (the reference)."""
    conv = make_converter(detailed_validation=False)
    conv.register_structure_hook(str, _text)
    conv.register_structure_hook(int, _integer)
    conv.register_structure_hook(TaskStatus, _status)

    def register(cls: type, field_hooks: dict[str, Any]) -> None:
        # Every field gets a total hook: its own, or the converter's str/int/TaskStatus one.
        overrides: dict[str, Any] = {
            a.name: override(
                rename="result" if a.name == "task_id" else _camel(a.name),
                struct_hook=field_hooks.get(a.name),
            )
            for a in attrs.fields(cls)
        }
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **overrides))

    register(
        Button,
        {
            "custom_id": _str_only,
            "label": _str_only,
            "emoji": _str_only,
            "type": _button_number,
            "style": _button_number,
        },
    )
    structure_button = conv.get_structure_hook(Button)

    def buttons(value: object, _: object) -> tuple[Button, ...]:
        if type(value) is not list:
            return ()
        # A button without a customId cannot be pressed: drop it, keep the task.
        return tuple(
            structure_button(item, Button)
            for item in value
            if type(item) is dict and type(item.get("customId")) is str and item["customId"]
        )

    generated_task_fields = {
        "id": _id_or_empty,
        "progress": _progress,
        "submit_time": _millis,
        "start_time": _millis,
        "finish_time": _millis,
        "image_url": _optional_text,
        "fail_reason": _optional_text,
        "action": _action,
        "buttons": buttons,
        "properties": _mapping,
        "image_urls": _urls,
        "video_url": _optional_text,
        "video_urls": _urls,
    }
    register(Task, generated_task_fields)
    if specialised:
        conv.register_structure_hook(Task, _TaskReader(buttons))
    register(SubmitResult, {"task_id": _id_or_empty, "code": _submit_code, "properties": _mapping})
    if specialised:
        conv.register_structure_hook(SubmitResult, _structure_submit_result)

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


def _wide_int(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        # Past the interpreter's digit limit: as a float it is inf, which no field accepts.
        return float(text)


_WIDE_INT_JSON = json.JSONDecoder(parse_int=_wide_int)


#: Untyped: the values are structured by the converter below, not by msgspec.
_FAST_JSON: Final = msgspec.json.Decoder()


def parse_json(body: bytes) -> Any:
    """Decode a body as JSON whatever its Content-Type claimed; raise WireError if it is not.

    msgspec reads bodies two to three times as fast as the standard library, which is most of
    a poll tick's CPU, and reads what both accept the same way (integers of any width stay
    ints, duplicate keys keep the last). It refuses what the standard library reads
    leniently (``NaN``, ``Infinity``, ``1e400``, lone surrogates, UTF-16 and BOMs, integers
    past the digit limit): those bodies, and anything else msgspec refuses, are read by the
    standard library, whose answer (a value or a WireError) is the one given.
    """
    if type(body) is bytes:
        try:
            return _FAST_JSON.decode(body)
        except (msgspec.MsgspecError, RecursionError):
            pass
    return _parse_standard(body)


def _parse_standard(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise WireError(f"body is not JSON: {_preview(body)}") from exc
    except RecursionError:
        raise WireError("body is JSON nested too deeply to read") from None
    except ValueError:
        # json.loads raises a bare ValueError only for an integer literal past the digit
        # limit: read the body again with such literals as floats (rare, so slow is fine).
        return _parse_wide_ints(body)


def _parse_wide_ints(body: bytes) -> Any:
    try:
        return _WIDE_INT_JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError) as exc:
        raise WireError(f"body is not JSON: {_preview(body)}") from exc


def _kind(value: object) -> str:
    """What a bad value is, without its content (bounded, and never an echoed secret)."""
    if value is None:
        return "null or missing"
    if type(value) is str:
        return f"a str of {len(value)} characters"
    return f"a {type(value).__name__}"


def _preview(body: object, limit: int = 80) -> str:
    if not isinstance(body, bytes | bytearray):
        return f"a {type(body).__name__}"
    # Decoded with room to spare, so that a key straddling the limit is still whole when
    # shorten() redacts it before cutting.
    text = bytes(body[: limit + 512]).decode("utf-8", "replace").strip()
    return repr(shorten(text, limit))


# Looked up once: the poller decodes thousands of tasks a tick, and dispatch by type each
# time is a measurable share of that.
_structure_task: Callable[..., Task] = _converter.get_structure_hook(Task)
_build_task: Callable[..., Task] = cast("_TaskReader", _structure_task).build


def decode_task(data: object, *, known_id: str | None = None) -> Task:
    """Turn one wire task object into a :class:`Task`; WireError if it has no usable id.

    ``known_id``, the id the caller already holds for this task, becomes the Task's id when
    the object names the same task, so that the two share one str.
    """
    if not isinstance(data, dict):
        raise WireError(f"task is not a JSON object: {_kind(data)}")
    if "id" not in data:
        raise WireError("task has no usable id: it has none")
    try:
        task = _structure_task(data, Task, known_id)
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        # Unreachable while every field hook is total; kept so that a future hook that is not
        # still yields a WireError rather than an escape.
        raise WireError(f"Task cannot be decoded: {type(exc).__name__}") from None
    if not task.id:
        raise WireError(f"task has no usable id: {_kind(data['id'])}, not 1 to 32 digits")
    return task


#: (wire key, Row field) of every Row field, for rows made from dicts.
_ROW_KEYS: Final = tuple((_camel(name), name) for name in Row.__struct_fields__)
_ROWS: Final = msgspec.json.Decoder(list[Row])
#: ``properties`` texts up to this long are remembered decoded: most tasks share a few.
_RAW_MAPPING_TEXT: Final = 256
_RAW_MAPPINGS: dict[bytes, Mapping[str, Any]] = {}
_RAW_MAPPINGS_MAX: Final = 1024
#: The last short ``properties`` text mapped, and its mapping: the tasks of one answer mostly
#: carry the same, and comparing two texts costs a tenth of copying one out to look it up.
#: One tuple, read once, so that a thread reading it never pairs a text with another's map.
_last_raw_mapping: tuple[msgspec.Raw, Mapping[str, Any]] = (_NULL, _EMPTY_MAPPING)


def read_rows(body: bytes) -> list[Row] | None:
    """A list answer's task objects as :class:`Row` s, or None where msgspec cannot say.

    None for anything but a JSON array of objects whose used fields msgspec reads (and for
    what msgspec refuses there, see :func:`parse_json`): the caller then parses the body as
    any answer and turns its objects into rows with :func:`row_of`, so the values are the
    same either way. Fields the library ignores are only skipped, and msgspec skips a few
    things the standard library refuses (invalid UTF-8, ``1e400``): such a body is read,
    where parsing it whole would refuse it. Extra fields are ignored, whatever they hold.
    """
    if type(body) is bytes:
        try:
            return _ROWS.decode(body)
        except (msgspec.MsgspecError, RecursionError):
            pass
    return None


def row_of(data: Mapping[str, Any]) -> Row:
    """The :class:`Row` of a task object already parsed (a fallback, or a test's dict)."""
    return Row(**{name: data[key] for key, name in _ROW_KEYS if key in data})


def _raw_value(value: object) -> object:
    """A Raw field's JSON value (a parsed row holds the value itself); None if unreadable."""
    if type(value) is not _Raw:
        return value
    if len(value) <= _EMPTY_RAW:
        return None
    try:
        return parse_json(bytes(value))
    except WireError:
        # Within a body msgspec read: only text the standard library refuses (invalid
        # UTF-8) gets here, and it spoils only this field.
        return None


def _raw_mapping(value: msgspec.Raw) -> Mapping[str, Any]:
    """A Row's ``properties``: short texts are decoded once and the mapping shared.

    Shared by exact text, so equal texts give equal values, types and all: most tasks carry
    one of a few (``{"finalPrompt": "", "finalZhPrompt": ""}``), and a Task's mapping is
    read-only. Emptied when full, so hostile texts stay bounded.
    """
    global _last_raw_mapping  # noqa: PLW0603 - a one-entry cache in front of the dict
    last = _last_raw_mapping
    if value == last[0]:
        return last[1]
    if len(value) <= _EMPTY_RAW:
        return _EMPTY_MAPPING
    if len(value) > _RAW_MAPPING_TEXT:
        return _mapping(_raw_value(value))
    text = bytes(value)
    mapping = _RAW_MAPPINGS.get(text)
    if mapping is None:
        mapping = _mapping(_raw_value(value))
        if len(_RAW_MAPPINGS) >= _RAW_MAPPINGS_MAX:
            _RAW_MAPPINGS.clear()
        _RAW_MAPPINGS[text] = mapping
    # Over its own copy of the text: a Raw of the body would keep the whole body alive.
    _last_raw_mapping = (msgspec.Raw(text), mapping)
    return mapping


def decode_row(row: Row, *, known_id: str | None = None) -> Task:
    """:func:`decode_task` for a :class:`Row`: the same rules, the same Task, or WireError."""
    raw_id = row.id
    if raw_id is msgspec.UNSET:
        raise WireError("task has no usable id: it has none")
    try:
        task = _build_task(row, known_id)
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        # Unreachable while every field hook is total; as in decode_task.
        raise WireError(f"Task cannot be decoded: {type(exc).__name__}") from None
    if not task.id:
        raise WireError(f"task has no usable id: {_kind(raw_id)}, not 1 to 32 digits")
    return task


def decode_submit_result(data: object, *, code: int | None = None) -> SubmitResult:
    """Turn an accepted submit answer into a :class:`SubmitResult` (``result`` becomes a str).

    WireError when ``result`` is not a usable task id: the answer said "accepted" but names
    no task that could be followed. ``code`` is ``wire_code(data.get("code"))`` when the caller
    has read it already (to tell accepted from refused), so that it is not read twice.
    """
    if not isinstance(data, dict):
        raise WireError(f"submit answer is not a JSON object: {_kind(data)}")
    result = data.get("result")
    task_id = wire_task_id(result)
    if task_id is None or not task_id.strip("0"):
        # Only the kind of value is named: a server may echo anything here, secrets included.
        raise WireError(
            f"the accepted submit answer had no usable task id in 'result': {_kind(result)}"
        )
    if code is None:
        code = _submit_code(data.get("code"))
    try:
        return _submit_result(data, task_id, code)
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        # Unreachable while every field rule is total; kept so that a future one that is not
        # still yields a WireError rather than an escape.
        raise WireError(f"SubmitResult cannot be decoded: {type(exc).__name__}") from None


def encode(value: object) -> Any:
    """Turn a model (an AccountFilter, say) into its wire JSON shape."""
    return _converter.unstructure(value)


def _check_task_builder() -> None:
    """Fail at import if the Task builder leaves a field unset.

    A new Task field the builder does not fill would be an unset slot, found otherwise by
    the first caller that reads it.
    """
    empty = decode_row(Row(id="1"))
    unset = [field.name for field in attrs.fields(Task) if not hasattr(empty, field.name)]
    if unset:
        raise RuntimeError(f"the Task builder leaves {', '.join(unset)} unset")


_check_task_builder()
