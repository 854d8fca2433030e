"""Keeping the API key out of everything the library says: errors, log records, output.

A server may echo the request's ``Authorization`` or ``mj-api-secret`` header back in an
error body, and from there the key would reach an exception message, a log line, a
terminal. Everything that leaves the library goes through :func:`redact` first.

- :func:`redact` replaces every occurrence of each secret in a text with :data:`MARKER`
  (also its JSON-escaped and percent-encoded spellings, which is how an echo may quote it).
- :func:`scrub` does that to an error, in place: its message, its other str attributes (not
  ``state``, which is the caller's own) and every exception chained to it.
- :func:`register_secret` remembers a key for the life of the process. Each client registers
  its own; :class:`RedactingFilter` and the CLI hide every registered key. Keys are never
  forgotten: a process that juggles many keys pays one substring search per key per record.
- :class:`RedactingFilter` rewrites a log record's message and exception text, so that no
  handler anywhere can print a key; :func:`get_logger` hands out the library's own loggers
  with that filter on them (a logger's filters see only records made on that very logger,
  so every library logger must come from here).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

from ._errors import OneChatError

__all__ = [
    "MARKER",
    "RedactingFilter",
    "get_logger",
    "redact",
    "register_secret",
    "registered_secrets",
    "scrub",
    "shorten",
]

MARKER = "<redacted>"
"""What a secret is replaced with."""

#: Below this length a secret is only replaced where it stands as a whole token: replacing
#: every ``k`` of a text for a (test) key ``"k"`` would make messages unreadable.
_SHORT = 8
_EDGE_CHARS = "A-Za-z0-9"


@functools.lru_cache(maxsize=256)
def _pattern(secret: str) -> re.Pattern[str]:
    """One regex matching every spelling of ``secret`` that an echo may use."""
    spellings = {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}
    alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
    if len(secret) < _SHORT:
        return re.compile(f"(?<![{_EDGE_CHARS}])(?:{alternatives})(?![{_EDGE_CHARS}])")
    return re.compile(alternatives)


def _clean(secrets: Iterable[str]) -> list[str]:
    # Longest first, so that a key containing another one is replaced whole.
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (plus "..."), the registered keys redacted first.

    Every cut of text that came from a server goes through here: cutting first could leave
    a piece of a key that redaction would no longer recognise.
    """
    text = redact(text, registered_secrets())
    return text if len(text) <= limit else text[:limit] + "..."


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by :data:`MARKER`.

    ``"Bearer sk-abc..."`` becomes ``"Bearer <redacted>"``; empty secrets are ignored.
    Secrets shorter than 8 characters are replaced only where they stand alone.
    """
    for secret in _clean(secrets):
        text = _pattern(secret).sub(MARKER, text)
    return text


class _Registry:
    """The keys this process has used; replaced whole on change so readers need no lock."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        with self._lock:
            if isinstance(secret, str) and secret and secret not in self.secrets:
                self.secrets = (*self.secrets, secret)


_REGISTRY = _Registry()


def register_secret(secret: str) -> None:
    """Remember ``secret`` for the life of the process; every :class:`RedactingFilter` hides it.

    Clients register their key when made; call it for any other secret your own code puts
    near the library (an empty string is ignored).
    """
    _REGISTRY.add(secret)


def registered_secrets() -> tuple[str, ...]:
    """Every secret registered so far."""
    return _REGISTRY.secrets


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable through causes and contexts, each once."""
    seen: dict[int, BaseException] = {}
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen[id(current)] = current
        todo += [current.__cause__, current.__context__]
    return list(seen.values())


def scrub(exc: OneChatError, secrets: Iterable[str]) -> OneChatError:
    """Redact ``secrets`` from ``exc`` in place and return it.

    Covers the message (``args`` too), every other str attribute except ``state`` (the
    caller's own tag, shown as given), notes, and the same for every exception chained to
    it by cause or context, so that ``traceback.format_exception`` cannot print a secret
    either, nor anything that inspects the chain.
    """
    wanted = _clean(secrets)
    if not wanted:
        return exc
    for error in _chain(exc):
        error.args = tuple(redact(a, wanted) if isinstance(a, str) else a for a in error.args)
        notes = getattr(error, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [redact(n, wanted) if isinstance(n, str) else n for n in notes]
        # Foreign errors too: a JSONDecodeError keeps the whole body in ``doc``.
        own = isinstance(error, OneChatError)
        for name, value in vars(error).items():
            if isinstance(value, str) and not (own and name == "state"):
                setattr(error, name, redact(value, wanted))
    return exc


class RedactingFilter(logging.Filter):
    """A logging filter that removes secrets from every record it sees, then lets it pass.

    It hides every registered secret (:func:`register_secret`) and the ``secrets`` given
    here. The message is formatted with its args and redacted; a record's traceback
    (chained causes included) is formatted into ``exc_text`` and redacted, and when it did
    hold a secret the live exception is dropped from the record, so that no handler or
    formatter can print the key from it. Records without secrets are left untouched.
    """

    def __init__(self, secrets: Iterable[str] = (), name: str = "") -> None:
        super().__init__(name)
        self._own = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always True (the record is kept)."""
        secrets = _clean((*self._own, *registered_secrets()))
        if not secrets:
            return True
        try:
            message = record.getMessage()
            broken = False
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            # logging would print msg and args raw in its "Logging error" report.
            message, broken = f"{record.msg!s} {record.args!r}", True
        clean = redact(message, secrets)
        if broken or clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or _FORMATTER.formatException(record.exc_info)
            record.exc_text = redact(text, secrets)
            if record.exc_text != text:
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


_FORMATTER = logging.Formatter()
_FILTER = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` with a :class:`RedactingFilter` on it (added once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(_FILTER)
    return logger
