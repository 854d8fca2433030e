"""Simulators for CLI tests, each on its own event loop in a background thread.

The CLI runs ``asyncio.run`` itself, so the server it talks to cannot share the test's loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from onechat_async.cli._app import cli
from onechat_async.cli._main import cli as assembled
from onechat_async.testing import ScaledClock, Simulator

API_KEY = "sk-cli-SECRET-0123456789"
#: Prompts containing this are accepted, then end in FAILURE.
FAILING = "FAILME"
#: Prompts containing this are refused with code 24, the word in ``bannedWord``.
BANNED = "forbiddenword"

assert assembled is cli  # importing _main registers every command on the group


class ThreadedSimulator:
    """A :class:`Simulator` served from a thread of its own until :meth:`stop`."""

    def __init__(self, *, speed: float) -> None:
        self.speed = speed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.sim: Simulator | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    async def _start(self) -> None:
        self.sim = Simulator(api_key=API_KEY, clock=ScaledClock(self.speed))
        await self.sim.start()
        self.sim.fail_prompts(FAILING)
        self.sim.ban_words(BANNED)

    def stop(self) -> None:
        assert self.sim is not None
        asyncio.run_coroutine_threadsafe(self.sim.aclose(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def url(self) -> str:
        assert self.sim is not None
        return self.sim.url

    def invoke(self, *args: str, key: str | None = API_KEY, **env: str) -> Result:
        """Run ``onechat-mj`` against this simulator with the given arguments."""
        # The simulator runs 1000x faster than the CLI's real clock: poll to match.
        head = ["--base-url", self.url, "--poll-interval", "0.05"]
        if key is not None:
            head += ["--api-key", key]
        return CliRunner().invoke(cli, [*head, *args], env=env or None, catch_exceptions=False)


@pytest.fixture(scope="session")
def sim() -> Iterator[ThreadedSimulator]:
    """A gateway simulator at 1000x: a one-minute task takes about 60 ms."""
    server = ThreadedSimulator(speed=1000.0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slow_sim() -> Iterator[ThreadedSimulator]:
    """A gateway simulator in real time: nothing finishes within a test."""
    server = ThreadedSimulator(speed=1.0)
    server.start()
    yield server
    server.stop()


def json_lines(result: Result) -> list[dict[str, Any]]:
    """Every stdout line, each of which must be a JSON object."""
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines
