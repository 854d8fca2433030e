"""Run the Python and console examples of a documentation page, as written, on a simulator.

The convention, for every page under docs/ (and README.md):

- Each fenced block whose info string is exactly ``python`` is an example and is executed,
  in page order, all blocks of a page in one namespace (a later block sees the names an
  earlier one defined), as ``__main__`` (so ``if __name__ == "__main__":`` runs), in a
  fresh temporary working directory (files an example writes land there).
- An example reaches the server the way a user's program does: through the environment.
  :func:`run_page` sets ``ONECHAT_API_KEY`` and ``ONECHAT_BASE_URL`` to a running
  simulator, which ``OneChatClient()`` reads by itself; an OpenAI example builds its
  ``base_url`` from the same variable.
- A block may use ``await``, ``async for`` and ``async with`` at top level, as in
  ``python -m asyncio``: all such blocks of a page run on one event loop, so a client one
  of them opens is usable by the next. Clients left open in the namespace are closed at
  the end.
- A fragment that needs names a reader supplies (``client``, ``app``, a secret) gets them
  from a hidden setup, an HTML comment before its fence, run just before it:
  ``<!-- docs: setup`` on a line of its own, the code, then ``-->``. It renders as nothing.
- A block that must not run (it needs a real key, the internet, a public interface, a
  framework we do not install) is marked by an HTML comment on the line before its fence,
  blank lines allowed between: ``<!-- docs: skip (why) -->``. It renders as nothing.
- Blocks with another info string (``py``, ``pycon``, ``console``, ``bash``, ``text``) are
  not run by :func:`run_page`. :func:`run_console` runs the ``console`` ones: each line
  that starts with ``$ `` is a command (a line ending in a backslash continues it), the other
  lines are sample output and are not compared. A block's commands run in one bash, in
  order, under ``set -e -o pipefail`` (so ``export`` and ``ID=$(...)`` carry to the next
  line), in a fresh temporary directory, with the simulator in ``ONECHAT_BASE_URL``.
  ``pip install`` commands are not run: the suite runs where the package is installed.

A failing example fails with its page and line in the traceback
(``File "docs/sync.md", line 42``).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from onechat_async import OneChatClient
from onechat_async.testing import Simulator

__all__ = ["Block", "SimulatorThread", "blocks", "commands", "run_console", "run_page"]

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs:\s*skip\b.*-->\s*$")
_SETUP = re.compile(r"^\s*<!--\s*docs:\s*setup\s*$")


@attrs.frozen
class Block:
    """One fenced block of a page: its language, its code, the line its code starts on."""

    lang: str
    code: str
    line: int
    skip: bool = False
    #: Hidden code run just before this block (a ``docs: setup`` comment), and its line.
    setup: str = ""
    setup_line: int = 0


def blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown ``text``, in order, with the skip marks applied."""
    found: list[Block] = []
    lines = text.splitlines()
    skip_next = False
    setup, setup_line = "", 0
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            if _SKIP.match(lines[i]):
                skip_next = True
            elif _SETUP.match(lines[i]):
                setup_line = i + 2
                i += 1
                body: list[str] = []
                while i < len(lines) and lines[i].strip() != "-->":
                    body.append(lines[i])
                    i += 1
                setup = "\n".join(body) + "\n"
            elif lines[i].strip():
                # A mark belongs to the very next block only.
                skip_next, setup, setup_line = False, "", 0
            i += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        info = opening.group("info").strip()
        start = i + 1
        i = start
        while i < len(lines) and not _closes(lines[i], fence):
            i += 1
        code = "\n".join(line[indent:] for line in lines[start:i])
        lang = info.split()[0] if info else ""
        found.append(Block(lang, code + "\n", start + 1, skip_next, setup, setup_line))
        skip_next, setup, setup_line = False, "", 0
        i += 1
    return found


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a block opened by ``fence`` (as long or longer, alone)."""
    stripped = line.strip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


class SimulatorThread:
    """A :class:`~onechat_async.testing.Simulator` served from its own loop in a thread.

    For examples that run ``asyncio.run`` (or no loop at all) in the test's thread. Options
    are the simulator's; use as a context manager, then read :attr:`url`.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.sim: Simulator | None = None

    @property
    def url(self) -> str:
        """The simulator's base URL."""
        assert self.sim is not None
        return self.sim.url

    def __enter__(self) -> SimulatorThread:
        self._thread.start()

        async def start() -> Simulator:
            sim = Simulator(**self._options)
            await sim.start()
            return sim

        self.sim = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.sim is not None:
            asyncio.run_coroutine_threadsafe(self.sim.aclose(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_page(page: str | Path, *, api_key: str = "sk-test", **simulator: Any) -> dict[str, Any]:
    """Execute every ``python`` block of ``page`` (relative to the repository) in order.

    A simulator with ``api_key`` and the ``simulator`` options serves them; returns the
    namespace the blocks shared, for a test that wants to look at what they left.
    """
    path = ROOT / page
    runnable = [b for b in blocks(path.read_text(encoding="utf-8")) if b.lang == "python"]
    if not any(not b.skip for b in runnable):
        raise AssertionError(f"{page} has no python example to run")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with (
        SimulatorThread(api_key=api_key, **simulator) as server,
        tempfile.TemporaryDirectory() as workdir,
        contextlib.chdir(workdir),
        _environment({"ONECHAT_API_KEY": api_key, "ONECHAT_BASE_URL": server.url}),
        asyncio.Runner() as runner,
    ):
        try:
            for block in runnable:
                if block.skip:
                    continue
                if block.setup:
                    _execute(block.setup, block.setup_line, page, namespace, runner)
                _execute(block.code, block.line, page, namespace, runner)
        finally:
            for value in list(namespace.values()):
                if isinstance(value, OneChatClient):
                    runner.run(value.aclose())
    return namespace


def _execute(
    code: str, line: int, page: str | Path, namespace: dict[str, Any], runner: asyncio.Runner
) -> None:
    """Run one block's ``code`` (top-level ``await`` allowed) as lines ``line...`` of ``page``."""
    # Leading newlines put each line of code on its page line in tracebacks.
    source = "\n" * (line - 1) + code
    compiled = compile(source, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if compiled.co_flags & inspect.CO_COROUTINE:
        runner.run(eval(compiled, namespace))  # noqa: S307 - our own docs pages
    else:
        exec(compiled, namespace)  # noqa: S102


def commands(code: str) -> list[str]:
    """The commands of a ``console`` block: its ``$ `` lines, continuations joined."""
    found: list[str] = []
    continued = False
    for line in code.splitlines():
        if continued:
            found[-1] += "\n" + line
        elif line.startswith("$ "):
            found.append(line[2:])
        else:
            continue
        continued = line.endswith("\\")
    return [c for c in found if not re.search(r"\bpip install\b", c)]


def run_console(
    page: str | Path, *, api_key: str = "sk-...", timeout: float = 120, **simulator: Any
) -> list[str]:
    """Run every ``console`` block of ``page`` against a simulator; returns their outputs.

    The key defaults to the pages' own placeholder, ``sk-...``: a block that says
    ``export ONECHAT_API_KEY=sk-...`` talks to the simulator with the key it expects.
    A command that fails raises AssertionError with the page line and what it printed.
    """
    path = ROOT / page
    runnable = [b for b in blocks(path.read_text(encoding="utf-8")) if b.lang == "console"]
    outputs: list[str] = []
    bin_dir = str(Path(sys.executable).parent)
    with (
        SimulatorThread(api_key=api_key, **simulator) as server,
        tempfile.TemporaryDirectory() as workdir,
    ):
        env = {
            **os.environ,
            "ONECHAT_API_KEY": api_key,
            "ONECHAT_BASE_URL": server.url,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }
        for block in runnable:
            lines = commands(block.code)
            if block.skip or not lines:
                continue
            script = "set -e -o pipefail\n" + "\n".join(lines) + "\n"
            # A session of its own, so that a timeout ends whatever the block started.
            with subprocess.Popen(  # noqa: S603 - our own docs pages
                ["bash", "-c", script],  # noqa: S607
                cwd=workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            ) as run:
                try:
                    stdout, stderr = run.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(run.pid, signal.SIGKILL)
                    stdout, stderr = run.communicate()
                    run.returncode = -signal.SIGKILL
            if run.returncode != 0:
                msg = (
                    f"{page}, line {block.line}: exit {run.returncode}\n{script}\n"
                    f"stdout:\n{stdout}\nstderr:\n{stderr}"
                )
                raise AssertionError(msg)
            outputs.append(stdout)
    return outputs
