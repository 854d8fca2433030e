"""new-api's ``midjourneys`` table: one row per accepted submit, never deleted.

The gateway inserts a row for every submit answer that names a task (``DB.Create``, no
uniqueness on ``mj_id``), so a ``/modal`` on a task, which trueai answers with the same id,
adds a second row for it. Which row answers what is the table's business:

- ``fetch`` (``GetByMJId``, GORM ``First``) answers the oldest row;
- ``list-by-condition`` (``GetByMJIds``) answers every row of every id asked;
- the poller (``taskM[task.MjId] = task`` over an unordered scan, primary-key order on MySQL
  and SQLite) updates only the last row of an id: an older one keeps what it showed when the
  newer one came, forever (``frozen``).

Rows hold what the gateway wrote itself (its own action label, the prompt it read, the
submit answer's description); the rest is copied from the upstream by the poller, which the
gateway flavour computes from the upstream's task when asked.
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs

__all__ = ["Row", "Rows"]


@attrs.define(eq=False)
class Row:
    """One row of the gateway's table."""

    pk: int
    task_id: str
    #: The gateway's own label: IMAGINE, UPSCALE..., MODAL, VIDEO, EDITS (never updated).
    action: str
    prompt: str
    description: str
    inserted_at: float
    #: The task object it shows forever once the poller stopped updating it.
    frozen: dict[str, Any] | None = None


class Rows:
    """The rows by task id, in primary-key order."""

    def __init__(self) -> None:
        self._by_id: dict[str, list[Row]] = {}
        self._pk = itertools.count(1)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._by_id.values())

    def of(self, task_id: str) -> list[Row]:
        """Every row of ``task_id``, oldest first (empty if none)."""
        return list(self._by_id.get(task_id, ()))

    def first(self, task_id: str) -> Row | None:
        """The row ``fetch`` answers: the oldest."""
        rows = self._by_id.get(task_id)
        return rows[0] if rows else None

    def live(self, task_id: str) -> Row | None:
        """The row the poller updates: the newest."""
        rows = self._by_id.get(task_id)
        return rows[-1] if rows else None

    def insert(
        self, task_id: str, *, action: str, prompt: str, description: str, now: float
    ) -> Row:
        """Add a row; the caller freezes the previous live row of the id first."""
        row = Row(next(self._pk), task_id, action, prompt, description, now)
        self._by_id.setdefault(task_id, []).append(row)
        return row
