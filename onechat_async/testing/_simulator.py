"""The :class:`Simulator`: a OneChat server on loopback that tests can steer."""

from __future__ import annotations

import asyncio
import collections
import errno
import math
from types import TracebackType
from typing import Any, Self

import attrs
from aiohttp import web

from onechat_async._clock import Clock, SystemClock

from ._app import Backend, make_app
from ._context import Context
from ._faults import Fault, FaultBook
from ._flavours import FLAVOURS, UPSTREAMS, Dialect
from ._gateway import DEFAULT_MAX_BODY, Gateway
from ._hooks import HookDispatcher, SentHook
from ._lifecycle import Timings
from ._proxy import DEFAULT_FAIL_REASON, Proxy
from ._records import CreatedTask, SubmitRecord
from ._store import Store, TaskRecord
from ._upstream import Upstream

__all__ = ["Simulator"]

#: Real seconds a stopping server lets requests in flight finish before cutting them off.
_SHUTDOWN_GRACE = 0.05
#: How long a restart keeps trying to bind its old port (a client socket may hold it briefly).
_REBIND_TRIES, _REBIND_PAUSE = 100, 0.01


class Simulator:
    """A simulated OneChat Midjourney server (aiohttp.web on 127.0.0.1).

    ``flavour`` picks whose behaviour it shows, each read from that server's source:
    ``"gateway"`` (new-api in front of a proxy: the default and what OneChat runs),
    ``"java"`` (the open-source midjourney-proxy), ``"java-plus"`` (its closed plus
    edition, with buttons, action and modal) or ``"csharp-v10"`` (trueai's rewrite, v10+).
    Task lifecycles follow ``clock``: share it with the client (a
    :class:`~onechat_async.testing.ScaledClock` or
    :class:`~onechat_async.testing.ManualClock`) and minutes pass in milliseconds.

    Use it as ``async with Simulator(...) as sim:`` or call :meth:`start` and :meth:`aclose`.
    A closed simulator cannot be started again; :meth:`restart` stops and resumes one.

    What it did is on record: :attr:`counters` (requests per endpoint), :attr:`created`
    (every task made by a submit, with its endpoint and ``state``), :attr:`submits` (every
    submit request and its answer) and :meth:`submits_by_state`.

    ```python
    async with Simulator(api_key="sk-test", clock=ScaledClock(1000)) as sim:
        async with OneChatClient(api_key="sk-test", base_url=sim.url, clock=sim.clock) as client:
            await client.submit_and_wait(client.imagine("a fox"))
        assert sim.counters["imagine"] == 1
    ```

    :param flavour: Whose behaviour it shows (see the first paragraph).
    :param api_key: The key the server enforces, read from the headers as each real server
        reads them (see docs/testing.md).
    :param upstream: What the gateway fronts, ``"java-plus"`` (default) or ``"csharp-v10"``.
    :param admin: Whether the key belongs to an admin: trueai's cancel and new-api's
        ``sk-KEY-<channel>`` are for admins only (default False).
    :param max_body: The largest request body in bytes (default: new-api's 128 MiB,
        Kestrel's 30,000,000, and 64 MiB for Spring, which sets none).
    :param clock: The clock task lifecycles follow; default :class:`~onechat_async.SystemClock`
        (real time).
    :param running_limit: The upstream account's slots (tasks running at once).
    :param waiting_limit: Its waiting room; a submit that must wait answers 22 (1 via
        the gateway), one beyond the room 23 (9 on C#).
    :param timings: A :class:`~onechat_async.testing.Timings` (defaults: an imagine takes
        about 60 s, the gateway refreshes every 15 s).
    :param notify_hooks: Deliver notifyHook callbacks (off, as the gateway strips them), like
        the upstream: one unsigned, unretried POST of the task per status or progress
        increase.
    :param hook_duplicate_rate: The share of callbacks sent twice.
    :param hook_drop_rate: The share of callbacks never sent.
    :param hook_reorder_rate: The share of non-final callbacks held back and sent
        after the task's next one; what was sent is in :attr:`hooks_sent`.
    :param seed: Seeds ids, fault dice, list order and duplicates, so runs replay.
    :raises ValueError: An unknown ``flavour`` or ``upstream``, an ``upstream`` for a bare
        proxy, a rate outside 0..1, a ``max_body`` below 1.
    :ivar api_key: The key the server enforces.
    :ivar flavour: Whose behaviour it shows.
    :ivar upstream: The proxy the server runs: itself, or the one behind the gateway.
    :ivar clock: The clock task lifecycles follow.
    :ivar timings: How long each kind of task takes.
    :ivar notify_hooks: Whether notifyHook callbacks are delivered.
    :ivar counters: Requests per endpoint name (see ``ENDPOINTS``), plus ``total`` and
        ``notify``: ``sim.counters["imagine"]``.
    :ivar host: The address it listens on.
    :ivar port: The port it listens on (the one picked, after ``start(port=0)``).
    :ivar restarts: How many times :meth:`restart` brought the server back.
    """

    def __init__(
        self,
        *,
        api_key: str = "sk-test",
        flavour: str = "gateway",
        upstream: str | None = None,
        admin: bool = False,
        max_body: int | None = None,
        clock: Clock | None = None,
        running_limit: int = 3,
        waiting_limit: int = 10,
        timings: Timings | None = None,
        notify_hooks: bool = False,
        hook_duplicate_rate: float = 0.05,
        hook_drop_rate: float = 0.0,
        hook_reorder_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, not {flavour!r}")
        if upstream is not None and flavour != "gateway":
            raise ValueError("upstream= is what a gateway fronts; a bare proxy has none")
        upstream = upstream or "java-plus"
        if upstream not in UPSTREAMS:
            raise ValueError(f"upstream must be one of {UPSTREAMS}, not {upstream!r}")
        for name, rate in (
            ("hook_duplicate_rate", hook_duplicate_rate),
            ("hook_drop_rate", hook_drop_rate),
            ("hook_reorder_rate", hook_reorder_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within 0..1, not {rate!r}")
        if max_body is not None and max_body < 1:
            raise ValueError("max_body must be a positive number of bytes")
        self.api_key = api_key
        self.flavour = flavour
        #: The proxy the server runs: itself, or the one behind the gateway.
        self.upstream = upstream if flavour == "gateway" else flavour
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
        self._ctx = Context(self.clock, self.timings, self._store, now, wall_offset)
        self._proxy = Proxy(
            self._store,
            dialect=Dialect.of(self.upstream),
            wall_of=lambda t: t + wall_offset,
            on_new_plan=self._on_new_plan,
        )
        proxy = Upstream(
            self.upstream, ctx=self._ctx, proxy=self._proxy, api_key=api_key, admin=admin
        )
        default_body = {"gateway": DEFAULT_MAX_BODY, "csharp-v10": 30_000_000}
        max_body = max_body or default_body.get(flavour, 64 << 20)
        gateway = None
        if flavour == "gateway":
            gateway = Gateway(
                self._ctx,
                proxy,
                api_key=api_key,
                admin=admin,
                notify_hooks=notify_hooks,
                max_body=max_body,
                seed=seed,
            )
        self._backend = Backend(
            flavour=flavour,
            ctx=self._ctx,
            upstream=proxy,
            gateway=gateway,
            faults=self._faults,
            counters=self.counters,
            max_body=max_body,
        )
        if notify_hooks:
            self._backend.hooks = HookDispatcher(
                store=self._store,
                clock=self.clock,
                timings=self.timings,
                render=proxy.render_snapshot,
                duplicate_rate=hook_duplicate_rate,
                drop_rate=hook_drop_rate,
                reorder_rate=hook_reorder_rate,
                seed=seed,
                on_sent=self._count_notify,
            )
        self._runner: web.AppRunner | None = None
        self._closed = False
        self.host = "127.0.0.1"
        self.port = 0
        #: How many times :meth:`restart` brought the server back.
        self.restarts = 0

    # -- life --------------------------------------------------------------------------

    async def start(self, *, port: int = 0, host: str = "127.0.0.1") -> None:
        """Listen on ``host:port`` (port 0: any free port; read :attr:`url` afterwards).

        :param port: The port to listen on (0: any free port).
        :param host: The address to listen on.
        :raises RuntimeError: The simulator is running already, or was closed.
        """
        if self._closed:
            raise RuntimeError("a closed Simulator cannot be restarted; make a new one")
        if self._runner is not None:
            raise RuntimeError("the Simulator is already running")
        await self._listen(host, port)
        self._ctx.base_url = self.url
        if self._backend.hooks is not None:
            self._backend.hooks.start()

    async def _listen(self, host: str, port: int) -> None:
        runner = web.AppRunner(
            make_app(self._backend),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_SHUTDOWN_GRACE,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])

    async def restart(self, downtime: float = 0.0) -> None:
        """Stop listening, wait ``downtime`` real seconds, listen again on the same address.

        Like a gateway restarting on top of its database, the task store, fault rules,
        counters and records survive; open connections are closed and requests in flight
        are cut off without an answer (a submit that had not acted yet creates nothing).
        During the downtime connections are refused. Real seconds, like a ``slow`` fault's
        delay: the network is not sped up by a scaled clock.

        :param downtime: Real seconds to stay down, refusing connections.
        """
        if not (math.isfinite(downtime) and downtime >= 0):
            raise ValueError(f"downtime must be a finite number of seconds >= 0, not {downtime}")
        if self._closed or self._runner is None:
            raise RuntimeError("only a running Simulator can be restarted")
        runner, self._runner = self._runner, None
        await self._stop(runner)
        if downtime > 0:
            await asyncio.sleep(downtime)
        for attempt in range(_REBIND_TRIES):
            if self.closed:
                return  # closed while down: stay down
            try:
                await self._listen(self.host, self.port)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == _REBIND_TRIES - 1:
                    raise
                await asyncio.sleep(_REBIND_PAUSE)
        self.restarts += 1

    async def aclose(self) -> None:
        """Stop serving and cancel callbacks in flight; safe to call twice."""
        self._closed = True
        if self._backend.hooks is not None:
            await self._backend.hooks.aclose()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await self._stop(runner)

    async def _stop(self, runner: web.AppRunner) -> None:
        """Stop listening, cut off the requests in flight, close every connection."""
        for site in list(runner.sites):
            await site.stop()
        busy = self._backend.busy
        busy.stopping = True
        try:
            await busy.cut_off()
            await runner.cleanup()
        finally:
            busy.stopping = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (a closed simulator never listens again)."""
        return self._closed

    @property
    def running(self) -> bool:
        """Whether the server is listening (False before start, during a restart, once closed)."""
        return self._runner is not None

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no request is being served, e.g. a ``slow`` one whose client gave up.

        ``timeout`` is in real seconds (None: no limit); it raises :class:`TimeoutError`.

        :param timeout: The most real seconds to wait, or None for no limit.
        :raises TimeoutError: Requests were still being served after ``timeout``.
        """
        async with asyncio.timeout(timeout):
            await self._backend.busy.idle()

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
        """Activate a fault rule (rules are tried in the order they were injected).

        :param fault: The rule: which endpoint, what kind of fault, how often.

        ```python
        sim.inject(Fault(endpoint="fetch", kind="http_5xx_html", rate=0.1))
        ```
        """
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._faults.clear()

    def fail_prompts(self, *fragments: str, reason: str = DEFAULT_FAIL_REASON) -> None:
        """Tasks whose prompt contains any fragment are accepted, then end in FAILURE.

        :param fragments: Text that, found in a prompt, makes its task fail.
        :param reason: The ``failReason`` the failed tasks carry.
        """
        for fragment in fragments:
            self._proxy.failing[fragment] = reason

    def ban_words(self, *words: str) -> None:
        """Prompts containing any word (case-insensitive) are refused with code 24.

        :param words: Words to refuse, matched case-insensitively anywhere in the prompt.
        """
        self._proxy.banned.extend(words)

    def vanish(self, task_id: str) -> None:
        """Make the upstream forget a task (a proxy restarted on an in-memory store).

        A bare proxy then no longer knows it: unknown to fetch (Java's empty 200, trueai's
        204), left out of list-by-condition. The gateway never deletes a row: behind it the
        task stays frozen in the state its poller last copied, forever; it is never
        force-failed after the hour (that needs the upstream to return it) and fetch keeps
        answering it.

        :param task_id: The task to forget.
        :raises KeyError: The simulator never made this task.
        """
        if not self._store.forget(task_id, self.clock.now()):
            raise KeyError(task_id)

    def stall(self, task_id: str) -> None:
        """Freeze a task where it is now, forever (Discord never finishes it).

        The upstream still returns it; its running slot is still released on schedule.
        Behind the gateway it fails after ``timings.gateway_timeout`` like any other.

        :param task_id: The task to freeze.
        :raises KeyError: The simulator never made this task.
        """
        record = self._record(task_id)
        record.plan = attrs.evolve(record.plan, stalled_at=self.clock.now())

    def task(self, task_id: str) -> dict[str, Any] | None:
        """The task object a fetch would return now, or None if the server does not know it.

        Through the gateway that is the id's oldest row (after a ``/modal``, the stale one).

        :param task_id: The task to look up.
        """
        return self._backend.task(task_id)

    def task_rows(self, task_id: str) -> list[dict[str, Any]]:
        """Every task object list-by-condition returns for ``task_id``, oldest row first.

        One at most on a bare proxy; through the gateway one per row, so two after a
        ``/modal`` on the task (see docs/testing.md).

        :param task_id: The task to look up.
        """
        return self._backend.task_rows(task_id)

    def reset_counters(self) -> None:
        """Set every counter back to zero."""
        self.counters.clear()

    @property
    def task_count(self) -> int:
        """How many tasks the upstream knows (vanished ones not counted)."""
        return self._store.count(self.clock.now())

    @property
    def hooks_sent(self) -> tuple[SentHook, ...]:
        """Every notifyHook call decided on, in order: posted ones, and dropped ones marked.

        A duplicate appears twice; a reordered change appears after the one that overtook
        it. Empty unless ``notify_hooks`` is on.
        """
        return () if self._backend.hooks is None else tuple(self._backend.hooks.sent)

    @property
    def faults_fired(self) -> int:
        """How many times injected faults have struck."""
        return self._faults.fired

    @property
    def created(self) -> tuple[CreatedTask, ...]:
        """Every task a submit request created, in order, vanished ones included.

        Each :class:`~onechat_async.testing.CreatedTask` names the endpoint that made it and
        the ``state`` the submit carried, so a test can tell which call paid for what.
        """
        return tuple(self._backend.created)

    @property
    def submits(self) -> tuple[SubmitRecord, ...]:
        """Every submit request that reached the server, refused and faulted ones included.

        In the order they arrived (see :class:`~onechat_async.testing.SubmitRecord`); one
        still being served shows ``status=None`` until it is answered: call
        :meth:`wait_idle` first for a settled view.
        """
        return tuple(trace.record() for trace in self._backend.submits)

    def submits_by_state(self) -> collections.Counter[str | None]:
        """How many submit requests reached the server per ``state`` (None: no state)."""
        return collections.Counter(trace.state for trace in self._backend.submits)

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
        return f"Simulator(flavour={self.flavour!r}, {where}, tasks={self.task_count})"
