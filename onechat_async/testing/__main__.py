"""``python -m onechat_async.testing --port 8787 --api-key sk-...``."""

from __future__ import annotations

import sys

from ._server import main

if __name__ == "__main__":
    sys.exit(main())
