"""Durations, counts and the policies built on them: _validate, _backoff, _retry, _policy."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import attrs
import pytest

from onechat_async._backoff import Backoff
from onechat_async._errors import InvalidRequestError
from onechat_async._models import TaskStatus
from onechat_async._policy import Pacer, PollPolicy
from onechat_async._retry import RetryPolicy
from onechat_async._validate import at_least, count, instance_of, optional_seconds, seconds, within

RNG = random.Random(0)  # noqa: S311 - seeded; the waits below have no jitter anyway


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: seconds("5"),
            "a duration must be seconds (a number) or a timedelta, got '5'",
            id="a-str",
        ),
        pytest.param(
            lambda: seconds(True, what="timeout"),
            "timeout must be seconds (a number) or a timedelta, got True",
            id="a-bool",
        ),
        pytest.param(
            lambda: seconds(0),
            "a duration must be a finite number of seconds, more than zero, got 0",
            id="zero",
        ),
        pytest.param(
            lambda: seconds(-1.0, what="wait", allow_zero=True),
            "wait must be a finite number of seconds, zero or more, got -1.0",
            id="negative-where-zero-is-fine",
        ),
        pytest.param(
            lambda: optional_seconds(float("nan")),
            "a duration must be a finite number of seconds, more than zero; pass None for no "
            "limit, got nan",
            id="optional-nan",
        ),
        pytest.param(
            lambda: optional_seconds(-2, what="deadline"),
            "deadline must be a finite number of seconds, more than zero; pass None for no "
            "limit, got -2",
            id="optional-negative",
        ),
        pytest.param(
            lambda: count(True, what="attempts"),
            "attempts must be a whole number of at least 1, got True",
            id="count-bool",
        ),
        pytest.param(
            lambda: count("5", what="attempts"),
            "attempts must be a whole number of at least 1, got '5'",
            id="count-str",
        ),
    ],
)
def test_a_refused_value_is_named_with_the_rule(call: Any, message: str) -> None:
    """A mistyped or out-of-range value is an InvalidRequestError naming what and why."""
    with pytest.raises(InvalidRequestError) as info:
        call()
    assert info.value.message == message


def test_durations_that_are_accepted() -> None:
    """Seconds and timedeltas become floats; zero only where allowed; None only if optional."""
    assert seconds(timedelta(minutes=1)) == 60.0
    assert seconds(0, allow_zero=True) == 0.0
    assert optional_seconds(None) is None
    assert optional_seconds(2) == 2.0
    assert count(1, what="attempts") == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: RetryPolicy(attempts=0),
            "attempts must be a whole number of at least 1, got 0",
            id="no-attempts",
        ),
        pytest.param(
            lambda: RetryPolicy(timeout=0),
            "timeout must be a finite number of seconds, more than zero, got 0",
            id="zero-timeout",
        ),
        pytest.param(
            lambda: PollPolicy(interval=0),
            "interval must be a finite number of seconds, more than zero, got 0",
            id="zero-interval",
        ),
        pytest.param(
            lambda: PollPolicy(deadline=0),
            "deadline must be a finite number of seconds, more than zero; pass None for no "
            "limit, got 0",
            id="zero-deadline",
        ),
        pytest.param(
            lambda: PollPolicy(stall_after=timedelta(0)),
            "stall_after must be a finite number of seconds, more than zero; pass None for no "
            "limit, got 0.0",
            id="zero-stall-after",
        ),
        pytest.param(
            lambda: PollPolicy(max_requests_per_second=0),
            "max_requests_per_second must be a finite number of seconds, more than zero, got 0",
            id="zero-rate",
        ),
        pytest.param(
            lambda: PollPolicy(chunk_size=101),
            "chunk_size must be at most 100, got 101",
            id="chunk-of-101",
        ),
        pytest.param(
            lambda: PollPolicy(chunk_size=0),
            "chunk_size must be a whole number of at least 1, got 0",
            id="chunk-of-0",
        ),
        pytest.param(
            lambda: PollPolicy(backoff=5),  # type: ignore[arg-type]
            "backoff must be a Backoff, got int",
            id="backoff-not-a-backoff",
        ),
    ],
)
def test_a_policy_refuses_bad_values_by_their_field_name(make: Any, message: str) -> None:
    """Each policy field is checked by its validator, and the error names the field."""
    with pytest.raises(InvalidRequestError) as info:
        make()
    assert info.value.message == message


def test_the_edges_of_each_range_are_accepted() -> None:
    """The smallest and largest allowed values are kept as given."""
    assert RetryPolicy(attempts=1).attempts == 1
    assert PollPolicy(chunk_size=100).chunk_size == 100
    assert PollPolicy(chunk_size=1).chunk_size == 1
    assert PollPolicy(deadline=None, stall_after=None).deadline is None


def test_a_retry_that_lands_exactly_on_the_timeout_still_happens() -> None:
    """A wait that ends exactly when the timeout does is allowed; one past it is not."""
    policy = RetryPolicy(attempts=3, timeout=1.0, wait_initial=0.5, wait_jitter=0.0)
    assert policy.next_wait(1, 0.5, retry_after=None, rng=RNG) == 0.5
    assert policy.next_wait(1, 0.75, retry_after=None, rng=RNG) is None


@pytest.mark.parametrize(
    ("progress", "rate", "expected"),
    [
        pytest.param(50, 0.0, 5.0, id="not-moving"),
        pytest.param(50, -1.0, 5.0, id="going-backwards"),
        pytest.param(None, 10.0, 5.0, id="no-progress-known"),
        pytest.param(90, 1.0, 5.0, id="ten-seconds-left"),
        pytest.param(96, 1.0, 3.0, id="four-seconds-left"),
    ],
)
def test_a_running_task_is_polled_at_the_interval_unless_it_is_near_the_end(
    progress: int | None, rate: float, expected: float
) -> None:
    """A task that is not visibly moving keeps the interval; one near its end comes sooner."""
    policy = PollPolicy(interval=5.0)
    assert policy.delay(TaskStatus.IN_PROGRESS, progress, rate) == expected


def test_the_pacer_refills_with_time_and_never_says_a_negative_wait() -> None:
    """Tokens come back with the time elapsed since the last request, up to the burst."""
    pacer = Pacer(rate=2.0)
    assert [pacer.reserve(10.0), pacer.reserve(10.0)] == [0.0, 0.0]
    # Half a token has come back 0.25 s later: the third request waits the other 0.25 s.
    assert pacer.reserve(10.25) == 0.25
    # A second later 2 tokens came back over a debt of 0.5: one is free, half a token left.
    assert pacer.reserve(11.25) == 0.0
    assert pacer.reserve(11.25) == 0.25


def test_the_pacer_counts_from_the_last_request_not_from_the_first() -> None:
    """After a long pause only the time since the last request refills the bucket."""
    pacer = Pacer(rate=1.0)
    assert pacer.reserve(100.0) == 0.0
    assert pacer.reserve(100.5) == 0.5
    assert pacer.reserve(100.75) == 1.25


def test_backoff_gives_the_longer_of_its_own_wait_and_retry_after() -> None:
    """A Retry-After longer than the backoff wins, up to retry_after_max; a shorter one not."""
    backoff = Backoff(wait_initial=1.0, wait_max=8.0, wait_jitter=0.0, retry_after_max=30.0)
    assert backoff.wait(3, retry_after=2.0, rng=RNG) == 4.0
    assert backoff.wait(3, retry_after=20.0, rng=RNG) == 20.0
    assert backoff.wait(3, retry_after=100.0, rng=RNG) == 30.0


def test_the_validator_factories_check_what_they_promise() -> None:
    """at_least, within and instance_of refuse what is out of range, naming the field."""
    # Built here rather than read off the policies: the policies call the factories at
    # import time, so only a class made now shows what the factories make.

    @attrs.frozen
    class Probe:
        tries: int = attrs.field(default=2, validator=at_least(2))
        size: int = attrs.field(default=3, validator=within(3, 5))
        policy: Backoff = attrs.field(default=Backoff(), validator=instance_of(Backoff))

    assert Probe(tries=2, size=5) == Probe(tries=2, size=5)
    assert Probe(size=3).size == 3
    refused = {
        "tries": (1, "tries must be a whole number of at least 2, got 1"),
        "size": (6, "size must be at most 5, got 6"),
        "policy": ("fast", "policy must be a Backoff, got str"),
    }
    for field, (value, message) in refused.items():
        with pytest.raises(InvalidRequestError) as info:
            Probe(**{field: value})  # type: ignore[arg-type]
        assert info.value.message == message
    with pytest.raises(InvalidRequestError, match="size must be a whole number of at least 3"):
        Probe(size=2)
