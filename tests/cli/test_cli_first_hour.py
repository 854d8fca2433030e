"""A user's first hour with the CLI (issue 13): what it says, where, and in which words."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest
from rich.console import Console

from onechat_async import (
    APIConnectionError,
    APITimeoutError,
    BannedPromptError,
    OneChatError,
    SubmitOutcomeUnknownError,
    TaskNotFoundError,
)
from onechat_async.cli._app import cli
from onechat_async.cli._args import hoist
from onechat_async.cli._english import english, explain
from onechat_async.cli._exits import explained
from onechat_async.cli._network import Reachability, host_of, proxy_for
from onechat_async.cli._watch import watch_table
from tests.cli.conftest import API_KEY, BANNED, ThreadedSimulator, json_lines

UNKNOWN = "1748339029401828"
#: Nothing listens on the discard port of the loopback interface.
DEAD = "http://127.0.0.1:9"


def _submitted(sim: ThreadedSimulator, prompt: str) -> str:
    """The id of a freshly submitted imagine task."""
    result = sim.invoke("--json", "imagine", prompt)
    assert result.exit_code == 0, result.stderr
    return str(json_lines(result)[-1]["submit"]["task_id"])


def _finished(sim: ThreadedSimulator, prompt: str) -> dict[str, object]:
    """The JSON of a finished imagine task."""
    result = sim.invoke("--json", "imagine", prompt, "--wait")
    assert result.exit_code == 0, result.stderr
    task = json_lines(result)[-1]["task"]
    assert isinstance(task, dict)
    return task


# -- global options before or after the command --------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["imagine", "x", "--json"], ["--json", "imagine", "x"]),
        (["--json", "imagine", "x"], ["--json", "imagine", "x"]),
        (["imagine", "x", "--timeout", "5"], ["--timeout", "5", "imagine", "x"]),
        (["imagine", "x", "--timeout=5"], ["--timeout=5", "imagine", "x"]),
        (
            ["--mode", "fast", "fetch", "1", "--base-url", "http://h"],
            ["--mode", "fast", "--base-url", "http://h", "fetch", "1"],
        ),
        # The value of the command's own option is never taken for a global option.
        (["imagine", "x", "--state", "--json"], ["imagine", "x", "--state", "--json"]),
        # After "--" everything is an argument.
        (["imagine", "--", "--json"], ["imagine", "--", "--json"]),
        # Help after a command is the command's help.
        (["imagine", "--help"], ["imagine", "--help"]),
        (["no-such-command", "--json"], ["no-such-command", "--json"]),
        ([], []),
    ],
)
def test_hoist_moves_global_options_in_front(argv: list[str], expected: list[str]) -> None:
    """Global options after the command move before it; command options and `--` stay."""
    ctx = click.Context(cli)
    assert isinstance(cli, click.Group)
    assert hoist(cli, ctx, argv) == expected


def test_global_options_after_the_command(sim: ThreadedSimulator) -> None:
    """`imagine "x" --json --wait` is the same as `--json imagine "x" --wait`."""
    result = sim.invoke("imagine", "options after", "--wait", "--json", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
    assert json_lines(result)[-1]["outcome"] == "Succeeded"


def test_a_command_option_value_that_looks_global_stays_a_value(sim: ThreadedSimulator) -> None:
    """`--state --json` tags the task "--json" and leaves the output human."""
    result = sim.invoke("imagine", "tagged", "--state", "--json", "--wait")
    assert result.exit_code == 0, result.stderr
    assert "state" not in result.stdout  # the human summary shows no state row
    assert not result.stdout.startswith("{")


# -- English beside the server's words -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("无效的令牌", "无效的令牌 (invalid token: the API key is wrong)"),
        ("未提供令牌", "未提供令牌 (no API key was sent)"),
        ("可能包含敏感词", "可能包含敏感词 (the prompt may contain a banned word)"),
        (
            "上游任务超时（超过1小时）",
            "上游任务超时（超过1小时） (the upstream task timed out (over an hour))",
        ),
        ("任务超时", "任务超时 (the task timed out)"),
        ("prompt不能为空", "prompt不能为空 (prompt must not be empty)"),
        ("index参数错误", "index参数错误 (invalid index)"),
        ("排队中，前面还有3个任务", "排队中，前面还有3个任务 (queued, 3 tasks ahead)"),
        ("task_no_found (status=400)", "task_no_found (task not found) (status=400)"),
        ("plain English", "plain English"),
    ],
)
def test_explain_puts_english_after_known_phrases(text: str, shown: str) -> None:
    """Each known server phrase is followed by its English; other text is left alone."""
    assert explain(text) == shown


def test_english_lists_every_phrase_in_order() -> None:
    """english() names each known phrase of a message, in the order they appear."""
    assert english("提交失败 then 任务超时") == ["submit failed", "the task timed out"]
    assert english("nothing known") == []


def test_wrong_key_is_explained_in_english(sim: ThreadedSimulator) -> None:
    """A refused key shows the gateway's 无效的令牌 with "invalid token" beside it."""
    result = sim.invoke("--json", "fetch", UNKNOWN, key="sk-wrong-key-000000")
    assert result.exit_code == 5
    assert "无效的令牌 (invalid token" in result.stderr
    (line,) = json_lines(result)
    assert line["message_en"] == "invalid token: the API key is wrong"


def test_banned_prompt_shows_the_banned_word(sim: ThreadedSimulator) -> None:
    """A code 24 refusal names the banned word, in the error line and the JSON."""
    result = sim.invoke("--json", "imagine", f"a {BANNED} cat")
    assert result.exit_code == 1
    assert f"banned word: {BANNED!r}" in result.stderr
    assert "(the prompt may contain a banned word)" in result.stderr
    (line,) = json_lines(result)
    assert line["banned_word"] == BANNED


# -- the host in connect errors, and a server that stops answering -------------------------


def test_connect_error_names_the_host(sim: ThreadedSimulator) -> None:
    """A refused connection says which host:port could not be reached."""
    result = sim.invoke("--base-url", DEAD, "fetch", UNKNOWN)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot connect")
    assert "127.0.0.1:9" in line


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            TaskNotFoundError("task_no_found", task_id="1"),
            "task 1 not found: task_no_found (task not found) (task_id='1')",
        ),
        (
            BannedPromptError("可能包含敏感词", banned_word="nsfw"),
            "可能包含敏感词 (the prompt may contain a banned word); banned word: 'nsfw'",
        ),
        (BannedPromptError("banned"), "banned"),
        (APITimeoutError("no answer within 30 s"), "no answer within 30 s [server h:1]"),
        (
            SubmitOutcomeUnknownError("lost", reason="connection_lost"),
            "lost [server h:1]",
        ),
        (SubmitOutcomeUnknownError("no id", reason="no_task_id"), "no id"),
        (APIConnectionError("cannot reach h:1 today"), "cannot reach h:1 today"),
        (OneChatError("无效的令牌"), "无效的令牌 (invalid token: the API key is wrong)"),
    ],
)
def test_explained_error_lines(error: OneChatError, line: str) -> None:
    """The error line adds English, the banned word, "not found" and the unreachable host."""
    assert explained(error, server="http://h:1") == line


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8787", "127.0.0.1:8787"),
        ("https://gpts.onechat.fun", "gpts.onechat.fun:443"),
        ("http://example.test/api", "example.test:80"),
        ("http://[::1]:81", "[::1]:81"),
        ("http://h:notaport", "h:80"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    """host_of spells out the port, the scheme's default when the URL has none."""
    assert host_of(url) == host


def test_watch_warns_while_the_server_is_unreachable(sim: ThreadedSimulator) -> None:
    """Watch against a dead server warns at once, naming the host, then times out resumably."""
    result = sim.invoke("--base-url", DEAD, "--timeout", "1", "watch", UNKNOWN)
    assert result.exit_code == 4
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings
    assert warnings[0].startswith("warning: cannot reach 127.0.0.1:9")
    assert f"resume with: onechat-mj watch {UNKNOWN}" in result.stderr


def test_reachability_reports_each_change_once() -> None:
    """The watcher calls back when the server goes down and when it answers again, not more."""
    now = [100.0]
    changes: list[bool] = []
    reach = Reachability("h:1", on_change=lambda r: changes.append(r.down), clock=lambda: now[0])
    reach.answered()
    reach.failed(APIConnectionError("cannot connect"))
    now[0] = 112.0
    reach.failed(APIConnectionError("cannot connect again"))
    assert reach.warning() == (
        "cannot reach h:1 for 12 s (cannot connect again); still trying until --timeout"
    )
    reach.answered()
    reach.answered()
    assert changes == [True, False]
    assert reach.seconds_down() == 0.0


def test_watch_table_shows_the_warning() -> None:
    """The live watch table carries the unreachable-server warning under its rows."""
    out = io.StringIO()
    Console(file=out, width=200).print(watch_table(["1"], {}, warning="cannot reach h:1"))
    assert "warning: cannot reach h:1" in out.getvalue()


# -- ids in hints, resume commands ---------------------------------------------------------


def test_submit_hint_names_the_real_id(sim: ThreadedSimulator) -> None:
    """After a submit without --wait the hint is a command to copy, with the task's id."""
    result = sim.invoke("imagine", "a hinted cat")
    assert result.exit_code == 0, result.stderr
    task_id = result.stdout.strip()
    assert re.fullmatch(r"\d+", task_id)
    assert f"follow it with: onechat-mj watch {task_id}" in result.stderr
    assert "watch ID" not in result.stderr


def test_timeout_prints_the_resume_command(slow_sim: ThreadedSimulator) -> None:
    """A --wait that times out says how to pick the task up again, with its id."""
    result = slow_sim.invoke("--timeout", "1", "imagine", "a slow cat", "--wait")
    assert result.exit_code == 4
    task_id = result.stdout.splitlines()[0]
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error.endswith(f"resume with: onechat-mj watch {task_id}")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "onechat_async.cli", *args]


def test_ctrl_c_prints_the_resume_command(slow_sim: ThreadedSimulator) -> None:
    """Ctrl-C during --wait exits 130 and prints `onechat-mj watch <id>` for the task."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        _cli("--base-url", slow_sim.url, "--api-key", API_KEY, "--json", "imagine", "x", "--wait"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    # The first line is the Submitted event: the task exists and is being followed.
    first = json.loads(process.stdout.readline())
    task_id = first["task_id"]
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=30)
    assert process.returncode == 130
    error = json.loads(rest.splitlines()[-1])
    assert error["type"] == "error"
    assert error["resume"] == f"onechat-mj watch {task_id}"
    assert (
        f"interrupted; the task may still be running, resume with: onechat-mj watch {task_id}"
        in err
    )
    assert "Traceback" not in err


# -- output for programs -------------------------------------------------------------------


def test_wait_keeps_the_bare_id_on_line_one(sim: ThreadedSimulator) -> None:
    """With stdout not a terminal, --wait writes the id alone on line 1, the summary after."""
    result = sim.invoke("imagine", "an id first", "--wait")
    assert result.exit_code == 0, result.stderr
    first, *summary = result.stdout.splitlines()
    assert re.fullmatch(r"\d+", first)
    assert any(line.split() == ["status", "SUCCESS"] for line in summary)


def test_a_reader_that_leaves_after_the_id_is_no_error(slow_sim: ThreadedSimulator) -> None:
    """`| head -n 1` takes the id and goes; the CLI still ends with its own exit code."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        _cli(
            "--base-url",
            slow_sim.url,
            "--api-key",
            API_KEY,
            "--timeout",
            "1",
            "imagine",
            "x",
            "--wait",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert re.fullmatch(r"\d+\n", process.stdout.readline())
    process.stdout.close()
    with process.stderr:
        err = process.stderr.read()
    assert process.wait(timeout=30) == 4
    assert "Traceback" not in err
    assert "BrokenPipe" not in err


def test_piped_output_is_neither_wrapped_nor_cut(sim: ThreadedSimulator) -> None:
    """List into a pipe prints whole URLs on one line per task, with no table borders."""
    task = _finished(sim, "a listed cat" + " with a long prompt" * 10)
    result = sim.invoke("list", str(task["id"]))
    assert result.exit_code == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["task", "action", "status", "progress", "image"]
    assert row.split() == [task["id"], "IMAGINE", "SUCCESS", "100%", task["image_url"]]
    fetched = sim.invoke("fetch", str(task["id"]))
    rows = [line.split(None, 1) for line in fetched.stdout.splitlines()]
    assert ["prompt", task["prompt"]] in rows
    assert ["image", task["image_url"]] in rows
    assert "…" not in fetched.stdout + result.stdout
    assert all(line == line.rstrip() for line in fetched.stdout.splitlines())


# -- unknown ids, downloads ----------------------------------------------------------------


def test_unknown_id_is_not_found(sim: ThreadedSimulator) -> None:
    """Watch and fetch of an id the server never knew say "not found", never "lost"."""
    watched = sim.invoke("watch", UNKNOWN)
    assert watched.exit_code == 3
    assert f"task {UNKNOWN} not found" in watched.stderr
    assert "not found" in watched.stdout
    assert "lost" not in watched.stdout + watched.stderr
    fetched = sim.invoke("fetch", UNKNOWN)
    assert fetched.exit_code == 1
    assert fetched.stderr.startswith(f"error: task {UNKNOWN} not found")


@pytest.fixture
def umask() -> Iterator[None]:
    """Whatever a test sets as umask is put back afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_downloads_respect_the_umask(
    sim: ThreadedSimulator, tmp_path: Path, mask: int, mode: int
) -> None:
    """A downloaded image gets the mode any new file gets under the user's umask."""
    os.umask(mask)
    result = sim.invoke("--json", "imagine", "a saved cat", "--download", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    path = Path(json_lines(result)[-1]["file"])
    assert path.stat().st_mode & 0o777 == mode


# -- proxies -------------------------------------------------------------------------------


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself, with an unknown-task 400."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b'{"description":"task_no_found ","type":"upstream_error","code":4}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """An HTTP proxy on 127.0.0.1: its URL, and the request targets it received."""
    seen: list[str] = []
    handler = type("Handler", (_Proxy,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_proxy_option_sends_requests_through_the_proxy(
    sim: ThreadedSimulator, proxy: tuple[str, list[str]]
) -> None:
    """--proxy URL makes every request go to the proxy, addressed to the real server."""
    url, seen = proxy
    result = sim.invoke("fetch", UNKNOWN, "--proxy", url)
    assert result.exit_code == 1
    assert seen == [f"{sim.url}/mj/task/{UNKNOWN}/fetch"]


@pytest.mark.parametrize(
    ("args", "no_proxy", "through_proxy"),
    [
        (["--trust-env"], "", True),
        ([], "", False),
        (["--trust-env"], "127.0.0.1", False),
    ],
    ids=["trusted", "ignored-by-default", "no-proxy-honoured"],
)
def test_environment_proxy_only_when_trusted(
    sim: ThreadedSimulator,
    proxy: tuple[str, list[str]],
    args: list[str],
    no_proxy: str,
    *,
    through_proxy: bool,
) -> None:
    """HTTP_PROXY is used with --trust-env only, and NO_PROXY is honoured then."""
    url, seen = proxy
    result = sim.invoke(
        *args,
        "fetch",
        UNKNOWN,
        HTTP_PROXY=url,
        http_proxy=url,
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    assert result.exit_code == 1
    assert bool(seen) == through_proxy


def test_a_proxy_that_is_not_http_is_bad_usage(sim: ThreadedSimulator) -> None:
    """--proxy socks5://... is refused before anything is sent, with exit 2."""
    result = sim.invoke("--proxy", "socks5://127.0.0.1:1080", "fetch", UNKNOWN)
    assert result.exit_code == 2
    assert "--proxy must be an http:// or https:// URL" in result.stderr


def test_a_proxy_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """The password in a proxy URL is registered for redaction like the API key."""
    from onechat_async._secrets import registered_secrets

    monkeypatch.delenv("HTTP_PROXY", raising=False)
    assert proxy_for("http://x", proxy="http://u:pr0xy-pass-123@p:3128", trust_env=False)
    assert "pr0xy-pass-123" in registered_secrets()


# -- debug logs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "debug"),
    [
        (["--debug"], {}, True),
        ([], {"ONECHAT_LOG": "debug"}, True),
        ([], {"ONECHAT_LOG": "DEBUG"}, True),
        ([], {}, False),
        ([], {"ONECHAT_LOG": "nonsense"}, False),
    ],
)
def test_debug_logs_on_request(
    sim: ThreadedSimulator, args: list[str], env: dict[str, str], *, debug: bool
) -> None:
    """--debug or ONECHAT_LOG=debug prints the library's debug records, key redacted."""
    result = sim.invoke(*args, "fetch", UNKNOWN, **env)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("debug from ")]
    assert bool(lines) == debug
    if debug:
        assert f"GET /task/{UNKNOWN}/fetch -> 400" in "\n".join(lines)
    assert API_KEY not in result.output
    # The command puts the library's logger back as it found it.
    assert logging.getLogger("onechat_async").level == logging.NOTSET
