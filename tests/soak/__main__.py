"""``python -m tests.soak --tasks 1000``: the long soak, with its summary and violations."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .harness import SoakConfig, run


def main(argv: list[str] | None = None) -> int:
    """Run the soak; exit status 1 when any rule was broken."""
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000, help="jobs to run (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--concurrency", type=int, default=SoakConfig().concurrency)
    parser.add_argument("--speed", type=float, default=SoakConfig().speed)
    parser.add_argument("--examples", type=int, default=10, help="violations shown per rule")
    args = parser.parse_args(argv)
    config = SoakConfig(
        tasks=args.tasks, seed=args.seed, concurrency=args.concurrency, speed=args.speed
    )
    report = asyncio.run(run(config))
    sys.stdout.write(report.summary() + "\n")
    if report.violations:
        from .ledger import group

        sys.stdout.write(group(report.violations, examples=args.examples) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
