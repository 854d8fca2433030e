"""``python -m onechat_async.cli``: the same as the ``onechat-mj`` script."""

import sys

from . import main

sys.exit(main())
