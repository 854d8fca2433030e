"""A task's life as a pure function of clock time.

Nothing here awaits, reads a clock or touches the network: a :class:`Plan` fixed when the
task is queued, plus a time ``t``, gives the :class:`Snapshot` any observer would see at
``t``. That is what keeps 10,000 simulated tasks cheap: nobody ticks them, each view is
computed when someone asks.

Upstream (the midjourney-proxy) timeline of one task::

    queued_at      start_at        start_at + submitted            finish_at
       | NOT_START    | SUBMITTED 0%  | IN_PROGRESS n% (steps)        | SUCCESS / FAILURE

The gateway copies the upstream view on its own poller's ticks into its own row, so a row
shows the upstream state at the last tick, ``""`` before the first one after the row was
inserted, and force-fails after an hour; once the upstream no longer returns the task the
row keeps what it last copied, forever.
"""

from __future__ import annotations

import math

import attrs

from ._messages import GATEWAY_TIMEOUT

__all__ = [
    "TERMINAL",
    "Plan",
    "Snapshot",
    "Timings",
    "gateway_at",
    "next_change",
    "plan",
    "rank",
    "upstream_at",
]

TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCEL"})
TIMEOUT_REASON = "任务超时"
#: trueai's reason for a task cancelled through /mj/task/{id}/cancel.
CANCEL_REASON = "取消任务"
GATEWAY_TIMEOUT_REASON = GATEWAY_TIMEOUT


@attrs.frozen(kw_only=True)
class Timings:
    """How long things take, in clock seconds; defaults follow what the real service shows.

    ``dispatch`` is the NOT_START spell of a task that finds a free slot, ``submitted`` the
    SUBMITTED "0%" spell before Discord reports progress, ``progress_every`` the upstream
    progress step, ``refresh`` the gateway poller's period, ``seed`` how long image-seed
    blocks; the gateway gives up on it after ``gateway_seed_timeout`` (new-api's 30 s). The
    per-action fields are the IN_PROGRESS durations. A task that would run longer than
    ``task_timeout`` fails there (the proxy's 任务超时); behind the gateway an unfinished task
    that the upstream still returns fails ``gateway_timeout`` after its submission.

    :ivar dispatch: The NOT_START spell of a task that finds a free slot.
    :ivar submitted: The SUBMITTED "0%" spell before Discord reports progress.
    :ivar progress_every: The upstream's progress step.
    :ivar refresh: The gateway poller's period.
    :ivar seed: How long image-seed blocks.
    :ivar imagine: IN_PROGRESS duration of an imagine.
    :ivar upscale: ... of an upscale.
    :ivar variation: ... of a variation (or reroll).
    :ivar blend: ... of a blend.
    :ivar describe: ... of a describe.
    :ivar shorten: ... of a shorten.
    :ivar swap_face: ... of a face swap.
    :ivar video: ... of a video.
    :ivar edits: ... of an edit.
    :ivar other: ... of any other action (zoom, pan, inpaint...).
    :ivar task_timeout: The proxy's limit: a task that would run longer fails there.
    :ivar gateway_timeout: Behind the gateway, an unfinished task fails this long after its
        submission.
    :ivar gateway_seed_timeout: How long the gateway waits for image-seed (new-api's 30 s).

    ```python
    Simulator(timings=Timings(imagine=5.0, refresh=1.0))
    ```
    """

    dispatch: float = 1.0
    submitted: float = 4.0
    progress_every: float = 5.0
    refresh: float = 15.0
    seed: float = 2.0
    imagine: float = 50.0
    upscale: float = 10.0
    variation: float = 40.0
    blend: float = 45.0
    describe: float = 6.0
    shorten: float = 5.0
    swap_face: float = 20.0
    video: float = 60.0
    edits: float = 40.0
    other: float = 40.0
    task_timeout: float = 300.0
    gateway_timeout: float = 3600.0
    gateway_seed_timeout: float = 30.0

    def run_time(self, action: str) -> float:
        """The IN_PROGRESS duration of a task of ``action``.

        :param action: The task's action (``"IMAGINE"``...); unknown ones take ``other``.
        """
        by_action = {
            "IMAGINE": self.imagine,
            "UPSCALE": self.upscale,
            "VARIATION": self.variation,
            "REROLL": self.variation,
            "BLEND": self.blend,
            "DESCRIBE": self.describe,
            "SHORTEN": self.shorten,
            "SWAP_FACE": self.swap_face,
            "VIDEO": self.video,
            "EDIT": self.edits,
        }
        return by_action.get(action, self.other)


@attrs.frozen(kw_only=True)
class Plan:
    """When one task does what, fixed at queueing time (and re-fixed by /modal or a stall)."""

    submitted_at: float
    #: None while the task waits for /modal.
    queued_at: float | None
    start_at: float = math.inf
    finish_at: float = math.inf
    fails: bool = False
    fail_reason: str = ""
    #: Set when the task was born in MODAL: it shows MODAL until ``queued_at``.
    modal: bool = False
    #: The task stops moving at this time (an upstream that lost it).
    stalled_at: float | None = None
    #: trueai's cancel: FAILURE 取消任务 from this time on (unless it had finished).
    cancelled_at: float | None = None


@attrs.frozen
class Snapshot:
    """What one observer sees of a task at one time."""

    status: str
    #: Percent, or None where the server shows no number ("" or null).
    progress: int | None
    start_at: float | None = None
    finish_at: float | None = None
    fail_reason: str = ""
    #: Whether a (preview or final) image exists.
    has_image: bool = False
    #: Whether the gateway has refreshed it at least once (always True upstream).
    refreshed: bool = True


def plan(
    *,
    submitted_at: float,
    queued_at: float,
    slot_free_at: float,
    action: str,
    timings: Timings,
    fails: bool = False,
    fail_reason: str = "",
    modal: bool = False,
) -> Plan:
    """Schedule a task queued at ``queued_at`` on a slot that frees at ``slot_free_at``."""
    start = max(queued_at + timings.dispatch, slot_free_at)
    run = timings.run_time(action)
    if fails:
        # Midjourney refuses bad parameters as soon as the job reaches it.
        finish = start + timings.submitted
    elif timings.submitted + run > timings.task_timeout:
        finish, fails, fail_reason = start + timings.task_timeout, True, TIMEOUT_REASON
    else:
        finish = start + timings.submitted + run
    return Plan(
        submitted_at=submitted_at,
        queued_at=queued_at,
        start_at=start,
        finish_at=finish,
        fails=fails,
        fail_reason=fail_reason,
        modal=modal,
    )


def upstream_at(p: Plan, t: float, timings: Timings) -> Snapshot:
    """The proxy's own view of the task at time ``t``."""
    if p.cancelled_at is not None and t >= p.cancelled_at:
        started = p.start_at if p.start_at <= p.cancelled_at else None
        return Snapshot("FAILURE", None, started, p.cancelled_at, CANCEL_REASON)
    if p.stalled_at is not None:
        t = min(t, p.stalled_at)
    if p.modal and (p.queued_at is None or t < p.queued_at):
        return Snapshot("MODAL", None)
    if t < p.start_at:
        return Snapshot("NOT_START", None)
    if t >= p.finish_at:
        if p.fails:
            return Snapshot("FAILURE", None, p.start_at, p.finish_at, p.fail_reason)
        return Snapshot("SUCCESS", 100, p.start_at, p.finish_at, has_image=True)
    running_since = p.start_at + timings.submitted
    if t < running_since:
        return Snapshot("SUBMITTED", 0, p.start_at)
    return Snapshot(
        "IN_PROGRESS", _percent(p, t - running_since, timings), p.start_at, has_image=True
    )


def _percent(p: Plan, elapsed: float, timings: Timings) -> int:
    run = max(p.finish_at - p.start_at - timings.submitted, 1e-9)
    step = timings.progress_every
    reached = math.floor(elapsed / step) * step + step
    return max(1, min(99, int(100 * reached / (run + step))))


def last_tick(t: float, *, origin: float, period: float) -> float:
    """The gateway poller's most recent tick at or before ``t``."""
    return origin + math.floor((t - origin) / period) * period


def gateway_at(
    p: Plan,
    t: float,
    timings: Timings,
    *,
    origin: float,
    inserted_at: float | None = None,
    lost_at: float | None = None,
) -> Snapshot:
    """A gateway row's view: the upstream view at its last poll, "" before the first one.

    ``inserted_at`` is when the row was made (the submission by default); from ``lost_at``
    on the upstream no longer returns the task, so the row keeps what it copied last.
    """
    if lost_at is not None:
        t = min(t, lost_at)
    tick = last_tick(t, origin=origin, period=timings.refresh)
    if tick <= (p.submitted_at if inserted_at is None else inserted_at):
        seen = Snapshot("", 0, refreshed=False)
    else:
        seen = upstream_at(p, tick, timings)
    if seen.status not in TERMINAL and t - p.submitted_at >= timings.gateway_timeout:
        failed_at = p.submitted_at + timings.gateway_timeout
        return Snapshot("FAILURE", 100, seen.start_at, failed_at, GATEWAY_TIMEOUT_REASON)
    if seen.status == "FAILURE":
        # new-api marks every finished task "100%", failures included.
        return attrs.evolve(seen, progress=100)
    return seen


def next_change(p: Plan, t: float, timings: Timings) -> float | None:
    """The first time after ``t`` when the upstream view changes, or None if never."""
    if p.cancelled_at is not None and t >= p.cancelled_at:
        return None
    if p.queued_at is None:
        return p.cancelled_at
    candidates: list[float] = [] if p.cancelled_at is None else [p.cancelled_at]
    if t < p.start_at:
        candidates.append(p.start_at)
    else:
        running_since = p.start_at + timings.submitted
        if t < running_since:
            candidates.append(running_since)
        elif t < p.finish_at:
            step = timings.progress_every
            candidates.append(running_since + (math.floor((t - running_since) / step) + 1) * step)
        candidates.append(p.finish_at)
    ahead = [c for c in candidates if t < c < math.inf]
    if not ahead:
        return None
    due = min(ahead)
    if p.stalled_at is not None and due > p.stalled_at and due != p.cancelled_at:
        return p.cancelled_at
    return due


_LEVELS = {"": 0, "NOT_START": 0, "MODAL": 0, "SUBMITTED": 1, "IN_PROGRESS": 2}


def rank(s: Snapshot) -> tuple[int, int]:
    """An order in which the upstream's notifications only ever go up."""
    if s.status in TERMINAL:
        return (3, 0)
    return (_LEVELS.get(s.status, 0), s.progress or 0)
