"""``onechat-mj``: the OneChat Midjourney API from the shell.

click and rich are the optional ``cli`` extra (``pip install 'onechat-async[cli]'``): library
users do not pay for them. :func:`main` checks for them first and says how to get them,
instead of failing with an ImportError traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_MISSING = (
    "onechat-mj needs the 'cli' extra (click and rich), which is not installed: {error}\n"
    "Install it with:  python3 -m pip install 'onechat-async[cli]'\n"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``onechat-mj`` with ``argv`` (default: the process arguments); return the exit code."""
    try:
        from ._main import cli  # noqa: PLC0415 - only now may click and rich be missing
    except ImportError as exc:
        if exc.name not in ("click", "rich") and not str(exc.name or "").startswith("rich."):
            raise
        sys.stderr.write(_MISSING.format(error=exc))
        return 1
    try:
        # In standalone mode click always ends by raising SystemExit, even on success.
        cli.main(args=list(argv) if argv is not None else None, prog_name="onechat-mj")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
