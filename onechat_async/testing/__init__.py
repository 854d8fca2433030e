"""A faithful simulated OneChat server, for demos, for our tests and for yours.

``Simulator`` serves every Midjourney endpoint of the OneChat API on 127.0.0.1, with the
quirks of the new-api gateway (or of a bare midjourney-proxy: open-source Java, its plus
edition, or trueai's C# rewrite), task lifecycles
driven by a clock you control, per-account queue limits, fault injection, notifyHook
callbacks, restarts, and a record of every task created and every submit served::

    from onechat_async.testing import Fault, ScaledClock, Simulator

    async with Simulator(api_key="sk-test", clock=ScaledClock(1000)) as sim:
        sim.inject(Fault(endpoint="fetch", kind="http_5xx_html", rate=0.1))
        ...  # point a client at sim.url with clock=sim.clock

Standalone: ``python -m onechat_async.testing --port 8787 --api-key sk-...``.
With pytest: the ``onechat_simulator`` and ``onechat_client`` fixtures of
:mod:`onechat_async.testing.pytest_plugin`.

Without any server: :class:`MockTransport` answers the client's requests from a function
of yours (``OneChatClient(transport=MockTransport(handler))``).
"""

from __future__ import annotations

from ._clock import ManualClock, ScaledClock
from ._faults import ENDPOINTS, FAULT_KINDS, Fault
from ._flavours import FLAVOURS, UPSTREAMS
from ._hooks import SentHook
from ._lifecycle import Timings
from ._mock import MockAnswer, MockHandler, MockRequest, MockResponse, MockTransport
from ._records import CreatedTask, SubmitRecord
from ._server import main, serve
from ._simulator import Simulator

__all__ = [
    "ENDPOINTS",
    "FAULT_KINDS",
    "FLAVOURS",
    "UPSTREAMS",
    "CreatedTask",
    "Fault",
    "ManualClock",
    "MockAnswer",
    "MockHandler",
    "MockRequest",
    "MockResponse",
    "MockTransport",
    "ScaledClock",
    "SentHook",
    "Simulator",
    "SubmitRecord",
    "Timings",
    "main",
    "serve",
]
