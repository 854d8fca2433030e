"""The soak's bookkeeping and its rules, as pure functions over what callers and server saw.

Every submit the soak makes carries a ``state`` of its own; a fan-out's children share their
fan-out's state and are told apart by their op. So a submit is named by its :data:`Key`,
``(state, op)``, on both sides: the caller's outcomes are filed under it, and the server's
records (:class:`~onechat_async.testing.CreatedTask`, :class:`~onechat_async.testing.SubmitRecord`)
map onto it by their ``state`` and ``action``/``index``.

The rules, each returning :class:`Violation` values that name the task, state and rule:

- :func:`check_reported_once`: every task the server created was reported to its caller
  exactly once: its submit returned it (and then exactly one terminal event for it reached
  the consumer) or the submit raised ``SubmitOutcomeUnknownError`` carrying its state.
- :func:`check_sent_once`: no submit was sent twice: at most one task per key, and a key
  that reached the server more than once only after answers that prove no task was made.
- :func:`check_escapes`: nothing but ``OneChatError`` escaped a call or a stream.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

import attrs

from onechat_async import Event, OneChatError, SubmitFailed, SubmitOutcomeUnknownError, Submitted
from onechat_async.testing import CreatedTask, SubmitRecord

__all__ = [
    "Key",
    "Ledger",
    "Outcome",
    "Violation",
    "check_escapes",
    "check_reported_once",
    "check_sent_once",
    "describe",
    "group",
    "op_of",
    "proves_no_task",
]

Key = tuple[str | None, str | None]
"""``(state, op)``: op is ``U1``..``V4`` or ``R`` for a change of a grid, None otherwise."""

#: Answer codes that mean "accepted": a task exists.
_ACCEPTED = frozenset({1, 21, 22})


def op_of(action: str | None, index: int | None) -> str | None:
    """The change op (``U2``, ``V1``, ``R``) of a task or request, None for a fresh task."""
    if action == "UPSCALE":
        return f"U{index}"
    if action == "VARIATION":
        return f"V{index}"
    if action == "REROLL":
        return "R"
    return None


def _name(key: Key) -> str:
    state, op = key
    return f"state={state}" + (f" op={op}" if op else "")


@attrs.frozen
class Violation:
    """One broken rule: which rule, about what (state, op, task), and what happened."""

    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.subject}: {self.detail}"


@attrs.frozen
class Outcome:
    """How a submit call ended for its caller, kept as text (no traceback is retained)."""

    error_type: str
    message: str
    state: str | None
    unknown: bool

    @classmethod
    def of(cls, error: OneChatError) -> Outcome:
        """The outcome of a submit that raised ``error``."""
        return cls(
            type(error).__name__,
            str(error)[:200],
            error.state,
            isinstance(error, SubmitOutcomeUnknownError),
        )

    def __str__(self) -> str:
        return f"{self.error_type}({self.message!r})"


class Ledger:
    """What the callers were told, filed by :data:`Key`; small, so memory stays flat."""

    def __init__(self) -> None:
        #: task id -> the keys whose submit returned it, and the other way round.
        self.returned: dict[str, list[Key]] = collections.defaultdict(list)
        self.given: dict[Key, list[str]] = collections.defaultdict(list)
        #: key -> the errors its submits raised (outcome-unknown ones included).
        self.failed: dict[Key, list[Outcome]] = collections.defaultdict(list)
        #: task id -> terminal events that reached a consumer.
        self.terminals: collections.Counter[str] = collections.Counter()
        #: (task id, event) pairs seen after that task's terminal event.
        self.after_terminal: list[tuple[str, str]] = []
        #: key -> errors that ended a stream (or a wait) early.
        self.stream_errors: dict[Key, list[Outcome]] = collections.defaultdict(list)
        #: (where, key, text) of every exception that was not a OneChatError.
        self.escapes: list[tuple[str, Key, str]] = []
        self.submit_calls = 0
        self.events = 0

    def submit_returned(self, key: Key, task_id: str) -> None:
        """A submit (or a fan-out child) gave its caller ``task_id``."""
        self.submit_calls += 1
        self.returned[task_id].append(key)
        self.given[key].append(task_id)

    def submit_failed(self, key: Key, error: OneChatError) -> None:
        """A submit (or a fan-out child) raised ``error``."""
        self.submit_calls += 1
        self.failed[key].append(Outcome.of(error))

    def stream_failed(self, key: Key, error: OneChatError) -> None:
        """A stream or a wait ended with ``error`` instead of its terminal events."""
        self.stream_errors[key].append(Outcome.of(error))

    def escaped(self, where: str, key: Key, text: str) -> None:
        """Something other than a OneChatError came out of ``where``."""
        self.escapes.append((where, key, text))

    def terminal(self, task_id: str) -> None:
        """A terminal outcome for ``task_id`` reached its consumer (an event, or wait())."""
        self.terminals[task_id] += 1

    def event(self, state: str, op: str | None, event: Event) -> None:
        """An event reached the consumer of the stream made for ``(state, op)``."""
        self.events += 1
        if isinstance(event, SubmitFailed):
            self.submit_failed((state, event.op), event.error)
            return
        if isinstance(event, Submitted):
            self.submit_returned((state, event.op if event.op is not None else op), event.task_id)
            return
        if self.terminals[event.task_id]:
            self.after_terminal.append((event.task_id, type(event).__name__))
        if event.is_terminal:
            self.terminal(event.task_id)

    @property
    def outcome_unknown(self) -> int:
        """How many submits raised SubmitOutcomeUnknownError."""
        return sum(o.unknown for outcomes in self.failed.values() for o in outcomes)


def describe(record: SubmitRecord) -> str:
    """One submit request as the server saw it, for violation messages."""
    fault = ""
    if record.fault is not None:
        # A truncated body is always the real answer cut: it strikes after, whatever the rule says.
        phase = "after" if record.fault.kind == "truncated_body" else record.fault.phase
        fault = f" {record.fault.kind}/{phase}"
    made = f" created {record.task_id}" if record.task_id else ""
    return f"[HTTP {record.status} code {record.code}{fault}{made}]"


def proves_no_task(record: SubmitRecord) -> bool:
    """Whether the answer this request got, as its client got it, proves no task was made.

    A refusal the client could read does (a 429, a 4xx, a code other than accepted); a lost,
    late, cut or unreadable answer does not, whatever the server did behind it.
    """
    if record.task_id is not None:
        return False
    if record.fault is not None:
        return record.fault.kind == "http_429"
    if record.status is None:
        return False
    if record.status == 429 or 400 <= record.status < 500:
        return True
    return record.status == 200 and record.code is not None and record.code not in _ACCEPTED


def _key(task: CreatedTask | SubmitRecord) -> Key:
    return task.state, op_of(task.action, task.index)


def check_reported_once(created: Sequence[CreatedTask], ledger: Ledger) -> list[Violation]:
    """Every created task reached its caller exactly once (see the module docstring)."""
    found: list[Violation] = []
    unknowns = {key: [o for o in outcomes if o.unknown] for key, outcomes in ledger.failed.items()}
    for task in created:
        key = _key(task)
        subject = f"task {task.task_id} ({_name(key)}, {task.endpoint})"
        keys = ledger.returned.get(task.task_id, [])
        if keys:
            if keys != [key]:
                found.append(
                    Violation("reported-once", subject, f"returned to the submits of {keys}")
                )
            count = ledger.terminals[task.task_id]
            if count != 1:
                ended = ledger.stream_errors.get(key, [])
                how = f"; the stream ended with {ended[0]}" if ended else ""
                found.append(
                    Violation(
                        "reported-once",
                        subject,
                        f"its submit returned it, but {count} terminal events reached the "
                        f"consumer{how}",
                    )
                )
            continue
        pool = unknowns.get(key, [])
        match = next((o for o in pool if o.state == task.state), None)
        if match is not None:
            pool.remove(match)
            continue
        told = _unreported(ledger.failed.get(key, []), ledger.given.get(key, []))
        found.append(Violation("reported-once", subject, told))
    made = {task.task_id for task in created}
    for task_id, keys in ledger.returned.items():
        if task_id not in made:
            found.append(
                Violation(
                    "reported-once",
                    f"task {task_id} ({', '.join(map(_name, keys))})",
                    "returned to a caller, but the server never created it",
                )
            )
    for task_id, name in ledger.after_terminal:
        found.append(
            Violation("reported-once", f"task {task_id}", f"{name} came after its terminal event")
        )
    return found


def _unreported(told: Sequence[Outcome], given: Sequence[str]) -> str:
    if given and not told:
        return f"created, but the caller was given {given} for this submit instead (a re-send)"
    if not told:
        return "created, but its submit has no recorded outcome: it never returned nor raised"
    listed = ", ".join(map(str, told))
    if any(o.unknown for o in told):
        return (
            f"created, but the SubmitOutcomeUnknownError its caller got lacks its state: {listed}"
        )
    return f"created, but its submit raised {listed}: not SubmitOutcomeUnknownError"


def check_sent_once(submits: Sequence[SubmitRecord]) -> list[Violation]:
    """No submit was sent twice unless the earlier answers proved that no task was made."""
    by_key: dict[Key, list[SubmitRecord]] = collections.defaultdict(list)
    found: list[Violation] = []
    for record in submits:
        if record.state is None:
            found.append(
                Violation(
                    "sent-once", record.endpoint, f"arrived without its state: {describe(record)}"
                )
            )
        else:
            by_key[_key(record)].append(record)
    for key, records in by_key.items():
        made = [r.task_id for r in records if r.task_id is not None]
        history = " then ".join(map(describe, records))
        if len(made) > 1:
            found.append(
                Violation("sent-once", _name(key), f"{len(made)} tasks created {made}: {history}")
            )
        elif any(not proves_no_task(r) for r in records[:-1]):
            found.append(
                Violation(
                    "sent-once",
                    _name(key),
                    f"sent {len(records)} times after an answer that did not prove no task "
                    f"was made: {history}",
                )
            )
    return found


def check_escapes(ledger: Ledger) -> list[Violation]:
    """Nothing but OneChatError came out of any call or stream."""
    return [
        Violation("only-onechat-errors", f"{where} ({_name(key)})", text)
        for where, key, text in ledger.escapes
    ]


def group(violations: Iterable[Violation], *, examples: int = 10) -> str:
    """Violations by rule, with counts and the first few of each."""
    by_rule: dict[str, list[Violation]] = collections.defaultdict(list)
    for violation in violations:
        by_rule[violation.rule].append(violation)
    lines: list[str] = []
    for rule, found in by_rule.items():
        lines.append(f"{rule}: {len(found)} violation(s)")
        lines.extend(f"  {v.subject}: {v.detail}" for v in found[:examples])
        if len(found) > examples:
            lines.append(f"  ... and {len(found) - examples} more")
    return "\n".join(lines)
