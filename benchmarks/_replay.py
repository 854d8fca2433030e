"""Our whole client and poller over prepared answers, one tick at a time, with no sockets.

The CPU and memory benchmarks want the client's own cost at 10,000 tasks without the
server's: the shipped :class:`~onechat_async.testing.MockTransport`, with a :class:`Replay`
as its handler, answers each list-by-condition chunk with bytes made beforehand, and a
``ManualClock`` lets the bench say exactly when the poller's next tick happens. Everything
between the transport and the consumer's ``async for`` is the real code path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from onechat_async import OneChatClient
from onechat_async._policy import PollPolicy
from onechat_async.testing import ManualClock, MockRequest, MockResponse, MockTransport

from ._bodies import CHUNK
from ._harness import API_KEY

__all__ = ["Replay", "ReplayRig"]

_HEADERS = {"Content-Type": "application/json"}


class Replay:
    """A :class:`MockTransport` handler: list-by-condition answered from this tick's bodies."""

    def __init__(self) -> None:
        self._answers: dict[str, MockResponse] = {}

    def load(self, ids: Sequence[str], bodies: Sequence[bytes]) -> None:
        """Answer the chunk starting at ``ids[100 * k]`` with ``bodies[k]`` from now on."""
        # Made here, before the tick is measured: the handler only looks its answer up.
        self._answers = {
            ids[k * CHUNK]: MockResponse(body=body, headers=_HEADERS)
            for k, body in enumerate(bodies)
        }

    def __call__(self, request: MockRequest) -> MockResponse:
        """The prepared answer for the chunk in the request's body."""
        if not request.path.endswith("/list-by-condition"):
            raise AssertionError(f"the replay only answers list-by-condition, not {request.path}")
        answer = self._answers.get(request.json["ids"][0])
        if answer is None:
            raise AssertionError("the poller asked for a chunk the bench did not prepare")
        return answer


#: Clock seconds per step while a tick's paced requests go out, and the most steps.
_STEP = 0.05
_MAX_STEPS = 2_000


class ReplayRig:
    """A client following ``ids`` through one merged stream, fed by a :class:`Replay`.

    The consumer counts events and keeps none, as a consumer that acts on them would.
    """

    def __init__(self, ids: Sequence[str], *, policy: PollPolicy | None = None) -> None:
        self.ids = list(ids)
        self.clock = ManualClock()
        self.replay = Replay()
        # Nothing kept: 100 records a tick would grow the memory the memory bench measures.
        self.transport = MockTransport(self.replay, record=False)
        # No ceiling on the pace: the poller's own pace (scaled to the watch set) spreads a
        # tick's requests over a second or two of clock time, which :meth:`_drain` lets pass.
        # No refresh wait: a tick is a round over every task, and the wait would leave the
        # tasks that moved out of the next one.
        self.policy = policy or PollPolicy(max_requests_per_second=1e9, refresh_interval=None)
        self.client = OneChatClient(
            api_key=API_KEY,
            base_url="http://127.0.0.1:9",
            clock=self.clock,
            poll=self.policy,
            transport=self.transport,
        )
        self.events = 0
        self._consumer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        return self

    async def start(self, bodies: Sequence[bytes]) -> int:
        """Start following; the first tick, at once, is answered with ``bodies``."""
        self.replay.load(self.ids, bodies)
        self._consumer = asyncio.get_running_loop().create_task(self._consume())
        await self.clock.settle()
        await self._drain(0, len(bodies))
        return self.events

    async def _drain(self, asked: int, expected: int) -> None:
        """Let clock time pass in small steps until the tick's requests have all gone out.

        The poller paces its requests to the watch set (twice the chunks per interval each
        second), so a tick of 100 chunks leaves over about two and a half clock seconds.
        """
        for _ in range(_MAX_STEPS):
            sent = self.transport.request_count - asked
            if sent >= expected:
                break
            self.clock.advance(_STEP)
            await self.clock.settle()
        sent = self.transport.request_count - asked
        if sent != expected:
            raise AssertionError(f"a tick sent {sent} requests, expected {expected}")

    async def _consume(self) -> None:
        async with self.client.track_many(self.ids) as stream:
            async for _ in stream:
                self.events += 1

    async def tick(self, bodies: Sequence[bytes], *, advance: float) -> int:
        """Let ``advance`` seconds pass, answer the tick with ``bodies``; the events it gave."""
        self.replay.load(self.ids, bodies)
        before, asked = self.events, self.transport.request_count
        self.clock.advance(advance)
        await self.clock.settle()
        await self._drain(asked, len(bodies))
        return self.events - before

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.wait({self._consumer})
        await self.client.aclose()
