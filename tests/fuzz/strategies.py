"""Hypothesis strategies for hostile answers: any bytes, any JSON, any value in any field.

Shared by the fuzz tests of the decoders and of the answer readers. Every strategy leans on
the values that once escaped as a non-OneChatError (``1e400``, ``"²"``, ``NaN``, huge integers,
deep nesting), mixed with arbitrary JSON so that nothing else is assumed either.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from onechat_async._responses import Response

__all__ = [
    "bodies",
    "deep_bodies",
    "field_values",
    "fuzz",
    "json_values",
    "nested",
    "responses",
    "submit_answers",
    "task_objects",
]

# ONECHAT_FUZZ_SCALE=20 runs twenty times the examples, for a deeper search than CI's.
_SCALE = max(1, int(os.environ.get("ONECHAT_FUZZ_SCALE", "1")))


def fuzz(examples: int) -> settings:
    """Settings for a fuzz test: reproducible, no database in the worktree, no deadline.

    ``derandomize`` makes CI see the same examples on every run; a 200,000-deep body takes a
    while to refuse, which is the point, hence no deadline.
    """
    return settings(
        max_examples=examples * _SCALE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


WIRE_KEYS = (
    "id",
    "action",
    "customId",
    "botType",
    "prompt",
    "promptEn",
    "description",
    "state",
    "submitTime",
    "startTime",
    "finishTime",
    "imageUrl",
    "status",
    "progress",
    "failReason",
    "maskBase64",
    "properties",
    "buttons",
)
BUTTON_KEYS = ("customId", "label", "emoji", "type", "style")

# Values that once escaped, or sit on an edge of some rule.
_SPECIAL: list[Any] = [
    "",
    "0",
    "²",
    "١٢",
    "-",
    "12\n",
    " 7 ",
    "1e400",
    "NaN",
    "inf",
    "100%",
    "45%",
    " 12 % ",
    "150%",
    "SUCCESS",
    "FAILURE",
    "CANCEL",
    "IN_PROGRESS",
    "MODAL",
    "IMAGINE",
    "1748339029401",
    "1748339029401828",
    "9" * 32,
    "9" * 33,
    "MJ::JOB::upsample::1::0ddb5e1c",
    1e400,
    -1e400,
    float("nan"),
    1e20,
    -1e20,
    1.7e15,
    253_402_300_799_999,
    253_402_300_800_000,
    10**32 - 1,
    10**32,
    2**63,
    -(2**63),
    -1,
    0,
    1,
    2,
    21,
    22,
    255,
    256,
    True,
    False,
    None,
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.text(max_size=20)
    | st.integers(min_value=0, max_value=10**34).map(str)
    | st.sampled_from(_SPECIAL)
    # Built, not listed: a strategy's repr shows its list, and 5,000 digits make it huge.
    | st.sampled_from([4300, 5000]).map(lambda digits: "9" * digits)
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=6,
)


def nested(depth: int, leaf: Any = "x") -> Any:
    """A list ``depth`` levels deep around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# Deep nesting comes as bytes (deep_bodies) and in the explicit tables: a deep Python value
# drawn here would make Hypothesis's own printing and json.dumps recurse.
field_values = json_values

button_objects = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(BUTTON_KEYS, field_values)
) | st.fixed_dictionaries(
    {"customId": st.text(min_size=1, max_size=20)},
    optional=dict.fromkeys(BUTTON_KEYS[1:], field_values),
)

_FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "id": field_values
    | st.integers(min_value=0, max_value=10**32 - 1)
    | st.integers(min_value=1, max_value=10**32 - 1).map(str),
    "buttons": field_values | st.lists(button_objects | field_values, max_size=5),
    "properties": field_values | st.dictionaries(st.text(max_size=8), field_values, max_size=4),
}


def _with_extras(core: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    return {**extras, **core}


task_objects: st.SearchStrategy[dict[str, Any]] = st.builds(
    _with_extras,
    st.fixed_dictionaries(
        {}, optional={key: _FIELD_STRATEGIES.get(key, field_values) for key in WIRE_KEYS}
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=3),
)

submit_answers: st.SearchStrategy[dict[str, Any]] = st.builds(
    _with_extras,
    st.fixed_dictionaries(
        {},
        optional={
            "code": field_values | st.sampled_from([1, 21, 22, 4, 5, 9, 23, 24, 30, -1]),
            "description": field_values,
            "message": field_values,
            "result": _FIELD_STRATEGIES["id"],
            "success": field_values,
            "properties": _FIELD_STRATEGIES["properties"],
            "error": field_values
            | st.fixed_dictionaries({}, optional={"message": field_values, "type": field_values}),
        },
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=2),
)


def _dumps(value: Any) -> bytes:
    # NaN and Infinity literals are part of what servers may send.
    return json.dumps(value, ensure_ascii=False).encode()


def _deep_body(depth: int, shape: str) -> bytes:
    if shape == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"1" + b"]" * depth


deep_bodies = st.builds(
    _deep_body,
    st.sampled_from([10, 500, 990, 1000, 5000, 200_000]) | st.integers(1, 3000),
    st.sampled_from(["array", "object"]),
)


def _cut(body: bytes, at: int) -> bytes:
    return body[: at % (len(body) + 1)]


def _huge_int(body: bytes, digits: int) -> bytes:
    # Puts a literal past the int digit limit where a number would go.
    return body.replace(b"1", b"1" + b"9" * digits, 1)


json_bodies = (
    json_values.map(_dumps)
    | task_objects.map(_dumps)
    | st.lists(task_objects, max_size=3).map(_dumps)
    | submit_answers.map(_dumps)
)

bodies: st.SearchStrategy[bytes] = (
    st.binary(max_size=200)
    | json_bodies
    | st.builds(_cut, json_bodies, st.integers(min_value=0))
    | st.builds(_huge_int, json_bodies, st.sampled_from([10, 4300, 5000]))
    | json_bodies.map(lambda body: body.decode().encode("utf-16"))
    | deep_bodies
    | st.sampled_from([b"", b"  ", b"null", b"<html></html>", b"<!DOCTYPE html>", b"\xff\xfe"])
)

_HEADER_NAMES = st.sampled_from(["Retry-After", "retry-after", "Content-Type", "X-Other"])
_HEADER_VALUES = st.text(max_size=40) | st.sampled_from(
    [
        "text/html",
        "application/json",
        "7",
        "-3",
        "nan",
        "inf",
        "1e400",
        "9" * 400,
        "Tue, 14 Nov 2023 22:13:30 GMT",
        "Tue, 14 Nov 2023 22:13:30 -0000",
        "Tue, 14 Nov 99999 22:13:30 GMT",
        "Tue, 14 Nov 2023 22:13:30 +9999",
    ]
)

responses: st.SearchStrategy[Response] = st.builds(
    Response,
    status=st.sampled_from([200, 200, 200, 204, 400, 401, 403, 404, 405, 429, 500, 502, 503])
    | st.integers(min_value=-1, max_value=1000),
    headers=st.dictionaries(_HEADER_NAMES | st.text(max_size=10), _HEADER_VALUES, max_size=3),
    body=bodies,
)
