"""The stores behind ``OneChatClient(store=...)``: in memory, one SQLite file, or Redis.

Every one implements :class:`onechat_async._store.Store` and passes the same behavioural
suite (tests/stores). ``RedisStore`` needs the ``redis`` extra
(``pip install onechat-async[redis]``); it is imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._memory import MemoryStore
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._redis import RedisStore as RedisStore

# RedisStore is left out of __all__ on purpose: a star import must not need the extra.
__all__ = ["MemoryStore", "SQLiteStore"]


def __getattr__(name: str) -> Any:
    # redis-py is optional: importing it eagerly would break every install without the extra.
    if name == "RedisStore":
        return load_redis_store()
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def load_redis_store() -> type[RedisStore]:
    """The RedisStore class, or an ImportError that says which extra to install."""
    try:
        from ._redis import RedisStore  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "redis":
            raise
        msg = "RedisStore needs redis-py: pip install 'onechat-async[redis]'"
        raise ImportError(msg) from exc
    return RedisStore
