"""Hostile servers against the CLI: no key in its output, no markup from server strings."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from onechat_async import OneChatClient, RetryPolicy
from onechat_async.cli._main import cli
from tests.client.test_secrets import FAULTS, ROUTES, TASK_ID, EchoServer
from tests.helpers import API_KEY

ID = "1748339029401999"
ACCEPTED = {"code": 1, "description": "提交成功", "result": ID}


class ThreadedEcho:
    """An :class:`EchoServer` served from a thread of its own, for the CLI's own loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server = EchoServer()

    def _run(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self._run(self.server.start())

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self.server.release.set)
        self._run(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def answer(self, path: str, payload: Any, *, status: int = 200) -> None:
        """Answer ``path`` (any method of ROUTES) with a JSON ``payload`` from now on."""
        self.server.fault = ""
        for method, route in ROUTES:
            if route == path:
                self.server.replies[(method, route)].clear()
                self.server.reply(method, route, status=status, json_body=payload)

    def invoke(self, *args: str) -> Result:
        """Run ``onechat-mj`` against this server with the test key."""
        head = ["--base-url", self.server.url, "--api-key", API_KEY, "--poll-interval", "0.05"]
        return CliRunner().invoke(cli, [*head, *args], catch_exceptions=False)


@pytest.fixture
def echo() -> Iterator[ThreadedEcho]:
    server = ThreadedEcho()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's client without query retries, so each fault costs one request, not seconds."""
    monkeypatch.setattr(
        "onechat_async.cli._app.OneChatClient",
        functools.partial(OneChatClient, retry=RetryPolicy.off()),
    )


COMMANDS = {
    "imagine": ["imagine", "a fox"],
    "fetch": ["fetch", TASK_ID],
    "list": ["list", TASK_ID],
}
#: The documented exit codes: 5 for a refused key, 4 for a timeout, 1 for the rest.
EXIT = {"401": 5, "403": 5, "timeout": 4}
#: A submit whose answer was lost or unreadable may have made a task: exit 6, never 1.
SUBMIT_UNKNOWN = {"500", "200-not-json", "reset", "timeout"}


def assert_no_key(result: Result) -> None:
    """The key shows neither on stdout nor on stderr."""
    assert API_KEY not in result.stdout, result.stdout
    assert API_KEY not in result.stderr, result.stderr


def assert_one_error_line(result: Result) -> None:
    """Exactly one ``error:`` line, and no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("no_retries")
@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["human", "json"])
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_echoed_key_never_reaches_the_terminal(
    echo: ThreadedEcho, fault: str, command: str, mode: list[str]
) -> None:
    """Under every echo fault each command prints one error line, its code, and no key."""
    echo.server.script(fault)
    result = echo.invoke(*mode, "--timeout", "0.5", *COMMANDS[command])
    if fault not in ("reset", "timeout"):
        assert any(API_KEY.encode() in body for body in echo.server.echoed)
    expected = EXIT.get(fault, 1)
    if command == "imagine" and fault in SUBMIT_UNKNOWN:
        expected = 6
    assert result.exit_code == expected, result.output
    assert_no_key(result)
    assert_one_error_line(result)
    if mode:
        (line,) = [json.loads(text) for text in result.stdout.splitlines()]
        assert line["type"] == "error"


def test_poller_log_line_does_not_show_the_key(echo: ThreadedEcho) -> None:
    """A key refused while tracking is logged and reported on one line each, redacted."""
    echo.answer("/mj/submit/imagine", ACCEPTED)
    echo.server.fault = "401"
    status, body, _ = FAULTS["401"]
    for method, path in ROUTES[1:]:
        echo.server.replies[(method, path)].clear()
        echo.server.reply(method, path, status=status, body=body)
    result = echo.invoke("--timeout", "5", "imagine", "a fox", "--wait")
    assert result.exit_code == 5, result.output
    assert "from onechat_async.poller: the server refused the key while tracking" in (result.stderr)
    assert_no_key(result)
    assert_one_error_line(result)


# -- server strings are text, never markup -------------------------------------------------

HOSTILE_TASK = {
    "id": TASK_ID,
    "status": "[bold]x",
    "action": "[/]",
    "prompt": "[bold]x [/] [link=http://evil]y[/link]",
    "failReason": "[/]",
    "imageUrl": "http://127.0.0.1/[/]",
    "progress": "10%",
    "buttons": [{"customId": "[/]", "label": "[bold]x", "type": 2, "style": 2}],
}


def test_fetch_shows_markup_like_strings_literally(echo: ThreadedEcho) -> None:
    """A task whose action is "[/]" and whose status is "[bold]x" is printed as written."""
    echo.answer(f"/mj/task/{TASK_ID}/fetch", HOSTILE_TASK)
    result = echo.invoke("fetch", TASK_ID)
    assert result.exit_code == 0, result.output
    assert "[/]" in result.stdout
    assert "[bold]x" in result.stdout
    assert "[link=http://evil]y[/link]" in result.stdout


def test_list_shows_markup_like_strings_literally(echo: ThreadedEcho) -> None:
    """The list table prints hostile statuses, actions and URLs as written."""
    echo.answer("/mj/task/list-by-condition", [{**HOSTILE_TASK, "id": TASK_ID}])
    result = echo.invoke("list", TASK_ID)
    assert result.exit_code == 0, result.output
    assert "[bold]x" in result.stdout
    assert "[/]" in result.stdout


def test_error_messages_are_shown_literally(echo: ThreadedEcho) -> None:
    """A refusal whose description looks like markup is the error line, as written."""
    echo.answer("/mj/submit/imagine", {"code": 4, "description": "[/] [bold]x"})
    result = echo.invoke("imagine", "a fox")
    assert result.exit_code == 1
    assert "[/] [bold]x" in result.stderr
    assert_one_error_line(result)


def test_wait_board_and_reason_are_shown_literally(echo: ThreadedEcho) -> None:
    """A task failing with reason "[/]" reports it literally on the board and the error line."""
    echo.answer("/mj/submit/imagine", ACCEPTED)
    failed = {**HOSTILE_TASK, "id": ID, "status": "FAILURE", "progress": "100%"}
    echo.answer("/mj/task/list-by-condition", [failed])
    echo.answer(f"/mj/task/{TASK_ID}/fetch", failed)
    result = echo.invoke("--timeout", "10", "imagine", "a fox", "--wait")
    assert result.exit_code == 3, result.output
    assert f"task {ID} failed: [/]" in result.stderr
    assert "[bold]x [/]" in result.stdout  # the prompt row of the summary
    assert_one_error_line(result)


def test_watch_table_shows_markup_like_strings_literally(echo: ThreadedEcho) -> None:
    """The watch table draws a hostile action and status label as written."""
    done = {**HOSTILE_TASK, "id": ID, "status": "SUCCESS", "progress": "100%", "action": "[/]"}
    echo.answer("/mj/task/list-by-condition", [done])
    result = echo.invoke("--timeout", "10", "watch", ID)
    assert result.exit_code == 0, result.output
    assert "[/]" in result.stdout
