"""The ``onechat-mj`` group: global options, and the one place commands are run and fail.

Every command body is an ``async`` function given a :class:`Run`; :func:`execute` runs it
on a fresh event loop and turns whatever it raises into one line and an exit code (see
:mod:`._exits`), so no traceback and no API key ever reaches the terminal: the key is
registered for redaction, the consoles redact what they write, and the library's log
records go through a redacting one-line handler (:mod:`._logs`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import NoReturn, cast

import attrs
import click

from .._client import Mode, OneChatClient
from .._policy import PollPolicy
from .._secrets import register_secret
from ._exits import exit_code_for, one_line, one_line_text
from ._logs import cli_logging
from ._output import Reporter, redacting_console

__all__ = ["Run", "Settings", "cli", "execute"]

#: The per-query timeout; ``--timeout`` bounds the whole command, so this only caps one call.
_REQUEST_TIMEOUT = 30.0
#: The per-submit timeout, past the gateway's own 60 s wait on the upstream. Capped by
#: ``--timeout`` too, so that a submit still in flight ends as "outcome unknown" (exit 6) on
#: its own rather than being cut off by the command's deadline (which would say "timeout").
_SUBMIT_TIMEOUT = 90.0


@attrs.frozen(kw_only=True)
class Settings:
    """The global options, as the group parsed them."""

    base_url: str | None
    api_key: str | None
    mode: Mode | None
    json_mode: bool
    timeout: float
    poll_interval: float = 5.0

    def policy(self, deadline: float) -> PollPolicy:
        """The poll cadence ``--poll-interval`` asks for, with a per-task ``deadline``."""
        every = self.poll_interval
        # The same proportions as PollPolicy's defaults (3 s / 5 s / 15 s at 5 s), so one
        # number scales the whole cadence.
        return PollPolicy(
            interval=every,
            fast_interval=every * 0.6,
            queued_interval=every * 3,
            batch_window=min(0.5, every / 10),
            deadline=deadline,
        )

    def client(self, **overrides: object) -> OneChatClient:
        """A client configured by the global options; ``overrides`` win (the demo's clock)."""
        options: dict[str, object] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "mode": self.mode,
            "timeout": min(_REQUEST_TIMEOUT, self.timeout),
            "submit_timeout": min(_SUBMIT_TIMEOUT, self.timeout),
            # The same deadline for every followed task: a script that says "give up after
            # 10 minutes" means it for the whole command.
            "poll": self.policy(self.timeout),
        }
        options.update(overrides)
        return OneChatClient(**options)  # type: ignore[arg-type]


@attrs.define
class Run:
    """What a running command works with: its settings, output and cleanup stack."""

    settings: Settings
    reporter: Reporter
    stack: AsyncExitStack

    async def client(self, **overrides: object) -> OneChatClient:
        """A client that is closed when the command ends."""
        return await self.stack.enter_async_context(self.settings.client(**overrides))


Body = Callable[[Run], Awaitable[int]]


def execute(settings: Settings, body: Body, *, deadline: bool = True) -> NoReturn:
    """Run ``body`` on its own event loop and exit with the code it returns or its error's.

    ``deadline`` applies ``--timeout`` to the whole command on the real clock (the demo
    turns it off: its simulated time runs faster than the real one).
    """
    # Registered before anything can fail, so that every redaction below knows it.
    register_secret(settings.api_key or "")
    reporter = Reporter(
        json_mode=settings.json_mode,
        out=redacting_console(sys.stdout),
        err=redacting_console(sys.stderr),
    )

    async def main() -> int:
        async with AsyncExitStack() as stack:
            run = Run(settings, reporter, stack)
            if not deadline:
                return await body(run)
            # A little grace, so that the poller's own deadline fires first and reports
            # which task timed out (``TimedOut``) rather than a bare "timed out".
            async with asyncio.timeout(settings.timeout + 2.0):
                return await body(run)

    try:
        with cli_logging(reporter.err, settings.api_key):
            code = asyncio.run(main())
    except KeyboardInterrupt as exc:
        code = _fail(reporter, exc, "interrupted", settings)
    except TimeoutError as exc:
        message = str(exc) or f"gave up after --timeout {settings.timeout:g} s"
        code = _fail(reporter, exc, message, settings)
    except Exception as exc:  # noqa: BLE001 - the CLI's promise: one line, never a traceback
        code = _fail(reporter, exc, one_line(exc), settings)
    sys.stdout.flush()
    raise click.exceptions.Exit(code)


def _fail(reporter: Reporter, exc: BaseException, message: str, settings: Settings) -> int:
    code = exit_code_for(exc)
    reporter.error(exc, one_line_text(message, settings.api_key), code)
    return int(code)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.option(
    "--base-url",
    envvar="ONECHAT_BASE_URL",
    show_envvar=True,
    metavar="URL",
    help="The server (default https://gpts.onechat.fun).",
)
@click.option(
    "--api-key",
    envvar="ONECHAT_API_KEY",
    show_envvar=True,
    metavar="KEY",
    help="Your sk-... key. Prefer the environment variable: options show up in `ps`.",
)
@click.option(
    "--mode",
    type=click.Choice(["fast", "relax", "turbo"], case_sensitive=False),
    default=None,
    help="Generation speed (the /mj-fast, /mj-relax, /mj-turbo routes); default: the key's own.",
)
@click.option(
    "--json",
    "json_mode",
    is_flag=True,
    help="One JSON object per line on stdout: every event, then the result (or an error).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=900.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up on the whole command (and any followed task) after this long; exit code 4.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How often a running task is polled (queued ones: three times slower). "
    "The gateway itself refreshes tasks only every ~15 s.",
)
@click.version_option(package_name="onechat-async", prog_name="onechat-mj")
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    base_url: str | None,
    api_key: str | None,
    mode: str | None,
    json_mode: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Drive the OneChat Midjourney API from the shell: submit, follow, fan out, download.

    Exit codes: 0 success, 1 API or other error, 2 bad usage, 3 task failed,
    4 timeout, 5 authentication problem, 130 interrupted.

    Try it without a key: `onechat-mj demo`.
    """
    ctx.obj = Settings(
        base_url=base_url,
        api_key=api_key,
        mode=cast("Mode | None", mode.lower() if mode else None),
        json_mode=json_mode,
        timeout=timeout,
        poll_interval=poll_interval,
    )
