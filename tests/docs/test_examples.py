"""Every Python and console example of README.md and docs/ runs, as written, in the suite.

Pages whose Python examples need options of their own (a clock, limits, Redis) are run by
their own tests (tests/sync, tests/workers, tests/openai); every other page is run here
against a simulator, and a page with an example nobody runs fails the suite. Console
blocks run through bash with ``onechat-mj`` on the PATH (tests/docs_examples.py).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from onechat_async.testing import ScaledClock
from tests.docs_examples import ROOT, blocks, commands, run_console, run_page

#: Pages whose examples run here, each against a fresh simulator.
PAGES = [
    "README.md",
    "docs/index.md",
    "docs/concepts.md",
    "docs/polling.md",
    "docs/errors.md",
    "docs/fan-out.md",
    "docs/testing.md",
    "docs/callbacks.md",
]
#: Pages run by a test of their own, with the options their examples need.
RUN_ELSEWHERE = {
    "docs/sync.md": "tests/sync/test_sync.py",
    "docs/workers.md": "tests/workers/test_docs.py",
    "docs/openai-compatible.md": "tests/openai/test_docs_page.py",
    "docs/helpers.md": "tests/public/test_docs_page.py",
}


def all_pages() -> list[str]:
    """README.md and every page of docs/, as paths relative to the repository."""
    return ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_examples_run_against_the_simulator(page: str) -> None:
    """Every python block of the page runs, in order, against a simulator at 100,000x."""
    run_page(page, clock=ScaledClock(100_000))


@pytest.mark.parametrize("page", all_pages())
def test_every_python_example_is_run_or_says_why_not(page: str) -> None:
    """A page with python blocks is run by some test; a block left out says why."""
    text = (ROOT / page).read_text(encoding="utf-8")
    python = [b for b in blocks(text) if b.lang == "python"]
    if any(not b.skip for b in python):
        assert page in PAGES or page in RUN_ELSEWHERE, f"{page}: its examples are not run"
    marks = re.findall(r"<!--\s*docs:\s*skip\b(.*?)-->", text)
    assert all(re.fullmatch(r"\s*\(.+\)\s*", m) for m in marks), f"{page}: a skip without why"


def console_pages() -> list[str]:
    """The pages with at least one console command to run."""
    return [
        page
        for page in all_pages()
        if any(
            b.lang == "console" and not b.skip and commands(b.code)
            for b in blocks((ROOT / page).read_text(encoding="utf-8"))
        )
    ]


@pytest.mark.parametrize("page", console_pages())
def test_the_pages_console_examples_run_against_the_simulator(page: str) -> None:
    """Every command of the page's console blocks exits 0 against a simulator at 100,000x."""
    run_console(page, clock=ScaledClock(100_000))


@pytest.mark.parametrize("page", all_pages())
def test_shell_blocks_are_console_blocks_or_say_why_not(page: str) -> None:
    """A bash or sh block is not run by anything, so it must be marked with a reason."""
    found = blocks((ROOT / page).read_text(encoding="utf-8"))
    assert all(b.skip for b in found if b.lang in {"bash", "sh", "shell"}), page


def test_console_blocks_are_split_into_commands() -> None:
    """``$`` lines are commands, a backslash continues one; output and pip installs are not run."""
    code = "$ export A=1\nsample output\n$ echo a \\\n    b\n$ python3 -m pip install x\n"
    assert commands(code) == ["export A=1", "echo a \\\n    b"]


def test_a_failing_console_command_names_its_page_and_line(tmp_path: Path) -> None:
    """A command that exits non-zero fails with the page, the block's line and its output."""
    page = tmp_path / "failing.md"
    page.write_text("# t\n\n```console\n$ echo out; false\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"failing\.md, line 4: exit 1[\s\S]*out"):
        run_console(page)


@pytest.mark.parametrize(("page", "test"), RUN_ELSEWHERE.items())
def test_pages_run_elsewhere_are_run_there(page: str, test: str) -> None:
    """The test named for a page calls run_page on it (so the list above cannot go stale)."""
    assert f'"{page}"' in (ROOT / test).read_text(encoding="utf-8") or (
        f'PAGE = "{page}"' in (ROOT / test).read_text(encoding="utf-8")
    )


def test_the_testing_pages_pytest_examples_pass_under_pytest(tmp_path: Path) -> None:
    """docs/testing.md's test functions pass when pytest runs them with the page's config."""
    found = blocks((ROOT / "docs/testing.md").read_text(encoding="utf-8"))
    (config,) = [b for b in found if b.lang == "toml" and "asyncio_mode" in b.code]
    tests = [b for b in found if b.lang == "python" and "def test_" in b.code]
    assert len(tests) >= 2
    (tmp_path / "pyproject.toml").write_text(config.code, encoding="utf-8")
    for i, block in enumerate(tests):
        (tmp_path / f"test_page_{i}.py").write_text(block.code, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{sum(b.code.count('def test_') for b in tests)} passed" in run.stdout


def docstring_examples() -> list[tuple[str, str]]:
    """Every fenced python block in a docstring of a public name, with the name it is on."""
    found: list[tuple[str, str]] = []
    seen: set[int] = set()
    for module_name in ("onechat_async", "onechat_async.callbacks", "onechat_async.testing"):
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            members = [obj, *vars(obj).values()] if inspect.isclass(obj) else [obj]
            for member in members:
                doc = inspect.getdoc(member) if id(member) not in seen else None
                seen.add(id(member))
                found.extend(
                    (f"{module_name}.{name}", block.code)
                    for block in blocks(doc or "")
                    if block.lang == "python"
                )
    return found


@pytest.mark.parametrize(("where", "code"), docstring_examples())
def test_docstring_examples_are_valid_python(where: str, code: str) -> None:
    """A docstring's example compiles (top-level await allowed); the pages run the flows."""
    compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
