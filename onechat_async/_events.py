"""What tracking a task tells you: small frozen facts, in the past tense.

Every event names the task it is about (``task_id``) and carries the snapshot it was read from
(``task``), or ``None`` where no snapshot exists (a task never seen before it timed out, a
fan-out child whose submit failed). Terminal events (``is_terminal``) end a task's stream: at
most one per task, and nothing after it.

    TaskEvent
    ├── StatusChanged    a new ordinary status (NOT_START, SUBMITTED, IN_PROGRESS, unknown)
    ├── ProgressChanged  the percentage went up
    ├── NeedsModal       the task waits in MODAL for a ``/modal`` call
    ├── Stalled          nothing changed for ``stall_after``; tracking goes on
    ├── Submitted        a submit was accepted; the new task's id is ``task_id``
    └── terminal: Succeeded, Failed, Cancelled, TimedOut, Lost, Unreadable, SubmitFailed

Every event of a journaled task (see ``OneChatClient(store=...)``) also carries ``seq``, its
number in that task's journal, so :attr:`TaskEvent.identity` (task id, sequence) names it for
good: a consumer that handled ``("t1", 3)`` before a restart can skip it when ``resume()``
brings it back. ``Submitted`` is number 0; events of tasks nobody journals carry ``None``.

Each status change yields exactly one status-kind event: ``StatusChanged`` for the ordinary
statuses, ``NeedsModal`` for MODAL, and the terminal event for SUCCESS, FAILURE and CANCEL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Final, TypeAlias

import attrs

from ._errors import OneChatError
from ._models import SubmitResult, Task, TaskStatus

__all__ = [
    "FAILURE_EVENTS",
    "Cancelled",
    "Event",
    "Failed",
    "Lost",
    "NeedsModal",
    "ProgressChanged",
    "Stalled",
    "StatusChanged",
    "SubmitFailed",
    "Submitted",
    "Succeeded",
    "TaskEvent",
    "TimedOut",
    "Unreadable",
]


@attrs.frozen
class TaskEvent:
    """Base of every event: the id of the task it is about.

    Match on the subclasses (``match event: case Succeeded(task=task): ...``) or test
    ``event.is_terminal``; every event is frozen, hashable and compares by value.

    :ivar task_id: The task the event is about (for :class:`SubmitFailed`, the parent's).
    :ivar seq: The event's number in its task's journal (``OneChatClient(store=...)``), or
        ``None`` when the task is not journaled. Left out of ``==``: the same fact is the same
        event, numbered or not.
    :cvar is_terminal: Whether this kind of event ends its task's stream: ``True`` for
        :class:`Succeeded`, :class:`Failed`, :class:`Cancelled`, :class:`TimedOut`,
        :class:`Lost`, :class:`Unreadable` and :class:`SubmitFailed`.
    """

    is_terminal: ClassVar[bool] = False

    task_id: str
    #: The event's number in its task's journal, or None when the task is not journaled.
    #: Left out of ``==``: the same fact is the same event, numbered or not.
    seq: int | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)
    #: For an event of a fan-out child, the operation that made the child (``"U1"`` ..
    #: ``"V4"``, ``"R"``); None for every other task.
    op: str | None = attrs.field(default=None, kw_only=True)

    @property
    def identity(self) -> tuple[str, int | None]:
        """``(task_id, seq)``: stable across restarts for a journaled task's events."""
        return (self.task_id, self.seq)


@attrs.frozen
class StatusChanged(TaskEvent):
    """The task moved to an ordinary status; ``previous`` is None on the first sighting.

    :ivar task: The snapshot that showed the new status.
    :ivar status: The new status: NOT_START, SUBMITTED, IN_PROGRESS, or one the library does
        not know (kept as an ``UNKNOWN`` pseudo-member of :class:`TaskStatus`).
    :ivar previous: The status before, or ``None`` when the task is seen for the first time.
    """

    task: Task
    status: TaskStatus
    previous: TaskStatus | None = None


@attrs.frozen
class ProgressChanged(TaskEvent):
    """The task's progress rose to ``progress`` percent; it never goes down.

    :ivar task: The snapshot that showed the new progress.
    :ivar progress: The new percentage, 0 to 100.
    :ivar previous: The percentage reported before, or ``None`` if none was.
    """

    task: Task
    progress: int
    previous: int | None = None


def _progress_maker() -> Callable[[str, Task, int, int | None], ProgressChanged]:
    """``ProgressChanged(task_id, task, progress, previous)``, built for less.

    The same object: attrs' ``__init__`` of a frozen class sets each field through a bound
    ``object.__setattr__``, where the slots' own setters do; the tracker makes one for
    every task that moved on every tick.
    """
    new = object.__new__
    # Unpacked in attrs' order (the base's fields first): a new field fails here, at import.
    set_task_id, set_seq, set_op, set_task, set_progress, set_previous = (
        getattr(ProgressChanged, field.name).__set__ for field in attrs.fields(ProgressChanged)
    )

    def progress_changed(
        task_id: str, task: Task, progress: int, previous: int | None
    ) -> ProgressChanged:
        event: ProgressChanged = new(ProgressChanged)
        set_task_id(event, task_id)
        set_seq(event, None)
        set_op(event, None)
        set_task(event, task)
        set_progress(event, progress)
        set_previous(event, previous)
        return event

    return progress_changed


#: ``ProgressChanged(...)`` by position, unnumbered (``seq`` None), built faster.
progress_changed = _progress_maker()


@attrs.frozen
class NeedsModal(TaskEvent):
    """The task sits in MODAL and will not move until ``/modal`` is called for it.

    Answer with :meth:`OneChatClient.modal` (a prompt, a mask...) to let it go on.

    :ivar task: The snapshot in MODAL status.
    """

    task: Task


@attrs.frozen
class Stalled(TaskEvent):
    """Nothing changed for ``seconds``; tracking goes on and a later change re-arms this.

    Sent after :attr:`PollPolicy.stall_after` seconds without a change of status or progress.

    :ivar task: The last snapshot, or ``None`` if the task was never seen.
    :ivar seconds: How long nothing has changed, in seconds.
    """

    task: Task | None
    seconds: float


@attrs.frozen
class Submitted(TaskEvent):
    """A submit was accepted: ``task_id`` is the new task; for a fan-out child, ``op`` made it.

    :ivar task_id: The id of the task the submit created.
    :ivar result: The server's answer to the submit.
    :ivar parent_id: For a fan-out child, the grid it was made from; else ``None``.
    :ivar op: For a fan-out child, the operation that made it (``"U1"``, ``"V3"``...).
    :ivar task: The first snapshot of the new task, if one was read already.
    """

    result: SubmitResult
    parent_id: str | None = None
    task: Task | None = None


@attrs.frozen
class Succeeded(TaskEvent):
    """The task ended in SUCCESS; ``task.image_url`` and ``task.buttons`` are final.

    :ivar task: The final snapshot.
    """

    is_terminal: ClassVar[bool] = True

    task: Task


@attrs.frozen
class Failed(TaskEvent):
    """The task ended in FAILURE; ``reason`` is the server's ``failReason`` (may be empty).

    :ivar task: The final snapshot.
    :ivar reason: Why, in the server's words (``task.fail_reason``), or ``""``.
    """

    is_terminal: ClassVar[bool] = True

    task: Task
    reason: str = ""


@attrs.frozen
class Cancelled(TaskEvent):
    """The task ended in CANCEL.

    :ivar task: The final snapshot.
    """

    is_terminal: ClassVar[bool] = True

    task: Task


@attrs.frozen
class TimedOut(TaskEvent):
    """The deadline passed after ``seconds`` of tracking; the task may still run server-side.

    The deadline is the call's (``deadline=``/``timeout=``) or :attr:`PollPolicy.deadline`.
    Track the task again later to see how it ends.

    :ivar task: The last snapshot, or ``None`` if the task was never seen.
    :ivar seconds: How long the task was tracked, in seconds.
    """

    is_terminal: ClassVar[bool] = True

    task: Task | None
    seconds: float


@attrs.frozen
class Lost(TaskEvent):
    """The server no longer knows the task (confirmed by a fetch); ``task`` is the last sighting.

    :ivar task: The last snapshot read, or ``None`` if the task was never seen.
    """

    is_terminal: ClassVar[bool] = True

    task: Task | None


@attrs.frozen
class Unreadable(TaskEvent):
    """The server's snapshots of this task cannot be read, even when asked for it alone.

    Tracking of this one task ends here (the others go on); ``error`` says what was wrong,
    ``task`` is the last snapshot that could be read.

    :ivar task: The last snapshot that could be read, or ``None``.
    :ivar error: What was wrong with the answers.
    """

    is_terminal: ClassVar[bool] = True

    task: Task | None
    error: OneChatError


@attrs.frozen
class SubmitFailed(TaskEvent):
    """A fan-out child could not be submitted: ``parent_id`` and ``op`` name the child.

    No child task exists, so ``task_id`` is always ``""``. ``error`` says why; when it is a
    SubmitOutcomeUnknownError the child may exist after all (``error.state`` finds it).

    :ivar task_id: Always ``""`` (no child task exists).
    :ivar parent_id: The grid the child was to be made from.
    :ivar op: The operation that could not be submitted (``"U1"``, ``"V3"``...).
    :ivar error: What the submit raised.
    :ivar task: The parent's snapshot, if one was read.
    """

    is_terminal: ClassVar[bool] = True

    task_id: str = attrs.field(default="", init=False)
    parent_id: str
    error: OneChatError
    task: Task | None = None
    op: str = attrs.field(kw_only=True)


FAILURE_EVENTS: Final = (Failed, Cancelled, TimedOut, Lost, Unreadable, SubmitFailed)
"""Every terminal event that is not ``Succeeded``: ``isinstance(event, FAILURE_EVENTS)``."""

Event: TypeAlias = (
    StatusChanged
    | ProgressChanged
    | NeedsModal
    | Stalled
    | Submitted
    | Succeeded
    | Failed
    | Cancelled
    | TimedOut
    | Lost
    | Unreadable
    | SubmitFailed
)
"""Any event a stream yields: one of the classes above (match on them, or ``is_terminal``)."""
