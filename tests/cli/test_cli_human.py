"""Help texts, human output, the demo, the missing-extra message and download safety."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from onechat_async import InvalidRequestError
from onechat_async._secrets import register_secret
from onechat_async.cli import main
from onechat_async.cli._app import cli
from onechat_async.cli._exits import ExitCode, exit_code_for, one_line
from onechat_async.cli._logs import cli_logging
from onechat_async.cli._output import RedactingStream
from tests.cli.conftest import FAILING, ThreadedSimulator

COMMANDS = sorted(cli.commands)


def test_every_endpoint_has_a_command() -> None:
    """The group offers a command per endpoint plus watch, fan-out, demo and simulate."""
    assert set(COMMANDS) == {
        "imagine",
        "simple-change",
        "change",
        "action",
        "modal",
        "blend",
        "describe",
        "shorten",
        "swap-face",
        "video",
        "edits",
        "fetch",
        "list",
        "seed",
        "upload-images",
        "cancel",
        "watch",
        "fan-out",
        "demo",
        "simulate",
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command(command: str) -> None:
    """Every command's --help exits 0 and shows its usage line."""
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: cli {command}")


def test_top_level_help_lists_exit_codes() -> None:
    """The group's help names the exit codes scripts rely on."""
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "3 task failed" in result.stdout
    assert "5 authentication problem" in result.stdout


def test_human_wait_prints_a_task_summary(sim: ThreadedSimulator) -> None:
    """Without --json, --wait ends with a summary of the finished task on stdout."""
    result = sim.invoke("imagine", "a human cat", "--wait")
    assert result.exit_code == 0, result.stderr
    assert "SUCCESS" in result.stdout
    assert "/mj/image/" in result.stdout


def test_human_failure_is_one_error_line(sim: ThreadedSimulator) -> None:
    """Without --json a failed task prints one error line on stderr and exits 3."""
    result = sim.invoke("imagine", f"{FAILING} human", "--wait")
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "failed" in errors[0]


def test_human_fan_out_and_watch_tables(sim: ThreadedSimulator) -> None:
    """fan-out and watch draw one table row per child or task."""
    grid = sim.invoke("--json", "imagine", "a grid", "--wait")
    parent = json.loads(grid.stdout.splitlines()[-1])["task"]["id"]
    fanned = sim.invoke("fan-out", parent, "--ops", "U1,U3")
    assert fanned.exit_code == 0, fanned.stderr
    assert fanned.stdout.count("Succeeded") == 2
    watched = sim.invoke("watch", parent)
    assert watched.exit_code == 0, watched.stderr
    assert parent in watched.stdout


def test_demo_completes() -> None:
    """`onechat-mj demo` finishes quickly with every task done, as a new user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "onechat_async.cli", "--json", "demo", "--speed", "200"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["command"] == "demo"
    assert last["ok"] is True
    assert last["grid"]["status"] == "SUCCESS"
    assert [row["op"] for row in last["children"]] == [
        "U1",
        "U2",
        "U3",
        "U4",
        "V1",
        "V2",
        "V3",
        "V4",
    ]
    assert {row["outcome"] for row in last["children"]} == {"Succeeded"}
    assert last["tasks"] == 9


def test_missing_extra_gives_a_clear_message() -> None:
    """Without click installed, main() explains how to install the cli extra."""
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from onechat_async.cli import main\n"
        "sys.exit(main(['--help']))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 1
    assert "onechat-async[cli]" in done.stderr
    assert "Traceback" not in done.stderr


def test_main_returns_the_exit_code() -> None:
    """main() returns click's code instead of exiting, for the console script to use."""
    assert main(["--version"]) == 0
    assert main(["change", "1", "ZOOM"]) == 2


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TimeoutError(), ExitCode.TIMEOUT),
        (InvalidRequestError("bad"), ExitCode.USAGE),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (RuntimeError("boom"), ExitCode.ERROR),
    ],
)
def test_exit_code_for(error: BaseException, code: ExitCode) -> None:
    """Each kind of error maps to its documented exit code."""
    assert exit_code_for(error) == code


def test_one_line_masks_the_secret() -> None:
    """A message that somehow contains the key shows it masked, on one line."""
    text = one_line(RuntimeError("echoed sk-abc\nback"), secret="sk-abc")
    assert text == "RuntimeError: echoed <redacted> back"


def test_click_usage_errors_use_exit_code_2() -> None:
    """The usage code of click is the documented USAGE code."""
    assert click.UsageError("x").exit_code == ExitCode.USAGE


def test_redacting_stream_hides_registered_keys() -> None:
    """The console's stream redacts registered keys and answers like its target."""
    register_secret("sk-stream-SECRET-0123456789")
    target = io.StringIO()
    stream = RedactingStream(target)
    text = "key sk-stream-SECRET-0123456789"
    assert stream.write(text) == len(text)
    stream.flush()
    assert target.getvalue() == "key <redacted>"
    assert not stream.isatty()
    assert stream.encoding == "utf-8"
    with pytest.raises(io.UnsupportedOperation):
        stream.fileno()


def _log_line(record: logging.LogRecord) -> str:
    out = io.StringIO()
    console = Console(file=out, width=300)
    with cli_logging(console, "sk-log-SECRET-0123456789"):
        logging.getLogger(record.name).handle(record)
    return out.getvalue()


def test_log_records_become_one_redacted_line() -> None:
    """A library record with a traceback prints as one line naming the error, key hidden."""
    try:
        raise ValueError("bad sk-log-SECRET-0123456789\nsecond line")  # noqa: TRY301
    except ValueError:
        info = sys.exc_info()
    record = logging.LogRecord(
        "onechat_async.poller", logging.ERROR, __file__, 1, "crashed", None, info
    )
    text = _log_line(record)
    assert (
        text == "error from onechat_async.poller: crashed: ValueError: bad <redacted> second line\n"
    )


def test_log_records_without_exception_object_name_the_error() -> None:
    """A record whose traceback survives only as text shows the error at its end."""
    record = logging.LogRecord(
        "onechat_async", logging.WARNING, __file__, 1, "slow [bold]%s", ("x",), None
    )
    record.exc_text = (
        "Traceback (most recent call last):\n  File x\n    y\nKeyError: 'missing-field'\nmore"
    )
    assert (
        _log_line(record)
        == "warning from onechat_async: slow [bold]x: KeyError: 'missing-field' more\n"
    )
