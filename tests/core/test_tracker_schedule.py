"""The tracker's timetables pick exactly the tasks a scan of every task would pick."""

from __future__ import annotations

import heapq
import math
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from onechat_async._policy import PollPolicy
from onechat_async._task_state import alarm, expire
from onechat_async._tracker import Tracker

#: Small chunks so that top-ups happen; a stall and a deadline so that expire has work.
POLICY = PollPolicy(
    interval=5,
    fast_interval=3,
    queued_interval=8,
    batch_window=0.5,
    chunk_size=3,
    deadline=40,
    stall_after=12,
)

IDS = [str(1000 + i) for i in range(8)]
_STATUSES = ["SUBMITTED", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "SUCCESS", "MODAL"]


def scan_due(tracker: Tracker, now: float) -> tuple[set[str], list[tuple[float, str]]]:
    """The ids due() gave before the timetable, by scanning every entry (it marks nothing).

    Those due within the batch window in any order, then the top-up's candidates in order:
    (next_at, id) of the ``room`` due soonest, and of every one tied with the last of them.
    """
    policy = tracker.policy
    horizon = now + policy.batch_window
    if now < tracker._hold_until:
        return set(), []
    entries = tracker._entries
    due = [
        (entry.next_at, task_id)
        for task_id, entry in entries.items()
        if entry.next_at <= horizon and not entry.asking
    ]
    room = -len(due) % policy.chunk_size
    top_up: list[tuple[float, str]] = []
    if room and len(due) < len(entries):
        soon, recent = now + policy.interval, now - policy.fast_interval
        candidates = [
            (entry.next_at, task_id)
            for task_id, entry in entries.items()
            if horizon < entry.next_at <= soon
            and not entry.asking
            and (entry.polled_at is None or entry.polled_at <= recent)
            and entry.quiet_until <= now
        ]
        top_up = heapq.nsmallest(room, candidates)
        if top_up:
            # Tasks due at one time come in the order they were filed: any of them may be
            # the one that fills the last place.
            last = top_up[-1][0]
            top_up += [item for item in candidates if item[0] == last and item not in top_up]
    return {task_id for _, task_id in due}, top_up


def scan_expiring(tracker: Tracker, now: float) -> set[str]:
    """The ids expire() would have news for, by asking every entry."""
    entries = tracker._entries
    return {
        task_id
        for task_id, entry in entries.items()
        if expire(entry.state, now, tracker.policy, entry.task)[1]
    }


def earliest_true_wake(tracker: Tracker) -> float:
    """When the earliest task falls due (or the hold ends) or the first alarm rings, by a scan."""
    entries = tracker._entries.values()
    poll = min((e.next_at for e in entries if not e.asking), default=math.inf)
    poll = max(poll, tracker._hold_until)
    alarms = (alarm(e.state, tracker.policy) for e in entries)
    soonest_alarm = min((a for a in alarms if a is not None), default=math.inf)
    return min(poll, soonest_alarm)


def row(task_id: str, status: str, progress: int) -> dict[str, Any]:
    return {"id": task_id, "status": status, "progress": f"{progress}%"}


#: Steps that land exactly on the policy's edges (batch window, fast interval, interval).
_TIMES = st.sampled_from([0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 4.5, 5.0, 5.5, 8.0, 12.0])

_OP = st.one_of(
    st.tuples(st.just("watch"), st.sampled_from(IDS)),
    st.tuples(st.just("forget"), st.sampled_from(IDS)),
    st.tuples(st.just("due"), st.just("")),
    st.tuples(st.just("answer"), st.integers(0, 2**16)),
    st.tuples(st.just("fail"), st.floats(0, 10) | _TIMES),
    st.tuples(st.just("hold"), st.floats(0, 6) | _TIMES),
    st.tuples(st.just("expire"), st.just("")),
    st.tuples(st.just("wait"), st.floats(0, 9) | _TIMES),
)


def _answer(tracker: Tracker, asked: list[str], seed: int, now: float) -> None:
    """Answer what was asked: some rows moved, some missing (confirmed alone or lost)."""
    rows = []
    for k, task_id in enumerate(asked):
        pick = (seed >> (k % 16)) & 7
        if pick >= 6:
            continue
        rows.append(row(task_id, _STATUSES[pick % len(_STATUSES)], (seed % 90) + pick))
    _, confirm = tracker.on_listed(asked, rows, now)
    for k, task_id in enumerate(confirm):
        if (seed + k) % 2:
            tracker.on_unknown(task_id)
        else:
            tracker.on_fetched(task_id, row(task_id, "IN_PROGRESS", seed % 100), now)


@settings(max_examples=500, deadline=None)
@given(st.lists(_OP, max_size=60))
# A task confirmed alone moves to a faster cadence while it is not in flight.
@example([("watch", IDS[0]), ("wait", 0.5), ("due", ""), ("answer", 6), ("wait", 5.5), ("due", "")])
# A task asked about exactly fast_interval ago may top up; one asked later may not.
@example(
    [
        ("watch", IDS[0]),
        ("wait", 0.5),
        ("due", ""),
        ("answer", 1),
        ("wait", 2.5),
        ("watch", IDS[1]),
        ("wait", 0.5),
        ("due", ""),
        ("answer", 1),
        ("wait", 0.5),
        ("watch", IDS[2]),
        ("wait", 0.5),
        ("due", ""),
    ]
)
def test_due_and_expire_match_a_scan_of_every_task(ops: list[tuple[str, Any]]) -> None:
    """After any run of watches, answers, failures and forgets, due() and expire() match a scan."""
    tracker = Tracker(POLICY)
    now = 0.0
    asked: list[str] = []
    for op, arg in ops:
        if op == "watch":
            tracker.watch(arg, now)
        elif op == "forget":
            tracker.forget(arg)
        elif op == "due":
            expected_due, candidates = scan_due(tracker, now)
            got = tracker.due(now)
            assert len(got) == len(set(got))
            assert set(got[: len(expected_due)]) == expected_due
            # The top-up takes the soonest candidates, in time order; ties in any order.
            times = {task_id: when for when, task_id in candidates}
            top_up = got[len(expected_due) :]
            assert all(task_id in times for task_id in top_up)
            assert [times[t] for t in top_up] == sorted(when for when, _ in candidates)[
                : len(top_up)
            ]
            room = -len(expected_due) % POLICY.chunk_size
            if len(expected_due) < len(tracker):
                assert len(top_up) == min(room, len(candidates))
            asked.extend(got)
        elif op == "answer" and asked:
            _answer(tracker, asked, arg, now)
            asked = []
        elif op == "fail" and asked:
            tracker.on_failed(asked, now + arg)
            asked = []
        elif op == "hold":
            tracker.hold(now + arg)
        elif op == "expire":
            expected_ids = scan_expiring(tracker, now)
            assert {event.task_id for event in tracker.expire(now)} == expected_ids
        elif op == "wait":
            now += arg
        # The wake-up is a lower bound: nothing can be due before it.
        wake = tracker.next_wake()
        assert (math.inf if wake is None else wake) <= earliest_true_wake(tracker) + 1e-9
