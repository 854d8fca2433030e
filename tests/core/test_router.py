"""The router's stream rules: following, announced children, deadlines and closed streams."""

from __future__ import annotations

from onechat_async._errors import SubmitRejectedError
from onechat_async._events import StatusChanged, SubmitFailed, Submitted, Succeeded, TimedOut
from onechat_async._models import SubmitResult, Task, TaskStatus
from onechat_async._router import Router, Routing

RUNNING = Task(id="42", status=TaskStatus.IN_PROGRESS, progress=10)
CHILD = Submitted("43", SubmitResult("43"), parent_id="42", op="U1")
REFUSED = SubmitFailed("42", SubmitRejectedError("no"), op="U2")


def test_following_again_adds_only_the_new_ids() -> None:
    """An id already followed is skipped, and the ids after it are still followed."""
    router = Router()
    stream = router.open(0.0)
    router.follow(stream, ["41"])
    assert router.follow(stream, ["41", "42", "43"]).follows == [(stream, "42"), (stream, "43")]
    assert router.followed == frozenset({"41", "42", "43"})


def test_a_closed_stream_takes_nothing_more() -> None:
    """Following, submitted children and failed children of a closed stream are ignored."""
    router = Router()
    stream = router.open(0.0, pending=2)
    router.close(stream)
    assert router.follow(stream, ["42"]) == Routing()
    assert router.submitted(stream, CHILD) == Routing()
    assert router.submit_failed(stream, REFUSED) == Routing()
    assert router.followed == frozenset()
    assert not router.follows(stream, "42")


def test_a_child_failure_counts_only_against_announced_children() -> None:
    """A SubmitFailed beyond the announced children is dropped; each announced one is told."""
    router = Router()
    stream = router.open(0.0, pending=1)
    assert router.submit_failed(stream, REFUSED).deliveries == [(stream, REFUSED)]
    assert router.finished(stream)
    assert router.submit_failed(stream, REFUSED) == Routing()


def test_a_submitted_child_is_announced_then_followed() -> None:
    """The Submitted event comes first, then the stream follows the new task to its end."""
    router = Router()
    stream = router.open(0.0, pending=2)
    routing = router.submitted(stream, CHILD)
    assert routing.deliveries == [(stream, CHILD)]
    assert routing.follows == [(stream, "43")]
    assert router.follows(stream, "43")
    assert not router.finished(stream)


def test_a_stream_finishes_when_its_announced_children_have_ended() -> None:
    """Each child, submitted or failed, counts one announced child down; the last ends it."""
    router = Router()
    stream = router.open(0.0, pending=2)
    router.submit_failed(stream, REFUSED)
    router.submitted(stream, CHILD)
    assert not router.finished(stream)
    router.route([Succeeded("43", Task(id="43", status=TaskStatus.SUCCESS))])
    assert router.finished(stream)


def test_routing_extend_keeps_every_part() -> None:
    """Merging two routings keeps the deliveries, follows and forgets of both, in order."""
    first = Routing([(1, CHILD)], [(1, "43")], ["40"])
    first.extend(Routing([(2, REFUSED)], [(2, "44")], ["41"]))
    assert first == Routing([(1, CHILD), (2, REFUSED)], [(1, "43"), (2, "44")], ["40", "41"])


def test_every_stream_past_its_deadline_times_out() -> None:
    """A stream without a deadline does not stop expiry of the streams opened after it."""
    router = Router()
    patient = router.open(0.0)
    hasty = router.open(0.25, deadline_at=0.5)
    router.follow(patient, ["42"])
    router.follow(hasty, ["42"])
    routing = router.expire(0.75, lambda task_id: RUNNING)
    assert routing.deliveries == [(hasty, TimedOut("42", RUNNING, 0.5))]
    assert router.follows(patient, "42")
    assert router.route([StatusChanged("42", RUNNING, TaskStatus.IN_PROGRESS)]).deliveries == [
        (patient, StatusChanged("42", RUNNING, TaskStatus.IN_PROGRESS))
    ]


def test_next_deadline_is_none_without_deadlines() -> None:
    """Streams without deadlines leave no deadline to wake up for; one with a deadline does."""
    router = Router()
    router.open(0.0)
    assert router.next_deadline() is None
    router.open(0.0, deadline_at=9.0)
    router.open(0.0, deadline_at=4.0)
    assert router.next_deadline() == 4.0


def test_a_task_whose_end_was_heard_is_never_followed_again() -> None:
    """After a task's terminal event, following that id again adds nothing and hears nothing."""
    router = Router()
    stream = router.open(0.0)
    router.follow(stream, ["43"])
    done = Succeeded("43", Task(id="43", status=TaskStatus.SUCCESS))
    assert router.route([done]).deliveries == [(stream, done)]
    # A server answering a second submit with the same id must not make the end heard twice.
    assert router.submitted(stream, CHILD).follows == []
    assert router.route([done]).deliveries == []
    assert router.followed == frozenset()
