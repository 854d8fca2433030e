"""How often tasks are polled, how errors slow the poller down, and when tracking gives up.

All of it is arithmetic on values: the poller asks the policy and sleeps on its own clock.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import attrs

from ._models import TaskStatus
from ._retry import seconds

__all__ = ["Pacer", "PollPolicy"]

_QUEUED = frozenset({TaskStatus.NOT_START, TaskStatus.SUBMITTED, TaskStatus.MODAL})


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


def _optional_seconds(value: float | timedelta | None) -> float | None:
    return None if value is None else seconds(value)


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None, got {value}")


@attrs.frozen(kw_only=True)
class PollPolicy:
    """The poller's cadence, patience and manners; durations are seconds or timedeltas.

    The defaults suit the real gateway, which refreshes its own copy of a task about every
    15 s: polling much faster only buys rate limits.

    - ``interval``: the base cadence for a running task.
    - ``fast_interval``: the floor for a task that looks close to done (from its observed
      progress rate), so the last step is seen promptly (default: 0.6 x ``interval``).
    - ``queued_interval``: the cadence for NOT_START, SUBMITTED and MODAL tasks (default:
      3 x ``interval``).
    - ``batch_window``: how early a task may be polled to share a request with others; also the
      delay before a newly watched task is first asked about, so a burst of watches is batched
      (default: ``interval`` / 10).
    - ``backoff_initial``/``backoff_max``/``backoff_jitter``: waits after failed queries,
      doubling per consecutive failure; a server's ``Retry-After`` wins when it is longer.
    - ``max_requests_per_second``: a cap over all query requests of one client (bursts up to
      that many at once).
    - ``deadline``: per task, counted from when it is first watched (None: never).
    - ``stall_after``: report ``Stalled`` after this long without change (None: never).
    - ``fetch_concurrency``: fetches in flight when list-by-condition cannot be used.
    - ``chunk_size``: ids per list-by-condition request (1 to 100).
    """

    interval: float = attrs.field(default=5.0, converter=seconds, validator=_positive)
    # The three below follow ``interval`` unless given (3 s, 15 s and 0.5 s at the default
    # 5 s), so that PollPolicy(interval=0.2) polls queued tasks quickly too, instead of
    # keeping a 15 s cadence meant for the real gateway.
    fast_interval: float = attrs.field(
        default=attrs.Factory(lambda self: self.interval * 0.6, takes_self=True),
        converter=seconds,
        validator=_positive,
    )
    queued_interval: float = attrs.field(
        default=attrs.Factory(lambda self: self.interval * 3, takes_self=True),
        converter=seconds,
        validator=_positive,
    )
    batch_window: float = attrs.field(
        default=attrs.Factory(lambda self: self.interval / 10, takes_self=True),
        converter=seconds,
        validator=_non_negative,
    )
    backoff_initial: float = attrs.field(default=2.0, converter=seconds, validator=_non_negative)
    backoff_max: float = attrs.field(default=60.0, converter=seconds, validator=_non_negative)
    backoff_jitter: float = attrs.field(default=1.0, converter=seconds, validator=_non_negative)
    max_requests_per_second: float = attrs.field(default=10.0, validator=_positive)
    deadline: float | None = attrs.field(
        default=3600.0, converter=_optional_seconds, validator=_optional_positive
    )
    stall_after: float | None = attrs.field(
        default=600.0, converter=_optional_seconds, validator=_optional_positive
    )
    fetch_concurrency: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    chunk_size: int = attrs.field(
        default=100, validator=[attrs.validators.ge(1), attrs.validators.le(100)]
    )

    def delay(self, status: TaskStatus | None, progress: int | None, rate: float | None) -> float:
        """Seconds until a task in this state should be asked about again.

        ``rate`` is the observed progress in percent per second. A moving task is polled at
        ``interval`` until the time it seems to need to finish drops below that, then at half
        that time (but not under ``fast_interval``), so its end is noticed soon after it comes.
        """
        if status is None or status in _QUEUED:
            return self.queued_interval
        if rate is None or rate <= 0 or progress is None:
            return self.interval
        remaining = (100 - progress) / rate
        floor = min(self.fast_interval, self.interval)
        return max(floor, min(self.interval, remaining / 2))

    def backoff(self, failures: int, *, retry_after: float | None, rng: random.Random) -> float:
        """The wait after ``failures`` consecutive failed queries (1-based)."""
        wait = min(self.backoff_max, self.backoff_initial * 2.0 ** max(0, failures - 1))
        if self.backoff_jitter:
            wait += rng.uniform(0, self.backoff_jitter)
        return max(wait, retry_after or 0.0)


@attrs.define
class Pacer:
    """A token bucket over query requests: how long to wait before the next one may go.

    It bursts up to ``rate`` requests (at least one) and then spaces them ``1/rate`` apart.
    """

    rate: float
    _tokens: float = attrs.field(init=False, default=0.0)
    _at: float | None = attrs.field(init=False, default=None)

    @property
    def burst(self) -> float:
        """The most requests that may leave at once."""
        return max(1.0, self.rate)

    def reserve(self, now: float) -> float:
        """Take one request's slot; return how long to wait before sending it."""
        if self._at is None:
            self._tokens, self._at = self.burst, now
        elif now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        # A debt: the slot lies in the future, and later callers queue up behind it.
        return -self._tokens / self.rate + (self._at - now)
