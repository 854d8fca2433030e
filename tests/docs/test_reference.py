"""The API reference (docs/api.md) has an entry for every exported name and no raw Sphinx.

The first test reads docs/api.md and runs everywhere. The others build the site with mkdocs
into a temporary directory (about 8 s); they need the docs dependencies, so they run in
``nox -s docs`` and are skipped in a venv without mkdocs.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from pathlib import Path

import pytest

from tests.docs_examples import ROOT

#: The modules whose ``__all__`` is the public API, and names exported outside ``__all__``.
PUBLIC = {
    "onechat_async": [],
    "onechat_async.callbacks": [],
    "onechat_async.stores": ["RedisStore"],  # lazy: needs the redis extra
    "onechat_async.sync": [],
    "onechat_async.testing": [],
}


def exported() -> list[tuple[str, str]]:
    """Every (module, name) a user may import, from each public module's ``__all__``."""
    names: list[tuple[str, str]] = []
    for module_name, extra in PUBLIC.items():
        module = importlib.import_module(module_name)
        names += [(module_name, name) for name in [*module.__all__, *extra]]
    return names


def documented_as(module_name: str, name: str) -> set[str]:
    """The reference paths under which ``module.name`` may appear (re-exports are one object)."""
    paths = {f"{module_name}.{name}"}
    module = importlib.import_module(module_name)
    root = importlib.import_module("onechat_async")
    if (
        name in module.__all__
        and name in root.__all__
        and getattr(root, name) is getattr(module, name)
    ):
        paths.add(f"onechat_async.{name}")
    if module_name == "onechat_async" and name in {"MemoryStore", "SQLiteStore"}:
        paths.add(f"onechat_async.stores.{name}")
    return paths


DIRECTIVE = re.compile(r"^::: (?P<path>\S+)\s*$", re.MULTILINE)


@pytest.mark.parametrize(("module_name", "name"), exported())
def test_every_exported_name_has_an_entry_in_api_md(module_name: str, name: str) -> None:
    """Each name of a public ``__all__`` is rendered by a ``:::`` line of docs/api.md."""
    listed = set(DIRECTIVE.findall((ROOT / "docs/api.md").read_text(encoding="utf-8")))
    assert documented_as(module_name, name) & listed, f"{module_name}.{name} not in api.md"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation site, built strictly (a warning fails) into a temporary directory."""
    build = pytest.importorskip("mkdocs.commands.build", reason="needs the docs dependencies")
    config = pytest.importorskip("mkdocs.config")
    out = tmp_path_factory.mktemp("site")
    # The extension's path in mkdocs.yml is relative to the repository.
    with contextlib.chdir(ROOT):
        build.build(config.load_config(str(ROOT / "mkdocs.yml"), site_dir=str(out), strict=True))
    return out


@pytest.mark.parametrize(("module_name", "name"), exported())
def test_every_exported_name_has_an_anchor_in_the_built_reference(
    site: Path, module_name: str, name: str
) -> None:
    """The built API page has a heading (an anchor) for each exported name."""
    page = (site / "api/index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', page))
    assert documented_as(module_name, name) & ids, f"{module_name}.{name} has no entry"


#: Sphinx markup that means a docstring was printed as written instead of rendered.
LEAKS = [
    ":class:",
    ":meth:",
    ":func:",
    ":attr:",
    ":mod:",
    ":data:",
    ":exc:",
    ":obj:",
    ":param ",
    ":raises ",
    ":ivar ",
    ":return:",
    ":rtype:",
    "``",
]


@pytest.mark.parametrize("leak", LEAKS)
def test_no_sphinx_markup_is_printed_literally(site: Path, leak: str) -> None:
    """No page of the built site shows a Sphinx role, field or double backquote as text."""
    found = {
        str(page.relative_to(site)): count
        for page in sorted(site.rglob("*.html"))
        if (count := _visible_text(page).count(leak))
    }
    assert not found, f"{leak!r} printed in {found}"


def _visible_text(page: Path) -> str:
    """The page's text outside code blocks (where `` may legitimately appear)."""
    html = page.read_text(encoding="utf-8")
    html = re.sub(r"<pre\b.*?</pre>", "", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", "", html)


def test_event_streams_signature_does_not_show_its_private_constructor(site: Path) -> None:
    """EventStream is documented without the private handle/poller it is built from."""
    page = (site / "api/index.html").read_text(encoding="utf-8")
    start = page.index('id="onechat_async.EventStream"')
    heading = page[start : page.index("doc-contents", start)]  # name and signature
    assert "_Handle" not in heading
    assert "Poller" not in heading
