"""What each server's JSON decoder makes of a body before any of its own logic runs. Pure.

A body whose fields have the wrong JSON types never reaches the servers' code: it is refused
by the framework that decodes it, and each framework has its own rules:

- new-api (the gateway) decodes every submit into one Go struct, ``dto.MidjourneyRequest``
  (in its distributor; then ``SwapFaceRequest`` for swap-face; ``{ids []string}`` for
  list-by-condition) with
  ``encoding/json``: a number is not a string, a string is not a list, ``1.5`` is not an
  int. Fields outside the struct are not looked at (they are forwarded upstream as sent).
- The Java proxies' Spring (open-source and plus) decodes into its DTOs with Jackson, which
  coerces scalars into strings (``5`` becomes ``"5"``) and numeric strings or floats into
  integers, but refuses an array or an object where a string belongs and a scalar where a
  list belongs.
- The C# proxy's ASP.NET Core uses System.Text.Json with the web defaults: as strict as Go
  about strings and lists, and an object where an object belongs.

:func:`bind` applies those rules and returns the body as the server's code would then see it
(coerced values included), or the sentence the framework would report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["GATEWAY_SUBMIT", "bind"]

_STR, _INT, _STRS, _OBJ = "string", "int", "[]string", "object"

# new-api: dto.MidjourneyRequest, shared by every submit route but swap-face.
_GATEWAY_SUBMIT = {
    "prompt": _STR,
    "customId": _STR,
    "botType": _STR,
    "notifyHook": _STR,
    "action": _STR,
    "index": _INT,
    "state": _STR,
    "taskId": _STR,
    "base64Array": _STRS,
    "content": _STR,
    "maskBase64": _STR,
}
_GATEWAY = {
    "swap-face": {"sourceBase64": _STR, "targetBase64": _STR},
    "list-by-condition": {"ids": _STRS},
}
#: The endpoint name under which :func:`bind` checks new-api's ``dto.MidjourneyRequest``
#: (its distributor decodes every submit body into it, swap-face's included).
GATEWAY_SUBMIT = "submit"

# The proxies' DTOs (the Java plus edition's and the C# rewrite's agree on these fields).
_COMMON = {"state": _STR, "notifyHook": _STR}
_IMAGE = {**_COMMON, "botType": _STR, "accountFilter": _OBJ}
_UPSTREAM: dict[str, dict[str, str]] = {
    "imagine": {**_IMAGE, "prompt": _STR, "base64Array": _STRS, "base64": _STR},
    "change": {**_COMMON, "taskId": _STR, "action": _STR, "index": _INT},
    "simple-change": {**_COMMON, "content": _STR},
    "action": {**_COMMON, "taskId": _STR, "customId": _STR},
    "modal": {**_COMMON, "taskId": _STR, "prompt": _STR, "maskBase64": _STR},
    "blend": {**_IMAGE, "base64Array": _STRS, "dimensions": _STR},
    "describe": {**_IMAGE, "base64": _STR, "link": _STR},
    "shorten": {**_IMAGE, "prompt": _STR},
    "swap-face": {**_COMMON, "sourceBase64": _STR, "targetBase64": _STR},
    "video": {
        **_COMMON,
        "prompt": _STR,
        "image": _STR,
        "endImage": _STR,
        "motion": _STR,
        "videoType": _STR,
        "action": _STR,
        "taskId": _STR,
        "index": _INT,
        "batchSize": _INT,
    },
    "edits": {**_IMAGE, "prompt": _STR, "image": _STR},
    "upload-discord-images": {"base64Array": _STRS, "accountFilter": _OBJ},
    "list-by-condition": {"ids": _STRS},
}

_INT32 = 2**31
_INT64 = 2**63
_DIGITS = re.compile(r"^-?\d{1,19}$")


class _Refused(Exception):  # noqa: N818 - an outcome, turned into the framework's sentence
    pass


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- Go, encoding/json ------------------------------------------------------------------


def _go(kind: str, value: Any) -> Any:
    if kind == _STR and isinstance(value, str):
        return value
    if kind == _INT and _is_int(value) and -_INT64 <= value < _INT64:
        return value
    if (
        kind == _STRS
        and isinstance(value, list)
        and all(v is None or isinstance(v, str) for v in value)
    ):
        return value
    raise _Refused


# -- Java, Jackson with Spring Boot's defaults ----------------------------------------------


def _jackson_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        # Jackson writes the token's own text: true, 5, 1.5.
        return json.dumps(value)
    raise _Refused


def _jackson(kind: str, value: Any) -> Any:
    if kind == _STR:
        return _jackson_text(value)
    if kind == _INT:
        if isinstance(value, str) and _DIGITS.match(value.strip()):
            value = int(value.strip())
        elif isinstance(value, float) and math.isfinite(value):
            value = int(value)  # ACCEPT_FLOAT_AS_INT truncates
        if _is_int(value) and -_INT32 <= value < _INT32:
            return value
        raise _Refused
    if kind == _STRS:
        if not isinstance(value, list):
            raise _Refused
        return [None if v is None else _jackson_text(v) for v in value]
    if isinstance(value, dict):
        return value
    raise _Refused


# -- C#, System.Text.Json with ASP.NET Core's web defaults --------------------------------------


def _stj(kind: str, value: Any) -> Any:
    # As strict as Go for strings and lists. (The web defaults would also read "2" as an int,
    # but v10 dropped /change, the one route with an int field.)
    if kind == _OBJ:
        if isinstance(value, dict):
            return value
        raise _Refused
    return _go(kind, value)


_DOTNET_TYPES = {
    _STR: "System.String",
    _INT: "System.Int32",
    _STRS: "System.Collections.Generic.List`1[System.String]",
    _OBJ: "System.Object",
}
_JAVA_TYPES = {
    _STR: "java.lang.String",
    _INT: "java.lang.Integer",
    _STRS: "java.util.ArrayList<java.lang.String>",
    _OBJ: "java.util.LinkedHashMap<java.lang.String,java.lang.Object>",
}
_STRUCTS = {"swap-face": "SwapFaceRequest", "list-by-condition": "condition"}


def _sentence(flavour: str, endpoint: str, field: str, kind: str, value: object) -> str:
    if flavour == "gateway":
        struct = _STRUCTS.get(endpoint, "MidjourneyRequest")
        return (
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
            f"{struct}.{field} of type {kind}"
        )
    if flavour in ("java", "java-plus"):
        return (
            f"JSON parse error: Cannot deserialize value of type `{_JAVA_TYPES[kind]}` "
            f"from {_json_kind(value).capitalize()} value"
        )
    return (
        f"The JSON value could not be converted to {_DOTNET_TYPES[kind]}. "
        f"Path: $.{field} | LineNumber: 0 | BytePositionInLine: 0."
    )


_DECODERS: Mapping[str, Callable[[str, Any], Any]] = {
    "gateway": _go,
    "java": _jackson,
    "java-plus": _jackson,
    "csharp-v10": _stj,
}


def _fields(flavour: str, endpoint: str) -> Mapping[str, str]:
    if flavour == "gateway":
        return _GATEWAY.get(endpoint, _GATEWAY_SUBMIT)
    return _UPSTREAM.get(endpoint, _COMMON)


def bind(flavour: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any] | str:
    """``body`` as ``flavour``'s decoder leaves it, or the sentence it refuses it with.

    ``null`` always binds (the field keeps its zero value); fields the server's type does
    not declare pass through untouched.
    """
    decode = _DECODERS[flavour]
    bound = dict(body)
    for field, kind in _fields(flavour, endpoint).items():
        value = body.get(field)
        if value is None:
            continue
        try:
            bound[field] = decode(kind, value)
        except _Refused:
            return _sentence(flavour, endpoint, field, kind, value)
    return bound
