"""The benchmarks' own logic: the batched loop's comparison, the farm's schedule, the recorder."""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import pytest

from benchmarks._bodies import make_ids
from benchmarks._farm import Schedule, index_of
from benchmarks._harness import Live, absorb
from benchmarks._realtime import GcProbe, Recorder, process_cpu, state_of_raw


def raw(task_id: str, status: str, progress: str) -> dict[str, Any]:
    return {"id": task_id, "status": status, "progress": progress}


@pytest.mark.parametrize(
    ("before", "answer", "news", "still_live"),
    [
        (None, raw("1", "IN_PROGRESS", "10%"), True, True),
        (("IN_PROGRESS", "10%"), raw("1", "IN_PROGRESS", "10%"), False, True),
        (("IN_PROGRESS", "10%"), raw("1", "IN_PROGRESS", "20%"), True, True),
        (("IN_PROGRESS", "10%"), raw("1", "SUCCESS", "100%"), True, False),
        (("IN_PROGRESS", "10%"), raw("2", "IN_PROGRESS", "20%"), False, True),
    ],
)
def test_batched_loop_reports_changes_and_drops_ended_tasks(
    before: tuple[object, object] | None, answer: dict[str, Any], news: bool, still_live: bool
) -> None:
    """A task is news when its (status, progress) moved; an ended one is followed no more."""
    live: Live = {"1": before}
    assert absorb(live, [answer]) == ([answer] if news else [])
    assert ("1" in live) is still_live


@pytest.mark.parametrize("steps", [0, 1, 4, 5])
def test_schedule_states_round_trip(steps: int) -> None:
    """Each state is entered at its change time, and a task object shows which state it is."""
    s = Schedule(tasks=50, origin=100.0, step=3.0, steps=steps)
    for i in range(s.tasks):
        assert s.state(i, s.origin - 1) == 0
        for k in range(1, (steps or 6) + 1):
            assert s.state(i, s.changed_at(i, k) + 1e-6) == k
            assert s.state(i, s.changed_at(i, k) - 1e-6) == k - 1
            wire = {"status": s.status(k), "progress": f"{s.progress(k)}%"}
            assert state_of_raw(s, wire) == k


def test_ids_map_back_to_their_index() -> None:
    """The farm finds a task's index from its id alone."""
    assert [index_of(i) for i in make_ids(3_000)] == list(range(3_000))


def test_recorder_counts_skipped_and_unlearnt_changes() -> None:
    """A change skipped over is learnt with the next one; changes never learnt are counted."""
    s = Schedule(tasks=2, origin=5.0, step=10.0)
    rec = Recorder(s, since=0.0, until=100.0, start=0.0)
    # Task 0 is first seen in state 2: both of its changes are learnt at that moment.
    seen_at = s.changed_at(0, 2) + 1.0
    rec.saw(0, 2, seen_at)
    assert rec.learnt == 2
    rec.finish(s.changed_at(0, 2) + 1.0)
    # Task 1 was never seen: its changes up to then are counted as never learnt.
    assert rec.censored == s.state(1, seen_at)
    assert rec.censored > 0
    # The quickest was learnt 1 s after it happened; the slowest were never learnt.
    assert rec.quantile(0.01) == pytest.approx(1.0, abs=0.01)
    assert rec.quantile(1.0) == float("inf")


def test_process_cpu_reads_a_process_s_own_cpu_seconds() -> None:
    """process_cpu grows with the CPU a process spends and agrees with its own count."""
    before, own = process_cpu(os.getpid()), time.process_time()
    while time.process_time() - own < 0.05:
        pass
    spent = process_cpu(os.getpid()) - before
    assert 0.0 < spent < 5.0


def test_the_gc_probe_counts_full_passes_only() -> None:
    """A collection of the oldest generation counts, a younger one does not; stop detaches."""
    probe = GcProbe()
    probe.start()
    try:
        gc.collect(1)
        assert probe.full == 0
        gc.collect()
        assert probe.full == 1
        assert probe.worst > 0.0
    finally:
        probe.stop()
    gc.collect()
    assert probe.full == 1


def test_track_cpu_options_pick_sizes_repeats_sides_and_skip_the_tick() -> None:
    """bench_track_cpu's --sizes, --repeats, --sides and --no-tick change the preset."""
    from benchmarks.bench_track_cpu import FULL, _config

    config = _config(["--sizes", "1000,10000", "--repeats", "3", "--sides", "ours", "--no-tick"])
    assert (config.sizes, config.repeats, config.sides, config.tick_window) == (
        (1_000, 10_000),
        3,
        ("ours",),
        0.0,
    )
    assert _config([]) == FULL
    with pytest.raises(SystemExit, match="unknown sides"):
        _config(["--sides", "ours,loop"])
