"""The library's log records on the command line: one redacted line each, never a traceback.

Without a handler of its own, Python's last-resort handler would print the library's
warnings raw on stderr (and, before the library redacted its errors, the key with them).

Warnings and errors by default; ``--debug`` (or ``ONECHAT_LOG=debug``, or ``=info``) lowers
the level for the command's duration, through the same redacting handler: every request,
every retry and every failed poll, one line each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from .._secrets import RedactingFilter
from ._exits import one_line
from ._output import shown

__all__ = ["LEVELS", "cli_logging", "level_from_env"]

#: Every library logger is a child of this one.
_LIBRARY = "onechat_async"


class _OneLineHandler(logging.Handler):
    """Writes each record as ``warning from <logger>: message[: error]`` on the error console.

    Not ``error:``: that prefix is the command's own last line, which scripts look for.
    """

    def __init__(self, console: Console, secret: str, level: int) -> None:
        super().__init__(level)
        self._console = console
        # On the handler, so it also sees records propagated from child loggers.
        self.addFilter(RedactingFilter([secret]))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            error = record.exc_info[1] if record.exc_info else None
            if error is not None:
                text = f"{text}: {one_line(error)}"
            elif record.exc_text:
                # The filter kept only the redacted text (it dropped an exception that held
                # a key): the lines after the last frame name the error.
                text = f"{text}: {_last_error(record.exc_text)}"
            head = f"{record.levelname.lower()} from {record.name}"
            line = " ".join(text.split())
            self._console.print(
                f"[yellow]{shown(head)}:[/] {shown(line)}", highlight=False, soft_wrap=True
            )
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


def _last_error(traceback_text: str) -> str:
    """``"ValueError: message"`` from a formatted traceback: what follows its last frame."""
    lines = traceback_text.rstrip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith(" ")]
    start = frames[-1] + 1 if frames else 0
    return " ".join(lines[start:]) or (lines[-1].strip() if lines else "")


#: ``ONECHAT_LOG`` values and the level each asks for.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def level_from_env(value: str | None) -> int | None:
    """The level ``ONECHAT_LOG`` names (any case); None when unset or not a known level."""
    return LEVELS.get((value or "").strip().lower())


@contextmanager
def cli_logging(
    console: Console, secret: str | None, *, level: int = logging.WARNING
) -> Iterator[None]:
    """Route the library's records of ``level`` and above to ``console`` during a command.

    The handler hides ``secret`` itself, and every key registered in the process.
    """
    handler = _OneLineHandler(console, secret or "", level)
    logger = logging.getLogger(_LIBRARY)
    previous = logger.level
    if level < logging.WARNING:
        # Below WARNING the logger itself must let the records through (it defaults to
        # the root's WARNING); put back as found afterwards.
        logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
