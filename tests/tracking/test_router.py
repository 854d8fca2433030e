"""The sans-I/O router: which stream hears what, and at most one terminal event per task."""

from __future__ import annotations

import pytest

from onechat_async._events import StatusChanged, Succeeded, TimedOut
from onechat_async._models import Task, TaskStatus
from onechat_async._router import Router

RUNNING = Task(id="42", status=TaskStatus.IN_PROGRESS, progress=10)
DONE = Task(id="42", status=TaskStatus.SUCCESS, progress=100)


def test_nothing_about_a_task_reaches_a_stream_after_its_terminal_event() -> None:
    """After Succeeded, later polls, the deadline and replays say nothing more to that stream."""
    router = Router()
    stream = router.open(0.0, deadline_at=10.0)
    assert router.follow(stream, ["42"]).follows == [(stream, "42")]
    routing = router.route([Succeeded("42", DONE)])
    assert routing.deliveries == [(stream, Succeeded("42", DONE))]
    assert routing.forget == ["42"]
    assert router.finished(stream)
    again = Succeeded("42", DONE)
    assert (
        router.route([StatusChanged("42", RUNNING, TaskStatus.IN_PROGRESS), again]).deliveries == []
    )
    assert router.expire(20.0, lambda task_id: None).deliveries == []
    assert router.joined(stream, [again]).deliveries == []


def test_a_stream_hears_only_the_tasks_it_follows() -> None:
    """Events, replays and deadlines reach only the streams that follow the task."""
    router = Router()
    mine, other = router.open(0.0, deadline_at=5.0), router.open(0.0)
    router.follow(mine, ["42"])
    router.follow(other, ["43"])
    news = StatusChanged("42", RUNNING, TaskStatus.IN_PROGRESS)
    assert router.route([news]).deliveries == [(mine, news)]
    assert router.joined(other, [news]).deliveries == []
    assert router.expire(5.0, lambda task_id: None).deliveries == [
        (mine, TimedOut("42", None, 5.0))
    ]
    assert router.followed == frozenset({"43"})
    assert not router.finished(other)


def test_closing_a_stream_forgets_what_it_alone_followed() -> None:
    """Ids another stream still follows stay; the others are forgotten with the stream."""
    router = Router()
    first, second = router.open(0.0), router.open(0.0)
    router.follow(first, ["41", "42"])
    router.follow(second, ["42"])
    assert router.close(first).forget == ["41"]
    assert router.followed == frozenset({"42"})
    assert router.finished(first)


@pytest.mark.parametrize("leaving", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (1, 2, 0)])
def test_a_task_is_forgotten_only_when_its_last_follower_leaves(
    leaving: tuple[int, int, int],
) -> None:
    """However followers of one task come and go, events reach exactly those still there."""
    router = Router()
    streams = [router.open(0.0) for _ in range(3)]
    for stream in streams:
        router.follow(stream, ["42"])
    news = StatusChanged("42", RUNNING, TaskStatus.IN_PROGRESS)
    staying = list(streams)
    for index in leaving:
        staying.remove(streams[index])
        forgotten = router.close(streams[index]).forget
        assert forgotten == ([] if staying else ["42"])
        assert [s for s, _ in router.route([news]).deliveries] == staying
    # A newcomer after the last one left follows the task afresh.
    late = router.open(0.0)
    assert router.follow(late, ["42"]).follows == [(late, "42")]
    assert router.route([news]).deliveries == [(late, news)]
