"""Global options after the command: ``onechat-mj imagine "a cat" --json`` works.

click parses a group's options only before the command name. :class:`GlobalOptionsGroup`
moves the group's own options found after the command to the front before click parses
anything, so both spellings mean the same. It knows the command's own options, so that the
value of one (``--state --json``) is never taken for a global option, and it stops at
``--``: after it everything is an argument (``imagine -- --json`` imagines "--json").
A global option given twice keeps click's rule: the later one wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import click

__all__ = ["GlobalOptionsGroup", "hoist"]


def _option_names(params: Iterable[click.Parameter]) -> dict[str, bool]:
    """Every spelling of every option, mapped to whether it takes a value."""
    names: dict[str, bool] = {}
    for param in params:
        if not isinstance(param, click.Option):
            continue
        takes_value = not param.is_flag and not param.count
        for name in param.opts:
            names[name] = takes_value
        for name in param.secondary_opts:
            names[name] = False
    return names


def _name(arg: str) -> str:
    """The option an argument names: ``--timeout=5`` names ``--timeout``."""
    return arg.split("=", 1)[0] if arg.startswith("--") else arg


def _width(arg: str, names: dict[str, bool]) -> int:
    """How many arguments the option ``arg`` spans: its value too, unless given with ``=``."""
    return 2 if names.get(_name(arg)) and "=" not in arg else 1


def hoist(group: click.Group, ctx: click.Context, args: Sequence[str]) -> list[str]:
    """``args`` with the group's options that follow the command name moved before it."""
    ours = _option_names(group.get_params(ctx))
    # Help after a command asks for the command's help, not the group's.
    movable = {name: value for name, value in ours.items() if name not in ctx.help_option_names}
    start = 0
    while start < len(args) and args[start].startswith("-") and args[start] not in ("-", "--"):
        start += _width(args[start], ours)
    if start >= len(args) or args[start] == "--":
        return list(args)
    command = group.get_command(ctx, args[start])
    if command is None:
        return list(args)  # click reports the unknown command
    theirs = _option_names(command.get_params(ctx))
    moved: list[str] = []
    rest: list[str] = []
    index = start + 1
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = _name(arg)
        if name in movable and name not in theirs:
            width = _width(arg, movable)
            moved.extend(args[index : index + width])
        else:
            width = _width(arg, theirs) if name in theirs else 1
            rest.extend(args[index : index + width])
        index += width
    return [*args[:start], *moved, args[start], *rest]


class GlobalOptionsGroup(click.Group):
    """A click group whose options may also follow the command name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse with the group's options hoisted in front of the command."""
        return super().parse_args(ctx, hoist(self, ctx, args))
