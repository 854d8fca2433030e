"""The pure tracking state machine: snapshots and time in, state and events out."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import attrs
import cattrs
import pytest

from onechat_async._backoff import Backoff
from onechat_async._errors import InvalidRequestError, ServerError
from onechat_async._events import (
    Cancelled,
    Failed,
    Lost,
    NeedsModal,
    ProgressChanged,
    Stalled,
    StatusChanged,
    Succeeded,
    TimedOut,
    Unreadable,
)
from onechat_async._models import Task, TaskStatus
from onechat_async._policy import Pacer, PollPolicy
from onechat_async._task_state import (
    TrackedTask,
    alarm,
    expire,
    fingerprint,
    lose,
    observe,
    replay,
    start,
)

from .conftest import raw_task

POLICY = PollPolicy(deadline=3600, stall_after=600)


def snap(status: str, progress: int | None = None, reason: str | None = None) -> Task:
    return Task(id="42", status=TaskStatus(status), progress=progress, fail_reason=reason)


def run(snapshots: list[tuple[str, int | None]]) -> list[list[str]]:
    state = start("42", 0.0, POLICY)
    seen = []
    for t, (status, progress) in enumerate(snapshots, start=1):
        state, events = observe(state, snap(status, progress), float(t))
        seen.append([type(e).__name__ for e in events])
    return seen


@pytest.mark.parametrize(
    ("snapshots", "expected"),
    [
        pytest.param(
            [
                ("NOT_START", None),
                ("SUBMITTED", 0),
                ("IN_PROGRESS", 12),
                ("IN_PROGRESS", 46),
                ("SUCCESS", 100),
            ],
            [
                ["StatusChanged"],
                ["StatusChanged"],
                ["StatusChanged", "ProgressChanged"],
                ["ProgressChanged"],
                ["Succeeded"],
            ],
            id="happy-path",
        ),
        pytest.param(
            [("IN_PROGRESS", 46), ("SUBMITTED", 0), ("IN_PROGRESS", 30), ("NOT_START", None)],
            [["StatusChanged", "ProgressChanged"], [], [], []],
            id="stale-answers-ignored",
        ),
        pytest.param(
            [("SUBMITTED", 0), ("SUBMITTED", 0), ("IN_PROGRESS", 20), ("IN_PROGRESS", 20)],
            [["StatusChanged"], [], ["StatusChanged", "ProgressChanged"], []],
            id="no-duplicates",
        ),
        pytest.param(
            [("SUCCESS", 100), ("FAILURE", 100), ("IN_PROGRESS", 99), ("SUCCESS", 100)],
            [["Succeeded"], [], [], []],
            id="nothing-after-terminal",
        ),
        pytest.param(
            [("IN_PROGRESS", 50), ("FAILURE", 100)],
            [["StatusChanged", "ProgressChanged"], ["Failed"]],
            id="failure",
        ),
        pytest.param(
            [("SUBMITTED", None), ("CANCEL", None)],
            [["StatusChanged"], ["Cancelled"]],
            id="cancel",
        ),
        pytest.param(
            [("MODAL", None), ("MODAL", None), ("SUBMITTED", 0), ("MODAL", None)],
            [["NeedsModal"], [], ["StatusChanged"], []],
            id="modal-then-modal-call",
        ),
        pytest.param(
            [
                ("NOT_START", None),
                ("QUEUED_SOMEWHERE", None),
                ("SUBMITTED", None),
                ("IN_PROGRESS", None),
            ],
            [["StatusChanged"], ["StatusChanged"], [], ["StatusChanged"]],
            id="unknown-status-ranks-with-submitted",
        ),
        pytest.param(
            [("IN_PROGRESS", 40), ("IN_PROGRESS", None), ("IN_PROGRESS", 40), ("IN_PROGRESS", 41)],
            [["StatusChanged", "ProgressChanged"], [], [], ["ProgressChanged"]],
            id="progress-never-decreases",
        ),
    ],
)
def test_observe_sequences(
    snapshots: list[tuple[str, int | None]], expected: list[list[str]]
) -> None:
    """Each snapshot yields only what is new, never backwards, and nothing after the end."""
    assert run(snapshots) == expected


def test_event_payloads() -> None:
    """Events carry the snapshot, the previous value and the failure reason."""
    state = start("42", 0.0, POLICY)
    state, events = observe(state, snap("SUBMITTED", 0), 1.0)
    assert events == [StatusChanged("42", snap("SUBMITTED", 0), TaskStatus.SUBMITTED, None)]
    state, events = observe(state, snap("IN_PROGRESS", 30), 2.0)
    assert events[0] == StatusChanged(
        "42", snap("IN_PROGRESS", 30), TaskStatus.IN_PROGRESS, TaskStatus.SUBMITTED
    )
    assert events[1] == ProgressChanged("42", snap("IN_PROGRESS", 30), 30, None)
    failed = snap("FAILURE", 100, "[Invalid parameter] Invalid value")
    state, events = observe(state, failed, 3.0)
    assert events == [Failed("42", failed, "[Invalid parameter] Invalid value")]
    assert events[0].is_terminal
    assert state.ended


def test_terminal_events_are_marked() -> None:
    """Exactly the ending events say they are terminal."""
    task = snap("SUCCESS", 100)
    assert Succeeded("1", task).is_terminal
    assert Cancelled("1", task).is_terminal
    assert TimedOut("1", None, 1.0).is_terminal
    assert Lost("1", None).is_terminal
    assert Unreadable("1", None, ServerError("unreadable")).is_terminal
    assert not NeedsModal("1", task).is_terminal
    assert not Stalled("1", task, 1.0).is_terminal
    assert not StatusChanged("1", task, TaskStatus.SUCCESS).is_terminal


def test_progress_rate_is_learned() -> None:
    """Two progress readings give a rate in percent per second, used for the cadence."""
    state = start("42", 0.0, POLICY)
    state, _ = observe(state, snap("IN_PROGRESS", 10), 100.0)
    assert state.rate is None
    state, _ = observe(state, snap("IN_PROGRESS", 40), 115.0)
    assert state.rate == pytest.approx(2.0)
    assert state.progress_at == 115.0


def test_stalled_once_then_rearmed_by_a_change() -> None:
    """Stalled comes once per quiet stretch; a change re-arms it; tracking goes on."""
    state = start("42", 0.0, POLICY)
    state, _ = observe(state, snap("SUBMITTED"), 10.0)
    state, events = expire(state, 609.0, POLICY, None)
    assert events == []
    task = snap("SUBMITTED")
    state, events = expire(state, 610.0, POLICY, task)
    assert events == [Stalled("42", task, 600.0)]
    state, events = expire(state, 900.0, POLICY, task)
    assert events == []
    state, _ = observe(state, snap("IN_PROGRESS", 5), 1000.0)
    assert not state.stalled
    state, events = expire(state, 1600.0, POLICY, task)
    assert [type(e) for e in events] == [Stalled]
    assert not state.ended


def test_timed_out_at_the_deadline_and_nothing_after() -> None:
    """The deadline ends the task with TimedOut; later snapshots and clocks add nothing."""
    state = start("42", 100.0, POLICY)
    state, events = expire(state, 3699.0, POLICY, None)
    assert [type(e) for e in events] == [Stalled]
    state, events = expire(state, 3700.0, POLICY, None)
    assert events == [TimedOut("42", None, 3600.0)]
    assert state.ended
    assert observe(state, snap("SUCCESS", 100), 3701.0)[1] == []
    assert expire(state, 9999.0, POLICY, None)[1] == []
    assert lose(state, None)[1] == []


def test_no_deadline_and_no_stall_when_disabled() -> None:
    """A policy without deadline or stall threshold never expires anything."""
    policy = PollPolicy(deadline=None, stall_after=None)
    state = start("42", 0.0, policy)
    assert expire(state, 1e9, policy, None) == (state, [])
    assert alarm(state, policy) is None


def test_lost_once() -> None:
    """A confirmed unknown id ends Lost, carrying the last sighting."""
    state = start("42", 0.0, POLICY)
    task = snap("IN_PROGRESS", 20)
    state, _ = observe(state, task, 1.0)
    state, events = lose(state, task)
    assert events == [Lost("42", task)]
    assert lose(state, task)[1] == []


def test_replay_tells_a_late_subscriber_where_the_task_stands() -> None:
    """Replay gives the current status (previous None) and progress, nothing for unseen tasks."""
    state = start("42", 0.0, POLICY)
    assert replay(state, None) == []
    task = snap("IN_PROGRESS", 60)
    state, _ = observe(state, task, 1.0)
    assert replay(state, task) == [
        StatusChanged("42", task, TaskStatus.IN_PROGRESS, None),
        ProgressChanged("42", task, 60, None),
    ]
    modal = snap("MODAL")
    state, _ = observe(start("42", 0.0, POLICY), modal, 1.0)
    assert replay(state, modal) == [NeedsModal("42", modal)]


def test_fingerprint_ignores_the_random_image_url() -> None:
    """The gateway's fresh ?rand= on every answer does not look like a change."""
    first = raw_task("42", "IN_PROGRESS", "20%", imageUrl="https://x/mj/image/42?rand=1")
    second = raw_task("42", "IN_PROGRESS", "20%", imageUrl="https://x/mj/image/42?rand=2")
    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first) != fingerprint(raw_task("42", "IN_PROGRESS", "40%"))
    # Status is part of it: SUBMITTED "0%" and IN_PROGRESS "0%" are different answers.
    assert fingerprint(raw_task("42", "SUBMITTED", "0%")) != fingerprint(
        raw_task("42", "IN_PROGRESS", "0%")
    )


def test_tracked_state_is_plain_serialisable_data() -> None:
    """The state survives a JSON round trip, so a store can persist and resume it."""
    state = start("42", 0.0, POLICY)
    state, _ = observe(state, snap("IN_PROGRESS", 10), 5.0, seen=("IN_PROGRESS", "10%", "", 0))
    converter = cattrs.Converter()
    text = json.dumps(converter.unstructure(state))
    back = converter.structure(json.loads(text), TrackedTask)
    assert attrs.evolve(back, fingerprint=state.fingerprint) == state
    assert back.status is TaskStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("status", "progress", "rate", "expected"),
    [
        (None, None, None, 15.0),
        (TaskStatus.NOT_START, None, None, 15.0),
        (TaskStatus.SUBMITTED, 0, None, 15.0),
        (TaskStatus.MODAL, None, None, 15.0),
        (TaskStatus.IN_PROGRESS, 10, None, 5.0),
        (TaskStatus.IN_PROGRESS, 10, 0.1, 5.0),  # far from done: the base cadence
        (TaskStatus.IN_PROGRESS, 92, 1.0, 4.0),  # 8 s left: poll at half of it
        (TaskStatus.IN_PROGRESS, 99, 5.0, 3.0),  # almost done: the fast floor
        (TaskStatus("SOMETHING_NEW"), None, None, 5.0),
    ],
)
def test_policy_delay(
    status: TaskStatus | None, progress: int | None, rate: float | None, expected: float
) -> None:
    """Queued tasks are polled slowly, moving ones faster as they near their end."""
    assert PollPolicy().delay(status, progress, rate) == expected


def test_policy_cadences_follow_the_interval_unless_given() -> None:
    """A shorter interval shortens the queued, fast and batching cadences with it."""
    quick = PollPolicy(interval=0.2)
    assert (quick.fast_interval, quick.queued_interval, quick.batch_window) == pytest.approx(
        (0.12, 0.6, 0.02)
    )
    assert quick.delay(TaskStatus.SUBMITTED, None, None) == pytest.approx(0.6)
    pinned = PollPolicy(interval=1, queued_interval=7, fast_interval=2)
    assert pinned.queued_interval == 7.0
    # A fast floor above the interval never makes a moving task wait longer than interval.
    assert pinned.delay(TaskStatus.IN_PROGRESS, 99, 5.0) == 1.0


def test_policy_backoff_doubles_caps_and_honours_retry_after() -> None:
    """Backoff doubles per failure up to the cap, and Retry-After wins when longer."""
    policy = PollPolicy(backoff=Backoff(wait_initial=1, wait_max=8, wait_jitter=0))
    rng = random.Random(0)  # noqa: S311 - seeded, for repeatable jitter
    waits = [policy.backoff.wait(n, retry_after=None, rng=rng) for n in range(1, 6)]
    assert waits == [1, 2, 4, 8, 8]
    assert policy.backoff.wait(1, retry_after=30, rng=rng) == 30
    jittery = Backoff(wait_initial=1, wait_jitter=0.5)
    assert 1 <= jittery.wait(1, retry_after=None, rng=rng) <= 1.5


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 2.0), (1.0, 2.0), (30.0, 30.0), (60.0, 60.0), (86_400.0, 60.0)],
)
def test_backoff_caps_retry_after(retry_after: float | None, expected: float) -> None:
    """A server's Retry-After is honoured when longer, but never beyond retry_after_max."""
    backoff = Backoff(wait_initial=2, wait_max=10, wait_jitter=0, retry_after_max=60)
    rng = random.Random(0)  # noqa: S311 - seeded, for repeatable jitter
    assert backoff.wait(1, retry_after=retry_after, rng=rng) == expected


def test_policy_accepts_timedeltas_and_validates() -> None:
    """Durations may be timedeltas; impossible values are refused at construction."""
    policy = PollPolicy(interval=timedelta(seconds=7), deadline=timedelta(minutes=2))
    assert (policy.interval, policy.deadline) == (7.0, 120.0)
    with pytest.raises(ValueError, match="chunk_size"):
        PollPolicy(chunk_size=101)
    with pytest.raises(InvalidRequestError, match="chunk_size"):
        PollPolicy(chunk_size=0)
    with pytest.raises(InvalidRequestError, match="interval"):
        PollPolicy(interval=0)
    with pytest.raises(InvalidRequestError, match="deadline"):
        PollPolicy(deadline=-1)
    with pytest.raises(InvalidRequestError, match="wait_initial"):
        Backoff(wait_initial=float("nan"))
    with pytest.raises(TypeError):
        PollPolicy(5.0)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"chunk_size": 101}, id="chunk_size-101"),
        pytest.param({"backoff": 2.0}, id="backoff-not-a-Backoff"),
        pytest.param({"max_in_flight": 0}, id="max_in_flight-0"),
        pytest.param({"max_in_flight": 2.5}, id="max_in_flight-float"),
        pytest.param({"freeze_gc_above": 0}, id="freeze_gc_above-0"),
        pytest.param({"freeze_gc_above": True}, id="freeze_gc_above-bool"),
    ],
)
def test_every_refused_policy_value_is_an_invalid_request(options: dict[str, Any]) -> None:
    """Bad policy values are refused with InvalidRequestError, never a bare Value/TypeError."""
    with pytest.raises((ValueError, TypeError)) as info:
        PollPolicy(**options)
    assert isinstance(info.value, InvalidRequestError), repr(info.value)


def test_pacer_bursts_then_spaces_requests() -> None:
    """The rate cap lets a burst through, then spaces requests 1/rate apart."""
    pacer = Pacer(rate=2.0)
    assert [pacer.reserve(0.0) for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    assert pacer.reserve(10.0) == 0.0
    slow = Pacer(rate=0.5)
    assert [slow.reserve(0.0) for _ in range(3)] == [0.0, 2.0, 4.0]
