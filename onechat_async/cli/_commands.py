"""The other commands: ``fetch``, ``list``, ``seed``, ``upload-images`` and ``cancel``.

The submits that make a task are :mod:`._submits`.

Each command parses its arguments with click, then hands an ``async`` body to
:func:`~._app.execute`; the library does the work, the reporter the output.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ._app import Run, Settings, cli, execute
from ._exits import ExitCode
from ._following import DOWNLOAD_DIR, save
from ._output import shown, styled_status, task_table
from ._serialize import task_json

__all__: list[str] = []


@cli.command()
@click.argument("task_id")
@click.option(
    "--download", type=DOWNLOAD_DIR, metavar="DIR", help="Save its image as DIR/<task id>.<ext>."
)
@click.pass_obj
def fetch(settings: Settings, task_id: str, download: Path | None) -> None:
    """Show the task TASK_ID as the server sees it now."""

    async def body(run: Run) -> int:
        client = await run.client()
        task = await client.fetch(task_id)
        file = await save(run, task, download) if task.status.value == "SUCCESS" else None
        run.reporter.result(
            "fetch",
            {"ok": True, "task": task_json(task), "file": file},
            lambda out: out.print(task_table(task, file=file)),
        )
        return ExitCode.OK

    execute(settings, body)


@cli.command("list")
@click.argument("task_ids", nargs=-1, required=True, metavar="TASK_ID...")
@click.pass_obj
def list_(settings: Settings, task_ids: tuple[str, ...]) -> None:
    """Show many tasks at once; ids the server does not know are left out."""

    async def body(run: Run) -> int:
        client = await run.client()
        tasks = await client.list_tasks(task_ids)

        def human(out: Console) -> None:
            table = Table("task", "action", "status", "progress")
            table.add_column("image", overflow="fold")
            for task in tasks:
                table.add_row(
                    shown(task.id),
                    shown(task.action.value) if task.action else "",
                    styled_status(task.status.value),
                    f"{task.progress}%" if task.progress is not None else "",
                    shown(task.image_url or ""),
                )
            out.print(table)

        run.reporter.result("list", {"ok": True, "tasks": [task_json(t) for t in tasks]}, human)
        return ExitCode.OK

    execute(settings, body)


@cli.command()
@click.argument("task_id")
@click.pass_obj
def seed(settings: Settings, task_id: str) -> None:
    """Print the Midjourney seed of the finished task TASK_ID (may take up to a minute)."""

    async def body(run: Run) -> int:
        client = await run.client()
        value = await client.image_seed(task_id, timeout=settings.timeout)
        run.reporter.result(
            "seed",
            {"ok": True, "task_id": task_id, "seed": value},
            lambda out: out.print(shown(value), highlight=False),
        )
        return ExitCode.OK

    execute(settings, body)


@cli.command("upload-images")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_obj
def upload_images(settings: Settings, images: tuple[str, ...]) -> None:
    """Host IMAGE files on the upstream's Discord and print their URLs (no task is made).

    Sent once, like every submit: the gateway charges for it.
    """

    async def body(run: Run) -> int:
        client = await run.client()
        urls = await client.upload_images(list(images))

        def human(out: Console) -> None:
            for url in urls:
                out.print(shown(url), highlight=False)

        run.reporter.result("upload-images", {"ok": True, "urls": urls}, human)
        return ExitCode.OK

    execute(settings, body)


@cli.command()
@click.argument("task_id")
@click.pass_obj
def cancel(settings: Settings, task_id: str) -> None:
    """Cancel the unfinished task TASK_ID (a bare trueai proxy only, with an admin key)."""

    async def body(run: Run) -> int:
        client = await run.client()
        await client.cancel(task_id)
        run.reporter.result(
            "cancel",
            {"ok": True, "task_id": task_id},
            lambda out: out.print(f"asked to cancel {shown(task_id)}", highlight=False),
        )
        return ExitCode.OK

    execute(settings, body)
