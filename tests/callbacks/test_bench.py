"""The callbacks benchmark: its counts add up, and callbacks win on virtual time and queries."""

from __future__ import annotations

from benchmarks import bench_callbacks


def test_callbacks_cut_latency_to_nothing_and_queries_down() -> None:
    """In virtual time a callback's event comes at its change, with fewer queries per task."""
    result = bench_callbacks.run(bench_callbacks.SMOKE)
    (table,) = result.tables
    rows = {row[0]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    off = rows["polling only, 5 tasks over 10 s"]
    on = rows["callbacks on, 5 tasks over 10 s"]
    assert isinstance(off["changes"], int)
    assert isinstance(on["changes"], int)
    assert 0 < off["changes"] <= on["changes"]
    assert on["median s"] == 0.0
    assert isinstance(off["median s"], float)
    assert off["median s"] > 1.0
    assert isinstance(on["queries per task"], float)
    assert isinstance(off["queries per task"], float)
    assert on["queries per task"] < off["queries per task"]
    assert result.notes[-1].endswith(": 0 (not counted)")
