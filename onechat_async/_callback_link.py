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

An adoption after a lost answer is journaled like an accepted submit: the task record is
written (so ``resume()`` finds it), the idempotency key, if any, goes from UNKNOWN to
ACCEPTED with the adopted task, and this worker holds the task.

**Workers sharing a store** (the client's store has notes: :mod:`._callback_shared`) also
share the callback secret, read from the store before the first token is minted or checked
and again every :data:`REFRESH` seconds (or at once when a token fails, at most once a
second); and a callback one worker receives is accepted when the *store* knows the task:
one another live worker holds is forwarded to that worker's inbox (drained every
:attr:`CallbackLink.inbox_every` seconds while it holds tasks), one whose submit's answer
was lost anywhere is adopted by whoever receives its first callback.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from . import _callback_shared as shared
from ._clock import Clock
from ._errors import APIConnectionError, OneChatError
from ._journal import new_task
from ._models import SubmitResult, Task
from ._outcome import proves_no_task
from ._poller import Poller, Subscription
from ._receiver import CallbackReceiver
from ._requests import Request
from ._secrets import get_logger
from ._store import NoteRecord, NoteStore

if TYPE_CHECKING:
    from ._workers import Durable

__all__ = ["REFRESH", "CallbackLink", "rotate_secret"]

_T = TypeVar("_T")
_log = get_logger("onechat_async.callbacks")

#: How many answered submits are remembered, so that their late or duplicate callbacks are
#: accepted (and change nothing) rather than refused.
_RECENT = 10_000
#: Submits that make no task, and so get no notifyHook.
_NO_TASK_ENDPOINTS = frozenset({"upload-discord-images"})
#: How often the shared secret is read again, in seconds (a rotation reaches every worker).
REFRESH = 60.0
#: The least time between two reads forced by a failing token: forged calls cost one read
#: a second at most.
_FORCED_REFRESH = 1.0


@attrs.define
class _Open:
    """Submits with one ``state`` whose task is not known yet, and until when to wait."""

    count: int
    until: float
    #: Whether a submit with this state failed without an answer (the task may exist).
    lost: bool = False


class CallbackLink:
    """Adds notifyHooks to one client's submits and feeds verified callbacks to its poller."""

    def __init__(
        self,
        receiver: CallbackReceiver,
        poller: Poller,
        clock: Clock,
        durable: Durable | None = None,
    ) -> None:
        self.receiver = receiver
        self._poller = poller
        self._clock = clock
        self._durable = durable
        store = None if durable is None or durable.owns_store else durable.store
        # Notes are what workers share; a store without them (a custom one) shares nothing.
        self._notes: NoteStore | None = (
            store if hasattr(store, "get_note") and hasattr(store, "swap_note") else None  # type: ignore[assignment]
        )
        #: The idempotency key of each journaled submit's state (oldest first, bounded).
        self._keys: dict[str, str] = {}
        self._secrets_at: float | None = None
        self._secrets_lock = asyncio.Lock()
        #: How often this worker's inbox is read while it holds tasks, in seconds.
        self.inbox_every = 1.0
        self._inbox_reader: asyncio.Task[None] | None = None
        self._open: dict[str, _Open] = {}
        #: The tasks the latest answered submits named, by state (oldest first, bounded).
        self._answered: dict[str, tuple[str, ...]] = {}
        #: Tasks revealed by a callback's state, by that state (oldest first, pruned by age).
        self._adopted: dict[str, tuple[tuple[str, ...], float]] = {}
        self._followers: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed_for_good = False
        receiver.connect(
            sink=self.push,
            known=self.known,
            refresh=None if self._notes is None else self._refresh_quietly,
        )

    # -- submits ---------------------------------------------------------------------------

    def wants(self, request: Request) -> bool:
        """Whether ``request`` is a task-making submit that names no notifyHook of its own."""
        return (
            request.is_submit
            and request.endpoint not in _NO_TASK_ENDPOINTS
            and request.body is not None
            and "notifyHook" not in request.body
        )

    def stated(self, request: Request) -> Request:
        """``request`` with the state its hook will bind, minted now if the caller gave none.

        Called before a submit is journaled, so that the journal's tag is the state every
        callback of the submit will echo.
        """
        if self.wants(request) and not request.state:
            return attrs.evolve(request, state=self.receiver.new_state())
        return request

    def state_for(self, state: str | None, notify_hook: str | None) -> str | None:
        """The state a submit with these arguments will carry (see :meth:`stated`)."""
        return state or (self.receiver.new_state() if notify_hook is None else None)

    def keyed(self, state: str | None, key: str | None) -> None:
        """Remember that the submit carrying ``state`` is journaled under ``key``."""
        if state and key:
            self._keys.pop(state, None)
            self._keys[state] = key
            if len(self._keys) > _RECENT:
                del self._keys[next(iter(self._keys))]

    async def prepare(self, request: Request) -> Request:
        """``request`` with the receiver's notifyHook and the state its token binds."""
        try:
            await self._serve()
            await self._refresh(force=False)
        except OneChatError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure here means nothing was sent
            # Nothing was sent: say so, so the journal records that no task can exist.
            raise APIConnectionError(
                f"the callback receiver could not be prepared: {type(exc).__name__}",
                request_sent=False,
                endpoint=request.endpoint,
            ) from None
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
            else:
                # The task may exist: a callback carrying this state will adopt it.
                await self._lost(state)
            raise
        except asyncio.CancelledError:
            # Cancelled in flight: the task may exist too. Only this worker can adopt it
            # (nothing more is awaited while cancelling), and the adoption is journaled.
            self._mark_lost(state)
            raise
        self._closed(state, result.task_id if isinstance(result, SubmitResult) else None)
        self.watch_inbox()  # other workers may forward this task's callbacks
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

    async def known(self, task: Task) -> bool:
        """Whether a verified callback's task is ours (or the store's); adopt it if it is new."""
        if self._closed_for_good:
            return False  # a lent receiver outlives the client: nothing is ours any more
        if task.id in self._poller.tracker or task.id in self._answered.get(task.state, ()):
            return True
        self._prune(self._clock.now())
        entry = self._open.get(task.state)
        lost = entry is not None and entry.lost
        if entry is not None and not (lost and self._notes is not None):
            # In flight here (its answer will journal it), or lost with no store to share.
            self._adopt_here(task)
            if lost:
                await self._journal_adoption(task.state, task.id, self._keys.get(task.state))
            return True
        if self._notes is not None:
            try:
                if await self._known_to_store(task):
                    return True
            except Exception as exc:  # noqa: BLE001 - a store hiccup: answer from what we know
                _log.error("the store could not say if a task is tracked: %s", type(exc).__name__)
        if entry is None:
            return False
        # Lost here, and the store has no note of it (its write failed): adopt it here.
        self._adopt_here(task)
        await self._journal_adoption(task.state, task.id, self._keys.get(task.state))
        return True

    def _adopt_here(self, task: Task) -> None:
        """Track ``task``, revealed by a callback carrying the state of an open submit."""
        now = self._clock.now()
        entry = self._open.get(task.state)
        if entry is not None:
            entry.count -= 1
            if entry.count <= 0:
                del self._open[task.state]
        self._remember_adopted(task.state, task.id, now)
        _log.info("task %s adopted: a callback revealed the submit with its state", task.id)
        self._follow(task.id)

    def _remember_adopted(self, state: str, task_id: str, now: float) -> None:
        ids, _ = self._adopted.pop(state, ((), 0.0))
        if task_id not in ids:
            ids = (*ids, task_id)
        self._adopted[state] = (ids, now + self.receiver.ttl)

    async def _lost(self, state: str) -> None:
        """A submit carrying ``state`` got no answer: keep it adoptable, here and in the store."""
        self._mark_lost(state)
        key = self._keys.get(state, "")
        try:
            if self._notes is not None:
                await self._notes.swap_note(
                    0, NoteRecord(shared.open_note(state), shared.opened(key))
                )
            # A callback that beat the lost answer adopted the task already: journal that now.
            for task_id in self.adopted(state):
                await self._journal_adoption(state, task_id, key or None)
        except Exception as exc:  # noqa: BLE001 - the submit's own error must get through
            _log.error("could not record a lost submit for callbacks: %s", type(exc).__name__)

    def _mark_lost(self, state: str) -> None:
        entry = self._open.get(state)
        if entry is not None:
            entry.lost = True

    async def _known_to_store(self, task: Task) -> bool:
        """Whether the shared store tracks ``task``, or holds its lost submit (adopted here)."""
        durable, notes = self._durable, self._notes
        assert durable is not None  # noqa: S101 - _notes implies a durable side
        assert notes is not None  # noqa: S101 - only called with a shared store
        record = await durable.store.get_task(task.id)
        if record is not None:
            live = record.lease_until > self._clock.wall()
            if not record.terminal and record.owner not in ("", durable.owner) and live:
                await self._forward(record.owner, task)
            # Otherwise it is finished, or free for resume() to take: accepted, changes nothing.
            return True
        if not task.state:
            return False

        def adopt(note: NoteRecord | None) -> Mapping[str, Any] | None:
            adopted = [] if note is None else list(note.data.get("adopted") or [])
            if note is None or task.id in adopted:
                return None
            return {**note.data, "adopted": [*adopted, task.id]}

        won, note = await _change_note(notes, shared.open_note(task.state), adopt)
        if not won or note is None:
            # No lost submit with this state; or another worker adopted it already (a
            # duplicate callback).
            return note is not None
        # This worker won the adoption: the task is journaled and held here.
        key = note.data.get("key")
        self._adopt_here(task)
        await self._journal_adoption(task.state, task.id, key if isinstance(key, str) else None)
        return True

    async def _journal_adoption(self, state: str, task_id: str, key: str | None) -> None:
        """Journal an adopted task like an accepted submit, and hold it (see the docstring)."""
        durable = self._durable
        if durable is None or (not key and not durable.journal_all):
            return  # the submit was not journaled: nothing to record
        store = durable.store
        try:
            record = new_task(
                task_id,
                key=key or "",
                owner=durable.owner,
                now=self._clock.wall(),
                ttl=durable.lease_ttl,
            )
            await store.swap_task(0, record)  # None: journaled already (its answer came)
            while key:
                found = await store.get_key(key)
                changed = None if found is None else shared.adopted_key(found, task_id)
                if found is None or changed is None:
                    break
                if await store.swap_key(found.version, changed) is not None:
                    _log.info("key %r accepted: a callback revealed its task", key)
                    break
            if durable.tasks.record(task_id) is None:
                await durable.tasks.take(task_id)
            durable.keep([task_id])
            self.watch_inbox()
        except Exception as exc:  # noqa: BLE001 - the task is tracked anyway; polling goes on
            _log.error("could not journal an adopted task: %s", type(exc).__name__)

    async def _forward(self, owner: str, task: Task) -> None:
        """Put ``task`` in the inbox of the worker ``owner``, which holds it."""
        notes = self._notes
        assert notes is not None  # noqa: S101 - only called with a shared store
        await _change_note(
            notes,
            shared.inbox_note(owner),
            lambda note: shared.forwarded({} if note is None else note.data, task),
        )

    def watch_inbox(self) -> None:
        """Read this worker's inbox until the client closes (started when it first holds a task)."""
        if self._notes is None or self._closed_for_good:
            return
        if self._inbox_reader is None or self._inbox_reader.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # not on a loop yet: the first submit or adoption starts it
            self._inbox_reader = loop.create_task(
                self._read_inbox_forever(), name="onechat-async callback inbox"
            )

    async def _read_inbox_forever(self) -> None:
        # One small read a second per worker, until the client closes.
        while not self._closed_for_good:
            await self._clock.sleep(self.inbox_every)
            try:
                await self.read_inbox()
            except Exception as exc:  # noqa: BLE001 - polling covers what the inbox missed
                _log.error("could not read the callback inbox: %s", type(exc).__name__)

    async def read_inbox(self) -> int:
        """Push what other workers forwarded to this one into its tracker; how many tasks."""
        durable, notes = self._durable, self._notes
        if durable is None or notes is None:
            return 0
        emptied, note = await _change_note(
            notes,
            shared.inbox_note(durable.owner),
            lambda note: {"tasks": []} if note is not None and note.data.get("tasks") else None,
        )
        if not emptied or note is None:
            return 0
        tasks = shared.inbox_tasks(note.data)
        for task in tasks:
            self.push(task)
        return len(tasks)

    # -- the shared secret ---------------------------------------------------------------

    async def _refresh_quietly(self, *, force: bool) -> None:
        try:
            await self._refresh(force=force)
        except Exception as exc:  # noqa: BLE001 - checking goes on with the secrets we have
            _log.error("could not read the shared callback secret: %s", type(exc).__name__)

    async def _refresh(self, *, force: bool) -> None:
        """Read the store's callback secret (writing one first if it has none)."""
        notes = self._notes
        if notes is None or self.receiver.secret_given:
            return
        async with self._secrets_lock:
            now = self._clock.now()
            last = self._secrets_at
            if last is not None and now - last < (_FORCED_REFRESH if force else REFRESH):
                return
            note = await notes.get_note(shared.SECRET_NOTE)
            while note is None:
                # Two workers starting at once: one write wins, the other reads the winner's.
                seeded = NoteRecord(shared.SECRET_NOTE, shared.seeded(secrets.token_bytes(32)))
                note = await notes.swap_note(0, seeded) or await notes.get_note(shared.SECRET_NOTE)
            found = shared.secrets_of(note.data, now=self._clock.wall())
            self.receiver.use_secrets(found.mint, found.verify)
            self._secrets_at = now

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
        reader, self._inbox_reader = self._inbox_reader, None
        if reader is not None and not reader.done():
            self._followers.add(reader)
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


async def rotate_secret(store: NoteStore, *, grace: float, now_wall: float) -> None:
    """Replace the store's callback secret; the old one keeps verifying for ``grace`` s."""
    fresh = secrets.token_bytes(32)
    await _change_note(
        store,
        shared.SECRET_NOTE,
        lambda note: (
            shared.seeded(fresh)
            if note is None
            else shared.rotated(note.data, fresh, now=now_wall, grace=grace)
        ),
    )
    _log.info("the shared callback secret was rotated")


async def _change_note(
    notes: NoteStore,
    name: str,
    change: Callable[[NoteRecord | None], Mapping[str, Any] | None],
) -> tuple[bool, NoteRecord | None]:
    """Write ``change(note)`` over the note ``name``, by compare-and-swap until it lands.

    The note is read again whenever another worker wrote in between; ``change`` returning
    None leaves it as it is. Whether it was written, and the note ``change`` last saw (None:
    there was none).
    """
    while True:
        note = await notes.get_note(name)
        data = change(note)
        if data is None:
            return False, note
        expected = 0 if note is None else note.version
        if await notes.swap_note(expected, NoteRecord(name, data)) is not None:
            return True, note
