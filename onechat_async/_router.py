"""Who hears what: streams, the tasks each follows, their deadlines, and the terminal-event rule.

:class:`Router` is sans-I/O like :class:`~onechat_async._tracker.Tracker` beside it: it keeps
state between calls but never awaits, reads a clock or sends anything. The tracker says what
happened to a task; the router decides which stream hears it. Every rule about streams lives
here and nowhere else:

- a stream hears a task's events only while it follows that task, and **at most one terminal
  event per task**: the terminal event ends the task for that stream, whatever comes later
  (another poll, a caller deadline, a replay, a second submit answered with the same id);
- a caller's deadline ends every task the stream still follows with ``TimedOut``;
- a fan-out announces children before they exist (``pending``); each pending child ends as a
  ``Submitted`` (then it is followed like any task) or a ``SubmitFailed``;
- a stream is finished when it follows nothing and waits for no child.

What the shell must do in return comes back as a :class:`Routing`: the events to hand to each
stream, the (stream, task) pairs just made (the shell starts tracking the task, or replays
where it stands to that stream) and the ids nobody follows any more.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

import attrs

from ._events import Event, SubmitFailed, Submitted, TimedOut
from ._models import Task

__all__ = ["Router", "Routing", "StreamId"]

StreamId = int


@attrs.define
class Routing:
    """What the shell does after a routing decision."""

    #: (stream, event) pairs, in the order the stream must hear them.
    deliveries: list[tuple[StreamId, Event]] = attrs.Factory(list)
    #: (stream, id) pairs just made: track the id, or replay its state to that stream.
    follows: list[tuple[StreamId, str]] = attrs.Factory(list)
    #: Ids that lost their last follower: stop tracking them.
    forget: list[str] = attrs.Factory(list)

    def extend(self, other: Routing) -> None:
        """Append what ``other`` asks for."""
        self.deliveries.extend(other.deliveries)
        self.follows.extend(other.follows)
        self.forget.extend(other.forget)


class _Stream:
    __slots__ = ("deadline_at", "ended", "following", "heard_end", "id", "pending", "started_at")

    def __init__(
        self, stream_id: StreamId, started_at: float, deadline_at: float | None, pending: int
    ) -> None:
        self.id = stream_id
        self.started_at = started_at
        self.deadline_at = deadline_at
        self.pending = pending
        #: Ids whose terminal event this stream has not heard yet.
        self.following: set[str] = set()
        #: Ids whose terminal event it has heard: never followed again, so that a server
        #: answering two submits with one task id cannot make the stream hear that end twice.
        self.heard_end: set[str] = set()
        self.ended = False


class Router:
    """The streams of one poller and the tasks each of them follows."""

    def __init__(self) -> None:
        self._streams: dict[StreamId, _Stream] = {}
        # The stream itself while it is a task's only follower, the usual case: a list per
        # task cost 88 bytes of each tracked task at 100,000 tasks.
        self._followers: dict[str, _Stream | list[_Stream]] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def followed(self) -> frozenset[str]:
        """The ids at least one stream follows."""
        return frozenset(self._followers)

    def open(self, now: float, *, deadline_at: float | None = None, pending: int = 0) -> StreamId:
        """A new stream, started at ``now``, waiting for ``pending`` announced children."""
        stream_id = next(self._ids)
        self._streams[stream_id] = _Stream(stream_id, now, deadline_at, pending)
        return stream_id

    def finished(self, stream_id: StreamId) -> bool:
        """Whether the stream will hear nothing more (closed, or nothing left to wait for)."""
        stream = self._streams.get(stream_id)
        return stream is None or stream.ended or (not stream.following and not stream.pending)

    def follows(self, stream_id: StreamId, task_id: str) -> bool:
        """Whether the stream follows ``task_id`` (its terminal event has not reached it)."""
        stream = self._streams.get(stream_id)
        return stream is not None and task_id in stream.following

    def follow(self, stream_id: StreamId, ids: Iterable[str]) -> Routing:
        """Make the stream follow ``ids``; ``follows`` lists the pairs that are new."""
        routing = Routing()
        stream = self._streams.get(stream_id)
        if stream is None or stream.ended:
            return routing
        for task_id in ids:
            if task_id in stream.following or task_id in stream.heard_end:
                continue
            stream.following.add(task_id)
            others = self._followers.get(task_id)
            if others is None:
                self._followers[task_id] = stream
            elif isinstance(others, list):
                others.append(stream)
            else:
                self._followers[task_id] = [others, stream]
            routing.follows.append((stream.id, task_id))
        return routing

    def joined(self, stream_id: StreamId, events: Iterable[Event]) -> Routing:
        """Tell one stream where a task it just followed stands (a late joiner's replay)."""
        routing = Routing()
        stream = self._streams.get(stream_id)
        if stream is not None:
            for event in events:
                self._give(stream, event, routing)
        return routing

    def route(self, events: Iterable[Event]) -> Routing:
        """Hand the tracker's events to every stream that follows their task."""
        routing = Routing()
        for event in events:
            followers = self._followers.get(event.task_id)
            if isinstance(followers, _Stream):
                self._give(followers, event, routing)
            elif followers:
                for stream in list(followers):
                    self._give(stream, event, routing)
        return routing

    def submitted(self, stream_id: StreamId, event: Submitted) -> Routing:
        """A submit made for the stream was accepted: announce it, then follow the task."""
        routing = Routing()
        stream = self._streams.get(stream_id)
        if stream is None or stream.ended:
            return routing
        stream.pending = max(0, stream.pending - 1)
        routing.deliveries.append((stream.id, event))
        routing.extend(self.follow(stream_id, [event.task_id]))
        return routing

    def submit_failed(self, stream_id: StreamId, event: SubmitFailed) -> Routing:
        """An announced child could not be submitted: its one and only (terminal) event."""
        routing = Routing()
        stream = self._streams.get(stream_id)
        if stream is None or stream.ended or stream.pending <= 0:
            return routing
        stream.pending -= 1
        routing.deliveries.append((stream.id, event))
        return routing

    def expire(self, now: float, snapshot: Callable[[str], Task | None]) -> Routing:
        """End the streams whose caller deadline passed: ``TimedOut`` for each followed task."""
        routing = Routing()
        for stream in list(self._streams.values()):
            if stream.deadline_at is None or stream.deadline_at > now:
                continue
            stream.deadline_at = None
            for task_id in sorted(stream.following):
                self._give(
                    stream,
                    TimedOut(task_id, snapshot(task_id), max(0.0, now - stream.started_at)),
                    routing,
                )
        return routing

    def next_deadline(self) -> float | None:
        """The earliest caller deadline still to come, if any."""
        when = min(
            (s.deadline_at for s in self._streams.values() if s.deadline_at is not None),
            default=math.inf,
        )
        return None if when == math.inf else when

    def close(self, stream_id: StreamId) -> Routing:
        """Forget the stream; ``forget`` lists the ids it was the last to follow."""
        routing = Routing()
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            stream.ended = True
            for task_id in list(stream.following):
                self._unfollow(stream, task_id, routing)
        return routing

    def close_all(self) -> list[StreamId]:
        """Forget every stream (the client is closing); return the ids of those still open."""
        open_ids = [s.id for s in self._streams.values() if not self.finished(s.id)]
        for stream in self._streams.values():
            stream.ended = True
            stream.following.clear()
        self._streams.clear()
        self._followers.clear()
        return open_ids

    # -- the rule ------------------------------------------------------------------------

    def _give(self, stream: _Stream, event: Event, routing: Routing) -> None:
        # The one-terminal-event rule: nothing about a task reaches a stream after that
        # task's terminal event did (or before the stream followed it).
        if event.task_id not in stream.following:
            return
        routing.deliveries.append((stream.id, event))
        if event.is_terminal:
            stream.heard_end.add(event.task_id)
            self._unfollow(stream, event.task_id, routing)

    def _unfollow(self, stream: _Stream, task_id: str, routing: Routing) -> None:
        stream.following.discard(task_id)
        followers = self._followers.get(task_id)
        if followers is None:
            return
        if isinstance(followers, _Stream):
            if followers is not stream:
                return
        else:
            if stream in followers:
                followers.remove(stream)
            if len(followers) == 1:
                self._followers[task_id] = followers[0]
            if followers:
                return
        del self._followers[task_id]
        routing.forget.append(task_id)
