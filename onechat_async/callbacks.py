"""Receiving notifyHook callbacks: the receiver, the body parser, and why a call was refused.

See docs/callbacks.md. ``CallbackReceiver`` authenticates each call by the token its
notifyHook URL carries and hands verified :class:`~onechat_async.Task` snapshots on;
``parse_callback`` reads a body for those who keep their own endpoint.
"""

from datetime import timedelta

from ._callback_link import REFRESH, rotate_secret
from ._callbacks import (
    DEFAULT_MAX_BODY,
    REASONS,
    TOKEN_PARAM,
    CallbackRejectedError,
    parse_callback,
)
from ._clock import Clock, SystemClock
from ._errors import InvalidRequestError
from ._receiver import CallbackReceiver, Known, Sink
from ._validate import seconds

__all__ = [
    "DEFAULT_MAX_BODY",
    "REASONS",
    "SECRET_REFRESH",
    "TOKEN_PARAM",
    "CallbackReceiver",
    "CallbackRejectedError",
    "Known",
    "Sink",
    "parse_callback",
    "rotate_callback_secret",
]

SECRET_REFRESH = REFRESH
"""How often a client re-reads its store's callback secret, in seconds."""


async def rotate_callback_secret(
    store: object, *, grace: float | timedelta = 3 * 3600.0, clock: Clock | None = None
) -> None:
    """Give the workers on ``store`` a new callback secret; the old one verifies for ``grace``.

    Every client on the store mints with the new secret within :data:`SECRET_REFRESH`
    seconds (at once if a token under it reaches one first); tokens minted under the old
    secret keep verifying until ``grace`` has passed, so make it at least the receivers'
    ``ttl``. A receiver given its own ``secret=`` is not affected.
    """
    if not (hasattr(store, "get_note") and hasattr(store, "swap_note")):
        raise InvalidRequestError("the store keeps no notes, so it has no shared secret")
    wall = (clock if clock is not None else SystemClock()).wall()
    await rotate_secret(store, grace=seconds(grace, what="grace"), now_wall=wall)
