"""notifyHook callbacks, authenticated and read: every rule in one place. Pure.

The upstream POSTs a task's JSON to the ``notifyHook`` URL of its submit on every status or
progress increase, unsigned and unretried, possibly twice or out of order. Anyone who can
reach the receiver can POST too, so the URL itself carries the proof:

- **Token.** ``<expiry>.<mac>``: ``expiry`` is integer epoch seconds, ``mac`` the unpadded
  base64url HMAC-SHA256, under a secret only the client holds, of a version tag, the
  expiry and the submit's *binding*: the ``state`` the submit carries and the upstream
  echoes on every callback. It travels as the ``oc_token`` query parameter.
- **Binding.** A callback passes only if its body's ``state`` is the one the token was minted
  for: a token seen once cannot vouch for another submit's tasks. An empty binding is
  refused when minting, so every authenticated task carries a non-empty ``state``.
- **Checks, in order** (each failure a :class:`CallbackRejectedError` whose ``reason`` and
  ``status`` the receiver answers with): method POST (405 ``method_not_allowed``); body
  within the limit (413 ``too_large``); a token present and well formed (401 ``no_token``);
  JSON (400 ``not_json``); a task object with a usable id (422 ``not_a_task``); the MAC,
  compared in constant time (401 ``bad_token``); the expiry (401 ``expired``, only for a
  genuine token); then, outside this module, whether the task is one the client tracks
  (403 ``unknown_task``).

Nothing here echoes a token, a secret or a body: messages name only what was wrong.
The task is decoded by the one lenient decoder, :func:`onechat_async._wire.decode_task`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import attrs

from ._errors import CALLBACK_REASONS, CallbackRejectedError, InvalidRequestError
from ._models import Task
from ._wire import WireError, decode_task, parse_json

__all__ = [
    "DEFAULT_MAX_BODY",
    "MIN_SECRET_BYTES",
    "REASONS",
    "TOKEN_PARAM",
    "CallbackRejectedError",
    "CallbackRequest",
    "Signer",
    "check_size",
    "hook_url",
    "parse_callback",
    "token_of",
    "too_large",
    "verify",
]

TOKEN_PARAM: Final = "oc_token"  # noqa: S105 - a parameter's name, not a password
"""The query parameter of the notifyHook URL that carries the token."""

DEFAULT_MAX_BODY: Final = 256 * 1024
"""The largest callback body read, in bytes: a task with every field filled is a few KiB."""

MIN_SECRET_BYTES: Final = 32
"""The shortest secret accepted: the HMAC's own output size."""

#: Bumped if the signed message ever changes, so that old tokens fail cleanly.
_VERSION: Final = b"onechat-async notifyHook v1"
#: The contract's notifyHook limit; the token must leave room for the receiver's own URL.
_MAX_HOOK_URL: Final = 2000
_MAX_EXPIRY_DIGITS: Final = 12
_MAC_CHARS: Final = 43  # base64url of 32 bytes, unpadded

REASONS: Final = CALLBACK_REASONS
"""Every reason a callback is rejected for, with the HTTP status the receiver answers."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _secret_bytes(value: object) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    if not isinstance(raw, bytes) or len(raw) < MIN_SECRET_BYTES:
        raise InvalidRequestError(
            f"a callback secret must be at least {MIN_SECRET_BYTES} bytes (or characters)"
        )
    return raw


@attrs.frozen
class Signer:
    """Mints and checks tokens under one secret; ``ttl`` is how long a token stays valid.

    The secret is bytes of at least :data:`MIN_SECRET_BYTES`; a str (from an environment
    variable or a shared store) is taken as its UTF-8 bytes. It never shows in a repr.
    """

    secret: bytes = attrs.field(repr=False, converter=_secret_bytes)
    ttl: float = 3 * 3600.0
    #: Secrets that still verify but no longer mint (the previous one, after a rotation).
    previous: tuple[bytes, ...] = attrs.field(default=(), repr=False)

    def mac(self, binding: str, expiry: int, secret: bytes | None = None) -> str:
        """The MAC of ``binding`` valid until ``expiry`` (epoch seconds)."""
        message = b"\n".join((_VERSION, str(expiry).encode("ascii"), binding.encode()))
        key = self.secret if secret is None else secret
        return _b64(hmac.new(key, message, hashlib.sha256).digest())

    def token(self, binding: str, now_wall: float) -> str:
        """A token for the submit carrying ``state=binding``, valid for :attr:`ttl` from now."""
        if not isinstance(binding, str) or not binding:
            raise InvalidRequestError("a callback token needs a non-empty state to bind to")
        expiry = math.ceil(now_wall + self.ttl)
        return f"{expiry}.{self.mac(binding, expiry)}"

    def check(self, token: str, binding: str, now_wall: float, *, task_id: str) -> None:
        """Raise CallbackRejectedError unless ``token`` is genuine for ``binding`` and unexpired."""
        expiry, mac = _split(token)
        genuine = False
        for secret in (self.secret, *self.previous):
            # compare_digest takes as long whatever the first differing byte: no timing
            # oracle; every secret is tried, so the time does not tell which one matched.
            same = hmac.compare_digest(
                mac.encode("ascii"), self.mac(binding, expiry, secret).encode("ascii")
            )
            genuine = genuine or same
        genuine = genuine and bool(binding)
        if not genuine:
            raise CallbackRejectedError(
                "bad_token",
                "the callback's token was not minted for this task's state",
                task_id=task_id,
            )
        if now_wall >= expiry:
            raise CallbackRejectedError(
                "expired", "the callback's token has expired", task_id=task_id
            )


def _split(token: str) -> tuple[int, str]:
    """A well-formed token's expiry and MAC; CallbackRejectedError(no_token) otherwise."""
    head, dot, mac = token.partition(".")
    if (
        not dot
        or not (0 < len(head) <= _MAX_EXPIRY_DIGITS and head.isascii() and head.isdigit())
        or len(mac) != _MAC_CHARS
        or not mac.isascii()
    ):
        raise CallbackRejectedError("no_token", "the callback's token is malformed")
    return int(head), mac


def hook_url(public_url: str, token: str) -> str:
    """``public_url`` with the token added to its query (other parameters kept)."""
    parts = urlsplit(public_url)
    query = [(k, v) for k, v in _pairs(parts.query) if k != TOKEN_PARAM]
    query.append((TOKEN_PARAM, token))
    url = urlunsplit(parts._replace(query=urlencode(query)))
    if len(url) > _MAX_HOOK_URL:
        raise InvalidRequestError(
            f"the notifyHook URL would be longer than {_MAX_HOOK_URL} characters"
        )
    return url


def _pairs(query: str) -> list[tuple[str, str]]:
    return [(k, v) for k, values in parse_qs(query, keep_blank_values=True).items() for v in values]


def token_of(query: str | bytes) -> str | None:
    """The token in a URL query string, or None when there is none or more than one."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    values = parse_qs(query, keep_blank_values=True).get(TOKEN_PARAM, [])
    return values[0] if len(values) == 1 and values[0] else None


def too_large(max_body: int) -> CallbackRejectedError:
    """The rejection of a body longer than ``max_body`` bytes."""
    return CallbackRejectedError("too_large", f"the callback body is larger than {max_body} bytes")


def check_size(length: int | None, max_body: int) -> None:
    """Refuse a body that is (or announces itself as) longer than ``max_body`` bytes."""
    if length is not None and length > max_body:
        raise too_large(max_body)


def parse_callback(body: bytes, *, max_body: int = DEFAULT_MAX_BODY) -> Task:
    """Read a notifyHook body (the upstream's task JSON) into a :class:`~onechat_async.Task`.

    For users who keep their own endpoint: it checks size and shape, not authenticity.
    Lenient where the servers are (``"progress": "9%"``, numeric ids, ``""`` statuses), total
    where they are hostile: anything unusable raises :class:`CallbackRejectedError`.

    :param body: The request body, as received.
    :param max_body: The largest body accepted, in bytes.
    :raises CallbackRejectedError: The body is too large, not JSON, or not a task
        (``reason`` says which).

    ```python
    task = parse_callback(await request.read())  # in your own aiohttp handler
    ```
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise CallbackRejectedError("not_json", "the callback body must be bytes")
    check_size(len(body), max_body)
    try:
        data = parse_json(bytes(body))
    except WireError:
        raise CallbackRejectedError("not_json", "the callback body is not JSON") from None
    try:
        return decode_task(data)
    except WireError as exc:
        # WireError's message names only the kind of the bad value, never its content.
        raise CallbackRejectedError(
            "not_a_task", f"the callback body is not a task: {exc}"
        ) from None


@attrs.frozen
class CallbackRequest:
    """One incoming notifyHook call, as data: the server adapters fill it in."""

    method: str
    query: str | bytes
    body: bytes


def verify(request: CallbackRequest, signer: Signer, *, now_wall: float, max_body: int) -> Task:
    """The task a genuine, unexpired callback reports; CallbackRejectedError for anything else.

    Whether the task is one the client tracks is the caller's last check (403
    ``unknown_task``): that needs the tracker, which this module does not know.
    """
    if request.method.upper() != "POST":
        raise CallbackRejectedError("method_not_allowed", "callbacks are POSTed")
    check_size(len(request.body), max_body)
    token = token_of(request.query)
    if token is None:
        raise CallbackRejectedError("no_token", "the callback URL carries no token")
    _split(token)  # a malformed token is refused before the body is parsed
    task = parse_callback(request.body, max_body=max_body)
    signer.check(token, task.state, now_wall, task_id=task.id)
    return task
