"""Tasks and the one upstream account they queue on.

The account has ``running_limit`` slots and room for ``waiting_limit`` waiting tasks, served
first come first served. Because durations are known when a task is queued, its start time
is fixed right then (a heap of slot release times), and the number of tasks still waiting
at any later submit is a deque popped from the left: O(log n) per submit, O(1) per lookup,
nothing that scans all tasks.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
import math
import random
from typing import TypeVar

import attrs

from ._lifecycle import Plan, Timings, plan

__all__ = ["QueueFull", "Store", "TaskRecord"]

_T = TypeVar("_T")


@attrs.define(eq=False)
class TaskRecord:
    """Everything the simulator knows about one task; views are computed from it."""

    id: str
    action: str
    plan: Plan
    prompt: str = ""
    state: str | None = None
    notify_hook: str = ""
    bot_type: str = "MID_JOURNEY"
    custom_id: str = ""
    mode: str = "FAST"
    #: The mode a trueai mode route asked for (its ``requestMode``), None without one.
    request_mode: str | None = None
    #: The description of the submit answer (the gateway shows it on the task).
    description: str = "提交成功"
    #: The proxy's own description, the Discord command ("/imagine a cat").
    command: str = ""
    final_prompt: str = ""
    #: The text that lands in properties.finalPrompt on SUCCESS (describe, shorten).
    result_text: str = ""
    parent_id: str = ""
    index: int = 0
    seed: str = ""
    message_hash: str = ""
    #: How many videos a VIDEO task makes (its ``batchSize``).
    batch: int = 4
    #: From this time on the upstream has forgotten the task (a vanish).
    lost_at: float | None = None
    hook_rank: tuple[int, int] = (-1, 0)

    def lost(self, now: float) -> bool:
        """Whether the upstream has forgotten the task by ``now``."""
        return self.lost_at is not None and now >= self.lost_at


class QueueFull(Exception):  # noqa: N818 - an outcome the handlers turn into code 23 / 9
    """The account's waiting room is full."""


class Store:
    """The task table plus the account's queue."""

    def __init__(
        self,
        *,
        timings: Timings,
        running_limit: int,
        waiting_limit: int,
        seed: int,
    ) -> None:
        if running_limit < 1 or waiting_limit < 0:
            raise ValueError("running_limit must be >= 1 and waiting_limit >= 0")
        self.timings = timings
        self.running_limit = running_limit
        self.waiting_limit = waiting_limit
        # Forgotten tasks stay here, marked lost: a gateway's rows still show them.
        self._tasks: dict[str, TaskRecord] = {}
        #: Ids of the files upload-discord-images stored, served by the CDN route.
        self.uploads: set[str] = set()
        self._slots: list[float] = [-math.inf] * running_limit
        self._waiting: collections.deque[float] = collections.deque()
        self._last_id = 0
        # Not security: ids, hashes and seeds only need to look real and replay.
        self._rng = random.Random(f"{seed}:store")  # noqa: S311
        #: UPSCALE tasks by the proxy's description, for the old Java "already exists" answer.
        self.upscales: dict[str, str] = {}

    def count(self, now: float) -> int:
        """How many tasks the upstream knows at ``now``."""
        return sum(not record.lost(now) for record in self._tasks.values())

    def new_id(self, wall: float) -> str:
        """A 16-digit id: epoch milliseconds and three random digits, never reused."""
        candidate = int(wall * 1000) * 1000 + self._rng.randrange(1000)
        # Ids stay increasing so that a burst within one millisecond cannot collide.
        self._last_id = max(candidate, self._last_id + 1)
        return str(self._last_id)

    def new_hash(self, task_id: str) -> str:
        """A Discord-like message hash (a UUID in the real service)."""
        digest = hashlib.sha256(f"{task_id}:{self._rng.random()}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def new_seed(self) -> str:
        """A Midjourney seed."""
        return str(self._rng.randrange(1, 4_294_967_295))

    def waiting_at(self, t: float) -> int:
        """How many queued tasks have not started at ``t`` (t never goes back)."""
        while self._waiting and self._waiting[0] <= t:
            self._waiting.popleft()
        return len(self._waiting)

    def schedule(
        self,
        *,
        now: float,
        submitted_at: float,
        action: str,
        fails: bool = False,
        fail_reason: str = "",
        modal: bool = False,
    ) -> tuple[Plan, int | None]:
        """Queue a task at ``now``; returns its plan and, if it must wait, how many are ahead.

        Raises :class:`QueueFull` when the waiting room is full.
        """
        ahead = self.waiting_at(now)
        free_at = self._slots[0]
        must_wait = free_at > now + self.timings.dispatch
        if must_wait and ahead >= self.waiting_limit:
            raise QueueFull
        p = plan(
            submitted_at=submitted_at,
            queued_at=now,
            slot_free_at=free_at,
            action=action,
            timings=self.timings,
            fails=fails,
            fail_reason=fail_reason,
            modal=modal,
        )
        heapq.heapreplace(self._slots, p.finish_at)
        if must_wait:
            self._waiting.append(p.start_at)
            return p, ahead
        return p, None

    def add(self, record: TaskRecord) -> None:
        """Put a task in the table."""
        self._tasks[record.id] = record

    def get(self, task_id: str, now: float) -> TaskRecord | None:
        """A task by id, or None if unknown or forgotten by ``now``."""
        record = self._tasks.get(task_id)
        if record is None or record.lost(now):
            return None
        return record

    def peek(self, task_id: str) -> TaskRecord | None:
        """A task by id, forgotten or not (what a gateway row was copied from)."""
        return self._tasks.get(task_id)

    def forget(self, task_id: str, now: float) -> bool:
        """Forget a task from ``now`` on; True if it was known until then."""
        record = self.get(task_id, now)
        if record is None:
            return False
        record.lost_at = now
        return True

    def records(self) -> list[TaskRecord]:
        """Every task ever created, forgotten ones included, oldest first."""
        return list(self._tasks.values())

    def shuffle(self, items: list[_T]) -> None:
        """Put records in an order the caller cannot rely on, as the servers do."""
        self._rng.shuffle(items)

    def chance(self, rate: float) -> bool:
        """A seeded coin toss."""
        return self._rng.random() < rate
