"""The soak: many tasks through a faulty, restarting simulator, driven by the public client API.

Two clients share one :class:`~onechat_async.testing.ScaledClock` with the simulator, so
minutes of task life pass in milliseconds, while request timeouts and ``slow`` faults stay in
real seconds (the network is not sped up). One client sends each submit once; the other has
a ``submit_retry`` policy. Jobs, each with a ``state`` of its own, run a mix of
``imagine`` + ``track``, ``submit_and_track``, ``imagine`` + ``wait``, ``simple_change``,
``action`` and ``fan_out`` on finished grids, with every n-th stream read slowly. Meanwhile
about 15% of all requests meet a fault of every kind (before and after the server acted),
15% of created tasks stall or vanish, ``slow`` answers outlast the client's timeout, and the
simulator restarts every half second.

Afterwards :func:`run` checks the rules of :mod:`tests.soak.ledger` against the simulator's
records, that nothing is left tracked or running, and that memory came back to where it was.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import random
import time
import traceback
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import attrs
from aiohttp import web

from onechat_async import (
    EventStream,
    OneChatClient,
    OneChatError,
    PollPolicy,
    RetryPolicy,
    SubmitResult,
    Succeeded,
    Task,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
)
from onechat_async.testing import Fault, ScaledClock, Simulator, Timings

from .ledger import (
    Key,
    Ledger,
    Violation,
    check_escapes,
    check_reported_once,
    check_sent_once,
    group,
)

__all__ = ["SoakConfig", "SoakReport", "inject_faults", "run"]

_OPS = ("U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "R")
_GRIDS = frozenset({"IMAGINE", "VARIATION", "REROLL"})
_KINDS = {
    "imagine": 25,
    "submit_and_track": 20,
    "imagine_wait": 10,
    "simple_change": 15,
    "action": 10,
    "fan_out": 20,
}
_BUTTONS = {"U": "MJ::JOB::upsample::{n}::", "V": "MJ::JOB::variation::{n}::"}
#: Clock seconds a slow consumer waits after each event.
_SLOW_READ = 20.0
_MIB = 2**20


@attrs.frozen(kw_only=True)
class SoakConfig:
    """One soak run; durations are real seconds unless they say clock seconds."""

    tasks: int = 100
    seed: int = 0
    #: Clock seconds per real second, shared by simulator and clients.
    speed: float = 1000.0
    #: Jobs in flight at once.
    concurrency: int = 24
    #: Share of requests (queries and submits) struck by an HTTP fault.
    fault_rate: float = 0.15
    #: Share of created tasks that stall or vanish.
    task_fault_rate: float = 0.15
    #: The clients' request timeout; ``slow_delay`` outlasts it.
    timeout: float = 0.25
    slow_delay: float = 0.4
    restart_every: float = 0.5
    downtime: float = 0.02
    #: Every n-th stream is read with a pause after each event.
    slow_consumer_every: int = 10
    #: How much more memory than at the start may be held once everything ended: a fixed
    #: slack, plus an allowance per job for what the simulator keeps of every task and
    #: request it served and the ledger's line per submit (about 2 KiB per job in all).
    memory_slack: int = 4 * _MIB
    memory_per_job: int = 4 * 1024
    #: Jobs still running after this are reported stuck (None: 20 s + 0.15 s per task).
    budget: float | None = None
    #: Stretch the real-time figures above by how slow this machine answers a loopback
    #: request right now (see :func:`calibrated`); 1.0 means "as written".
    stretch: float = 1.0

    @property
    def memory_bound(self) -> int:
        """The most memory the run may leave held, in bytes."""
        return self.memory_slack + self.memory_per_job * self.tasks

    @property
    def time_budget(self) -> float:
        """The real seconds the jobs get before the unfinished ones are reported stuck."""
        budget = self.budget if self.budget is not None else 20.0 + 0.15 * self.tasks
        return budget * self.stretch


#: A loopback round trip on a quiet 2-core machine under tracemalloc, 90th percentile, in
#: seconds (measured with :func:`round_trip`: 1.5 to 3 ms); the soak's real-time figures
#: were tuned against it.
QUIET_ROUND_TRIP = 0.004
#: The most the figures are stretched: past this the machine is too busy for a soak.
MAX_STRETCH = 10.0


async def round_trip(samples: int = 30) -> float:
    """The 90th percentile of a loopback HTTP round trip right now, in real seconds."""

    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"code": 1, "result": []})

    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    times: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(samples):
                begun = time.perf_counter()
                async with http.get(f"http://127.0.0.1:{port}/") as response:
                    await response.read()
                times.append(time.perf_counter() - begun)
    finally:
        await runner.cleanup()
    times.sort()
    return times[len(times) * 9 // 10]


def calibrated(config: SoakConfig, trip: float) -> SoakConfig:
    """``config`` with its real-time figures stretched to a machine that answers in ``trip``.

    Timeouts, slow answers and restarts are real seconds while task life runs on the sped-up
    clock; on a machine several times busier than the one they were tuned on, every request
    would time out and the soak would test nothing (a busy CI host once created 2 tasks of
    100). Stretching all of them, and slowing the clock by the same factor, keeps every
    ratio the soak relies on.
    """
    stretch = min(MAX_STRETCH, max(1.0, trip / QUIET_ROUND_TRIP))
    return attrs.evolve(
        config,
        stretch=stretch,
        speed=config.speed / stretch,
        timeout=config.timeout * stretch,
        slow_delay=config.slow_delay * stretch,
        restart_every=config.restart_every * stretch,
        downtime=config.downtime * stretch,
    )


@attrs.frozen(kw_only=True)
class SoakReport:
    """The figures of one run and every rule it found broken."""

    config: SoakConfig
    tasks_created: int
    submit_requests: int
    submit_calls: int
    outcome_unknown: int
    faults_fired: int
    events: int
    restarts: int
    wall_time: float
    peak_memory: int
    memory_growth: int
    violations: tuple[Violation, ...]

    def summary(self) -> str:
        """The run in a few lines, as docs/reliability.md quotes it."""
        return (
            f"soak: {self.config.tasks} jobs, seed {self.config.seed}, "
            f"{self.config.fault_rate:.0%} faults, speed {self.config.speed:g}x, "
            f"real-time figures x{self.config.stretch:.2g} for this machine's load\n"
            f"  tasks created      {self.tasks_created}\n"
            f"  submit calls       {self.submit_calls} "
            f"({self.submit_requests} submit requests reached the server)\n"
            f"  outcome unknown    {self.outcome_unknown}\n"
            f"  faults fired       {self.faults_fired}\n"
            f"  events consumed    {self.events}\n"
            f"  restarts           {self.restarts}\n"
            f"  wall time          {self.wall_time:.1f} s\n"
            f"  peak memory        {self.peak_memory / _MIB:.1f} MiB "
            f"(held afterwards: {self.memory_growth / _MIB:+.1f} MiB)\n"
            f"  violations         {len(self.violations)}"
        )

    def details(self) -> str:
        """The violations by rule, with the first few of each."""
        return group(self.violations) if self.violations else "no violations"


def _text(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {where[0].filename.rsplit('/', 2)[-1]}:{where[0].lineno}" if where else ""
    return f"{type(exc).__name__}: {str(exc)[:160]}{at}"


def _client(
    sim: Simulator,
    clock: ScaledClock,
    config: SoakConfig,
    *,
    seed: int,
    submit_retry: RetryPolicy | None = None,
) -> OneChatClient:
    # Pass the short timeout to every request-timeout option the client has, so that slow
    # answers outlast submits too once submits get a timeout of their own.
    names = inspect.signature(OneChatClient).parameters
    timeouts = dict.fromkeys(("timeout", "submit_timeout", "query_timeout"), config.timeout)
    return OneChatClient(
        api_key=sim.api_key,
        base_url=sim.url,
        clock=clock,
        poll=PollPolicy(),
        submit_retry=submit_retry,
        rng=random.Random(seed),  # noqa: S311 - jitter that replays
        **{name: value for name, value in timeouts.items() if name in names},  # type: ignore[arg-type]
    )


def inject_faults(sim: Simulator, config: SoakConfig) -> None:
    """Every fault kind, before and after the server acted, ``fault_rate`` of requests in all."""
    rules = 10  # each strikes alone; together they hit fault_rate of all requests
    rate = 1 - (1 - config.fault_rate) ** (1 / rules)
    for fault in (
        Fault(kind="http_5xx_html", rate=rate),
        Fault(kind="http_429", rate=rate, retry_after=1.0),
        Fault(kind="reset", rate=rate),
        Fault(kind="slow", rate=rate, delay=config.slow_delay),
        Fault(kind="slow", rate=rate, delay=config.timeout / 5),
        Fault(kind="empty_body", rate=rate),
        Fault(kind="truncated_body", rate=rate),
        Fault(kind="http_5xx_html", rate=rate, phase="after"),
        Fault(kind="reset", rate=rate, phase="after"),
        Fault(kind="empty_body", rate=rate, phase="after"),
    ):
        sim.inject(fault)
    task_rate = 1 - (1 - config.task_fault_rate) ** 0.5
    sim.inject(Fault(kind="stall", rate=task_rate, after=10.0))
    sim.inject(Fault(kind="vanish", rate=task_rate, after=20.0))


@attrs.define
class _Parent:
    task: Task
    free: list[str]


class _Soak:
    """The jobs: what each does, and what it saw, filed in the ledger."""

    def __init__(
        self,
        config: SoakConfig,
        clock: ScaledClock,
        plain: OneChatClient,
        retrying: OneChatClient,
    ) -> None:
        self.config = config
        self.clock = clock
        self.plain = plain
        self.retrying = retrying
        self.ledger = Ledger()
        self.rng = random.Random(f"{config.seed}:jobs")  # noqa: S311 - replayable choices
        kinds = list(_KINDS)
        self.kinds = self.rng.choices(kinds, weights=[_KINDS[k] for k in kinds], k=config.tasks)
        self.parents: list[_Parent] = []
        self.steps: dict[int, str] = {}

    # -- the calls, each filed under its key -------------------------------------------

    def escaped(self, where: str, key: Key, exc: BaseException) -> None:
        """File an exception that is not a OneChatError; re-raise our own cancellation."""
        current = asyncio.current_task()
        if isinstance(exc, asyncio.CancelledError) and current and current.cancelling():
            raise exc
        self.ledger.escaped(where, key, _text(exc))

    async def submit(self, key: Key, call: Callable[[], Awaitable[SubmitResult]]) -> str | None:
        try:
            result = await call()
        except OneChatError as exc:
            self.ledger.submit_failed(key, exc)
            return None
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - what the soak looks for
            self.escaped("submit", key, exc)
            return None
        self.ledger.submit_returned(key, result.task_id)
        return result.task_id

    async def follow(
        self,
        key: Key,
        open_stream: Callable[[], EventStream],
        *,
        slow: bool,
        submit_first: bool = False,
    ) -> None:
        state, op = key
        assert state is not None
        started = False
        try:
            async with open_stream() as stream:
                async for event in stream:
                    started = True
                    self.ledger.event(state, op, event)
                    if isinstance(event, Succeeded):
                        self.add_parent(event.task)
                    if slow:
                        await self.clock.sleep(_SLOW_READ)
        except OneChatError as exc:
            if submit_first and not started:
                self.ledger.submit_failed(key, exc)  # submit_and_track: the submit raised
            else:
                self.ledger.stream_failed(key, exc)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - what the soak looks for
            self.escaped("stream", key, exc)

    async def wait(self, client: OneChatClient, key: Key, task_id: str) -> None:
        try:
            task = await client.wait(task_id)
        except (TaskFailedError, TaskTimeoutError, TaskNotFoundError):
            self.ledger.terminal(task_id)  # wait()'s way of telling Failed, TimedOut, Lost
        except OneChatError as exc:
            self.ledger.stream_failed(key, exc)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - what the soak looks for
            self.escaped("wait", key, exc)
        else:
            self.ledger.terminal(task_id)
            self.add_parent(task)

    # -- grids to change ------------------------------------------------------------------

    def add_parent(self, task: Task) -> None:
        if task.action is not None and task.action.value in _GRIDS and task.buttons:
            self.parents.append(_Parent(task, list(_OPS)))

    def take(self, count: int) -> tuple[Task, list[str]] | None:
        """A finished grid and ``count`` of its ops nobody used (each op is used once)."""
        usable = [p for p in self.parents if len(p.free) >= count]
        if not usable:
            return None
        parent = self.rng.choice(usable)
        ops = self.rng.sample(parent.free, count)
        for op in ops:
            parent.free.remove(op)
        if not parent.free:
            self.parents.remove(parent)
        return parent.task, ops

    # -- one job ------------------------------------------------------------------------------

    async def job(self, number: int) -> None:
        try:
            await self._job(number)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - what the soak looks for
            self.escaped("job", (f"soak-{number:05d}", None), exc)

    async def _job(self, number: int) -> None:
        state = f"soak-{number:05d}"
        every = self.config.slow_consumer_every
        slow = every > 0 and number % every == every - 1
        prompt = f"soak job {number}" + (" --fail" if number % 20 == 3 else "")
        kind = self.kinds[number]
        picked = None
        if kind in ("simple_change", "action", "fan_out"):
            picked = self.take(self.rng.randint(1, 3) if kind == "fan_out" else 1)
            if picked is None:
                kind = "imagine"
        self.steps[number] = f"{kind} {state}"
        plain, retrying, key = self.plain, self.retrying, (state, None)
        if kind == "submit_and_track":
            await self.follow(
                key,
                lambda: plain.submit_and_track(plain.imagine(prompt, state=state)),
                slow=slow,
                submit_first=True,
            )
        elif kind == "imagine_wait":
            task_id = await self.submit(key, lambda: retrying.imagine(prompt, state=state))
            if task_id is not None:
                self.steps[number] = f"{kind} {state}: waiting for {task_id}"
                await self.wait(retrying, key, task_id)
        elif kind == "fan_out" and picked is not None:
            parent, ops = picked
            self.steps[number] = f"{kind} {state} {ops} of {parent.id}"
            await self.follow(key, lambda: plain.fan_out(parent.id, ops, state=state), slow=slow)
        elif picked is not None:
            await self.change(number, kind, state, picked, slow=slow)
        else:
            task_id = await self.submit(key, lambda: plain.imagine(prompt, state=state))
            if task_id is not None:
                self.steps[number] = f"{kind} {state}: tracking {task_id}"
                await self.follow(key, lambda: plain.track(task_id), slow=slow)
        del self.steps[number]

    async def change(
        self, number: int, kind: str, state: str, picked: tuple[Task, list[str]], *, slow: bool
    ) -> None:
        parent, (op,) = picked
        key = (state, op)
        client = self.plain if number % 2 else self.retrying
        call: Callable[[], Awaitable[SubmitResult]]
        if kind == "action":
            prefix = "MJ::JOB::reroll::0::" if op == "R" else _BUTTONS[op[0]].format(n=op[1])
            custom_id = next(b.custom_id for b in parent.buttons if b.custom_id.startswith(prefix))
            call = lambda: client.action(parent.id, custom_id, state=state)  # noqa: E731
        else:
            call = lambda: client.simple_change(parent.id, op, state=state)  # noqa: E731
        task_id = await self.submit(key, call)
        if task_id is not None:
            self.steps[number] = f"{kind} {state} {op}: tracking {task_id}"
            await self.follow(key, lambda: client.track(task_id), slow=slow)


async def _restarts(sim: Simulator, config: SoakConfig, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), config.restart_every)
        except TimeoutError:
            await sim.restart(config.downtime)


async def _run_jobs(soak: _Soak, config: SoakConfig) -> list[Violation]:
    gate = asyncio.Semaphore(config.concurrency)

    async def guarded(number: int) -> None:
        async with gate:
            await soak.job(number)

    jobs = [asyncio.create_task(guarded(n), name=f"soak job {n}") for n in range(config.tasks)]
    _, pending = await asyncio.wait(jobs, timeout=config.time_budget)
    stuck = [
        Violation(
            "finished",
            soak.steps.get(n, f"job {n}"),
            f"still running after {config.time_budget:g} s",
        )
        for n, job in enumerate(jobs)
        if job in pending
    ]
    for job in pending:
        job.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return stuck


def _still_running() -> list[Violation]:
    """Tasks left on the loop once clients and simulator are closed (only ours may remain)."""
    current = asyncio.current_task()
    return [
        Violation("finished", task.get_name(), f"left running after everything closed: {task!r}")
        for task in asyncio.all_tasks()
        if task is not current and not task.done()
    ]


def _leftovers(clients: Sequence[tuple[str, OneChatClient]]) -> list[Violation]:
    found = []
    for name, client in clients:
        poller = client._poller
        tracked = sorted(set(poller.watched) | set(poller.tracker))
        if tracked:
            found.append(
                Violation(
                    "bounded", f"client {name}", f"still tracks {len(tracked)}: {tracked[:5]}"
                )
            )
    return found


async def run(config: SoakConfig) -> SoakReport:
    """Run the soak and check every rule; the report lists what broke (nothing, ideally)."""
    tracing = not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    started = time.perf_counter()
    config = calibrated(config, await round_trip())
    clock = ScaledClock(config.speed)
    async with Simulator(
        api_key="sk-soak",
        clock=clock,
        running_limit=40,
        waiting_limit=40,
        timings=Timings(gateway_timeout=900.0),
        seed=config.seed,
    ) as sim:
        sim.fail_prompts("--fail")
        plain = _client(sim, clock, config, seed=1)
        retrying = _client(sim, clock, config, seed=2, submit_retry=RetryPolicy(attempts=4))
        clients = (("plain", plain), ("retrying", retrying))
        soak = _Soak(config, clock, plain, retrying)
        try:
            for _, client in clients:
                await client.list_tasks(["1"])  # open connections before the baseline
            gc.collect()
            baseline = tracemalloc.get_traced_memory()[0]
            inject_faults(sim, config)
            stop = asyncio.Event()
            restarting = asyncio.create_task(_restarts(sim, config, stop))
            try:
                violations = await _run_jobs(soak, config)
            finally:
                stop.set()
                await restarting
            sim.clear_faults()
            await sim.wait_idle(timeout=30)
            violations += check_reported_once(sim.created, soak.ledger)
            violations += check_sent_once(sim.submits)
            violations += check_escapes(soak.ledger)
            violations += _leftovers(clients)
            soak.parents.clear()
            gc.collect()
            held, peak = tracemalloc.get_traced_memory()
        finally:
            for _, client in clients:
                await client.aclose()
        growth = held - baseline
        if growth > config.memory_bound:
            violations.append(
                Violation(
                    "bounded",
                    "memory",
                    f"{growth / _MIB:.1f} MiB more held after the run than before it "
                    f"(bound {config.memory_bound / _MIB:.1f} MiB)",
                )
            )
        report = SoakReport(
            config=config,
            tasks_created=len(sim.created),
            submit_requests=len(sim.submits),
            submit_calls=soak.ledger.submit_calls,
            outcome_unknown=soak.ledger.outcome_unknown,
            faults_fired=sim.faults_fired,
            events=soak.ledger.events,
            restarts=sim.restarts,
            wall_time=time.perf_counter() - started,
            peak_memory=peak,
            memory_growth=growth,
            violations=tuple(violations),
        )
    await asyncio.sleep(0)  # let cancelled callbacks run before looking for leftovers
    report = attrs.evolve(report, violations=report.violations + tuple(_still_running()))
    if tracing:
        tracemalloc.stop()
    return report
