"""Automation: ``nox`` runs the tests, lint, typing and docs sessions; ``nox -s demo`` the demo.

``nox -s soak`` runs the long soak (``python -m tests.soak --tasks 1000``); ``nox -s mutants``
mutation-tests the pure core (docs/development.md).
"""

from __future__ import annotations

import shutil

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typing", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite under coverage; warnings are errors (see pyproject.toml)."""
    session.install("-e", ".[cli]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--fail-under=85")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff's linter and formatter check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the benchmarks."""
    session.install("-e", ".[cli]", *nox.project.dependency_groups(PYPROJECT, "typing"))
    session.run("mypy", "--strict")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (any warning fails it), then check the API reference.

    tests/docs/test_reference.py builds the site again into a temporary directory and fails
    when an exported name has no entry or a Sphinx role is printed literally; the tests
    session skips those tests, as it has no mkdocs (it runs the docs' examples instead).
    """
    session.install("-e", ".[cli]", *nox.project.dependency_groups(PYPROJECT, "docs", "docs-check"))
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")
    session.run(
        "pytest", "tests/docs/test_reference.py", "-p", "no:cacheprovider", *session.posargs
    )


@nox.session(default=False)
def soak(session: nox.Session) -> None:
    """The long soak: 1,000 jobs through the faulty, restarting simulator (posargs override)."""
    session.install("-e", ".[cli]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("python", "-m", "tests.soak", *(session.posargs or ["--tasks", "1000"]))


@nox.session
def demo(session: nox.Session) -> None:
    """The demo: imagine, then fan out U1-U4/V1-V4, against the built-in simulator."""
    session.install("-e", ".[cli]")
    session.run("onechat-mj", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks of benchmarks/, ours side by side with the loop users write today."""
    session.install("-e", ".")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(default=False)
def mutants(session: nox.Session) -> None:
    """Mutation testing of the pure core with mutmut; prints the mutants no test killed.

    Which modules and which tests are set in pyproject.toml ([tool.mutmut]). Without
    arguments the run starts afresh (about 15 minutes on two cores); with arguments, only
    the mutants they name are run again, e.g. ``nox -s mutants -- "onechat_async._router*"``,
    and the earlier results of the others are kept. docs/development.md reviews the survivors.
    """
    session.install("-e", ".[cli]", *nox.project.dependency_groups(PYPROJECT, "mutants"))
    if not session.posargs:
        # mutmut keeps results between runs and trusts them; a full run must not.
        shutil.rmtree("mutants", ignore_errors=True)
    session.run("mutmut", "run", *session.posargs)
    # Lists every mutant that was not killed: survived, timed out, or not covered by a test.
    session.run("mutmut", "results")
