"""How long to wait after a failure: the one backoff formula, used by every retry and the poller.

Pure arithmetic: the caller passes the attempt number, what the server asked for and a random
source, and sleeps on its own clock.
"""

from __future__ import annotations

import random

import attrs

from ._validate import non_negative, positive, to_seconds

__all__ = ["Backoff"]


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential waits with jitter, in stamina's words.

    The n-th wait (1-based) is ``min(wait_max, wait_initial * 2**(n-1)) + uniform(0,
    wait_jitter)``, or the server's ``Retry-After`` when that is longer, but never more than
    ``retry_after_max``: one ``Retry-After: 86400`` must not freeze a client for a day.
    Used by :attr:`PollPolicy.backoff` for the waits after failed polls.

    :ivar wait_initial: The first wait, in seconds (or a timedelta).
    :ivar wait_max: The longest wait before jitter.
    :ivar wait_jitter: Up to this much, at random, added to each wait.
    :ivar retry_after_max: The longest ``Retry-After`` obeyed.
    :raises InvalidRequestError: A negative wait, or a ``retry_after_max`` that is not
        positive.
    """

    wait_initial: float = attrs.field(default=0.5, converter=to_seconds, validator=non_negative)
    wait_max: float = attrs.field(default=10.0, converter=to_seconds, validator=non_negative)
    wait_jitter: float = attrs.field(default=1.0, converter=to_seconds, validator=non_negative)
    retry_after_max: float = attrs.field(default=60.0, converter=to_seconds, validator=positive)

    def wait(self, attempt: int, *, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failure number ``attempt`` (1-based).

        :param attempt: How many tries have failed so far, 1 for the first.
        :param retry_after: The server's ``Retry-After`` in seconds, if it sent one.
        :param rng: Where the jitter comes from (seed one for repeatable waits).
        """
        wait = min(self.wait_max, self.wait_initial * 2.0 ** min(max(0, attempt - 1), 64))
        if self.wait_jitter:
            wait += rng.uniform(0, self.wait_jitter)
        if retry_after is not None and retry_after > wait:
            wait = min(retry_after, max(wait, self.retry_after_max))
        return wait
