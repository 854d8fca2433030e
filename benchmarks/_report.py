"""What every benchmark hands back: tables of figures, and targets met or missed.

Results are plain values so that the smoke test can check their shape and ``__main__`` can
print them as Markdown, the form ``docs/benchmarks.md`` quotes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import attrs

__all__ = ["Result", "Table", "Target", "fmt", "median", "render"]

Cell = str | int | float


@attrs.frozen
class Table:
    """One table: a title, column names and rows of cells (one cell per column)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def __attrs_post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"{self.title}: row {row!r} does not fit {self.columns!r}")


@attrs.frozen
class Target:
    """A goal from the issue and the figure measured against it."""

    name: str
    value: float
    goal: str
    met: bool


@attrs.frozen
class Result:
    """Everything one benchmark measured."""

    name: str
    tables: tuple[Table, ...]
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()


def median(values: Sequence[float]) -> float:
    """The median; benchmarks report it rather than a single, luck-prone run."""
    if not values:
        raise ValueError("no values to take the median of")
    return float(statistics.median(values))


def fmt(value: float, digits: int = 3) -> str:
    """A figure rounded for reading: a few significant digits, thousands separated."""
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _cell(value: Cell) -> str:
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, int):
        return f"{value:,}"
    return value


def render(result: Result) -> str:
    """The result as Markdown: a heading, its tables, its targets and its notes."""
    lines = [f"## {result.name}", ""]
    for table in result.tables:
        lines += [f"**{table.title}**", ""]
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append("|" + "---|" * len(table.columns))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
        lines.append("")
    for target in result.targets:
        verdict = "met" if target.met else "MISSED"
        lines.append(f"- target {target.name}: {fmt(target.value)} ({target.goal}): **{verdict}**")
    if result.targets:
        lines.append("")
    lines += [f"- {note}" for note in result.notes]
    if result.notes:
        lines.append("")
    return "\n".join(lines)
