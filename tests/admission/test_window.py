"""The admission window's pure rule: additive increase, multiplicative decrease, once per epoch."""

from __future__ import annotations

import pytest

from onechat_async._admission import LEARNED_START, Window


def test_a_window_starts_open_at_its_maximum() -> None:
    """A new window allows max_in_flight tasks at epoch 0."""
    window = Window(13)
    assert (window.limit, window.size, window.epoch) == (13, 13.0, 0)


@pytest.mark.parametrize(
    ("size", "grown"),
    [(13.0, 13.0), (6.0, 6.0 + 1 / 6), (6.9, 6.9 + 1 / 6), (12.95, 13.0), (1.0, 2.0)],
)
def test_each_success_adds_one_over_the_limit_up_to_the_maximum(size: float, grown: float) -> None:
    """A success adds 1/limit, so a whole window of successes adds one, never past the maximum."""
    assert Window(13, size=size).grown().size == pytest.approx(grown)


@pytest.mark.parametrize(
    ("size", "decrease", "shrunk"),
    [(13.0, 0.5, 6.5), (13.0, 0.25, 3.25), (1.5, 0.5, 1.0), (1.0, 0.5, 1.0)],
)
def test_a_queue_full_refusal_multiplies_the_window_never_below_one(
    size: float, decrease: float, shrunk: float
) -> None:
    """A refusal multiplies the size by ``decrease``, and the limit never drops below 1."""
    window = Window(13, decrease=decrease, size=size).shrunk(0)
    assert (window.size, window.epoch) == (shrunk, 1)
    assert window.limit >= 1


def test_refusals_of_submits_admitted_before_a_decrease_do_not_shrink_it_again() -> None:
    """Only a refusal from the current epoch shrinks: a burst of them halves the window once."""
    window = Window(12).shrunk(0)
    assert window.shrunk(0) == window
    assert window.shrunk(1).size == 3.0


@pytest.mark.parametrize(("max_in_flight", "decrease"), [(0, 0.5), (3, 1.0), (3, 0.0)])
def test_a_window_refuses_settings_that_cannot_work(max_in_flight: int, decrease: float) -> None:
    """A window of no task, or one that never shrinks or drops to nothing, is refused."""
    with pytest.raises(ValueError, match="must be"):
        Window(max_in_flight, decrease=decrease)


def test_a_learned_window_starts_at_ten_and_has_no_ceiling() -> None:
    """Without max_in_flight a window starts at LEARNED_START and grows past any maximum."""
    window = Window(None)
    assert (window.limit, window.epoch) == (LEARNED_START, 0)
    for _ in range(200):
        window = window.grown()
    assert window.limit > 20
    assert window.shrunk(0).size == pytest.approx(window.size / 2)
