"""The :class:`Simulator`: a OneChat server on loopback that tests can steer."""

from __future__ import annotations

import collections
from types import TracebackType
from typing import Any, Self

import attrs
from aiohttp import web

from onechat_async._clock import Clock, SystemClock

from ._app import Backend, make_app
from ._faults import Fault, FaultBook
from ._hooks import HookDispatcher
from ._lifecycle import Timings
from ._messages import QUEUE_FULL_CSHARP, QUEUE_FULL_JAVA
from ._proxy import DEFAULT_FAIL_REASON, Answer, Proxy
from ._store import Store, TaskRecord
from ._views import FLAVOURS

__all__ = ["Simulator"]


class Simulator:
    """A simulated OneChat Midjourney server (aiohttp.web on 127.0.0.1).

    ``flavour`` picks whose quirks it shows: ``"gateway"`` (new-api in front of a proxy,
    the default and what OneChat runs), ``"java"`` (a bare midjourney-proxy) or
    ``"csharp-v10"`` (the C# rewrite, v10+). Task lifecycles follow ``clock``: share it with
    the client (a :class:`~onechat_async.testing.ScaledClock` or
    :class:`~onechat_async.testing.ManualClock`) and minutes pass in milliseconds.

    Options (all keyword-only):

    - ``api_key``: the key the server enforces (``Authorization: Bearer`` on the gateway,
      ``mj-api-secret`` on the upstreams).
    - ``clock``: default :class:`~onechat_async.SystemClock` (real time).
    - ``running_limit`` / ``waiting_limit``: the upstream account's slots and waiting room;
      a submit that must wait answers 22 (1 via the gateway), one beyond the room 23 (9 on C#).
    - ``timings``: a :class:`~onechat_async.testing.Timings` (defaults: an imagine takes
      about 60 s, the gateway refreshes every 15 s).
    - ``notify_hooks``: deliver notifyHook callbacks (off, as the gateway strips them);
      ``hook_duplicate_rate`` is the share of callbacks sent twice.
    - ``seed``: seeds ids, fault dice, list order and duplicates, so runs replay.

    Use it as ``async with Simulator(...) as sim:`` or call :meth:`start` and :meth:`aclose`.
    A closed simulator cannot be started again.
    """

    def __init__(
        self,
        *,
        api_key: str = "sk-test",
        flavour: str = "gateway",
        clock: Clock | None = None,
        running_limit: int = 3,
        waiting_limit: int = 10,
        timings: Timings | None = None,
        notify_hooks: bool = False,
        hook_duplicate_rate: float = 0.05,
        seed: int = 0,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, not {flavour!r}")
        self.api_key = api_key
        self.flavour = flavour
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.timings = timings if timings is not None else Timings()
        self.notify_hooks = notify_hooks
        #: Requests per endpoint name (see ``ENDPOINTS``), plus ``total`` and ``notify``.
        self.counters: collections.Counter[str] = collections.Counter()
        self._store = Store(
            timings=self.timings,
            running_limit=running_limit,
            waiting_limit=waiting_limit,
            seed=seed,
        )
        self._faults = FaultBook(seed)
        now = self.clock.now()
        wall_offset = self.clock.wall() - now
        if flavour == "csharp-v10":
            queue_full = Answer(9, QUEUE_FULL_CSHARP)
        else:
            # The gateway passes the Java proxy's 23 through untouched.
            queue_full = Answer(23, QUEUE_FULL_JAVA)
        self._proxy = Proxy(
            self._store,
            queue_full=queue_full,
            wall_of=lambda t: t + wall_offset,
            on_new_plan=self._on_new_plan,
        )
        self._backend = Backend(
            flavour=flavour,
            api_key=api_key,
            clock=self.clock,
            timings=self.timings,
            store=self._store,
            proxy=self._proxy,
            faults=self._faults,
            counters=self.counters,
            origin=now,
            wall_offset=wall_offset,
            notify_hooks=notify_hooks,
        )
        if notify_hooks:
            self._backend.hooks = HookDispatcher(
                store=self._store,
                clock=self.clock,
                timings=self.timings,
                render=self._backend.render_upstream,
                duplicate_rate=hook_duplicate_rate,
                on_sent=self._count_notify,
            )
        self._runner: web.AppRunner | None = None
        self._closed = False
        self.host = "127.0.0.1"
        self.port = 0

    # -- life --------------------------------------------------------------------------

    async def start(self, *, port: int = 0, host: str = "127.0.0.1") -> None:
        """Listen on ``host:port`` (port 0: any free port; read :attr:`url` afterwards)."""
        if self._closed:
            raise RuntimeError("a closed Simulator cannot be restarted; make a new one")
        if self._runner is not None:
            raise RuntimeError("the Simulator is already running")
        runner = web.AppRunner(make_app(self._backend), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])
        self._backend.base_url = self.url
        if self._backend.hooks is not None:
            self._backend.hooks.start()

    async def aclose(self) -> None:
        """Stop serving and cancel callbacks in flight; safe to call twice."""
        self._closed = True
        if self._backend.hooks is not None:
            await self._backend.hooks.aclose()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8787``; only once started."""
        if self._runner is None and not self.port:
            raise RuntimeError("the Simulator is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- steering ----------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Activate a fault rule (rules are tried in the order they were injected)."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._faults.clear()

    def fail_prompts(self, *fragments: str, reason: str = DEFAULT_FAIL_REASON) -> None:
        """Tasks whose prompt contains any fragment are accepted, then end in FAILURE."""
        for fragment in fragments:
            self._proxy.failing[fragment] = reason

    def ban_words(self, *words: str) -> None:
        """Prompts containing any word (case-insensitive) are refused with code 24."""
        self._proxy.banned.extend(words)

    def vanish(self, task_id: str) -> None:
        """Make the server forget a task: unknown to fetch, left out of list-by-condition."""
        if not self._store.forget(task_id):
            raise KeyError(task_id)

    def stall(self, task_id: str) -> None:
        """Freeze a task where it is now, forever (an upstream that lost it).

        Its running slot is still released on schedule: the queue does not wait for it.
        Behind the gateway it fails after ``timings.gateway_timeout`` like any other.
        """
        record = self._record(task_id)
        record.plan = attrs.evolve(record.plan, stalled_at=self.clock.now())

    def task(self, task_id: str) -> dict[str, Any] | None:
        """The task object a fetch would return now, or None if the server does not know it."""
        now = self.clock.now()
        record = self._store.get(task_id, now)
        if record is None:
            return None
        result: dict[str, Any] = self._backend.render(record, self._backend.snapshot(record, now))
        return result

    def reset_counters(self) -> None:
        """Set every counter back to zero."""
        self.counters.clear()

    @property
    def task_count(self) -> int:
        """How many tasks the server knows."""
        return len(self._store)

    @property
    def faults_fired(self) -> int:
        """How many times injected faults have struck."""
        return self._faults.fired

    # -- internals ---------------------------------------------------------------------

    def _record(self, task_id: str) -> TaskRecord:
        record = self._store.get(task_id, self.clock.now())
        if record is None:
            raise KeyError(task_id)
        return record

    def _on_new_plan(self, record: TaskRecord) -> None:
        if self._backend.hooks is not None:
            self._backend.hooks.watch(record)

    def _count_notify(self) -> None:
        self.counters["notify"] += 1

    def __repr__(self) -> str:
        where = self.url if self._runner is not None else "not running"
        return f"Simulator(flavour={self.flavour!r}, {where}, tasks={len(self._store)})"
