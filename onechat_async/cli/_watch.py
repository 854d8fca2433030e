"""``watch``: a live table of many tasks; ``fan-out``: a grid's children, one bar each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .._client import OneChatClient
from .._events import Event, SubmitFailed, Submitted, Succeeded, TaskEvent
from .._follow import ALL_CHILDREN
from .._models import Task
from ._app import Run, Settings, cli, execute
from ._exits import ExitCode
from ._following import describe_outcome, follow_stream, outcome_code, save, worst
from ._output import event_label, shown, styled_status
from ._serialize import error_json, submit_json, task_json

__all__ = ["parse_ops", "watch_table"]

_OP = re.compile(r"^(?:[UV][1-4]|R)$")


def parse_ops(text: str) -> tuple[str, ...]:
    """``"u1, V2"`` -> ``("U1", "V2")``; anything but U1-U4, V1-V4 or R is refused."""
    ops = [part.strip().upper() for part in text.split(",") if part.strip()]
    bad = [op for op in ops if not _OP.match(op)]
    if bad or not ops:
        raise click.BadParameter(
            f"expected a comma-separated list of U1-U4, V1-V4 or R, got {text!r}"
        )
    return tuple(dict.fromkeys(ops))


def _bar(progress: int | None, width: int = 20) -> str:
    if progress is None:
        return " " * width + "   "
    filled = round(width * progress / 100)
    return "█" * filled + "░" * (width - filled) + f" {progress:>3}%"


def watch_table(
    ids: list[str], latest: dict[str, TaskEvent], *, warning: str | None = None
) -> Table:
    """The table ``watch`` draws: one row per task, from the latest event about it.

    ``warning`` (the server cannot be reached) is shown under it, in yellow.
    """
    table = Table("task", "action", "status", "progress", expand=False)
    # Folded, not cut with an ellipsis, on a narrow terminal.
    table.add_column("image", overflow="fold")
    if warning is not None:
        table.caption = f"[yellow]warning: {shown(warning)}[/]"
    for task_id in ids:
        event = latest.get(task_id)
        task: Task | None = getattr(event, "task", None) if event is not None else None
        label = event_label(event) if event is not None else "waiting"
        status = task.status.value if task is not None else ""
        table.add_row(
            shown(task_id),
            shown(task.action.value) if task is not None and task.action else "",
            styled_status(status, label),
            _bar(task.progress if task is not None else None),
            shown(task.image_url or "") if isinstance(event, Succeeded) and task else "",
        )
    return table


@cli.command()
@click.argument("task_ids", nargs=-1, required=True, metavar="TASK_ID...")
@click.option(
    "--download",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Save each finished image as DIR/<task id>.<ext>.",
)
@click.pass_obj
def watch(settings: Settings, task_ids: tuple[str, ...], download: Path | None) -> None:
    """Follow many tasks in one live table until every one has ended.

    Exit 0 when all succeeded, 3 when any failed, 4 when any timed out (and none failed).
    """
    ids = list(dict.fromkeys(task_ids))

    async def body(run: Run) -> int:
        client = await run.client()
        latest: dict[str, TaskEvent] = {}
        run.pending.update(dict.fromkeys(ids))
        stream = client.track_many(ids)
        if run.reporter.json_mode:
            ended = await follow_stream(run, stream)
        else:

            def frame() -> Table:
                # Drawn afresh on every refresh, so that the time the server has been
                # unreachable keeps counting while no event comes.
                reach = run.reach
                return watch_table(ids, latest, warning=reach.warning() if reach.down else None)

            with Live(get_renderable=frame, console=run.reporter.err, transient=True):

                def remember(event: Event) -> None:
                    latest[event.task_id] = event

                ended = await follow_stream(run, stream, on_event=remember)
        return await _finish(
            run, command="watch", ids=ids, ended=ended, download=download, latest=latest
        )

    execute(settings, body)


async def _finish(
    run: Run,
    *,
    command: str,
    ids: list[str],
    ended: dict[str, Event],
    download: Path | None,
    latest: dict[str, TaskEvent],
) -> int:
    files: dict[str, str | None] = {}
    for task_id, event in ended.items():
        if isinstance(event, Succeeded):
            files[task_id] = await save(run, event.task, download)
    codes = [outcome_code(event) for event in ended.values()]
    tasks = [
        {
            "task_id": task_id,
            "outcome": type(ended[task_id]).__name__ if task_id in ended else None,
            "task": task_json(getattr(ended.get(task_id), "task", None)),
            "file": files.get(task_id),
        }
        for task_id in ids
    ]
    code = worst(codes)

    def human(out: Console) -> None:
        out.print(watch_table(ids, {**latest, **ended}))
        for task_id, file in files.items():
            if file:
                out.print(f"saved {shown(task_id)} to {shown(file)}", highlight=False)

    run.reporter.result(command, {"ok": code == ExitCode.OK, "tasks": tasks}, human)
    for event in ended.values():
        if outcome_code(event) != ExitCode.OK:
            run.reporter.error_line(describe_outcome(event))
    return code


@cli.command("fan-out")
@click.argument("parent_id", metavar="TASK_ID")
@click.option(
    "--ops",
    default=",".join(ALL_CHILDREN),
    show_default=True,
    help="Which children to make, comma-separated (U1-U4, V1-V4, R).",
    callback=lambda _ctx, _param, value: parse_ops(value),
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Submits in flight at once (the upstream runs 3 tasks and queues 10 per account).",
)
@click.option(
    "--download",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Save each finished child as DIR/<task id>.<ext>.",
)
@click.pass_obj
def fan_out(
    settings: Settings,
    *,
    parent_id: str,
    ops: tuple[str, ...],
    concurrency: int,
    download: Path | None,
) -> None:
    """Make the children of the finished grid TASK_ID (all eight by default), one bar each.

    Exit 0 when every child succeeded, 3 when any failed or could not be submitted, 4 when
    any timed out (and none failed).
    """

    async def body(run: Run) -> int:
        client = await run.client()
        code, rows, bad = await run_fan_out(
            run, client, parent_id, ops=ops, concurrency=concurrency, download=download
        )
        run.reporter.result(
            "fan-out",
            {"ok": code == ExitCode.OK, "parent_id": parent_id, "children": rows},
            lambda out: out.print(children_table(rows)),
        )
        for event in bad:
            run.reporter.error_line(describe_outcome(event))
        return code

    execute(settings, body)


async def run_fan_out(
    run: Run,
    client: OneChatClient,
    parent_id: str,
    *,
    ops: tuple[str, ...],
    concurrency: int,
    download: Path | None,
) -> tuple[ExitCode, list[dict[str, Any]], list[Event]]:
    """Submit and follow ``ops`` of ``parent_id`` with one bar per child.

    Returns the exit code, one JSON-ready row per op, and the terminal events that were not
    successes (for the caller to explain).
    """
    children: dict[str, str] = {}
    submits: dict[str, Any] = {}

    def remember(event: Event) -> None:
        if isinstance(event, Submitted) and event.op is not None:
            children[event.op] = event.task_id
            submits[event.op] = submit_json(event.result)

    with run.reporter.live() as board:
        if board is not None:
            for op in ops:
                board.add(op, f"{op} of {parent_id}", status="submitting")
        stream = client.fan_out(parent_id, ops, concurrency=concurrency)
        ended = await follow_stream(run, stream, on_event=remember)

    rows: list[dict[str, Any]] = []
    codes: list[ExitCode] = []
    bad: list[Event] = []
    for op in ops:
        child = children.get(op)
        event = ended.get(child) if child is not None else ended.get(op)
        file = None
        if isinstance(event, Succeeded):
            file = await save(run, event.task, download)
        if event is not None:
            codes.append(outcome_code(event))
            if outcome_code(event) != ExitCode.OK:
                bad.append(event)
        rows.append(
            {
                "op": op,
                "task_id": child,
                "outcome": type(event).__name__ if event is not None else None,
                "submit": submits.get(op),
                "task": task_json(getattr(event, "task", None)),
                "file": file,
                "error": error_json(event.error, str(event.error))
                if isinstance(event, SubmitFailed)
                else None,
            }
        )
    return worst(codes), rows, bad


def children_table(rows: list[dict[str, Any]]) -> Table:
    """The fan-out summary: one line per child."""
    table = Table("op", "task", "outcome")
    table.add_column("image", overflow="fold")
    for row in rows:
        outcome = row["outcome"] or ""
        colour = "green" if outcome == "Succeeded" else "red"
        image = row["file"] or (row["task"] or {}).get("image_url") or ""
        table.add_row(
            shown(row["op"]), shown(row["task_id"] or ""), f"[{colour}]{outcome}[/]", shown(image)
        )
    return table
