"""When to try a request again, and how long to wait first: pure arithmetic, no sleeping."""

from __future__ import annotations

import random
from datetime import timedelta

import attrs

__all__ = ["RetryPolicy", "seconds"]


def seconds(value: float | timedelta) -> float:
    """Accept a duration as seconds or a :class:`~datetime.timedelta`."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How queries (and opted-in submits) are retried after a transient failure.

    ``attempts`` counts the first try; ``timeout`` bounds the whole affair, waits included.
    The n-th wait is ``min(wait_max, wait_initial * 2**(n-1)) + uniform(0, wait_jitter)``,
    or the server's ``Retry-After`` when it asked for longer.
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    timeout: float = attrs.field(default=60.0, converter=seconds, validator=_non_negative)
    wait_initial: float = attrs.field(default=0.5, converter=seconds, validator=_non_negative)
    wait_max: float = attrs.field(default=10.0, converter=seconds, validator=_non_negative)
    wait_jitter: float = attrs.field(default=1.0, converter=seconds, validator=_non_negative)

    @classmethod
    def off(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)

    def wait(self, attempt: int, *, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        backoff = min(self.wait_max, self.wait_initial * 2.0 ** (attempt - 1))
        backoff += rng.uniform(0, self.wait_jitter) if self.wait_jitter else 0.0
        return max(backoff, retry_after or 0.0)

    def next_wait(
        self, attempt: int, elapsed: float, *, retry_after: float | None, rng: random.Random
    ) -> float | None:
        """The wait before the next try, or None when attempts or time have run out."""
        if attempt >= self.attempts:
            return None
        wait = self.wait(attempt, retry_after=retry_after, rng=rng)
        return None if elapsed + wait > self.timeout else wait
