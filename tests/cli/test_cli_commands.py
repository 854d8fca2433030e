"""The remaining endpoints from the shell: image submits, buttons, modals, and the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from onechat_async.cli._app import cli
from tests.cli.conftest import ThreadedSimulator, json_lines

#: Enough of a PNG for the client's format check and the simulator's data-URL check.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def image(tmp_path: Path) -> str:
    path = tmp_path / "face.png"
    path.write_bytes(PNG)
    return str(path)


def _finished(sim: ThreadedSimulator, *args: str) -> dict[str, object]:
    result = sim.invoke("--json", *args, "--wait")
    assert result.exit_code == 0, result.stderr
    last = json_lines(result)[-1]
    assert last["ok"] is True
    task = last["task"]
    assert isinstance(task, dict)
    assert task["status"] == "SUCCESS"
    return task


def test_describe_blend_and_swap_face_take_image_files(sim: ThreadedSimulator, image: str) -> None:
    """describe, blend and swap-face read image files and finish with the right action."""
    described = _finished(sim, "describe", image)
    assert described["action"] == "DESCRIBE"
    assert described["final_prompt"]
    assert _finished(sim, "blend", image, image, "--dimensions", "portrait")["action"] == "BLEND"
    assert _finished(sim, "swap-face", image, image)["action"] == "SWAP_FACE"


def test_missing_image_file_is_bad_usage(sim: ThreadedSimulator, tmp_path: Path) -> None:
    """An image path that cannot be read exits 2 before anything is sent."""
    result = sim.invoke("describe", str(tmp_path / "nope.png"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: image")


def test_action_that_needs_a_modal_then_modal(sim: ThreadedSimulator) -> None:
    """A Custom Zoom button stops --wait at MODAL (exit 0), and modal --wait finishes it."""
    grid = _finished(sim, "imagine", "a zoomable cat")
    upscale = _finished(sim, "simple-change", str(grid["id"]), "U1")
    buttons = upscale["buttons"]
    assert isinstance(buttons, list)
    zoom = next(b["custom_id"] for b in buttons if "CustomZoom" in b["custom_id"])
    pressed = sim.invoke("--json", "action", str(upscale["id"]), zoom, "--wait")
    assert pressed.exit_code == 0, pressed.stderr
    last = json_lines(pressed)[-1]
    assert last["outcome"] == "NeedsModal"
    assert last["task"]["status"] == "MODAL"
    modal_id = last["task"]["id"]
    done = _finished(sim, "modal", modal_id, "--prompt", "a zoomed cat --zoom 2")
    assert done["id"] == modal_id


def test_plain_button_action_waits_to_the_end(sim: ThreadedSimulator) -> None:
    """Pressing an ordinary button with --wait follows the new task to SUCCESS."""
    grid = _finished(sim, "imagine", "a cat with buttons")
    buttons = grid["buttons"]
    assert isinstance(buttons, list)
    upsample = next(b["custom_id"] for b in buttons if b["label"] == "U3")
    assert _finished(sim, "action", str(grid["id"]), upsample)["action"] == "UPSCALE"


def test_demo_runs_in_process() -> None:
    """The demo prints its summary and exits 0 when run through click directly."""
    result = CliRunner().invoke(cli, ["demo", "--speed", "500"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "9 tasks in" in result.stdout
    assert result.stdout.count("Succeeded") == 8


def test_demo_json_summary_counts_requests() -> None:
    """With --json the demo ends with one result line that counts the requests it made."""
    result = CliRunner().invoke(cli, ["--json", "demo", "--speed", "500"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = json_lines(result)
    assert sum(1 for line in lines if line["type"] == "result") == 1
    summary = lines[-1]
    assert summary["requests"]["imagine"] == 1
    assert summary["requests"]["total"] >= 9
    assert summary["simulated_seconds"] > summary["real_seconds"]
