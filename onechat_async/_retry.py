"""When to try a request again, and how long to wait first: pure arithmetic, no sleeping."""

from __future__ import annotations

import random

import attrs

from ._backoff import Backoff
from ._validate import at_least, non_negative, positive, to_seconds

__all__ = ["RetryPolicy"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How queries (and opted-in submits) are retried after a transient failure.

    ``attempts`` counts the first try; ``timeout`` bounds the whole affair, waits included.
    Waits follow :class:`~onechat_async.Backoff` with ``wait_initial``, ``wait_max`` and
    ``wait_jitter``; a server's ``Retry-After`` wins when longer, up to ``retry_after_max``.
    A submit is only ever retried after an answer that proves no task was created.

    Pass one as ``OneChatClient(retry=...)`` (queries) or ``submit_retry=`` (submits);
    :meth:`off` is a policy that never retries. Durations are seconds or timedeltas.

    ```python
    OneChatClient(retry=RetryPolicy(attempts=6, timeout=120), submit_retry=RetryPolicy())
    ```

    :ivar attempts: Tries in all, the first included (1: no retry).
    :ivar timeout: The most time all tries and waits may take together, in seconds.
    :ivar wait_initial: The first wait, in seconds; each next one doubles.
    :ivar wait_max: The longest wait before jitter, in seconds.
    :ivar wait_jitter: Up to this many seconds, at random, added to each wait.
    :ivar retry_after_max: The longest ``Retry-After`` obeyed, in seconds.
    :raises InvalidRequestError: A value out of range (``attempts`` below 1, a negative wait,
        a timeout that is not positive).
    """

    attempts: int = attrs.field(default=4, validator=at_least(1))
    timeout: float = attrs.field(default=60.0, converter=to_seconds, validator=positive)
    wait_initial: float = attrs.field(default=0.5, converter=to_seconds, validator=non_negative)
    wait_max: float = attrs.field(default=10.0, converter=to_seconds, validator=non_negative)
    wait_jitter: float = attrs.field(default=1.0, converter=to_seconds, validator=non_negative)
    retry_after_max: float = attrs.field(default=60.0, converter=to_seconds, validator=positive)

    @classmethod
    def off(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)

    @property
    def backoff(self) -> Backoff:
        """The waits between tries, as the one shared formula."""
        return Backoff(
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
            retry_after_max=self.retry_after_max,
        )

    def next_wait(
        self, attempt: int, elapsed: float, *, retry_after: float | None, rng: random.Random
    ) -> float | None:
        """The wait before the next try, or None when attempts or time have run out.

        :param attempt: How many tries have failed so far, 1 for the first.
        :param elapsed: Seconds since the first try started.
        :param retry_after: The server's ``Retry-After`` in seconds, if it sent one.
        :param rng: Where the jitter comes from.
        """
        if attempt >= self.attempts:
            return None
        wait = self.backoff.wait(attempt, retry_after=retry_after, rng=rng)
        return None if elapsed + wait > self.timeout else wait
