"""Each benchmark runs in its smallest configuration and hands back well-formed results.

No timing or ratio is asserted here: figures depend on the machine. Counts are checked, since
a benchmark whose counts do not add up measures nothing.
"""

from __future__ import annotations

import math
from types import ModuleType

import attrs
import pytest

from benchmarks import (
    BENCHMARKS,
    bench_fanout,
    bench_latency,
    bench_requests,
    bench_slow_consumer,
    bench_tick_cpu,
    bench_track_cpu,
)
from benchmarks.__main__ import main
from benchmarks._report import Result, Table, render

SMOKE_RESULTS: dict[str, Result] = {}


def smoke(name: str) -> Result:
    """The SMOKE result of one benchmark, run once per session."""
    if name not in SMOKE_RESULTS:
        module: ModuleType = BENCHMARKS[name]
        SMOKE_RESULTS[name] = module.run(module.SMOKE)
    return SMOKE_RESULTS[name]


def column(table: Table, name: str) -> list[object]:
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_result_is_well_formed(name: str) -> None:
    """Every benchmark returns named tables with rows, finite figures and rendered Markdown."""
    result = smoke(name)
    assert result.name
    assert result.tables
    for table in result.tables:
        assert table.rows
        for row in table.rows:
            assert len(row) == len(table.columns)
            numbers = [cell for cell in row if isinstance(cell, int | float)]
            assert all(math.isfinite(n) and n >= 0 for n in numbers)
    for target in result.targets:
        assert math.isfinite(target.value)
    text = render(result)
    assert text.startswith(f"## {result.name}")
    assert all(table.title in text for table in result.tables)


def test_request_counts_are_consistent() -> None:
    """The three followers reach the same outcomes and each spends at least one query."""
    (table,) = smoke("requests").tables
    assert column(table, "N tasks") == list(bench_requests.SMOKE.sizes)
    assert all(str(cell).startswith("yes") for cell in column(table, "same outcomes"))
    for side in ("ours", "per-task loop", "batched loop"):
        assert all(float(str(n)) > 0 for n in column(table, side))


def test_tick_events_match_the_changed_share() -> None:
    """A tick yields one progress event per task that moved, and none for the others."""
    (table,) = smoke("tick_cpu").tables
    (share,) = bench_tick_cpu.SMOKE.changed
    assert column(table, "events") == [round(bench_tick_cpu.SMOKE.tasks * share)]


def test_every_submit_is_accepted() -> None:
    """Each side of the fan-out gets a task id for every submit."""
    (table,) = smoke("fanout").tables
    accepted = column(table, "accepted")
    assert accepted == [bench_fanout.SMOKE.submits] * len(accepted)


def test_memory_is_counted_per_task() -> None:
    """Tracking retains some memory per task, and a tick needs some more while it runs."""
    table = smoke("memory").tables[0]
    first, steady, peak = (float(str(n)) for n in column(table, "retained bytes per task"))
    assert first > 0
    assert steady > 0
    assert peak > 0


def test_latency_sees_changes_on_every_side() -> None:
    """Every follower learns of changes, and at least one terminal one per task."""
    (table,) = smoke("latency").tables
    changes = column(table, "changes")
    assert len(changes) == 3
    assert all(int(str(n)) >= bench_latency.SMOKE.tasks for n in changes)


def test_every_follower_sees_every_task_end() -> None:
    """Following to the end over HTTP, each of the three followers sees every task succeed."""
    to_the_end, tick = smoke("track").tables
    (n,) = bench_track_cpu.SMOKE.sizes
    assert column(to_the_end, "ended") == [f"{n} of {n}"] * 3
    assert all(float(str(x)) > 0 for x in column(to_the_end, "query requests"))
    assert all(float(str(x)) > 0 for x in column(tick, "events per tick"))


def test_scale_counts_the_changes_it_measures() -> None:
    """The scale run sees every task at least once and counts changes made in its window."""
    (table,) = smoke("scale").tables
    ((n, seen, events, counted, *_),) = table.rows
    assert seen == n
    assert int(str(events)) >= int(str(n))
    assert int(str(counted)) > 0


def test_slow_consumer_is_sampled_over_time() -> None:
    """The slow consumer is sampled as often as configured and reads events as time passes."""
    (table,) = smoke("slow_consumer").tables
    reads = [int(str(r)) for r in column(table, "events read")[1:]]
    assert len(reads) == bench_slow_consumer.SMOKE.samples
    assert reads == sorted(reads)
    assert reads[-1] > 0


def test_main_runs_a_chosen_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks NAME`` prints that benchmark's tables and a total."""
    assert main(["--smoke", "tick_cpu"]) == 0
    out = capsys.readouterr().out
    assert "## 2. Poll-tick CPU" in out
    assert "Total:" in out


def test_main_refuses_unknown_names() -> None:
    """An unknown benchmark name is a usage error."""
    with pytest.raises(SystemExit):
        main(["no-such-bench"])


def test_track_races_only_the_sides_asked_for_and_skips_the_tick() -> None:
    """With two of ours and no tick, part one races them and the batched loop, nobody else."""
    config = attrs.evolve(bench_track_cpu.SMOKE, sides=("ours", "ours-cadence"), tick_window=0.0)
    result = bench_track_cpu.run(config)
    (table,) = result.tables
    (n,) = config.sizes
    assert column(table, "follower") == [
        "ours (track_many)",
        "ours, refresh_interval=None",
        "batched loop (list-by-condition)",
    ]
    assert column(table, "ended") == [f"{n} of {n}"] * 3
    assert [t.name for t in result.targets] == [
        f"client CPU ours / batched loop, HTTP included, N = {n:,}"
    ]
