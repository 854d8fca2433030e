"""Run every benchmark and print its tables: ``python -m benchmarks [--quick] [names...]``.

``--quick`` runs smaller configurations, ``--smoke`` the smallest ones (seconds each; a check
of the harness, not a measurement); names (``requests``, ``tick_cpu``, ``fanout``, ``memory``,
``latency``, ``track``, ``scale``, ``slow_consumer``, ``callbacks``, ``journal``) pick some
benchmarks only. The output is Markdown, the form ``docs/benchmarks.md`` quotes.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence

import aiohttp

from . import BENCHMARKS
from ._report import render


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; the exit status is 0 even when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller configurations")
    size.add_argument("--smoke", action="store_true", help="the smallest configurations")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; pick from {', '.join(BENCHMARKS)}"
        )
    names = args.names or list(BENCHMARKS)
    started = time.perf_counter()
    preset = "SMOKE" if args.smoke else "QUICK" if args.quick else "FULL"
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    print(f"# Benchmarks: `{command}`\n")
    print(
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}\n"
    )
    missed = []
    for name in names:
        module = BENCHMARKS[name]
        began = time.perf_counter()
        result = module.run(getattr(module, preset))
        print(render(result))
        print(f"_({name}: {time.perf_counter() - began:.1f} s)_\n", flush=True)
        missed += [f"{result.name}: {t.name}" for t in result.targets if not t.met]
    print(f"Total: {time.perf_counter() - started:.0f} s.")
    if missed:
        print("Targets missed:\n" + "\n".join(f"- {m}" for m in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
