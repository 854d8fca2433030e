"""The tracker's timetable in _timetable: ids filed by time, earliest first, lazily pruned."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from onechat_async._timetable import Timetable


def _drain(table: Timetable) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    while table.first() != math.inf:
        when, ids = table.pop_first()
        out.extend((when, task_id) for task_id in ids)
    return out


def test_an_empty_timetable_has_nothing_first() -> None:
    """Nothing filed: first() and earliest() are inf, and the size is 0."""
    table = Timetable()
    assert (table.first(), table.earliest(lambda when, task_id: True), len(table)) == (
        math.inf,
        math.inf,
        0,
    )


def test_ids_come_out_by_time_then_in_the_order_filed() -> None:
    """One pop per distinct time, its ids in the order they were put in."""
    table = Timetable()
    for when, task_id in [(5.0, "b"), (1.0, "z"), (5.0, "a"), (3.0, "y"), (1.0, "x")]:
        table.put(when, task_id)
    assert len(table) == 5
    assert table.pop_first() == (1.0, ["z", "x"])
    assert table.pop_first() == (3.0, ["y"])
    assert table.pop_first() == (5.0, ["b", "a"])
    assert len(table) == 0


def test_put_all_joins_a_time_already_there_and_ignores_an_empty_list() -> None:
    """put_all adds to an existing time's ids, makes a new time, and skips an empty list."""
    table = Timetable()
    table.put(2.0, "a")
    table.put_all(2.0, ["b", "c"])
    table.put_all(1.0, ["d"])
    table.put_all(0.5, [])
    assert (table.first(), len(table)) == (1.0, 4)
    assert _drain(table) == [(1.0, "d"), (2.0, "a"), (2.0, "b"), (2.0, "c")]


def test_earliest_drops_the_dead_ids_it_meets_and_stops_at_the_first_live_one() -> None:
    """Dead ids before the first live one are removed for good; later ones stay."""
    table = Timetable()
    for task_id in ["dead1", "dead2", "live", "dead3"]:
        table.put(1.0, task_id)
    table.put(2.0, "later")
    tested: list[str] = []

    def live(when: float, task_id: str) -> bool:
        tested.append(task_id)
        return not task_id.startswith("dead")

    assert table.earliest(live) == 1.0
    assert tested == ["dead1", "dead2", "live"]
    assert len(table) == 3
    tested.clear()
    assert table.earliest(live) == 1.0
    assert tested == ["live"]  # the dead were not tested twice


def test_earliest_skips_a_time_whose_ids_are_all_dead() -> None:
    """A time with only dead ids is taken out; the next time with a live one is the answer."""
    table = Timetable()
    table.put(1.0, "dead")
    table.put(4.0, "live")
    assert table.earliest(lambda when, task_id: task_id == "live") == 4.0
    assert (table.first(), len(table)) == (4.0, 1)
    assert table.earliest(lambda when, task_id: False) == math.inf
    assert len(table) == 0


def test_rebuild_keeps_only_what_it_is_given() -> None:
    """A rebuilt timetable holds exactly the items passed, by time."""
    table = Timetable()
    for i in range(10):
        table.put(float(i % 3), f"old{i}")
    table.rebuild([(2.0, "b"), (1.0, "a")])
    assert len(table) == 2
    assert _drain(table) == [(1.0, "a"), (2.0, "b")]


@given(
    st.lists(
        st.tuples(st.integers(0, 20).map(float), st.sampled_from("abcdef")),
        max_size=60,
    )
)
def test_it_gives_what_a_sorted_list_would(items: list[tuple[float, str]]) -> None:
    """Whatever is filed comes out sorted by time, equal times in filing order, all of it."""
    table = Timetable()
    for when, task_id in items:
        table.put(when, task_id)
    assert len(table) == len(items)
    assert _drain(table) == sorted(items, key=lambda item: item[0])
