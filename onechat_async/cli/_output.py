"""Two faces of every command: rich, live output for people, JSON lines for scripts.

With ``--json`` stdout carries one JSON object per line: every event as it happens
(``"type": "event"``), then exactly one ``"type": "result"`` line, or a ``"type": "error"``
line when the command fails. Without it, results go to stdout and everything live
(progress bars, tables, warnings, the error line) to stderr, so ``> file`` captures only the
answer. When stdout is not a terminal, results are written for programs: no wrapping, no
cut-off URLs, tables without borders (:class:`PipeConsole`).

Server messages are shown with their English beside them (:mod:`._english`).

Every string a server sent (ids, statuses, prompts, reasons, URLs, messages) is hostile:
it goes through :func:`shown` (secrets redacted, Rich markup escaped) before Rich renders
it, and every byte written passes a last redaction on its way out (:class:`RedactingStream`,
:meth:`Reporter.emit`), so that no registered key reaches the terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .._events import (
    Failed,
    Lost,
    NeedsModal,
    ProgressChanged,
    Stalled,
    StatusChanged,
    SubmitFailed,
    Submitted,
    Succeeded,
    TaskEvent,
    TimedOut,
    Unreadable,
)
from .._models import Task
from .._secrets import redact, registered_secrets
from ._english import explain
from ._serialize import error_json, event_json

__all__ = [
    "Board",
    "PipeConsole",
    "RedactingStream",
    "Reporter",
    "output_console",
    "reader_may_leave",
    "redacting_console",
    "shown",
    "status_style",
    "styled_status",
    "task_table",
]

_STYLES = {
    "SUCCESS": "green",
    "FAILURE": "red",
    "CANCEL": "red",
    "MODAL": "yellow",
    "IN_PROGRESS": "cyan",
    "SUBMITTED": "blue",
    "NOT_START": "dim",
}


def shown(value: object) -> str:
    """``value`` as text that Rich prints literally: secrets redacted, markup escaped."""
    return escape(redact(str(value), registered_secrets()))


def status_style(status: str) -> str:
    """The colour a status is shown in."""
    return _STYLES.get(status, "magenta")


def styled_status(status: str, label: str | None = None) -> str:
    """A status (or ``label``) in its colour, the text itself escaped."""
    return f"[{status_style(status)}]{shown(status if label is None else label)}[/]"


class RedactingStream:
    """A text stream that writes to ``target`` with every registered secret redacted.

    The last net under the console: whatever a command renders, a key does not get out.
    The target is fixed when made (Rich's live display swaps ``sys.stderr`` for a proxy
    that prints through the console again; following it would loop).
    """

    def __init__(self, target: IO[str]) -> None:
        self._target = target

    def write(self, text: str) -> int:
        """Write ``text`` redacted; report it as written whole."""
        self._target.write(redact(text, registered_secrets()))
        return len(text)

    def flush(self) -> None:
        """Flush the target."""
        self._target.flush()

    def isatty(self) -> bool:
        """Whether the target is a terminal (Rich decides colours and live display on it)."""
        return self._target.isatty()

    def fileno(self) -> int:
        """The target's file descriptor."""
        return self._target.fileno()

    @property
    def encoding(self) -> str:
        """The target's encoding."""
        return getattr(self._target, "encoding", None) or "utf-8"


def redacting_console(target: IO[str]) -> Console:
    """A Rich console writing to ``target`` through a :class:`RedactingStream`."""
    return Console(file=cast("IO[str]", RedactingStream(target)))


#: Wide enough that no line of a result is ever wrapped or cut.
_UNLIMITED = 1_000_000


class PipeConsole(Console):
    """A console for a stdout that is not a terminal: lines as long as they need to be.

    Rich would otherwise lay results out for 80 columns, wrapping long values and cutting
    URLs with an ellipsis. Tables lose their borders, so that columns split on whitespace,
    and lines their trailing padding.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print like Rich, with borderless tables and no wrapping."""
        for item in objects:
            if isinstance(item, Table):
                item.box = None
                item.show_edge = False
                item.pad_edge = False
        kwargs.setdefault("soft_wrap", True)
        with self.capture() as captured:
            super().print(*objects, **kwargs)
        # Rich pads every cell to its column's width; a program reading lines wants none.
        lines = captured.get().splitlines()
        self.file.write("".join(line.rstrip() + "\n" for line in lines))


def output_console(target: IO[str]) -> Console:
    """The console for results: Rich's on a terminal, a :class:`PipeConsole` otherwise."""
    stream = cast("IO[str]", RedactingStream(target))
    if target.isatty():
        return Console(file=stream)
    return PipeConsole(file=stream, width=_UNLIMITED, color_system=None)


def event_label(event: TaskEvent) -> str:
    """A short human description of what the event means for its task's row."""
    if isinstance(event, StatusChanged):
        return event.status.value or "NOT_START"
    if isinstance(event, ProgressChanged):
        return "IN_PROGRESS"
    if isinstance(event, NeedsModal):
        return "MODAL (needs /modal)"
    if isinstance(event, Stalled):
        return f"stalled {event.seconds:.0f}s"
    if isinstance(event, Submitted):
        return "submitted"
    if isinstance(event, Succeeded):
        return "SUCCESS"
    if isinstance(event, Failed):
        return explain(f"FAILURE {event.reason}".strip())
    if isinstance(event, TimedOut):
        return "timed out"
    if isinstance(event, Lost):
        # Never seen at all: most likely a mistyped id, not a task the server dropped.
        return "not found" if event.task is None else "lost by the server"
    if isinstance(event, Unreadable):
        return "unreadable"
    if isinstance(event, SubmitFailed):
        return explain(f"submit failed: {event.error.message}")
    return "CANCEL"


def task_table(task: Task, *, file: str | None = None) -> Table:
    """A two-column summary of one task."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    # Folded, not cut, on a narrow terminal: a URL with an ellipsis is useless.
    table.add_column(overflow="fold")
    status = task.status.value
    table.add_row("task", shown(task.id))
    table.add_row("status", styled_status(status))
    if task.action is not None:
        table.add_row("action", shown(task.action.value))
    if task.progress is not None:
        table.add_row("progress", f"{task.progress}%")
    if task.prompt:
        table.add_row("prompt", shown(task.prompt))
    if task.fail_reason:
        table.add_row("fail reason", shown(explain(task.fail_reason)))
    if task.final_prompt:
        table.add_row("final prompt", shown(task.final_prompt))
    if task.image_url:
        table.add_row("image", shown(task.image_url))
    if file is not None:
        table.add_row("saved to", shown(file))
    if task.buttons:
        labels = [b.label or b.emoji or b.custom_id for b in task.buttons]
        table.add_row("buttons", shown(" ".join(labels)))
    return table


class Board:
    """One progress bar per task, live on stderr; fan-out rows start before their task exists.

    Rows have a key (a task id, or a fan-out op such as ``"U1"`` until its child is
    submitted); events are routed to rows by task id, and :meth:`alias` ties a child's id to
    its op's row.
    """

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._rows: dict[str, TaskID] = {}

    def start(self) -> None:
        """Begin drawing."""
        self._progress.start()

    def stop(self) -> None:
        """Draw the last frame and stop."""
        self._progress.stop()

    def add(self, key: str, label: str, status: str = "waiting") -> None:
        """A new row, keyed by a task id or a fan-out op; ``label`` is shown literally."""
        self._rows[key] = self._progress.add_task(shown(label), total=100, status=shown(status))

    def alias(self, task_id: str, key: str) -> None:
        """Route the events of ``task_id`` to the row of ``key``."""
        if key in self._rows:
            self._rows[task_id] = self._rows[key]

    def apply(self, event: TaskEvent) -> None:
        """Move the row the event is about."""
        if isinstance(event, Submitted) and event.op is None:
            # The command's own submit: its row appears once the id is known.
            if event.task_id not in self._rows:
                self.add(event.task_id, event.task_id)
            key = event.task_id
        elif isinstance(event, Submitted | SubmitFailed):
            key = event.op or ""
            if isinstance(event, Submitted):
                self.alias(event.task_id, key)
        else:
            key = event.task_id
        row = self._rows.get(key)
        if row is None:
            return
        label = event_label(event)
        style = (
            "red"
            if isinstance(event, Failed | Lost | SubmitFailed | TimedOut | Unreadable)
            else None
        )
        if isinstance(event, Succeeded):
            style = "green"
        status = f"[{style}]{shown(label)}[/]" if style else shown(label)
        update: dict[str, Any] = {"status": status}
        task = getattr(event, "task", None)
        if isinstance(event, ProgressChanged):
            update["completed"] = event.progress
        elif isinstance(task, Task) and task.progress is not None:
            update["completed"] = task.progress
        if isinstance(event, Succeeded):
            update["completed"] = 100
        self._progress.update(row, **update)


class Reporter:
    """Where a command's events, result and errors go, in the chosen format."""

    def __init__(self, *, json_mode: bool, out: Console, err: Console) -> None:
        self.json_mode = json_mode
        self.out = out
        self.err = err
        self._board: Board | None = None

    @property
    def piped(self) -> bool:
        """True when stdout is not a terminal (a pipe, a file, ``$(...)``)."""
        return not self.out.is_terminal

    def emit(self, line: dict[str, Any]) -> None:
        """Write one JSON line to stdout and flush it, so a pipe sees events as they come."""
        text = json.dumps(line, ensure_ascii=False, default=str)
        with reader_may_leave():
            click.echo(redact(text, registered_secrets()))

    def bare(self, text: str) -> None:
        """One plain line on stdout, flushed at once (the task id of ``--wait``)."""
        with reader_may_leave():
            click.echo(redact(text, registered_secrets()))

    @contextmanager
    def live(self) -> Iterator[Board | None]:
        """A progress board for the duration of the block (None in JSON mode)."""
        if self.json_mode:
            yield None
            return
        board = Board(self.err)
        self._board = board
        board.start()
        try:
            yield board
        finally:
            board.stop()
            self._board = None

    def event(self, event: TaskEvent) -> None:
        """Report one tracking event."""
        if self.json_mode:
            self.emit(event_json(event))
        elif self._board is not None:
            self._board.apply(event)

    def result(
        self, command: str, payload: dict[str, Any], human: Callable[[Console], None]
    ) -> None:
        """Report the command's result: a JSON line, or ``human`` drawing it on stdout."""
        if self.json_mode:
            self.emit({"type": "result", "command": command, **payload})
        else:
            with reader_may_leave():
                human(self.out)
                self.out.file.flush()

    def note(self, text: str) -> None:
        """A remark for people, on stderr; nothing in JSON mode."""
        if not self.json_mode:
            self.err.print(shown(text), style="dim", highlight=False)

    def warning(self, text: str) -> None:
        """A ``warning:`` line on stderr, in every mode: something is wrong but not over."""
        self.err.print(f"[yellow]warning:[/] {shown(text)}", highlight=False, soft_wrap=True)

    def error_line(self, message: str) -> None:
        """One ``error:`` line on stderr, for an outcome the result line already describes."""
        self.err.print(f"[bold red]error:[/] {shown(message)}", highlight=False, soft_wrap=True)

    def error(
        self,
        exc: BaseException,
        message: str,
        code: int,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Report the error that ends the command, as one line."""
        if self.json_mode:
            self.emit(
                {"type": "error", "exit_code": code, **error_json(exc, message), **(extra or {})}
            )
        # Always on stderr too: a JSON consumer that ignores stdout still sees why.
        self.error_line(message)


@contextmanager
def reader_may_leave() -> Iterator[None]:
    """Carry on quietly when the reader of stdout has gone (``| head -n 1``).

    The command still ends with the exit code of what it did, not with a broken pipe.
    """
    try:
        yield
    except BrokenPipeError:
        # Later writes, and Python's own flush at exit, go nowhere instead of failing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
