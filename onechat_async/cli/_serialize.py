"""Tasks, submit results and events as plain JSON values with stable field names.

Written field by field rather than through ``attrs.asdict`` so that a new model attribute
never changes the CLI's output behind a script's back; names are snake_case throughout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .._errors import BannedPromptError, OneChatError, SubmitOutcomeUnknownError
from .._events import (
    Failed,
    ProgressChanged,
    Stalled,
    StatusChanged,
    SubmitFailed,
    Submitted,
    TaskEvent,
    TimedOut,
)
from .._models import SubmitResult, Task
from ._english import english

__all__ = ["error_json", "event_json", "submit_json", "task_json"]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_json(task: Task | None) -> dict[str, Any] | None:
    """One task snapshot; times are ISO 8601 in UTC, progress an int or null."""
    if task is None:
        return None
    return {
        "id": task.id,
        "status": task.status.value,
        "action": task.action.value if task.action is not None else None,
        "progress": task.progress,
        "prompt": task.prompt,
        "prompt_en": task.prompt_en,
        "description": task.description,
        "state": task.state,
        "custom_id": task.custom_id,
        "bot_type": task.bot_type,
        "submit_time": _time(task.submit_time),
        "start_time": _time(task.start_time),
        "finish_time": _time(task.finish_time),
        "image_url": task.image_url,
        "fail_reason": task.fail_reason,
        "final_prompt": task.final_prompt,
        "buttons": [
            {
                "custom_id": b.custom_id,
                "label": b.label,
                "emoji": b.emoji,
                "type": b.type,
                "style": b.style,
            }
            for b in task.buttons
        ],
        "properties": dict(task.properties),
    }


def submit_json(result: SubmitResult) -> dict[str, Any]:
    """What the server answered to a submit."""
    return {
        "task_id": result.task_id,
        "code": result.code,
        "description": result.description,
        "queue_position": result.queue_position,
        "properties": dict(result.properties),
    }


def error_json(exc: BaseException, message: str) -> dict[str, Any]:
    """The facts of an error that a script may branch on (never the API key)."""
    fields: dict[str, Any] = {"error": type(exc).__name__, "message": message}
    if isinstance(exc, OneChatError):
        fields.update(
            status=exc.status,
            code=exc.code,
            task_id=exc.task_id,
            endpoint=exc.endpoint,
            state=exc.state,
            retryable=exc.retryable,
        )
        # The server's Chinese, in English (null when it said nothing the CLI knows).
        fields["message_en"] = "; ".join(english(exc.message)) or None
        if isinstance(exc, SubmitOutcomeUnknownError):
            fields["reason"] = exc.reason
        if isinstance(exc, BannedPromptError):
            fields["banned_word"] = exc.banned_word
    return fields


def event_json(event: TaskEvent) -> dict[str, Any]:
    """One tracking event: ``event`` names its class, ``task`` is its snapshot or null."""
    line: dict[str, Any] = {
        "type": "event",
        "event": type(event).__name__,
        "task_id": event.task_id,
    }
    if isinstance(event, StatusChanged):
        line["status"] = event.status.value
        line["previous"] = event.previous.value if event.previous is not None else None
    elif isinstance(event, ProgressChanged):
        line["progress"] = event.progress
        line["previous"] = event.previous
    elif isinstance(event, Failed):
        line["reason"] = event.reason
    elif isinstance(event, Stalled | TimedOut):
        line["seconds"] = event.seconds
    elif isinstance(event, Submitted):
        line["parent_id"] = event.parent_id
        line["op"] = event.op
        line["submit"] = submit_json(event.result)
    elif isinstance(event, SubmitFailed):
        line["parent_id"] = event.parent_id
        line["op"] = event.op
        line["error"] = error_json(event.error, str(event.error))
    if event.op is not None:
        # Every event of a fan-out child names its op, not only its Submitted.
        line.setdefault("op", event.op)
    line["terminal"] = event.is_terminal
    line["task"] = task_json(getattr(event, "task", None))
    return line
