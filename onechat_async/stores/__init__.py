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
    from ._redis import RedisStore

__all__ = ["MemoryStore", "RedisStore", "SQLiteStore"]


def __getattr__(name: str) -> Any:
    # redis-py is optional: importing it eagerly would break every install without the extra.
    if name == "RedisStore":
        from ._redis import RedisStore  # noqa: PLC0415

        return RedisStore
    raise AttributeError(name)
