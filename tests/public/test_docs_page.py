"""docs/helpers.md runs as written against the simulator."""

from __future__ import annotations

import pytest

from onechat_async.testing import ScaledClock
from tests.docs_examples import run_page


def test_the_helpers_page_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Every python block of the helpers page runs in order and prints what it promises."""
    run_page("docs/helpers.md", clock=ScaledClock(100_000))
    out = capsys.readouterr().out
    assert "saved " in out
    assert "round trip ok SUCCESS" in out
    assert "U1 done" in out
    assert "V2 done" in out
