"""Properties of the sans-I/O Router and Tracker under random sequences of operations.

Each run replays a random script of calls on a fresh Router (or Tracker) beside a small
reference model of what was promised, and checks one rule after every call. The scripts are
derandomized, so CI sees the same examples on every run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
from hypothesis import example, given
from hypothesis import strategies as st

from onechat_async._errors import ServerError
from onechat_async._events import (
    Cancelled,
    Event,
    Failed,
    Lost,
    NeedsModal,
    ProgressChanged,
    Stalled,
    StatusChanged,
    SubmitFailed,
    Submitted,
    Succeeded,
    TimedOut,
    Unreadable,
)
from onechat_async._models import SubmitResult, Task, TaskStatus
from onechat_async._policy import PollPolicy
from onechat_async._poller import _Inbox, _Stop
from onechat_async._router import Router, Routing, StreamId
from onechat_async._task_state import rank
from onechat_async._tracker import Tracker
from tests.fuzz.strategies import field_values, fuzz, nested, task_objects

#: Examples per property: enough to reach re-follows, deadlines and closes, in seconds.
ROUTER_EXAMPLES = 150
TRACKER_EXAMPLES = 150

# -- the router ------------------------------------------------------------------------------

ROUTER_IDS = ("101", "102", "103")
PARENT = "100"
#: Snapshots the router hands to a caller-deadline TimedOut (None for ids never seen).
SNAPSHOTS = {"101": Task(id="101", status=TaskStatus.IN_PROGRESS, progress=40)}
KINDS = (
    "status",
    "progress",
    "modal",
    "stalled",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "lost",
    "unreadable",
)


def make_event(task_id: str, kind: str) -> Event:
    """A tracker event of ``kind`` about ``task_id``."""
    running = Task(id=task_id, status=TaskStatus.IN_PROGRESS, progress=50)
    makers: dict[str, Callable[[], Event]] = {
        "status": lambda: StatusChanged(task_id, running, TaskStatus.IN_PROGRESS),
        "progress": lambda: ProgressChanged(task_id, running, 50, 10),
        "modal": lambda: NeedsModal(task_id, Task(id=task_id, status=TaskStatus.MODAL)),
        "stalled": lambda: Stalled(task_id, running, 600.0),
        "succeeded": lambda: Succeeded(task_id, Task(id=task_id, status=TaskStatus.SUCCESS)),
        "failed": lambda: Failed(task_id, Task(id=task_id, status=TaskStatus.FAILURE), "no"),
        "cancelled": lambda: Cancelled(task_id, Task(id=task_id, status=TaskStatus.CANCEL)),
        "timed_out": lambda: TimedOut(task_id, running, 3600.0),
        "lost": lambda: Lost(task_id, running),
        "unreadable": lambda: Unreadable(task_id, None, ServerError("unreadable")),
    }
    return makers[kind]()


@attrs.frozen
class Open:
    deadline: float | None
    pending: int


@attrs.frozen
class Follow:
    stream: int
    ids: tuple[str, ...]


@attrs.frozen
class Route:
    events: tuple[tuple[str, str], ...]


@attrs.frozen
class Joined:
    stream: int
    events: tuple[tuple[str, str], ...]


@attrs.frozen
class Submit:
    stream: int
    task_id: str


@attrs.frozen
class SubmitFail:
    stream: int


@attrs.frozen
class Expire:
    after: float


@attrs.frozen
class Close:
    stream: int


RouterOp = Open | Follow | Route | Joined | Submit | SubmitFail | Expire | Close

_ids = st.sampled_from(ROUTER_IDS)
_stream = st.integers(min_value=0, max_value=3)
_events = st.lists(st.tuples(_ids, st.sampled_from(KINDS)), max_size=4).map(tuple)
router_ops: st.SearchStrategy[RouterOp] = st.one_of(
    st.builds(
        Open,
        st.none() | st.floats(min_value=0, max_value=30, allow_nan=False),
        st.integers(min_value=0, max_value=3),
    ),
    st.builds(Follow, _stream, st.lists(_ids, max_size=4).map(tuple)),
    st.builds(Route, _events),
    st.builds(Joined, _stream, _events),
    st.builds(Submit, _stream, _ids),
    st.builds(SubmitFail, _stream),
    st.builds(Expire, st.floats(min_value=0, max_value=20, allow_nan=False)),
    st.builds(Close, _stream),
)
#: Scripts start with two streams so that most calls have a stream to act on.
router_scripts = st.lists(router_ops, min_size=10, max_size=30).map(
    lambda ops: [Open(None, 0), Open(10.0, 2), *ops]
)


@attrs.define
class Model:
    """What the router promised one stream, kept apart from the router itself."""

    id: StreamId
    started: float
    deadline: float | None
    pending: int
    #: Followed ids whose terminal event the stream has not heard, in the order followed.
    following: list[str] = attrs.Factory(list)
    #: Ids whose terminal event it heard: never followed again.
    heard_end: set[str] = attrs.Factory(set)
    closed: bool = False


@attrs.frozen
class Step:
    """One call: the op, the stream it named, the router's answer and the models before it."""

    op: RouterOp
    stream: StreamId | None
    routing: Routing
    expected: list[tuple[StreamId, Event]]
    followed_before: frozenset[str]
    followed_after: frozenset[str]


class RouterRun:
    """Replays a script on a Router beside the reference models, recording every step."""

    def __init__(self) -> None:
        self.router = Router()
        self.models: dict[StreamId, Model] = {}
        self.now = 0.0
        self.steps: list[Step] = []

    def model_followed(self) -> frozenset[str]:
        return frozenset(
            task_id for m in self.models.values() if not m.closed for task_id in m.following
        )

    def pick(self, index: int) -> Model | None:
        models = list(self.models.values())
        return models[index % len(models)] if models else None

    def run(self, script: Iterable[RouterOp]) -> RouterRun:
        for op in script:
            before = self.router.followed
            expected: list[tuple[StreamId, Event]] = []
            stream, routing = self.apply(op, expected)
            self.steps.append(Step(op, stream, routing, expected, before, self.router.followed))
        return self

    def apply(
        self, op: RouterOp, expected: list[tuple[StreamId, Event]]
    ) -> tuple[StreamId | None, Routing]:
        if isinstance(op, Open):
            deadline = None if op.deadline is None else self.now + op.deadline
            sid = self.router.open(self.now, deadline_at=deadline, pending=op.pending)
            self.models[sid] = Model(sid, self.now, deadline, op.pending)
            return sid, Routing()
        if isinstance(op, Route):
            events = [make_event(task_id, kind) for task_id, kind in op.events]
            for event in events:
                for model in self.models.values():
                    self._hear(model, event, expected)
            return None, self.router.route(events)
        if isinstance(op, Expire):
            return None, self._expire(op.after, expected)
        picked = self.pick(op.stream)
        if picked is None:
            return None, Routing()
        return picked.id, self._on_stream(picked, op, expected)

    def _expire(self, after: float, expected: list[tuple[StreamId, Event]]) -> Routing:
        self.now += after
        for model in self.models.values():
            if model.closed or model.deadline is None or model.deadline > self.now:
                continue
            model.deadline = None
            for task_id in sorted(model.following):
                late = TimedOut(task_id, SNAPSHOTS.get(task_id), max(0.0, self.now - model.started))
                self._hear(model, late, expected)
        return self.router.expire(self.now, SNAPSHOTS.get)

    def _on_stream(
        self,
        model: Model,
        op: Follow | Joined | Submit | SubmitFail | Close,
        expected: list[tuple[StreamId, Event]],
    ) -> Routing:
        router, sid, live = self.router, model.id, not model.closed
        if isinstance(op, Follow):
            if live:
                model.following.extend(
                    dict.fromkeys(
                        i for i in op.ids if i not in model.following and i not in model.heard_end
                    )
                )
            return router.follow(sid, op.ids)
        if isinstance(op, Joined):
            events = [make_event(task_id, kind) for task_id, kind in op.events]
            for event in events:
                self._hear(model, event, expected)
            return router.joined(sid, events)
        if isinstance(op, Submit):
            event = Submitted(op.task_id, SubmitResult(task_id=op.task_id), PARENT, op="U1")
            if live:
                model.pending = max(0, model.pending - 1)
                expected.append((sid, event))
                if op.task_id not in model.following and op.task_id not in model.heard_end:
                    model.following.append(op.task_id)
            return router.submitted(sid, event)
        if isinstance(op, SubmitFail):
            failed = SubmitFailed(PARENT, ServerError("refused"), op="V2")
            if live and model.pending > 0:
                model.pending -= 1
                expected.append((sid, failed))
            return router.submit_failed(sid, failed)
        model.closed = True
        model.following.clear()
        return router.close(sid)

    @staticmethod
    def _hear(model: Model, event: Event, expected: list[tuple[StreamId, Event]]) -> None:
        if model.closed or event.task_id not in model.following:
            return
        expected.append((model.id, event))
        if event.is_terminal:
            model.following.remove(event.task_id)
            model.heard_end.add(event.task_id)


def deliveries_of(routing: Routing, sid: StreamId) -> list[Event]:
    """What ``routing`` hands to stream ``sid``, in order."""
    return [event for stream, event in routing.deliveries if stream == sid]


@given(router_scripts)
@fuzz(ROUTER_EXAMPLES)
def test_router_gives_a_stream_at_most_one_terminal_event_per_followed_task(
    script: list[RouterOp],
) -> None:
    """After a task's terminal event a stream hears nothing of it: it never follows it again."""
    ended: dict[StreamId, set[str]] = {}
    for step in RouterRun().run(script).steps:
        for sid, event in step.routing.deliveries:
            if isinstance(event, SubmitFailed | Submitted):
                # Announcements: SubmitFailed names the parent, Submitted precedes following.
                continue
            done = ended.setdefault(sid, set())
            assert event.task_id not in done, (step, event)
            if event.is_terminal:
                done.add(event.task_id)
        for sid, task_id in step.routing.follows:
            ended.setdefault(sid, set()).discard(task_id)


REFOLLOW = [
    Open(None, 2),
    Submit(0, "101"),
    Route((("101", "succeeded"),)),
    Submit(0, "101"),
    Route((("101", "succeeded"),)),
]


@given(router_scripts)
@example(REFOLLOW)
@fuzz(ROUTER_EXAMPLES)
def test_router_never_tells_a_stream_of_a_task_after_its_terminal_event(
    script: list[RouterOp],
) -> None:
    """A stream hears one terminal event per task id at most, and nothing about it afterwards."""
    ended: dict[StreamId, set[str]] = {}
    for step in RouterRun().run(script).steps:
        for sid, event in step.routing.deliveries:
            if isinstance(event, SubmitFailed | Submitted):
                # Announcements of submits, not news of a task's life: SubmitFailed names the
                # parent, and a Submitted with an id that already ended is followed no more.
                continue
            done = ended.setdefault(sid, set())
            assert event.task_id not in done, (step, event)
            if event.is_terminal:
                done.add(event.task_id)


@given(router_scripts)
@fuzz(ROUTER_EXAMPLES)
def test_router_gives_a_stream_only_what_it_follows(script: list[RouterOp]) -> None:
    """Task events reach only streams following the task; announcements only their stream."""
    run = RouterRun()
    following: dict[StreamId, set[str]] = {}
    pending: dict[StreamId, int] = {}
    for op in script:
        before = len(run.steps)
        run.run([op])
        step = run.steps[before]
        if isinstance(op, Open) and step.stream is not None:
            pending[step.stream] = op.pending
        if (
            isinstance(op, Follow)
            and step.stream is not None
            and not run.models[step.stream].closed
        ):
            following.setdefault(step.stream, set()).update(op.ids)
        for sid, event in step.routing.deliveries:
            assert not isinstance(op, Close), (step, event)
            assert not run.models[sid].closed, (step, event)
            mine = following.setdefault(sid, set())
            if isinstance(event, Submitted):
                assert isinstance(op, Submit), (step, event)
                assert sid == step.stream, (step, event)
                mine.add(event.task_id)
                pending[sid] = max(0, pending[sid] - 1)
            elif isinstance(event, SubmitFailed):
                assert isinstance(op, SubmitFail), (step, event)
                assert sid == step.stream, (step, event)
                assert pending[sid] > 0, (step, event)
                pending[sid] -= 1
            else:
                assert event.task_id in mine, (step, event)
                if event.is_terminal:
                    mine.discard(event.task_id)


@given(router_scripts)
@fuzz(ROUTER_EXAMPLES)
def test_router_finished_means_nothing_followed_and_no_child_awaited(
    script: list[RouterOp],
) -> None:
    """``finished`` is true exactly for closed streams and those with nothing left to hear."""
    run = RouterRun()
    for op in script:
        run.run([op])
        for model in run.models.values():
            idle = not model.following and model.pending == 0
            assert run.router.finished(model.id) == (model.closed or idle), (op, model)
        assert len(run.router) == sum(1 for m in run.models.values() if not m.closed)
    unfinished = [m.id for m in run.models.values() if not m.closed and (m.following or m.pending)]
    assert sorted(run.router.close_all()) == sorted(unfinished)
    assert run.router.followed == frozenset()


@given(router_scripts)
@fuzz(ROUTER_EXAMPLES)
def test_router_followed_is_the_union_of_what_open_streams_follow(script: list[RouterOp]) -> None:
    """``followed`` and ``follows`` say exactly what the open streams still follow."""
    run = RouterRun()
    for op in script:
        run.run([op])
        assert run.router.followed == run.model_followed(), op
        for model in run.models.values():
            for task_id in ROUTER_IDS:
                assert run.router.follows(model.id, task_id) == (task_id in model.following)


@given(router_scripts)
@fuzz(ROUTER_EXAMPLES)
def test_router_forgets_exactly_the_ids_that_lost_their_last_follower(
    script: list[RouterOp],
) -> None:
    """``forget`` lists each id that nobody follows any more, once, and no other."""
    for step in RouterRun().run(script).steps:
        lost = step.followed_before - step.followed_after
        assert Counter(step.routing.forget) == Counter(lost), step


@given(router_scripts)
@fuzz(ROUTER_EXAMPLES)
def test_router_delivers_every_event_and_deadline_to_each_follower(
    script: list[RouterOp],
) -> None:
    """Each follower hears every event of its tasks in order; a deadline ends all it follows."""
    run = RouterRun()
    for op in script:
        run.run([op])
        step = run.steps[-1]
        for sid in run.models:
            expected = [event for stream, event in step.expected if stream == sid]
            assert deliveries_of(step.routing, sid) == expected, (step, sid)
        if isinstance(op, Follow | Submit) and step.stream is not None:
            assert all(stream == step.stream for stream, _ in step.routing.follows)
        deadlines = [
            m.deadline for m in run.models.values() if not m.closed and m.deadline is not None
        ]
        assert run.router.next_deadline() == min(deadlines, default=None), op


# -- the tracker -----------------------------------------------------------------------------

TRACKER_IDS = ("1748339029401001", "1748339029401002", "1748339029401003")
POLICY = PollPolicy(
    interval=5,
    fast_interval=3,
    queued_interval=15,
    batch_window=0.5,
    chunk_size=3,
    deadline=150,
    stall_after=40,
)


@attrs.frozen
class Watch:
    task_id: str


@attrs.frozen
class Due:
    pass


@attrs.frozen
class Listed:
    #: Which in-flight ids the request asked about (indices into them, modulo their number).
    asked: tuple[int, ...]
    answer: tuple[Any, ...]


@attrs.frozen
class Fetched:
    task_id: str
    raw: Any


@attrs.frozen
class QueryFailed:
    asked: tuple[int, ...]
    retry_after: float


@attrs.frozen
class Unknown:
    task_id: str


@attrs.frozen
class Forget:
    task_id: str


@attrs.frozen
class ExpireAll:
    pass


@attrs.frozen
class Advance:
    seconds: float


TrackerOp = Watch | Due | Listed | Fetched | QueryFailed | Unknown | Forget | ExpireAll | Advance

_tid = st.sampled_from(TRACKER_IDS)
# Mostly a running task whose answers arrive in any order, sometimes an end or an odd value.
_running = st.sampled_from(["IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "SUBMITTED", "MODAL"])
_statuses = st.one_of(
    _running,
    _running,
    st.sampled_from(["NOT_START", "SUCCESS", "FAILURE", "CANCEL", ""]),
    st.sampled_from([None, "WEIRD", 7, {"a": 1}, ["SUCCESS"], 1e400]),
)
_percent = st.integers(min_value=0, max_value=100).map(lambda n: f"{n}%")
_progress = st.one_of(
    _percent,
    _percent,
    st.sampled_from(["", "150%", "-5%", "²%", "abc", None, 30, 70, -1, 101, 1e400, True]),
    st.just(float("nan")),
)
#: Fields that once made a snapshot raise (issue 9), laid over otherwise good snapshots.
HOSTILE_FIELDS: list[dict[str, Any]] = [
    {"finishTime": 1e400},
    {"finishTime": -1},
    {"startTime": 1e20},
    {"submitTime": "yesterday"},
    {"buttons": [{"customId": "x", "type": None}]},
    {"buttons": [{"customId": "x", "type": 1e400}]},
    {"buttons": "x"},
    {"failReason": {"a": [1]}},
    {"properties": {"finalPrompt": 1e400}},
    {"code": "²"},
    {"action": 10**40},
    {"imageUrl": nested(500)},
]
#: A snapshot of a tracked id, plausible enough to move its task, sometimes with a hostile field.
plausible = st.builds(
    lambda core, extra: {**extra, **core},
    st.fixed_dictionaries(
        {"id": _tid | _tid.map(int), "status": _statuses, "progress": _progress},
        optional={"failReason": st.sampled_from(["", "banned", None])},
    ),
    st.just({}) | st.sampled_from(HOSTILE_FIELDS),
)
#: Mostly plausible snapshots; sometimes any JSON at all, or a hostile task object.
raw_snapshots = st.one_of(plausible, plausible, plausible, field_values)


def about_itself(op: Fetched) -> Fetched:
    """Mostly an answer about the task asked for, as servers do; else as drawn."""
    raw = op.raw
    if isinstance(raw, dict) and raw.get("id") in TRACKER_IDS and raw.get("id") != op.task_id:
        return Fetched(op.task_id, {**raw, "id": op.task_id})
    return op


_picks = st.lists(st.integers(min_value=0, max_value=7), max_size=4).map(tuple)
_listed = st.builds(Listed, _picks, st.lists(raw_snapshots, max_size=4).map(tuple))
_fetched = st.builds(Fetched, _tid, st.one_of(plausible, plausible, raw_snapshots, task_objects))
_advance = st.builds(Advance, st.floats(min_value=0, max_value=90, allow_nan=False))
# Repeated branches are drawn more often: answers and time, more than the ends of a life.
tracker_ops: st.SearchStrategy[TrackerOp] = st.one_of(
    st.builds(Watch, _tid),
    st.just(Due()),
    _listed,
    _listed,
    _listed,
    _fetched.map(about_itself),
    st.builds(QueryFailed, _picks, st.floats(min_value=0, max_value=120, allow_nan=False)),
    st.builds(Unknown, _tid),
    st.builds(Forget, _tid),
    st.just(ExpireAll()),
    _advance,
    _advance,
)
tracker_scripts = st.lists(tracker_ops, min_size=10, max_size=30).map(
    lambda ops: [Watch(TRACKER_IDS[0]), Watch(TRACKER_IDS[1]), *ops]
)


@attrs.define
class Life:
    """One tracked lifetime of an id: from the watch that starts it to its end."""

    rank: int = -1
    progress: int = -1
    terminals: int = 0


def status_rank(event: Event) -> int | None:
    """The rank an event puts its task at, or None for one that says nothing of the status."""
    if isinstance(event, StatusChanged):
        return rank(event.status)
    if isinstance(event, NeedsModal | Succeeded | Failed | Cancelled):
        return rank(event.task.status)
    if event.is_terminal:
        return rank(TaskStatus.SUCCESS)
    return None


class TrackerRun:
    """Replays a script on a Tracker, checking the rules after every call."""

    def __init__(self) -> None:
        self.tracker = Tracker(POLICY)
        self.now = 0.0
        #: The live lifetime of each tracked id.
        self.lives: dict[str, Life] = {}
        #: Ids handed out by due() whose answer has not been handed back.
        self.in_flight: list[str] = []

    def chosen(self, picks: Sequence[int]) -> list[str]:
        if not self.in_flight:
            return []
        return list(dict.fromkeys(self.in_flight[i % len(self.in_flight)] for i in picks))

    def settle(self, ids: Iterable[str]) -> None:
        for task_id in ids:
            if task_id in self.in_flight:
                self.in_flight.remove(task_id)

    def run(self, script: Iterable[TrackerOp]) -> None:
        for op in script:
            self.step(op)
            assert set(self.tracker) == set(self.lives), op
            assert set(self.in_flight) <= set(self.lives), op
            if not self.lives:
                assert self.tracker.next_wake() is None

    def step(self, op: TrackerOp) -> None:
        tracker, now = self.tracker, self.now
        if isinstance(op, Advance):
            self.now += op.seconds
        elif isinstance(op, Watch):
            fresh = op.task_id not in self.lives
            replay = tracker.watch(op.task_id, now)
            if fresh:
                assert replay == []
                self.lives[op.task_id] = Life()
            else:
                self.take(replay, replay=True)
        elif isinstance(op, Due):
            due = tracker.due(now)
            assert len(due) == len(set(due)), due
            assert not set(due) & set(self.in_flight), (due, self.in_flight)
            assert set(due) <= set(self.lives), due
            self.in_flight.extend(due)
        elif isinstance(op, Listed):
            asked = self.chosen(op.asked)
            events, confirm = tracker.on_listed(asked, list(op.answer), now)
            assert set(confirm) <= set(asked), (confirm, asked)
            self.settle(set(asked) - set(confirm))
            self.take(events)
        elif isinstance(op, Fetched):
            self.settle([op.task_id])
            self.take(tracker.on_fetched(op.task_id, op.raw, now))
        elif isinstance(op, QueryFailed):
            asked = self.chosen(op.asked)
            tracker.on_failed(asked, now + op.retry_after)
            self.settle(asked)
        elif isinstance(op, Unknown):
            self.settle([op.task_id])
            self.take(tracker.on_unknown(op.task_id))
            self.lives.pop(op.task_id, None)
        elif isinstance(op, Forget):
            tracker.forget(op.task_id)
            self.settle([op.task_id])
            self.lives.pop(op.task_id, None)
        else:
            self.take(tracker.expire(now))

    def take(self, events: Sequence[Event], *, replay: bool = False) -> None:
        for event in events:
            life = self.lives.get(event.task_id)
            assert life is not None, f"an event about an id not tracked: {event}"
            assert not isinstance(event, Submitted | SubmitFailed), event
            level = status_rank(event)
            if level is not None:
                # A replay repeats where the task stands; anything else must be news.
                assert level > life.rank or (replay and level == life.rank), (event, life)
                life.rank = level
            if isinstance(event, ProgressChanged):
                assert 0 <= event.progress <= 100, event
                assert event.progress > life.progress or (
                    replay and event.progress == life.progress
                ), (event, life)
                life.progress = event.progress
            if event.is_terminal:
                life.terminals += 1
                assert life.terminals == 1, event
                assert not replay, event
                # Ended tasks leave the board at once.
                assert event.task_id not in self.tracker, event
                del self.lives[event.task_id]
                self.settle([event.task_id])


@given(tracker_scripts)
@fuzz(TRACKER_EXAMPLES)
def test_tracker_keeps_its_rules_under_any_answers(script: list[TrackerOp]) -> None:
    """Any answers in any order: no exception, one terminal per lifetime, never backwards."""
    run = TrackerRun()
    run.run(script)
    # Nothing starves either: a day later, exactly the tracked ids not in flight are due.
    due = run.tracker.due(run.now + 24 * 3600)
    assert sorted(due) == sorted(set(run.lives) - set(run.in_flight))


def answers_about_one_task(
    answers: list[tuple[Any, Any, bool]],
) -> list[TrackerOp]:
    """A script where one task's snapshots arrive in the given order, listed or fetched."""
    task_id = TRACKER_IDS[0]
    script: list[TrackerOp] = [Watch(task_id)]
    for status, progress, fetched in answers:
        raw = {"id": task_id, "status": status, "progress": progress}
        script += [Due(), Fetched(task_id, raw) if fetched else Listed((0,), (raw,)), Advance(1)]
    return script


#: One task's answers: mostly running at some percentage, now and then anything else.
_its_status = st.sampled_from(["IN_PROGRESS"] * 6 + ["SUBMITTED", "MODAL", "NOT_START"]) | _statuses
_its_progress = st.one_of(_percent, _percent, _progress)


@given(st.lists(st.tuples(_its_status, _its_progress, st.booleans()), max_size=20))
@fuzz(TRACKER_EXAMPLES)
def test_one_tasks_answers_in_any_order_never_move_it_back(
    answers: list[tuple[Any, Any, bool]],
) -> None:
    """However stale or odd its answers, a task's status rank and progress only go up."""
    TrackerRun().run(answers_about_one_task(answers))


# -- the stream inbox ------------------------------------------------------------------------

INBOX_IDS = ("101", "102", "103")
#: Puts and takes on one inbox: ("put", id, kind) or ("take",).
inbox_scripts = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(INBOX_IDS), st.sampled_from(KINDS)),
        st.tuples(st.just("put"), st.sampled_from(INBOX_IDS), st.just("progress")),
        st.tuples(st.just("take")),
    ),
    max_size=60,
)


def _inbox_event(task_id: str, kind: str, serial: int) -> Event:
    if kind == "progress":
        task = Task(id=task_id, status=TaskStatus.IN_PROGRESS, progress=serial % 100)
        return ProgressChanged(task_id, task, serial % 100, serial - 1)
    return make_event(task_id, kind)


@given(inbox_scripts)
@fuzz(ROUTER_EXAMPLES)
def test_an_inbox_drops_only_progress_that_a_newer_progress_replaced(
    script: list[tuple[str, ...]],
) -> None:
    """Whatever is put and taken, a consumer gets every other event, each task's in order."""
    inbox = _Inbox(coalesce_from=0)
    taken: list[Event] = []
    put: list[Event] = []
    loop = asyncio.new_event_loop()
    try:
        for serial, step in enumerate([*script, *[("take",)] * (len(script) + 1)]):
            if step[0] == "put":
                event = _inbox_event(step[1], step[2], serial)
                put.append(event)
                inbox.put(event)
                # Each queued other event, and at most one progress after each of them and
                # after each task's last one taken.
                queued = _other_count(put) - _other_count(taken)
                assert len(inbox) <= 2 * queued + len(INBOX_IDS)
            elif not inbox.empty():
                item = loop.run_until_complete(inbox.get())
                assert not isinstance(item, _Stop)
                taken.append(item)
    finally:
        loop.close()
    for task_id in INBOX_IDS:
        sent = [e for e in put if e.task_id == task_id]
        got = [e for e in taken if e.task_id == task_id]
        # Everything but progress arrives, in order, and the last thing put always arrives.
        assert [e for e in got if not isinstance(e, ProgressChanged)] == [
            e for e in sent if not isinstance(e, ProgressChanged)
        ]
        if sent:
            assert got[-1].task_id == sent[-1].task_id
            assert type(got[-1]) is type(sent[-1])
        # A progress arrives after exactly the other events that were put before it.
        segment, before = {}, 0
        for e in sent:
            if isinstance(e, ProgressChanged):
                segment[id(e.task)] = before
            else:
                before += 1
        heard = 0
        for e in got:
            if isinstance(e, ProgressChanged):
                assert segment[id(e.task)] == heard
            else:
                heard += 1


def _other_count(events: list[Event]) -> int:
    return sum(1 for e in events if not isinstance(e, ProgressChanged))
