"""onechat-async: an asyncio client for the OneChat Midjourney API.

Submit tasks, fan out the U1-U4/V1-V4 children of a grid, and track any number of tasks with
one poller, against every quirk of the real servers.
"""

from typing import TYPE_CHECKING, Any

from ._backoff import Backoff
from ._client import DEFAULT_BASE_URL, BotType, ChangeAction, ImageInput, Mode, OneChatClient
from ._clock import Clock, SystemClock
from ._download import DownloadError, download
from ._errors import (
    TASK_FAILURES,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BannedPromptError,
    ClientClosedError,
    InvalidRequestError,
    OneChatError,
    QueueFullError,
    RateLimitError,
    ServerError,
    SubmitOutcomeUnknownError,
    SubmitRejectedError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
)
from ._events import (
    FAILURE_EVENTS,
    Cancelled,
    Event,
    Failed,
    Lost,
    NeedsModal,
    ProgressChanged,
    Stalled,
    StatusChanged,
    SubmitFailed,
    Submitted,
    Succeeded,
    TaskEvent,
    TimedOut,
    Unreadable,
)
from ._follow import ALL_CHILDREN, EventStream
from ._models import AccountFilter, Button, SubmitResult, Task, TaskAction, TaskStatus
from ._policy import PollPolicy
from ._retry import RetryPolicy
from ._task_json import task_from_dict, task_from_json, task_to_dict, task_to_json
from ._version import __version__
from .stores import MemoryStore, SQLiteStore

if TYPE_CHECKING:
    from .stores._redis import RedisStore as RedisStore

__all__ = [
    "ALL_CHILDREN",
    "DEFAULT_BASE_URL",
    "FAILURE_EVENTS",
    "TASK_FAILURES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AccountFilter",
    "AuthenticationError",
    "Backoff",
    "BannedPromptError",
    "BotType",
    "Button",
    "Cancelled",
    "ChangeAction",
    "ClientClosedError",
    "Clock",
    "DownloadError",
    "Event",
    "EventStream",
    "Failed",
    "ImageInput",
    "InvalidRequestError",
    "Lost",
    "MemoryStore",
    "Mode",
    "NeedsModal",
    "OneChatClient",
    "OneChatError",
    "PollPolicy",
    "ProgressChanged",
    "QueueFullError",
    "RateLimitError",
    "RetryPolicy",
    "SQLiteStore",
    "ServerError",
    "Stalled",
    "StatusChanged",
    "SubmitFailed",
    "SubmitOutcomeUnknownError",
    "SubmitRejectedError",
    "SubmitResult",
    "Submitted",
    "Succeeded",
    "SystemClock",
    "Task",
    "TaskAction",
    "TaskEvent",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskStatus",
    "TaskTimeoutError",
    "TimedOut",
    "Unreadable",
    "__version__",
    "download",
    "task_from_dict",
    "task_from_json",
    "task_to_dict",
    "task_to_json",
]


def __getattr__(name: str) -> Any:
    # RedisStore needs the optional redis extra; it is imported on first use, not here.
    if name == "RedisStore":
        from .stores import load_redis_store  # noqa: PLC0415

        return load_redis_store()
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
