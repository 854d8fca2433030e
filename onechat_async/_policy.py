"""How often tasks are polled, how errors slow the poller down, and when tracking gives up.

All of it is arithmetic on values: the poller asks the policy and sleeps on its own clock.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ._backoff import Backoff
from ._models import TaskStatus
from ._validate import (
    at_least,
    count,
    instance_of,
    non_negative,
    optional_positive,
    positive,
    seconds,
    to_optional_seconds,
    to_seconds,
    within,
)

__all__ = ["Pacer", "PollPolicy"]

_QUEUED = frozenset({TaskStatus.NOT_START, TaskStatus.SUBMITTED, TaskStatus.MODAL})
#: The request rate of a small watch set (the fixed cap of earlier versions): a handful of
#: tasks needs no more, and a burst of watches is still spread out.
_RATE_FLOOR = 10.0
#: Requests per second beyond the bare ``chunks / interval``: tasks near their end are asked
#: about at ``fast_interval`` (0.6 x), and confirmations and retries come on top.
_RATE_HEADROOM = 2.0
#: The most a run of 429s may slow the poller down (on top of its hold): 1/64 of the rate.
_MIN_THROTTLE = 1 / 64
#: How much of the full rate each answered request wins back after a 429.
_RECOVER_STEP = 1 / 64


def _optional_count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        count(value, what=attribute.name)


def _interval(value: object) -> float:
    return seconds(value, what="interval")


@attrs.frozen(kw_only=True)
class PollPolicy:
    """The poller's cadence, patience and manners; durations are seconds or timedeltas.

    The defaults suit the real gateway, which refreshes its own copy of a task about every
    15 s: polling much faster only buys rate limits. Pass one as ``OneChatClient(poll=...)``;
    every field is a keyword argument, and a bad value raises :class:`InvalidRequestError`
    when the policy is made.

    ```python
    PollPolicy(interval=2.0, deadline=timedelta(minutes=10), stall_after=None)
    ```

    :ivar interval: the base cadence for a running task.
    :ivar fast_interval: the floor for a task that looks close to done (from its observed
        progress rate), so the last step is seen promptly (default: 0.6 x ``interval``).
    :ivar queued_interval: the cadence for NOT_START, SUBMITTED and MODAL tasks (default:
        3 x ``interval``).
    :ivar batch_window: how early a task may be polled to share a request with others; also the
        delay before a newly watched task is first asked about, so a burst of watches is batched
        (default: ``interval`` / 10).
    :ivar backoff: the waits after failed queries (a :class:`~onechat_async.Backoff`; 2 s
        doubling to 60 s plus up to 1 s of jitter); a server's ``Retry-After`` wins when it is
        longer, up to the backoff's ``retry_after_max``.
    :ivar max_requests_per_second: the ceiling over all query requests of one client. Below
        it the rate follows the watch set: ``2 x chunks / interval`` (at least 10), so that
        every task is asked about within its interval however many are tracked (default 500:
        100,000 tasks at the default interval need 400, and past that one core is saturated).
    :ivar max_in_flight: list-by-condition requests in flight at once (default 16). Answers
        are applied as they land, one per turn of the event loop; this bounds how many can land
        together. The rate it allows is ``max_in_flight / round trip``: 16 over 80 ms is the
        200 requests a second of 100,000 tasks; raise it for a distant server.
    :ivar freeze_gc_above: while at least this many tasks are tracked, what survives each
        garbage collection of the middle or oldest generation is frozen (:func:`gc.freeze`),
        so that a full one does not walk the whole watch set again and stall the event
        loop (default 5,000: at 10,000 tasks the collector's passes cost a tenth of the
        client's CPU, about half that frozen; None: leave the collector alone).
    :ivar deadline: per task, counted from when it is first watched (None: never).
    :ivar stall_after: report ``Stalled`` after this long without change (None: never).
    :ivar fetch_concurrency: fetches in flight when list-by-condition cannot be used.
    :ivar chunk_size: ids per list-by-condition request (1 to 100).
    :ivar refresh_interval: the shortest time between two changes of one task on the server
        (default: 3 x ``interval``, the 15 s in which the gateway refreshes its copy of every
        task). After a poll showed a change, the task is asked again just before the next
        one is due (less ``batch_window``) instead of at every ``interval``: behind the
        gateway the questions between could not see news. A change that comes sooner
        proves the server is not like that (a midjourney-proxy asked directly, a gateway
        fed by callbacks): the rule is then dropped for the client's life, and the poller
        says so at INFO. None: never wait for that, only the cadence above.
    :ivar reconcile_interval: while notifyHook callbacks bring a task's changes, how long
        after the last one it is asked about anyway, to catch a dropped callback (default:
        3 x ``interval``). When callbacks stop, polling falls back to the cadence above.

    :raises InvalidRequestError: A duration that is not positive (or negative where 0 is
        allowed), a count below its minimum, a ``chunk_size`` above 100.
    """

    # Checked by its converter, so the defaults derived from it below never see a bad value.
    interval: float = attrs.field(default=5.0, converter=_interval)
    # The three below follow ``interval`` unless given (3 s, 15 s and 0.5 s at the default
    # 5 s), so that PollPolicy(interval=0.2) polls queued tasks quickly too, instead of
    # keeping a 15 s cadence meant for the real gateway.
    fast_interval: float = attrs.field(
        default=attrs.Factory(lambda self: self.interval * 0.6, takes_self=True),
        converter=to_seconds,
        validator=positive,
    )
    queued_interval: float = attrs.field(
        default=attrs.Factory(lambda self: self.interval * 3, takes_self=True),
        converter=to_seconds,
        validator=positive,
    )
    batch_window: float = attrs.field(
        default=attrs.Factory(lambda self: self.interval / 10, takes_self=True),
        converter=to_seconds,
        validator=non_negative,
    )
    backoff: Backoff = attrs.field(
        default=Backoff(wait_initial=2.0, wait_max=60.0, wait_jitter=1.0),
        validator=instance_of(Backoff),
    )
    max_requests_per_second: float = attrs.field(default=500.0, validator=positive)
    max_in_flight: int = attrs.field(default=16, validator=at_least(1))
    freeze_gc_above: int | None = attrs.field(default=5_000, validator=_optional_count)
    deadline: float | None = attrs.field(
        default=3600.0, converter=to_optional_seconds, validator=optional_positive
    )
    stall_after: float | None = attrs.field(
        default=600.0, converter=to_optional_seconds, validator=optional_positive
    )
    fetch_concurrency: int = attrs.field(default=8, validator=at_least(1))
    chunk_size: int = attrs.field(default=100, validator=within(1, 100))
    refresh_interval: float | None = attrs.field(
        default=attrs.Factory(lambda self: self.interval * 3, takes_self=True),
        converter=to_optional_seconds,
        validator=optional_positive,
    )
    reconcile_interval: float = attrs.field(
        default=attrs.Factory(lambda self: self.interval * 3, takes_self=True),
        converter=to_seconds,
        validator=positive,
    )

    def delay(self, status: TaskStatus | None, progress: int | None, rate: float | None) -> float:
        """Seconds until a task in this state should be asked about again.

        ``rate`` is the observed progress in percent per second. A moving task is polled at
        ``interval`` until the time it seems to need to finish drops below that, then at half
        that time (but not under ``fast_interval``), so its end is noticed soon after it comes.

        :param status: The task's last status, or None before it was seen.
        :param progress: Its last progress in percent, or None.
        :param rate: Its observed progress rate in percent per second, or None if unknown.
        """
        if status is None or status in _QUEUED:
            return self.queued_interval
        if rate is None or rate <= 0 or progress is None:
            return self.interval
        # Comparisons rather than min() and max(): the tracker asks this for every task of
        # every tick, and the builtins' call overhead was most of its cost.
        interval, half = self.interval, (100 - progress) / rate / 2
        wait = interval if interval < half else half
        floor = self.fast_interval if self.fast_interval < interval else interval
        return floor if wait < floor else wait

    def request_rate(self, tracked: int) -> float:
        """Query requests per second for ``tracked`` tasks: enough, with headroom, capped.

        Every tracked task is due about once per ``interval``, in chunks of ``chunk_size``;
        the rate is twice that, at least 10 and at most ``max_requests_per_second``.

        :param tracked: How many tasks the client tracks.
        """
        chunks = math.ceil(tracked / self.chunk_size)
        needed = _RATE_HEADROOM * chunks / self.interval
        return min(self.max_requests_per_second, max(_RATE_FLOOR, needed))


@attrs.define
class Pacer:
    """A token bucket over query requests: how long to wait before the next one may go.

    It bursts up to ``rate`` requests (at least one) and then spaces them ``1/rate`` apart.
    The poller moves ``rate`` with the watch set; a 429 halves the pace (:meth:`throttle`)
    and each answered request wins a little of it back (:meth:`recover`), so a server's
    limit is found and kept below instead of hit again after every hold.
    """

    rate: float
    _tokens: float = attrs.field(init=False, default=0.0)
    _at: float | None = attrs.field(init=False, default=None)
    _factor: float = attrs.field(init=False, default=1.0)

    @property
    def pace(self) -> float:
        """The requests per second now allowed: ``rate``, less what 429s took off it."""
        return self.rate * self._factor

    @property
    def burst(self) -> float:
        """The most requests that may leave at once."""
        return max(1.0, self.pace)

    def throttle(self) -> None:
        """The server said too many requests: halve the pace (down to 1/64 of ``rate``)."""
        self._factor = max(_MIN_THROTTLE, self._factor / 2)

    def recover(self) -> None:
        """A request was answered: win back 1/64 of ``rate``, up to all of it."""
        if self._factor < 1.0:
            self._factor = min(1.0, self._factor + _RECOVER_STEP)

    def reserve(self, now: float) -> float:
        """Take one request's slot; return how long to wait before sending it."""
        if self._at is None:
            self._tokens, self._at = self.burst, now
        elif now > self._at:
            pace = self.pace
            self._tokens = min(self.burst, self._tokens + (now - self._at) * pace)
            self._at = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        # A debt: the slot lies in the future, and later callers queue up behind it.
        return -self._tokens / self.pace + (self._at - now)
