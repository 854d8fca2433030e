"""The table of submit commands: every client submit has a row, every row a faithful command."""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import Any

import attrs
import click
import pytest
from click.testing import CliRunner

from onechat_async import OneChatClient, SubmitResult
from onechat_async.cli._app import Settings, cli
from onechat_async.cli._submits import SUBMITS, SubmitCommand, submit_command

ROWS = {row.name: row for row in SUBMITS}
SHARED = ("--wait", "--download", "--state", "--notify-hook")


def _submit_methods() -> set[Callable[..., Any]]:
    """The public methods of the client that send one submit (they return a SubmitResult)."""
    return {
        method
        for name, method in inspect.getmembers(OneChatClient, inspect.iscoroutinefunction)
        if not name.startswith("_") and typing.get_type_hints(method)["return"] is SubmitResult
    }


def test_table_covers_every_submit_method() -> None:
    """Each submit method of OneChatClient has exactly one row, and each row calls one."""
    calls = [row.call for row in SUBMITS]
    assert len(calls) == len(set(calls))
    assert set(calls) == _submit_methods()
    assert len(ROWS) == len(SUBMITS)


def test_submit_methods_are_found() -> None:
    """The coverage test above looks at the real submits, not at an empty set."""
    names = {method.__name__ for method in _submit_methods()}
    assert {"imagine", "simple_change", "swap_face"} <= names
    assert "submit_and_wait" not in names


@pytest.mark.parametrize("row", SUBMITS, ids=lambda row: row.name)
def test_each_row_is_a_command_whose_help_names_its_options(row: SubmitCommand) -> None:
    """A row's command is registered, and its --help names every option and argument it has."""
    command = cli.commands[row.name]
    assert command.params[: len(row.params)] == list(row.params)
    result = CliRunner().invoke(cli, [row.name, "--help"])
    assert result.exit_code == 0, result.output
    usage, _, rest = result.stdout.partition("\n")
    # An option is named where its own line of the option list starts, not in some help text.
    named = set(re.findall(r"^ {2}(--[\w-]+)", rest, re.MULTILINE))
    for param in row.params:
        if isinstance(param, click.Argument):
            (piece,) = param.get_usage_pieces(click.Context(command))
            assert piece in usage.split()
        else:
            assert set(param.opts) <= named, param.opts
    assert set(SHARED) <= named
    assert " ".join(row.help.split("\n")[0].split()) in " ".join(rest.split())


@pytest.mark.parametrize("row", SUBMITS, ids=lambda row: row.name)
def test_each_row_fits_its_client_method(row: SubmitCommand) -> None:
    """Arguments fit the method's positional parameters and options are its keywords."""
    signature = inspect.signature(row.call)
    positional = [
        p.name
        for p in signature.parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
    ]
    assert len(row.arguments) <= len(positional)
    options = [p.name for p in row.params if p.name not in row.arguments]
    assert {*options, "state", "notify_hook"} <= set(signature.parameters) - {*positional}


# -- what each command hands the client: the bodies the table replaced, case by case ---------

#: (command line, positional arguments, keywords besides state/notify_hook) per case.
CALLS: list[tuple[list[str], tuple[Any, ...], dict[str, Any]]] = [
    (
        ["imagine", "a cat", "--image", "a.png", "--image", "b.png", "--bot-type", "niji_journey"],
        ("a cat",),
        {"images": ("a.png", "b.png"), "bot_type": "NIJI_JOURNEY"},
    ),
    (["imagine", "a cat"], ("a cat",), {"images": (), "bot_type": None}),
    (["simple-change", "17", "U2"], ("17", "U2"), {}),
    (["change", "17", "variation", "3"], ("17", "VARIATION", 3), {}),
    (["change", "17", "Reroll"], ("17", "REROLL", None), {}),
    (
        ["action", "17", "MJ::JOB::upsample::1"],
        ("17", "MJ::JOB::upsample::1"),
        {"enable_remix": None},
    ),
    (
        ["action", "17", "MJ::JOB::variation::1", "--enable-remix"],
        ("17", "MJ::JOB::variation::1"),
        {"enable_remix": True},
    ),
    (["modal", "17", "--prompt", "zoom"], ("17",), {"prompt": "zoom", "mask": None}),
    (["modal", "17", "--mask", "m.png"], ("17",), {"prompt": None, "mask": "m.png"}),
    (
        ["blend", "a.png", "b.png", "--dimensions", "portrait"],
        (("a.png", "b.png"),),
        {"dimensions": "PORTRAIT", "bot_type": None},
    ),
    (
        ["blend", "a", "b", "c", "d", "e", "--bot-type", "MID_journey"],
        (("a", "b", "c", "d", "e"),),
        {"dimensions": "SQUARE", "bot_type": "MID_JOURNEY"},
    ),
    (["describe", "face.png"], ("face.png",), {"link": None}),
    (["describe", "--link", "https://x/y.png"], (None,), {"link": "https://x/y.png"}),
    (
        ["video", "walk", "--image", "a.png", "--motion", "high", "--batch-size", "2"],
        ("walk",),
        {
            "image": "a.png",
            "end_image": None,
            "motion": "high",
            "loop": None,
            "batch_size": 2,
            "extend": None,
            "index": None,
        },
    ),
    (
        ["video", "go on", "--extend", "17", "--index", "3", "--loop"],
        ("go on",),
        {
            "image": None,
            "end_image": None,
            "motion": None,
            "loop": True,
            "batch_size": None,
            "extend": "17",
            "index": 3,
        },
    ),
    (["edits", "make it blue", "a.png"], ("make it blue", "a.png"), {}),
    (["shorten", "a long prompt"], ("a long prompt",), {}),
    (["swap-face", "src.png", "dst.png"], ("src.png", "dst.png"), {}),
]


def _settings() -> Settings:
    # Nothing is sent: the recorded call stands in for the client method.
    return Settings(
        base_url="http://127.0.0.1:9", api_key="sk-x", mode=None, json_mode=True, timeout=5.0
    )


@pytest.mark.parametrize(
    ("argv", "args", "kwargs"), CALLS, ids=[" ".join(argv[:2]) for argv, _, _ in CALLS]
)
def test_command_calls_its_method_as_the_old_body_did(
    argv: list[str], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Arguments go positionally, options by name, choices upper-cased, state and hook along."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    async def record(client: OneChatClient, *args: Any, **kwargs: Any) -> SubmitResult:
        assert isinstance(client, OneChatClient)
        calls.append((args, kwargs))
        return SubmitResult(task_id="1748339029401828")

    command = submit_command(attrs.evolve(ROWS[argv[0]], call=record))
    result = CliRunner().invoke(
        command, [*argv[1:], "--state", "job-1", "--notify-hook", "http://h"], obj=_settings()
    )
    assert result.exit_code == 0, result.output
    assert calls == [(args, {**kwargs, "state": "job-1", "notify_hook": "http://h"})]
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert line == {
        "type": "result",
        "command": argv[0],
        "ok": True,
        "submit": {
            "task_id": "1748339029401828",
            "code": 1,
            "description": "",
            "queue_position": None,
            "properties": {},
        },
    }


def test_every_row_has_a_call_case() -> None:
    """The case table above exercises every row of the command table."""
    assert {argv[0] for argv, _, _ in CALLS} == set(ROWS)


@pytest.mark.parametrize("images", [["a.png"], ["a", "b", "c", "d", "e", "f"]])
def test_blend_takes_two_to_five_images(images: list[str]) -> None:
    """A blend of fewer than two or more than five images exits 2 and sends nothing."""
    called = False

    async def record(client: OneChatClient, *args: Any, **kwargs: Any) -> SubmitResult:
        nonlocal called
        called = True
        return SubmitResult(task_id="1")

    command = submit_command(attrs.evolve(ROWS["blend"], call=record))
    result = CliRunner().invoke(command, images, obj=_settings())
    assert result.exit_code == 2
    assert f"Invalid value for IMAGE: takes 2 to 5 images, got {len(images)}" in result.stderr
    assert not called
