"""Exit codes scripts can rely on, and the one line an error becomes.

Codes are part of the CLI's contract (documented in ``docs/cli.md``): they only ever grow.
"""

from __future__ import annotations

import enum

from .._errors import (
    APIConnectionError,
    AuthenticationError,
    BannedPromptError,
    InvalidRequestError,
    OneChatError,
    SubmitOutcomeUnknownError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
)
from .._secrets import redact, registered_secrets
from ._english import explain
from ._network import host_of

__all__ = ["ExitCode", "exit_code_for", "explained", "one_line", "one_line_text"]


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
    #: A submit may have created (and charged) a task, but its answer was lost: do not run
    #: the same command again blindly.
    OUTCOME_UNKNOWN = 6
    #: Interrupted by Ctrl-C (the shell's usual 128 + SIGINT).
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code an exception ends the command with."""
    # First: a script that retries on "timeout" or "error" must not pay twice.
    if isinstance(exc, SubmitOutcomeUnknownError):
        return ExitCode.OUTCOME_UNKNOWN
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


def one_line(exc: BaseException, *, secret: str | None = None) -> str:
    """A single line describing ``exc``, with ``secret`` and registered keys redacted."""
    if isinstance(exc, OneChatError):
        text = str(exc)
    elif isinstance(exc, TimeoutError):
        text = str(exc) or "timed out"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return one_line_text(text, secret)


#: The outcome-unknown reasons where the connection to the server is what failed.
_IN_TRANSIT = ("timeout", "connection_lost")


def explained(exc: BaseException, *, server: str) -> str:
    """:func:`one_line`, plus what a person needs beside the server's words.

    English after each known Chinese phrase, the banned word a refused prompt carries,
    ``not found`` said plainly for an unknown task id, and the ``host:port`` of ``server``
    when it could not be reached (the library's message names the OS error, not the host).
    """
    text = explain(one_line(exc))
    if isinstance(exc, TaskNotFoundError):
        subject = f"task {exc.task_id}" if exc.task_id else "task"
        text = f"{subject} not found: {text}"
    elif isinstance(exc, BannedPromptError) and exc.banned_word:
        text = f"{text}; banned word: {exc.banned_word!r}"
    elif isinstance(exc, APIConnectionError) or (
        isinstance(exc, SubmitOutcomeUnknownError) and exc.reason in _IN_TRANSIT
    ):
        host = host_of(server)
        if host not in text:
            text = f"{text} [server {host}]"
    return one_line_text(text)


def one_line_text(text: str, secret: str | None = None) -> str:
    """``text`` on one line, with ``secret`` and every registered key redacted.

    The library redacts its own errors already; this also covers anything else that
    reaches the last line of defence (a foreign exception quoting a header).
    """
    text = redact(text, (secret or "", *registered_secrets()))
    return " ".join(text.split())
