"""pytest fixtures: a running simulator, and a client wired to it.

Registered under the ``pytest11`` entry point, so installing the package is enough::

    async def test_imagine(onechat_client, onechat_simulator):
        ...

``onechat_simulator`` is a gateway-flavoured :class:`~onechat_async.testing.Simulator` on a
free port with ``api_key="sk-test"`` and a :class:`~onechat_async.testing.ScaledClock` at
1000x (a one-minute task takes about 60 ms). ``onechat_client`` is an
``onechat_async.OneChatClient`` opened on it, sharing its clock. Both are function-scoped
and need pytest-asyncio; without it the plugin registers nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ._clock import ScaledClock
from ._simulator import Simulator

__all__ = ["SIMULATOR_SPEED", "onechat_client", "onechat_simulator"]

#: How much faster than real time the fixture's clock runs.
SIMULATOR_SPEED = 1000.0

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is a test-only dependency
    _HAVE_PYTEST_ASYNCIO = False
else:
    _HAVE_PYTEST_ASYNCIO = True

if _HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def onechat_simulator() -> AsyncIterator[Simulator]:
        """A running gateway simulator on 127.0.0.1 with a 1000x clock and key ``sk-test``."""
        async with Simulator(api_key="sk-test", clock=ScaledClock(SIMULATOR_SPEED)) as sim:
            yield sim

    @pytest_asyncio.fixture
    async def onechat_client(onechat_simulator: Simulator) -> AsyncIterator[Any]:
        """An ``OneChatClient`` on the simulator, sharing its clock, opened and closed here."""
        from onechat_async import OneChatClient  # noqa: PLC0415 - keep the plugin importable alone

        sim = onechat_simulator
        async with OneChatClient(api_key=sim.api_key, base_url=sim.url, clock=sim.clock) as client:
            yield client
