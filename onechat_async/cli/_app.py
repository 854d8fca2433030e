"""The ``onechat-mj`` group: global options, and the one place commands are run and fail.

Every command body is an ``async`` function given a :class:`Run`; :func:`execute` runs it
on a fresh event loop and turns whatever it raises into one line and an exit code (see
:mod:`._exits`), so no traceback and no API key ever reaches the terminal: the key is
registered for redaction, the consoles redact what they write, and the library's log
records go through a redacting one-line handler (:mod:`._logs`).

A command that ends while tasks are still being followed (a timeout, Ctrl-C) says how to
pick them up again: ``onechat-mj watch <ids>``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import NoReturn, cast

import attrs
import click

from .._client import DEFAULT_BASE_URL, Mode, OneChatClient
from .._policy import PollPolicy
from .._secrets import register_secret
from ._args import GlobalOptionsGroup
from ._exits import exit_code_for, explained, one_line_text
from ._logs import cli_logging, level_from_env
from ._network import Reachability, host_of, proxy_for, transport
from ._output import Reporter, output_console, reader_may_leave, redacting_console

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
    #: ``--proxy``: every request goes through it.
    proxy: str | None = None
    #: ``--trust-env``: the proxy comes from HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
    trust_env: bool = False
    #: The library's records from this level up go to stderr (``--debug``, ONECHAT_LOG).
    log_level: int = logging.WARNING

    @property
    def server(self) -> str:
        """The base URL requests go to (the option or variable, else the default)."""
        return self.base_url or DEFAULT_BASE_URL

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
    #: Whether the server answers; a warning goes to stderr when it stops and comes back.
    reach: Reachability = attrs.field(init=False)
    #: The ids being followed and not yet ended, in the order they came (for the resume hint).
    pending: dict[str, None] = attrs.field(factory=dict, init=False)

    #: Whether the unreachable warning was given (so "answers again" follows only it).
    _warned: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self.reach = Reachability(host_of(self.settings.server), on_change=self._reach_changed)

    def _reach_changed(self, reach: Reachability) -> None:
        # Only while tasks are followed: a lone request that fails ends the command with
        # its own error line, which names the host already.
        if reach.down and self.pending:
            self._warned = True
            self.reporter.warning(reach.warning())
        elif not reach.down and self._warned:
            self._warned = False
            self.reporter.warning(f"{reach.host} answers again")

    async def client(self, **overrides: object) -> OneChatClient:
        """A client that is closed when the command ends, watched for an unreachable server.

        The proxy applies to the configured server only (the demo's own is local).
        """
        proxy = None
        if "base_url" in overrides:
            self.reach.host = host_of(str(overrides["base_url"]))
        else:
            settings = self.settings
            proxy = proxy_for(settings.server, proxy=settings.proxy, trust_env=settings.trust_env)
        overrides.setdefault("transport", transport(proxy, self.reach))
        return await self.stack.enter_async_context(self.settings.client(**overrides))

    def resume_hint(self) -> str | None:
        """``onechat-mj watch <ids>`` for the tasks still being followed, if any."""
        return resume_command(list(self.pending)) if self.pending else None


def resume_command(ids: list[str]) -> str:
    """The command that follows ``ids`` again."""
    return "onechat-mj watch " + " ".join(ids)


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
        out=output_console(sys.stdout),
        err=redacting_console(sys.stderr),
    )
    stack = AsyncExitStack()
    run = Run(settings, reporter, stack)

    async def main() -> int:
        async with stack:
            if not deadline:
                return await body(run)
            # A little grace, so that the poller's own deadline fires first and reports
            # which task timed out (``TimedOut``) rather than a bare "timed out".
            async with asyncio.timeout(settings.timeout + 2.0):
                return await body(run)

    try:
        with cli_logging(reporter.err, settings.api_key, level=settings.log_level):
            code = asyncio.run(main())
    except KeyboardInterrupt as exc:
        code = _fail(run, exc, "interrupted")
    except TimeoutError as exc:
        message = (
            explained(exc, server=settings.server)
            if str(exc)
            else f"gave up after --timeout {settings.timeout:g} s"
        )
        code = _fail(run, exc, message)
    except Exception as exc:  # noqa: BLE001 - the CLI's promise: one line, never a traceback
        code = _fail(run, exc, explained(exc, server=settings.server))
    with reader_may_leave():
        sys.stdout.flush()
    raise click.exceptions.Exit(code)


def _fail(run: Run, exc: BaseException, message: str) -> int:
    code = exit_code_for(exc)
    resume = run.resume_hint()
    if resume is not None:
        message = f"{message}; the task may still be running, resume with: {resume}"
    extra = {"resume": resume} if resume is not None else {}
    run.reporter.error(exc, one_line_text(message, run.settings.api_key), code, extra=extra)
    return int(code)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=GlobalOptionsGroup, context_settings=CONTEXT)
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
@click.option(
    "--proxy",
    envvar="ONECHAT_PROXY",
    show_envvar=True,
    metavar="URL",
    help="Send every request (API and image downloads) through this http(s) proxy.",
)
@click.option(
    "--trust-env",
    is_flag=True,
    help="Use the proxy that HTTPS_PROXY / HTTP_PROXY name (NO_PROXY honoured); "
    "ignored by default.",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Log every request, retry and failed poll on stderr (or set ONECHAT_LOG=debug).",
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
    proxy: str | None,
    trust_env: bool,
    debug: bool,
) -> None:
    """Drive the OneChat Midjourney API from the shell: submit, follow, fan out, download.

    Global options go before or after the command: `onechat-mj imagine "a cat" --json`.

    Exit codes: 0 success, 1 API or other error, 2 bad usage, 3 task failed,
    4 timeout, 5 authentication problem, 6 submit outcome unknown, 130 interrupted.

    Try it without a key: `onechat-mj demo`.
    """
    from_env = level_from_env(os.environ.get("ONECHAT_LOG"))
    ctx.obj = Settings(
        base_url=base_url,
        api_key=api_key,
        mode=cast("Mode | None", mode.lower() if mode else None),
        json_mode=json_mode,
        timeout=timeout,
        poll_interval=poll_interval,
        proxy=proxy or None,
        trust_env=trust_env,
        log_level=logging.DEBUG if debug else (from_env or logging.WARNING),
    )
