"""The sans-I/O router: which stream hears what, and at most one terminal event per task."""

from __future__ import annotations

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
