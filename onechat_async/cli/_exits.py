"""Exit codes scripts can rely on, and the one line an error becomes.

Codes are part of the CLI's contract (documented in ``docs/cli.md``): they only ever grow.
"""

from __future__ import annotations

import enum

from .._errors import (
    AuthenticationError,
    InvalidRequestError,
    OneChatError,
    TaskFailedError,
    TaskTimeoutError,
)

__all__ = ["ExitCode", "exit_code_for", "one_line"]


class ExitCode(enum.IntEnum):
    """What ``onechat-mj`` exits with."""

    OK = 0
    #: The server refused or failed (API error, connection, server fault), or anything else.
    ERROR = 1
    #: Bad usage: unknown option, missing argument, invalid value (click's own code too).
    USAGE = 2
    #: A followed task ended in FAILURE or CANCEL, was lost by the server, or a fan-out
    #: child could not be submitted.
    TASK_FAILED = 3
    #: A followed task, or the whole command, outlived ``--timeout``.
    TIMEOUT = 4
    #: The key is missing, wrong, exhausted, or not allowed (HTTP 401/403).
    AUTH = 5
    #: Interrupted by Ctrl-C (the shell's usual 128 + SIGINT).
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code an exception ends the command with."""
    # TaskTimeoutError and APITimeoutError are both TimeoutErrors: a script retrying "later"
    # treats them alike, so timeouts are tested before the broader classes.
    if isinstance(exc, TaskTimeoutError | TimeoutError):
        return ExitCode.TIMEOUT
    if isinstance(exc, TaskFailedError):
        return ExitCode.TASK_FAILED
    if isinstance(exc, AuthenticationError):
        return ExitCode.AUTH
    if isinstance(exc, InvalidRequestError):
        return ExitCode.USAGE
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.ERROR


def one_line(exc: BaseException, *, secret: str = "") -> str:
    """A single line describing ``exc``, with ``secret`` masked should it appear anywhere."""
    if isinstance(exc, OneChatError):
        text = str(exc)
    elif isinstance(exc, TimeoutError):
        text = str(exc) or "timed out"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    # The library never puts the key in a message; masking anyway keeps a server that echoes
    # the header back from leaking it into logs.
    if secret:
        text = text.replace(secret, "***")
    return " ".join(text.split())
