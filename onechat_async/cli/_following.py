"""Following tasks from the command line: consume an event stream, report it, decide the exit.

The library's streams do the polling; this module only routes their events to the
:class:`~._output.Reporter`, remembers each task's terminal event, downloads images when
asked, and turns the outcomes into one exit code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .._client import OneChatClient
from .._download import download as download_file
from .._errors import SubmitOutcomeUnknownError
from .._events import (
    Event,
    Failed,
    Lost,
    NeedsModal,
    SubmitFailed,
    Submitted,
    Succeeded,
    TaskEvent,
    TimedOut,
    Unreadable,
)
from .._follow import EventStream
from .._models import SubmitResult, Task
from ._app import Run, resume_command
from ._english import explain
from ._exits import ExitCode
from ._output import shown, task_table
from ._serialize import submit_json, task_json

__all__ = ["DOWNLOAD_DIR", "follow_stream", "outcome_code", "save", "submit_and_report", "worst"]

#: The click type of a ``--download DIR`` that :func:`save` writes into.
DOWNLOAD_DIR = click.Path(file_okay=False, writable=True, path_type=Path)


def outcome_code(event: TaskEvent) -> ExitCode:
    """What one task's terminal event means for the exit code."""
    if isinstance(event, Succeeded | NeedsModal):
        return ExitCode.OK
    if isinstance(event, TimedOut):
        return ExitCode.TIMEOUT
    if isinstance(event, SubmitFailed) and isinstance(event.error, SubmitOutcomeUnknownError):
        return ExitCode.OUTCOME_UNKNOWN
    return ExitCode.TASK_FAILED


def worst(codes: list[ExitCode]) -> ExitCode:
    """One code for many tasks: the worst of them.

    An unknown outcome (money at stake) outranks a failure, which outranks a timeout, which
    outranks success.
    """
    for code in (ExitCode.OUTCOME_UNKNOWN, ExitCode.TASK_FAILED, ExitCode.TIMEOUT):
        if code in codes:
            return code
    return ExitCode.OK


def describe_outcome(event: TaskEvent) -> str:
    """One line saying how a task that did not succeed ended, and what to do next."""
    task_id = event.task_id
    if isinstance(event, Failed):
        reason = f": {explain(event.reason)}" if event.reason else ""
        return f"task {task_id} failed{reason}"
    if isinstance(event, TimedOut):
        return (
            f"task {task_id} did not finish within {event.seconds:.0f} s; it may still be "
            f"running, resume with: {resume_command([task_id])}"
        )
    if isinstance(event, Lost):
        if event.task is None:
            return f"task {task_id} not found: the server does not know this id"
        return f"task {task_id} is no longer known to the server"
    if isinstance(event, Unreadable):
        return f"task {task_id} cannot be read: {explain(event.error.message)}"
    if isinstance(event, SubmitFailed):
        return (
            f"{event.op} of {event.parent_id} could not be submitted: "
            f"{explain(event.error.message)}"
        )
    return f"task {task_id} was cancelled"


async def follow_stream(
    run: Run,
    stream: EventStream,
    *,
    on_event: Callable[[Event], None] | None = None,
    stop_at_modal: bool = False,
) -> dict[str, Event]:
    """Report every event of ``stream``; return the terminal event of each task by task id.

    A fan-out child that could not be submitted has no id of its own: it is keyed by its op.
    With ``stop_at_modal``, a task waiting in MODAL ends the stream: it would never move
    until someone calls ``modal``, so waiting on would only run into ``--timeout``.
    """
    ended: dict[str, Event] = {}
    async with stream:
        async for event in stream:
            if isinstance(event, Submitted):
                run.pending[event.task_id] = None
            run.reporter.event(event)
            if on_event is not None:
                on_event(event)
            if event.is_terminal:
                key = event.op if isinstance(event, SubmitFailed) else event.task_id
                ended[key] = event
                if not isinstance(event, SubmitFailed):
                    run.pending.pop(event.task_id, None)
            elif stop_at_modal and isinstance(event, NeedsModal):
                ended[event.task_id] = event
                run.pending.pop(event.task_id, None)
                break
    return ended


async def save(run: Run, task: Task, directory: Path | None) -> str | None:
    """Download a finished task's image into ``directory``, if one was given."""
    if directory is None or not task.image_url:
        return None
    settings = run.settings
    path = await download_file(
        task.image_url,
        directory,
        name=task.id,
        proxy=settings.proxy,
        trust_env=settings.trust_env,
    )
    return str(path)


async def submit_and_report(
    run: Run,
    command: str,
    client: OneChatClient,
    submit: Awaitable[SubmitResult],
    *,
    wait: bool,
    download: Path | None,
    stop_at_modal: bool,
) -> int:
    """Submit; with ``wait``, follow the task to its end with live progress; report the result.

    ``stop_at_modal``: a task waiting in MODAL ends the wait (see :func:`follow_stream`).
    """
    if not wait and download is None:
        result = await submit
        run.reporter.result(
            command,
            {"ok": True, "submit": submit_json(result)},
            lambda out: _print_submit(out, command, result),
        )
        if not run.reporter.json_mode:
            queued = f" ({result.queue_position} ahead)" if result.queue_position else ""
            run.reporter.note(
                f"{command} accepted{queued}; follow it with: {resume_command([result.task_id])}"
            )
        return ExitCode.OK
    accepted: list[SubmitResult] = []
    # The id first, the moment it is known, when a program reads stdout: line 1 is the id
    # (ID=$(... | head -n 1)), the summary follows when the task ends.
    id_first = run.reporter.piped and not run.reporter.json_mode

    def remember(event: Event) -> None:
        if isinstance(event, Submitted):
            accepted.append(event.result)
            if id_first:
                run.reporter.bare(event.task_id)

    with run.reporter.live():
        ended = await follow_stream(
            run,
            client.submit_and_track(submit),
            on_event=remember,
            stop_at_modal=stop_at_modal,
        )
    (final,) = ended.values()
    task: Task | None = getattr(final, "task", None)
    file = None
    if isinstance(final, Succeeded):
        file = await save(run, final.task, download)
    code = outcome_code(final)
    payload: dict[str, Any] = {
        "ok": code == ExitCode.OK,
        "outcome": type(final).__name__,
        "submit": submit_json(accepted[0]) if accepted else None,
        "task": task_json(task),
        "file": file,
    }

    def human(out: Console) -> None:
        if task is not None:
            out.print(task_table(task, file=file))

    run.reporter.result(command, payload, human)
    if isinstance(final, NeedsModal):
        run.reporter.note(
            f"task {final.task_id} waits in MODAL: finish it with "
            f"onechat-mj modal {final.task_id} --prompt ... (or --mask FILE)"
        )
    if code != ExitCode.OK:
        run.reporter.error_line(describe_outcome(final))
    return code


def _print_submit(out: Console, command: str, result: SubmitResult) -> None:
    # Only the id on stdout, so that ``ID=$(onechat-mj imagine "a cat")`` just works.
    out.print(shown(result.task_id), highlight=False)
