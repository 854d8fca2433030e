"""Shared pieces for the callback tests: a fixed secret, task bodies, a recording sink."""

from __future__ import annotations

import json
from typing import Any

import attrs

from onechat_async import Task

SECRET = b"s" * 32
OTHER_SECRET = b"t" * 32
NOW = 1_750_000_000.0
STATE = "oc-state-1"


def task_body(**fields: Any) -> bytes:
    """A task JSON as the upstream posts it (camelCase, progress as "N%")."""
    data: dict[str, Any] = {
        "id": "1750000000000123",
        "action": "IMAGINE",
        "status": "IN_PROGRESS",
        "progress": "9%",
        "state": STATE,
        "prompt": "a red fox",
    }
    data.update(fields)
    return json.dumps(data).encode()


@attrs.define
class Sink:
    """Records every task handed to it; can be told to accept only some ids."""

    tasks: list[Task] = attrs.field(factory=list)
    known_ids: set[str] | None = None

    def __call__(self, task: Task) -> None:
        self.tasks.append(task)

    def known(self, task: Task) -> bool:
        return self.known_ids is None or task.id in self.known_ids
