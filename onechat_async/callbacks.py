"""Receiving notifyHook callbacks: the receiver, the body parser, and why a call was refused.

See docs/callbacks.md. ``CallbackReceiver`` authenticates each call by the token its
notifyHook URL carries and hands verified :class:`~onechat_async.Task` snapshots on;
``parse_callback`` reads a body for those who keep their own endpoint.
"""

from ._callbacks import (
    DEFAULT_MAX_BODY,
    REASONS,
    TOKEN_PARAM,
    CallbackRejectedError,
    parse_callback,
)
from ._receiver import CallbackReceiver, Known, Sink

__all__ = [
    "DEFAULT_MAX_BODY",
    "REASONS",
    "TOKEN_PARAM",
    "CallbackReceiver",
    "CallbackRejectedError",
    "Known",
    "Sink",
    "parse_callback",
]
