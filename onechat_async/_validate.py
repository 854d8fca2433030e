"""What callers pass, checked in one place: durations and counts.

Every duration a caller hands the library (timeouts, deadlines, intervals, waits) is seconds as
an ``int``/``float`` or a :class:`~datetime.timedelta`. ``None`` means "none" (no timeout, no
deadline) where the signature allows it; zero, negative, NaN, infinite or mistyped values are
refused with :class:`InvalidRequestError` rather than silently meaning "no limit".
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import attrs

from ._errors import InvalidRequestError

__all__ = [
    "Duration",
    "at_least",
    "count",
    "instance_of",
    "non_negative",
    "optional_positive",
    "optional_seconds",
    "positive",
    "seconds",
    "to_optional_seconds",
    "to_seconds",
    "within",
]

Duration = float | timedelta


def seconds(
    value: object, *, what: str = "a duration", allow_zero: bool = False, optional: bool = False
) -> float:
    """``value`` as finite seconds, or InvalidRequestError saying what was wrong with it.

    ``optional`` says that the caller may pass None instead (for "no limit"), so the error
    may suggest it.
    """
    if isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidRequestError(
            f"{what} must be seconds (a number) or a timedelta, got {value!r}"
        )
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        least = "zero or more" if allow_zero else "more than zero"
        none = "; pass None for no limit" if optional else ""
        raise InvalidRequestError(
            f"{what} must be a finite number of seconds, {least}{none}, got {value!r}"
        )
    return number


def optional_seconds(value: object, *, what: str = "a duration") -> float | None:
    """Like :func:`seconds`, with ``None`` meaning "no limit"."""
    return None if value is None else seconds(value, what=what, optional=True)


# attrs validators for the policies: the converter has already produced a float.


def _check(value: Any, name: str, *, allow_zero: bool) -> None:
    seconds(value, what=name, allow_zero=allow_zero)


def positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: finite and above zero."""
    _check(value, attribute.name, allow_zero=False)


def non_negative(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: finite and zero or more."""
    _check(value, attribute.name, allow_zero=True)


def optional_positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: None, or finite and above zero."""
    if value is not None:
        seconds(value, what=attribute.name, optional=True)


def to_seconds(value: Any) -> Any:
    """An attrs converter: a timedelta becomes seconds; anything else is left for the validator."""
    return value.total_seconds() if isinstance(value, timedelta) else value


def to_optional_seconds(value: Any) -> Any:
    """An attrs converter like :func:`to_seconds` that lets None through."""
    return None if value is None else to_seconds(value)


def count(value: object, *, what: str, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum``, or InvalidRequestError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRequestError(
            f"{what} must be a whole number of at least {minimum}, got {value!r}"
        )
    return value


def at_least(minimum: int) -> Any:
    """An attrs validator: an int of at least ``minimum``."""

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        count(value, what=attribute.name, minimum=minimum)

    return check


def within(minimum: int, maximum: int) -> Any:
    """An attrs validator: an int from ``minimum`` to ``maximum``."""

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if count(value, what=attribute.name, minimum=minimum) > maximum:
            raise InvalidRequestError(f"{attribute.name} must be at most {maximum}, got {value!r}")

    return check


def instance_of(kind: type) -> Any:
    """An attrs validator: an instance of ``kind``."""

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind):
            raise InvalidRequestError(
                f"{attribute.name} must be a {kind.__name__}, got {type(value).__name__}"
            )

    return check
