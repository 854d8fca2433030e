"""One client's side of callbacks: notifyHooks on its submits, and which calls it accepts.

A :class:`CallbackLink` joins a :class:`~onechat_async.callbacks.CallbackReceiver` to a
client's poller. Before a submit is first sent it adds the receiver's notifyHook and the
``state`` the hook's token binds (unless the caller named a hook of its own), so a re-send
carries the same pair. It answers the receiver's "is this task ours?":

- a task the poller tracks: yes, and the snapshot goes through the tracker like a poll's;
- a task carrying the ``state`` of a submit still in flight, or of one whose answer was lost
  (:class:`~onechat_async.SubmitOutcomeUnknownError`): yes, and the task is *adopted*: it
  is tracked from now on, and :meth:`adopted` names it by that ``state``;
- a task one of this client's recent submits named in its answer: yes, though nobody may
  track it (a callback that beat ``track()``, a duplicate after the end): it changes nothing;
- anything else: no (403 ``unknown_task``).

A submit's state stays *open* (adoptable) from before it is sent until its answer names
the task or proves no task was made; after a lost answer it stays open until a callback
reveals the task or the token expires. Only open states are kept, so memory follows the
submits in flight and the lost ones, not every submit ever made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from ._clock import Clock
from ._errors import OneChatError
from ._models import SubmitResult, Task
from ._outcome import proves_no_task
from ._poller import Poller, Subscription
from ._receiver import CallbackReceiver
from ._requests import Request
from ._secrets import get_logger

__all__ = ["CallbackLink"]

_T = TypeVar("_T")
_log = get_logger("onechat_async.callbacks")

#: How many answered submits are remembered, so that their late or duplicate callbacks are
#: accepted (and change nothing) rather than refused.
_RECENT = 10_000
#: Submits that make no task, and so get no notifyHook.
_NO_TASK_ENDPOINTS = frozenset({"upload-discord-images"})


@attrs.define
class _Open:
    """Submits with one ``state`` whose task is not known yet, and until when to wait."""

    count: int
    until: float


class CallbackLink:
    """Adds notifyHooks to one client's submits and feeds verified callbacks to its poller."""

    def __init__(self, receiver: CallbackReceiver, poller: Poller, clock: Clock) -> None:
        self.receiver = receiver
        self._poller = poller
        self._clock = clock
        self._open: dict[str, _Open] = {}
        #: The tasks the latest answered submits named, by state (oldest first, bounded).
        self._answered: dict[str, tuple[str, ...]] = {}
        #: Tasks revealed by a callback's state, by that state (oldest first, pruned by age).
        self._adopted: dict[str, tuple[tuple[str, ...], float]] = {}
        self._followers: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed_for_good = False
        receiver.connect(sink=self.push, known=self.known)

    # -- submits ---------------------------------------------------------------------------

    def wants(self, request: Request) -> bool:
        """Whether ``request`` is a task-making submit that names no notifyHook of its own."""
        return (
            request.is_submit
            and request.endpoint not in _NO_TASK_ENDPOINTS
            and request.body is not None
            and "notifyHook" not in request.body
        )

    async def prepare(self, request: Request) -> Request:
        """``request`` with the receiver's notifyHook and the state its token binds."""
        await self._serve()
        fields = self.receiver.hook_fields(request.state)
        assert request.body is not None  # noqa: S101 - wants() said so
        return attrs.evolve(request, body={**request.body, **fields}, state=fields["state"])

    async def submit(
        self,
        request: Request,
        send: Callable[[Request, Callable[..., _T]], Awaitable[_T]],
        reader: Callable[..., _T],
    ) -> _T:
        """Send a prepared submit, keeping its state open until its outcome is known."""
        state = request.state
        assert state  # noqa: S101 - prepare() set it
        self._opened(state)
        try:
            result = await send(request, reader)
        except OneChatError as exc:
            if proves_no_task(exc):
                self._closed(state, None)
            # Otherwise the task may exist: a callback carrying this state will adopt it.
            raise
        # A cancelled submit (BaseException) stays open too: it may have reached the server.
        self._closed(state, result.task_id if isinstance(result, SubmitResult) else None)
        return result

    def _opened(self, state: str) -> None:
        now = self._clock.now()
        self._prune(now)
        entry = self._open.pop(state, None)
        count = 1 if entry is None else entry.count + 1
        # Re-inserted last: the dict stays in order of expiry, so pruning reads from the front.
        self._open[state] = _Open(count, now + self.receiver.ttl)

    def _closed(self, state: str, task_id: str | None) -> None:
        if task_id is not None:
            ids = self._answered.pop(state, ())
            self._answered[state] = ids if task_id in ids else (*ids, task_id)
            if len(self._answered) > _RECENT:
                del self._answered[next(iter(self._answered))]
        if task_id is not None and task_id in self._adopted.get(state, ((), 0.0))[0]:
            return  # a callback already adopted this very task, and closed its submit
        entry = self._open.get(state)
        if entry is None:
            return
        entry.count -= 1
        if entry.count <= 0:
            del self._open[state]

    def _prune(self, now: float) -> None:
        for table in (self._open, self._adopted):
            while table:
                state = next(iter(table))
                value = table[state]
                until = value.until if isinstance(value, _Open) else value[1]
                if until > now:
                    break
                del table[state]

    # -- callbacks -------------------------------------------------------------------------

    def known(self, task: Task) -> bool:
        """Whether a verified callback's task is ours; adopt it if its state is open."""
        if self._closed_for_good:
            return False  # a lent receiver outlives the client: nothing is ours any more
        if task.id in self._poller.tracker or task.id in self._answered.get(task.state, ()):
            return True
        now = self._clock.now()
        self._prune(now)
        entry = self._open.get(task.state)
        if entry is None:
            return False
        entry.count -= 1
        if entry.count <= 0:
            del self._open[task.state]
        ids, _ = self._adopted.pop(task.state, ((), 0.0))
        self._adopted[task.state] = ((*ids, task.id), now + self.receiver.ttl)
        _log.info("task %s adopted: a callback revealed the submit with its state", task.id)
        self._follow(task.id)
        return True

    def push(self, task: Task) -> None:
        """A verified task snapshot: through the tracker, as a poll's answer would go."""
        self._poller.push(task)

    def adopted(self, state: str) -> tuple[str, ...]:
        """The tasks callbacks revealed for submits with ``state`` whose answer was missing."""
        return self._adopted.get(state, ((), 0.0))[0]

    def _follow(self, task_id: str) -> None:
        """Track an adopted task until it ends, so its snapshots and polls have a home.

        Its events go nowhere from here: a caller who follows the task (``track``, ``wait``)
        hears where it stands and everything after, as for any task tracked twice. The
        subscription follows the task at once, before the callback's snapshot is pushed.
        """
        sub = self._poller.open()
        sub.follow([task_id])
        follower = asyncio.get_running_loop().create_task(_drain(sub))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)

    # -- life ------------------------------------------------------------------------------

    async def _serve(self) -> None:
        """Start the receiver's own server the first time it is needed, if it should run."""
        receiver = self.receiver
        if receiver.serve and not receiver.running and not self._started:
            self._started = True
            await receiver.start()

    async def aclose(self) -> None:
        """Stop what this link started: the receiver's server and the adopted followers."""
        self._closed_for_good = True
        for follower in list(self._followers):
            follower.cancel()
        if self._followers:
            await asyncio.wait(self._followers)
        if self._started:
            self._started = False
            await self.receiver.stop()


async def _drain(sub: Subscription) -> None:
    try:
        while True:
            await sub.next()
    except (StopAsyncIteration, OneChatError):
        pass  # ended, timed out, or the client closed: tracking ends either way
    finally:
        sub.close()
