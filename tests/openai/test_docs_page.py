"""docs/openai-compatible.md runs as written, and the example extraction reads fences right."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_examples import Block, blocks, run_page


def test_the_openai_page_runs_against_the_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    """Every python block of the page runs, in order, against the simulator, and prints."""
    run_page("docs/openai-compatible.md")
    out = capsys.readouterr().out
    assert "[gpt-4o-mini] You said: A fox in the snow, cinematic" in out
    assert "files are not served here: 400" in out
    assert "saved fox.png" in out
    assert "Transcription of fox.wav" in out
    assert "SUCCESS 1 1" in out


PAGE = """\
Intro.

```python
a = 1
```

<!-- docs: skip (a fragment) -->

```python
raise SystemExit
```

<!-- docs: skip -->
Text in between takes the mark away.

```python
b = a + 1
```

````markdown
```python
not a block of its own
```
````

- in a list:

  ```python
  c = b
  ```

```console
$ echo hi
```
"""


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, Block("python", "a = 1\n", 4)),
        (1, Block("python", "raise SystemExit\n", 10, skip=True)),
        (2, Block("python", "b = a + 1\n", 17)),
        (3, Block("markdown", "```python\nnot a block of its own\n```\n", 21)),
        (4, Block("python", "c = b\n", 29)),
        (5, Block("console", "$ echo hi\n", 33)),
    ],
)
def test_blocks_are_read_with_their_language_line_and_skip_mark(
    index: int, expected: Block
) -> None:
    """Fences are found in order, longer fences nest shorter ones, a skip mark binds the next."""
    found = blocks(PAGE)
    assert len(found) == 6
    assert found[index] == expected


def test_a_failing_example_points_at_its_page_line(tmp_path: Path) -> None:
    """An exception in an example carries the page's path and the line in the page."""
    page = tmp_path / "failing.md"
    page.write_text("# t\n\n```python\nx = 1\nraise ValueError(x)\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1") as caught:
        run_page(page)
    last = caught.traceback[-1]
    assert str(last.path) == str(page)
    assert last.lineno + 1 == 5  # pytest counts from 0


def test_a_page_without_examples_is_an_error() -> None:
    """A page meant to be run that has nothing to run fails instead of passing silently."""
    with pytest.raises(AssertionError, match="no python example"):
        run_page("docs/benchmarks.md")
