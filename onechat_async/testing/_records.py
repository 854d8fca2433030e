"""What the simulator remembers of the submits it served, for tests that audit a client.

A test that asks "did the client pay twice?" needs the server's side of the story: which
tasks were created, by which endpoint, carrying which ``state``, and every submit request
that reached the server with the answer it was given (or the fault that replaced it).
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ._customids import action_of, parse_simple_change
from ._faults import Fault

__all__ = ["CreatedTask", "SubmitRecord", "SubmitTrace"]


@attrs.frozen
class CreatedTask:
    """A task the server created, the submit endpoint that made it and the ``state`` it carried.

    ``action`` is the task's action (``IMAGINE``, ``UPSCALE``, ``VARIATION``...); for a
    task made from another one, ``parent_id`` is that task and ``index`` the image (1 to 4)
    it works on, 0 when none.

    :ivar task_id: The created task's id.
    :ivar endpoint: The submit endpoint that made it (``"imagine"``, ``"simple-change"``...).
    :ivar state: The ``state`` the submit carried, or None.
    :ivar action: The task's action.
    :ivar parent_id: For a task made from another one, that task.
    :ivar index: The image of the parent it works on (1 to 4), 0 when none.
    """

    task_id: str
    endpoint: str
    state: str | None
    action: str
    parent_id: str | None = None
    index: int = 0


@attrs.frozen
class SubmitRecord:
    """One submit request that reached the server, and what was sent back.

    Read them from :attr:`Simulator.submits`, in the order they came.

    :ivar endpoint: The submit endpoint (``"imagine"``, ``"simple-change"``...).
    :ivar state: The ``state`` field of the body, if it was a string (None otherwise, or
        when the body could not be read).
    :ivar status: The HTTP status sent, or None when no answer was sent (the connection was
        reset, or the request was cut off by :meth:`Simulator.restart` or close).
    :ivar code: The API ``code`` of a JSON answer, if any (after the gateway's rewrites).
    :ivar task_id: The task this request created, if it created one.
    :ivar fault: The :class:`~onechat_async.testing.Fault` that struck the request, if any;
        a ``slow`` one means the answer may have reached nobody.
    :ivar parent_id: For a submit that works on another task (change, simple-change,
        action, modal, a video extend), the task it names (None where the body does not say).
    :ivar action: What such a submit asks for, as the server reads the body.
    :ivar index: The image such a submit works on, as the server reads the body.
    """

    endpoint: str
    state: str | None
    status: int | None
    code: int | None = None
    task_id: str | None = None
    fault: Fault | None = None
    parent_id: str | None = None
    action: str | None = None
    index: int | None = None


def _loads(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _aim(endpoint: str, body: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    """The task a submit names and what it asks of it, as the upstream reads the body."""
    task_id = body.get("taskId")
    parent = task_id if isinstance(task_id, str) and task_id else None
    if endpoint == "simple-change":
        parsed = parse_simple_change(body.get("content"))
        return parsed if parsed is not None else (None, None, None)
    if endpoint == "change":
        action, index = body.get("action"), body.get("index")
        return (
            parent,
            action if isinstance(action, str) else None,
            index if isinstance(index, int) and not isinstance(index, bool) else None,
        )
    if endpoint == "action":
        custom_id = body.get("customId")
        mapped = action_of(custom_id) if isinstance(custom_id, str) else None
        return (parent, *mapped) if mapped is not None else (parent, None, None)
    if endpoint == "modal":
        return parent, None, None
    if endpoint == "video" and parent is not None:
        index = body.get("index")
        exact = isinstance(index, int) and not isinstance(index, bool)
        return parent, "VIDEO", index if exact else None
    return None, None, None


class SubmitTrace:
    """A submit request while it is being served; becomes a :class:`SubmitRecord` at the end."""

    def __init__(self, endpoint: str, raw: bytes | None) -> None:
        self.endpoint = endpoint
        body = _loads(raw)
        if not isinstance(body, dict):
            body = {}
        state = body.get("state")
        self.state = state if isinstance(state, str) else None
        self.parent_id, self.action, self.index = _aim(endpoint, body)
        self.status: int | None = None
        self.code: int | None = None
        self.task_id: str | None = None
        self.fault: Fault | None = None

    def answered(self, status: int | None, body: bytes) -> None:
        """Note what was sent (``status`` None: nothing was)."""
        self.status = status
        data = _loads(body) if status is not None else None
        code = data.get("code") if isinstance(data, dict) else None
        self.code = code if isinstance(code, int) and not isinstance(code, bool) else None

    def record(self) -> SubmitRecord:
        """The finished record."""
        return SubmitRecord(
            endpoint=self.endpoint,
            state=self.state,
            status=self.status,
            code=self.code,
            task_id=self.task_id,
            fault=self.fault,
            parent_id=self.parent_id,
            action=self.action,
            index=self.index,
        )
