"""The submit commands, one row each in :data:`SUBMITS`; :func:`submit_command` builds them.

To add an endpoint to the CLI, add one :class:`SubmitCommand` row: its command name, the
:class:`~onechat_async.OneChatClient` method it calls, its help text and its own click
parameters. Nothing else changes: every row gets ``--wait``, ``--download``, ``--state`` and
``--notify-hook``, and is run and reported the same way (:func:`~._following.submit_and_report`).
``tests/cli/test_cli_submits.py`` fails while a submit method of the client has no row.

How a row's parameters reach the client method: click arguments positionally, in the order
listed, and options as keywords under their click name, so an option is named like the method's
keyword. Conversions are click's own types: a case-insensitive :class:`click.Choice` hands back
the choice as the table spells it (upper case), :class:`click.IntRange` an ``int``. Image
parameters stay paths: the client reads the files, and an unreadable one is its
``InvalidRequestError`` (exit 2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import click

from .._client import OneChatClient
from .._models import SubmitResult
from ._app import Run, Settings, cli, execute
from ._following import DOWNLOAD_DIR, submit_and_report

__all__ = ["SUBMITS", "SubmitCommand", "submit_command"]


@attrs.frozen(kw_only=True)
class SubmitCommand:
    """One submit command: what it is called, what it calls, and what it takes."""

    #: The command name, also the ``command`` of its JSON result line.
    name: str
    #: The client method, unbound (``OneChatClient.imagine``); it is given the client first.
    call: Callable[..., Awaitable[SubmitResult]]
    #: The ``--help`` text: a first sentence for the command list, then paragraphs.
    help: str
    #: The command's own arguments and options, in ``--help`` order.
    params: tuple[click.Parameter, ...] = ()
    #: A rule across the parsed values that click types cannot state; raises click.BadParameter.
    check: Callable[[Mapping[str, Any]], None] | None = None
    #: Whether ``--wait`` ends, with exit 0, when the task waits in MODAL (it would never move
    #: on its own). Off for ``modal`` itself: right after /modal the task may still show MODAL
    #: until the server's next refresh.
    modal_ends_wait: bool = True

    @property
    def arguments(self) -> tuple[str, ...]:
        """The names of the click arguments, in the order the client method takes them."""
        return tuple(p.name for p in self.params if isinstance(p, click.Argument) and p.name)


def _image_or_link(values: Mapping[str, Any]) -> None:
    if (values.get("image") is None) == (values.get("link") is None):
        raise click.BadParameter("give IMAGE or --link, not both or neither", param_hint="IMAGE")


def _shared_options() -> list[click.Option]:
    """The options every submit command has, after its own (fresh ones for each command)."""
    return [
        click.Option(
            ["--wait"],
            is_flag=True,
            help="Follow the task to its end with a live progress bar; exit 3 if it fails.",
        ),
        click.Option(
            ["--download"],
            type=DOWNLOAD_DIR,
            metavar="DIR",
            help="Save the finished image as DIR/<task id>.<ext> (implies --wait).",
        ),
        click.Option(
            ["--state"], metavar="TEXT", help="Your own tag (<= 255 chars), echoed on the task."
        ),
        click.Option(
            ["--notify-hook"],
            metavar="URL",
            help="Ask the server to POST the task here on every change (gateways may drop it).",
        ),
    ]


def submit_command(row: SubmitCommand) -> click.Command:
    """The click command for one row of the table."""

    def callback(settings: Settings, /, **values: Any) -> None:
        if row.check is not None:
            row.check(values)
        wait: bool = values.pop("wait")
        download: Path | None = values.pop("download")
        # What is left after the arguments are the options, --state and --notify-hook included.
        arguments = [values.pop(name) for name in row.arguments]

        async def body(run: Run) -> int:
            client = await run.client()
            submit = row.call(client, *arguments, **values)
            return await submit_and_report(
                run,
                row.name,
                client,
                submit,
                wait=wait,
                download=download,
                stop_at_modal=row.modal_ends_wait,
            )

        execute(settings, body)

    return click.Command(
        row.name,
        callback=click.pass_obj(callback),
        params=[*row.params, *_shared_options()],
        help=row.help,
    )


def _task_id() -> click.Argument:
    return click.Argument(["task_id"])


def _bot_type() -> click.Option:
    return click.Option(
        ["--bot-type"],
        type=click.Choice(["MID_JOURNEY", "NIJI_JOURNEY"], case_sensitive=False),
        help="MID_JOURNEY (default) or NIJI_JOURNEY.",
    )


def _two_to_five_images(values: Mapping[str, Any]) -> None:
    count = len(values["images"])
    if not 2 <= count <= 5:
        raise click.BadParameter(f"takes 2 to 5 images, got {count}", param_hint="IMAGE")


SUBMITS: tuple[SubmitCommand, ...] = (
    SubmitCommand(
        name="imagine",
        call=OneChatClient.imagine,
        help="Start a grid of four images from PROMPT.",
        params=(
            click.Argument(["prompt"]),
            click.Option(
                ["--image", "images"],
                multiple=True,
                metavar="FILE",
                help="A reference image (repeatable).",
            ),
            _bot_type(),
        ),
    ),
    SubmitCommand(
        name="simple-change",
        call=OneChatClient.simple_change,
        help="Upscale (U1-U4), vary (V1-V4) or reroll (R) the finished grid TASK_ID.\n\n"
        "Works on every server kind: when the server lacks /simple-change, /change and then "
        "the grid's button (/action) are used instead.",
        params=(_task_id(), click.Argument(["op"])),
    ),
    SubmitCommand(
        name="change",
        call=OneChatClient.change,
        help="UPSCALE or VARIATION image INDEX (1-4) of the grid TASK_ID, or REROLL it.",
        params=(
            _task_id(),
            click.Argument(
                ["action"],
                type=click.Choice(["UPSCALE", "VARIATION", "REROLL"], case_sensitive=False),
            ),
            click.Argument(["index"], type=click.IntRange(1, 4), required=False),
        ),
    ),
    SubmitCommand(
        name="action",
        call=OneChatClient.action,
        help="Press the button CUSTOM_ID (see `fetch`) of the finished task TASK_ID.\n\n"
        "Zoom, pan, vary (strong/subtle/region)... A button that needs more input leaves the "
        "new task in MODAL: complete it with `modal`.",
        params=(
            _task_id(),
            click.Argument(["custom_id"]),
            click.Option(
                ["--enable-remix/--no-enable-remix"],
                default=None,
                help="Open the remix window (trueai): the task waits in MODAL for `modal`.",
            ),
        ),
    ),
    SubmitCommand(
        name="modal",
        call=OneChatClient.modal,
        help="Complete TASK_ID, a task waiting in MODAL, with a prompt and/or a mask.",
        params=(
            _task_id(),
            click.Option(
                ["--prompt"], help="The prompt the modal asks for (Custom Zoom, Vary Region)."
            ),
            click.Option(["--mask"], metavar="FILE", help="The Vary Region mask image."),
        ),
        modal_ends_wait=False,
    ),
    SubmitCommand(
        name="blend",
        call=OneChatClient.blend,
        help="Blend two to five IMAGE files into a grid.",
        params=(
            click.Argument(["images"], nargs=-1, required=True, metavar="IMAGE..."),
            click.Option(
                ["--dimensions"],
                type=click.Choice(["PORTRAIT", "SQUARE", "LANDSCAPE"], case_sensitive=False),
                default="SQUARE",
                show_default=True,
            ),
            _bot_type(),
        ),
        check=_two_to_five_images,
    ),
    SubmitCommand(
        name="describe",
        call=OneChatClient.describe,
        help='Ask for four prompts that describe IMAGE (shown as "final prompt" with --wait).\n\n'
        "Give an image file, or --link to an image the server fetches itself (trueai).",
        params=(
            click.Argument(["image"], metavar="IMAGE", required=False),
            click.Option(["--link"], metavar="URL", help="An http(s) image URL instead of IMAGE."),
        ),
        check=_image_or_link,
    ),
    SubmitCommand(
        name="shorten",
        call=OneChatClient.shorten,
        help='Analyse PROMPT and suggest shorter ones (shown as "final prompt" with --wait).',
        params=(click.Argument(["prompt"]),),
    ),
    SubmitCommand(
        name="video",
        call=OneChatClient.video,
        help="Animate an image into short videos as PROMPT says, or extend a finished video.\n\n"
        "Give --image (the first frame), or --extend TASK_ID with --index 1-4 to go on from one "
        "of that video task's videos. Served by the gateway and trueai.",
        params=(
            click.Argument(["prompt"]),
            click.Option(["--image"], metavar="FILE|URL", help="The first frame."),
            click.Option(["--end-image"], metavar="FILE|URL", help="The last frame."),
            click.Option(["--motion"], type=click.Choice(["low", "high"]), help="How much moves."),
            click.Option(["--loop/--no-loop"], default=None, help="End where it starts."),
            click.Option(["--batch-size"], type=click.IntRange(1, 4), help="1, 2 or 4 videos."),
            click.Option(["--extend"], metavar="TASK_ID", help="The finished video to extend."),
            click.Option(["--index"], type=click.IntRange(1, 4), help="Which of its videos."),
        ),
    ),
    SubmitCommand(
        name="edits",
        call=OneChatClient.edits,
        help="Edit the image IMAGE as PROMPT says (the gateway and trueai).",
        params=(click.Argument(["prompt"]), click.Argument(["image"], metavar="IMAGE")),
    ),
    SubmitCommand(
        name="swap-face",
        call=OneChatClient.swap_face,
        help="Put the face in image SOURCE onto image TARGET.",
        params=(
            click.Argument(["source"], metavar="SOURCE"),
            click.Argument(["target"], metavar="TARGET"),
        ),
    ),
)

for _row in SUBMITS:
    cli.add_command(submit_command(_row))
