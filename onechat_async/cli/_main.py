"""The assembled ``onechat-mj`` group: importing the command modules registers them."""

from __future__ import annotations

from . import _commands, _demo, _submits, _watch
from ._app import cli

__all__ = ["cli"]

# Referenced so that linters see the side-effect imports are wanted.
_REGISTERED = (_commands, _demo, _submits, _watch)
