"""One command per endpoint: the submits (with ``--wait``) and the queries.

Each command parses its arguments with click, then hands an ``async`` body to
:func:`~._app.execute`; the library does the work, :mod:`._following` the reporting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import click
from rich.console import Console
from rich.table import Table

from ._app import Run, Settings, cli, execute
from ._exits import ExitCode
from ._following import save, submit_and_report
from ._output import shown, styled_status, task_table
from ._serialize import task_json

__all__: list[str] = []

_F = TypeVar("_F", bound=Callable[..., Any])

_DIR = click.Path(file_okay=False, writable=True, path_type=Path)


def submit_options(command: _F) -> _F:
    """The options every submit command shares."""
    decorators = [
        click.option(
            "--wait",
            is_flag=True,
            help="Follow the task to its end with a live progress bar; exit 3 if it fails.",
        ),
        click.option(
            "--download",
            type=_DIR,
            metavar="DIR",
            help="Save the finished image as DIR/<task id>.<ext> (implies --wait).",
        ),
        click.option(
            "--state", metavar="TEXT", help="Your own tag (<= 255 chars), echoed on the task."
        ),
        click.option(
            "--notify-hook",
            metavar="URL",
            help="Ask the server to POST the task here on every change (gateways may drop it).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


_BOT_TYPE = click.Choice(["MID_JOURNEY", "NIJI_JOURNEY"], case_sensitive=False)


@cli.command()
@click.argument("prompt")
@click.option(
    "--image", "images", multiple=True, metavar="FILE", help="A reference image (repeatable)."
)
@click.option("--bot-type", type=_BOT_TYPE, help="MID_JOURNEY (default) or NIJI_JOURNEY.")
@submit_options
@click.pass_obj
def imagine(
    settings: Settings,
    *,
    prompt: str,
    images: tuple[str, ...],
    bot_type: str | None,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Start a grid of four images from PROMPT."""

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.imagine(
            prompt,
            images=images,
            bot_type=bot_type.upper() if bot_type else None,
            state=state,
            notify_hook=notify_hook,
        )
        return await submit_and_report(run, "imagine", client, submit, wait=wait, download=download)

    execute(settings, body)


@cli.command("simple-change")
@click.argument("task_id")
@click.argument("op")
@submit_options
@click.pass_obj
def simple_change(
    settings: Settings,
    *,
    task_id: str,
    op: str,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Upscale (U1-U4), vary (V1-V4) or reroll (R) the finished grid TASK_ID.

    Works on every server kind: when the server lacks /simple-change, /change and then the
    grid's button (/action) are used instead.
    """

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.simple_change(task_id, op, state=state, notify_hook=notify_hook)
        return await submit_and_report(
            run, "simple-change", client, submit, wait=wait, download=download
        )

    execute(settings, body)


@cli.command()
@click.argument("task_id")
@click.argument(
    "action", type=click.Choice(["UPSCALE", "VARIATION", "REROLL"], case_sensitive=False)
)
@click.argument("index", type=click.IntRange(1, 4), required=False)
@submit_options
@click.pass_obj
def change(
    settings: Settings,
    *,
    task_id: str,
    action: str,
    index: int | None,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """UPSCALE or VARIATION image INDEX (1-4) of the grid TASK_ID, or REROLL it."""

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.change(task_id, action.upper(), index, state=state, notify_hook=notify_hook)
        return await submit_and_report(run, "change", client, submit, wait=wait, download=download)

    execute(settings, body)


@cli.command()
@click.argument("task_id")
@click.argument("custom_id")
@submit_options
@click.pass_obj
def action(
    settings: Settings,
    *,
    task_id: str,
    custom_id: str,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Press the button CUSTOM_ID (see `fetch`) of the finished task TASK_ID.

    Zoom, pan, vary (strong/subtle/region)... A button that needs more input leaves the new
    task in MODAL: complete it with `modal`.
    """

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.action(task_id, custom_id, state=state, notify_hook=notify_hook)
        return await submit_and_report(run, "action", client, submit, wait=wait, download=download)

    execute(settings, body)


@cli.command()
@click.argument("task_id")
@click.option("--prompt", help="The prompt the modal asks for (Custom Zoom, Vary Region).")
@click.option("--mask", metavar="FILE", help="The Vary Region mask image.")
@submit_options
@click.pass_obj
def modal(
    settings: Settings,
    *,
    task_id: str,
    prompt: str | None,
    mask: str | None,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Complete TASK_ID, a task waiting in MODAL, with a prompt and/or a mask."""

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.modal(
            task_id, prompt=prompt, mask=mask, state=state, notify_hook=notify_hook
        )
        return await submit_and_report(run, "modal", client, submit, wait=wait, download=download)

    execute(settings, body)


@cli.command()
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option(
    "--dimensions",
    type=click.Choice(["PORTRAIT", "SQUARE", "LANDSCAPE"], case_sensitive=False),
    default="SQUARE",
    show_default=True,
)
@click.option("--bot-type", type=_BOT_TYPE, help="MID_JOURNEY (default) or NIJI_JOURNEY.")
@submit_options
@click.pass_obj
def blend(
    settings: Settings,
    *,
    images: tuple[str, ...],
    dimensions: str,
    bot_type: str | None,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Blend two to five IMAGE files into a grid."""
    if not 2 <= len(images) <= 5:
        raise click.BadParameter(f"takes 2 to 5 images, got {len(images)}", param_hint="IMAGE")
    dims = cast("Literal['PORTRAIT', 'SQUARE', 'LANDSCAPE']", dimensions.upper())

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.blend(
            images,
            dimensions=dims,
            bot_type=bot_type.upper() if bot_type else None,
            state=state,
            notify_hook=notify_hook,
        )
        return await submit_and_report(run, "blend", client, submit, wait=wait, download=download)

    execute(settings, body)


@cli.command()
@click.argument("image", metavar="IMAGE")
@submit_options
@click.pass_obj
def describe(
    settings: Settings,
    *,
    image: str,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Ask for four prompts that describe IMAGE (shown as "final prompt" with --wait)."""

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.describe(image, state=state, notify_hook=notify_hook)
        return await submit_and_report(
            run, "describe", client, submit, wait=wait, download=download
        )

    execute(settings, body)


@cli.command()
@click.argument("prompt")
@submit_options
@click.pass_obj
def shorten(
    settings: Settings,
    *,
    prompt: str,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Analyse PROMPT and suggest shorter ones (shown as "final prompt" with --wait)."""

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.shorten(prompt, state=state, notify_hook=notify_hook)
        return await submit_and_report(run, "shorten", client, submit, wait=wait, download=download)

    execute(settings, body)


@cli.command("swap-face")
@click.argument("source", metavar="SOURCE")
@click.argument("target", metavar="TARGET")
@submit_options
@click.pass_obj
def swap_face(
    settings: Settings,
    *,
    source: str,
    target: str,
    wait: bool,
    download: Path | None,
    state: str | None,
    notify_hook: str | None,
) -> None:
    """Put the face in image SOURCE onto image TARGET."""

    async def body(run: Run) -> int:
        client = await run.client()
        submit = client.swap_face(source, target, state=state, notify_hook=notify_hook)
        return await submit_and_report(
            run, "swap-face", client, submit, wait=wait, download=download
        )

    execute(settings, body)


@cli.command()
@click.argument("task_id")
@click.option("--download", type=_DIR, metavar="DIR", help="Save its image as DIR/<task id>.<ext>.")
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
            table = Table("task", "action", "status", "progress", "image")
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
