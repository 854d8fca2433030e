"""Benchmarks of onechat-async, each side by side with what users write today.

Each module measures one claim and exposes ``run(config) -> Result`` with ``FULL``, ``QUICK``
and ``SMOKE`` configurations; ``python -m benchmarks`` runs them all (see
``docs/benchmarks.md`` for the figures and how they were made).
"""

from __future__ import annotations

from types import ModuleType

from . import (
    bench_callbacks,
    bench_fanout,
    bench_journal,
    bench_latency,
    bench_memory,
    bench_requests,
    bench_scale,
    bench_slow_consumer,
    bench_tick_cpu,
    bench_track_cpu,
)

__all__ = ["BENCHMARKS"]

#: Every benchmark, by the short name ``python -m benchmarks NAME`` takes, in report order.
BENCHMARKS: dict[str, ModuleType] = {
    "requests": bench_requests,
    "tick_cpu": bench_tick_cpu,
    "fanout": bench_fanout,
    "memory": bench_memory,
    "latency": bench_latency,
    "track": bench_track_cpu,
    "scale": bench_scale,
    "slow_consumer": bench_slow_consumer,
    "callbacks": bench_callbacks,
    "journal": bench_journal,
}
