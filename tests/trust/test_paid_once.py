"""Paid once: count the tasks the simulator created under every fault that can hit a submit.

Tests that count the tasks the simulator created under every phase="after" fault kind for
imagine, simple-change, action and fan_out, with and without submit_retry; the same under the
faults that strike before the server acted (the client cannot tell those apart, so they are
outcome-unknown too, and sent once); and under refusals that prove no task was made, which
``submit_retry`` (or a fan-out's own attempts) may send again until exactly one task exists.

The server's side of the story is the simulator's record: ``sim.created`` (every task a
submit made, with its endpoint, ``state`` and parentage) and ``sim.submits`` (every submit
request that reached it). The client and the simulator share an auto-advancing
:class:`~onechat_async.testing.ManualClock`, so a grid finishes in milliseconds.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import attrs
import pytest

from onechat_async import (
    BannedPromptError,
    Event,
    OneChatClient,
    OneChatError,
    QueueFullError,
    RateLimitError,
    RetryPolicy,
    SubmitFailed,
    SubmitOutcomeUnknownError,
    SubmitResult,
    Submitted,
    Succeeded,
    Task,
    testing,
)
from onechat_async._outcome import proves_no_task
from onechat_async.testing import Fault, ManualClock, Simulator

#: The open-source Java proxy has no /action; the plus edition stands for the Java proxies.
FLAVOURS = tuple(f for f in testing.FLAVOURS if f != "java")
STATE = "paid-once"
KEY = "sk-trust"
SubmitKind = Literal["imagine", "simple_change", "action", "fan_out"]
SUBMIT_KINDS: tuple[SubmitKind, ...] = ("imagine", "simple_change", "action", "fan_out")
SINGLE_KINDS: tuple[SubmitKind, ...] = ("imagine", "simple_change", "action")
#: The opt-in retry of the brief: generous in attempts, so a re-send would surely happen.
SUBMIT_RETRY = RetryPolicy(attempts=5, wait_jitter=0)
#: Patient enough to outlast a running imagine (about 60 clock seconds) in a queue of one.
PATIENT_RETRY = RetryPolicy(attempts=20, wait_initial=30, wait_max=60, wait_jitter=0, timeout=3600)
RETRIES = {"without_submit_retry": None, "with_submit_retry": SUBMIT_RETRY}


@attrs.frozen
class Strike:
    """A fault on the paid submit, and what the client must make of it."""

    phase: Literal["before", "after"]
    kind: str
    reason: str

    @property
    def creates(self) -> bool:
        """Whether the server made the task before the fault struck."""
        return self.phase == "after"


#: Every fault kind that can strike after the task was made, then those that strike before.
STRIKES = [
    Strike("after", "http_5xx_html", "server_error"),
    Strike("after", "reset", "connection_lost"),
    Strike("after", "empty_body", "unreadable_answer"),
    Strike("after", "truncated_body", "unreadable_answer"),
    Strike("before", "http_5xx_html", "server_error"),
    Strike("before", "reset", "connection_lost"),
    Strike("before", "empty_body", "unreadable_answer"),
]


def paid_route(flavour: str, kind: SubmitKind) -> str:
    """The endpoint whose request creates the task: C# has no change endpoints, only action."""
    if kind == "imagine":
        return "imagine"
    if kind == "action" or flavour == "csharp-v10":
        return "action"
    return "simple-change"


def tried_routes(flavour: str, kind: SubmitKind) -> collections.Counter[str]:
    """The submit requests one call sends: C# answers 404 on simple-change and change first."""
    if kind == "simple_change" and flavour == "csharp-v10":
        return collections.Counter({"simple-change": 1, "change": 1, "action": 1})
    return collections.Counter({paid_route(flavour, kind): 1})


@contextlib.asynccontextmanager
async def opened(
    flavour: str,
    *,
    submit_retry: RetryPolicy | None,
    running_limit: int = 3,
    waiting_limit: int = 10,
    max_in_flight: int | Literal["auto"] | None = "auto",
) -> AsyncIterator[tuple[Simulator, OneChatClient]]:
    """A simulator of ``flavour`` and a client on it sharing an auto-advancing clock."""
    clock = ManualClock(auto_advance=True)
    async with (
        Simulator(
            api_key=KEY,
            flavour=flavour,
            clock=clock,
            running_limit=running_limit,
            waiting_limit=waiting_limit,
        ) as sim,
        OneChatClient(
            api_key=KEY,
            base_url=sim.url,
            clock=clock,
            timeout=5,
            submit_timeout=5,
            submit_retry=submit_retry,
            max_in_flight=max_in_flight,
        ) as client,
    ):
        yield sim, client


async def finished_grid(client: OneChatClient) -> Task:
    """A finished imagine grid to change, press buttons of, or fan out."""
    return await client.submit_and_wait(client.imagine("a lighthouse", state="parent"))


async def submit_once(client: OneChatClient, kind: SubmitKind, grid: Task | None) -> SubmitResult:
    """One paid call of ``kind`` carrying STATE (on ``grid`` unless it is an imagine)."""
    if kind == "imagine":
        return await client.imagine("a red fox", state=STATE)
    assert grid is not None
    if kind == "simple_change":
        return await client.simple_change(grid.id, "U2", state=STATE)
    button = grid.button("U1")
    assert button is not None
    return await client.action(grid.id, button.custom_id, state=STATE)


def created_with_state(sim: Simulator) -> list[str]:
    """The ids of the tasks the server made for STATE."""
    return [t.task_id for t in sim.created if t.state == STATE]


def sent_with_state(sim: Simulator) -> collections.Counter[str]:
    """How many submit requests carrying STATE reached the server, per endpoint."""
    return collections.Counter(s.endpoint for s in sim.submits if s.state == STATE)


async def fan_out_events(client: OneChatClient, grid: Task, *, attempts: int = 5) -> list[Event]:
    """Every event of a fan-out of the grid's eight children, to the end."""
    async with client.fan_out(grid.id, state=STATE, attempts=attempts) as events:
        return [event async for event in events]


def children_sent(sim: Simulator, grid: Task, route: str) -> collections.Counter[tuple[str, int]]:
    """Submit requests on the paid route per child ``(action, index)`` of ``grid``."""
    return collections.Counter(
        (s.action or "", s.index or 0)
        for s in sim.submits
        if s.endpoint == route and s.parent_id == grid.id
    )


def children_made(sim: Simulator, grid: Task) -> collections.Counter[tuple[str, int]]:
    """Tasks the server made per child ``(action, index)`` of ``grid``."""
    return collections.Counter((t.action, t.index) for t in sim.created if t.parent_id == grid.id)


EIGHT = {(action, i): 1 for action in ("UPSCALE", "VARIATION") for i in range(1, 5)}


def child_key(op: str) -> tuple[str, int]:
    """The server's ``(action, index)`` for a fan-out op such as ``"V3"``."""
    return ("UPSCALE" if op[0] == "U" else "VARIATION"), int(op[1])


# -- faults on the paid request: outcome unknown, sent once ----------------------------------


@pytest.mark.parametrize("retry", RETRIES)
@pytest.mark.parametrize("strike", STRIKES, ids=lambda s: f"{s.phase}-{s.kind}")
@pytest.mark.parametrize("kind", SINGLE_KINDS)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_faulted_submit_is_unknown_and_sent_once(
    flavour: str, kind: SubmitKind, strike: Strike, retry: str
) -> None:
    """A faulted submit raises SubmitOutcomeUnknownError and is sent once, paying at most once."""
    route = paid_route(flavour, kind)
    async with opened(flavour, submit_retry=RETRIES[retry]) as (sim, client):
        grid = None if kind == "imagine" else await finished_grid(client)
        sim.inject(Fault(endpoint=route, kind=strike.kind, phase=strike.phase, count=1))
        with pytest.raises(SubmitOutcomeUnknownError) as info:
            await submit_once(client, kind, grid)
        await sim.wait_idle(timeout=5)
        error = info.value
        assert (error.state, error.endpoint, error.reason) == (STATE, route, strike.reason)
        assert not error.retryable
        assert sent_with_state(sim) == tried_routes(flavour, kind)
        assert len(created_with_state(sim)) == (1 if strike.creates else 0)
        assert sim.faults_fired == 1


@pytest.mark.parametrize("retry", RETRIES)
@pytest.mark.parametrize("strike", STRIKES, ids=lambda s: f"{s.phase}-{s.kind}")
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_faulted_fan_out_child_is_unknown_and_sent_once(
    flavour: str, strike: Strike, retry: str
) -> None:
    """One faulted child of eight: one SubmitFailed(unknown), seven succeed, nothing re-sent."""
    route = paid_route(flavour, "fan_out")
    async with opened(flavour, submit_retry=RETRIES[retry]) as (sim, client):
        grid = await finished_grid(client)
        sim.inject(Fault(endpoint=route, kind=strike.kind, phase=strike.phase, count=1))
        events = await fan_out_events(client, grid)
        await sim.wait_idle(timeout=5)
    failed = [e for e in events if isinstance(e, SubmitFailed)]
    assert len(failed) == 1
    error = failed[0].error
    assert isinstance(error, SubmitOutcomeUnknownError)
    assert (error.state, error.endpoint, error.reason) == (STATE, route, strike.reason)
    submitted = {e.task_id for e in events if isinstance(e, Submitted)}
    succeeded = {e.task_id for e in events if isinstance(e, Succeeded)}
    assert len(submitted) == 7
    assert succeeded == submitted
    # Every child was asked for exactly once; the faulted one was paid for only if it struck
    # after the server acted, and then its id was never seen by the client.
    assert children_sent(sim, grid, route) == EIGHT
    made = children_made(sim, grid)
    lost = child_key(failed[0].op)
    assert made == {k: v for k, v in EIGHT.items() if strike.creates or k != lost}
    unseen = {t.task_id for t in sim.created if t.parent_id == grid.id} - submitted
    assert len(unseen) == (1 if strike.creates else 0)


# -- refusals that prove no task: re-sent only when asked, paid once in the end -------------


@attrs.frozen
class Refusal:
    """A refusal made before any task exists, and how a test provokes it."""

    name: str
    error: type[OneChatError]

    @property
    def queue(self) -> dict[str, int]:
        """Simulator limits: a queue of one with no waiting room fills with one task."""
        return {"running_limit": 1, "waiting_limit": 0} if self.name == "queue_full" else {}


REFUSALS = [Refusal("http_429", RateLimitError), Refusal("queue_full", QueueFullError)]
REFUSAL_RETRIES = {"without_submit_retry": None, "with_submit_retry": PATIENT_RETRY}


async def provoke(sim: Simulator, client: OneChatClient, refusal: Refusal, route: str) -> None:
    """Make the next submit on ``route`` be refused in the way ``refusal`` names."""
    if refusal.name == "http_429":
        sim.inject(Fault(endpoint=route, kind="http_429", count=1))
    else:
        # The only running slot is taken and there is no waiting room.
        await client.imagine("a blocker", state="blocker")


@pytest.mark.parametrize("retry", REFUSAL_RETRIES)
@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: r.name)
@pytest.mark.parametrize("kind", SINGLE_KINDS)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_refused_submit_is_resent_only_when_asked(
    flavour: str, kind: SubmitKind, refusal: Refusal, retry: str
) -> None:
    """A refusal that proves no task: re-sent by submit_retry to one task, else raised with none."""
    route = paid_route(flavour, kind)
    policy = REFUSAL_RETRIES[retry]
    # Admission off: by default a queue-full refusal waits and is sent again (see
    # tests/workers/test_default_admission.py); here it must reach the send path as is.
    async with opened(flavour, submit_retry=policy, max_in_flight=None, **refusal.queue) as (
        sim,
        client,
    ):
        grid = None if kind == "imagine" else await finished_grid(client)
        await provoke(sim, client, refusal, route)
        if policy is None:
            with pytest.raises(refusal.error) as info:
                await submit_once(client, kind, grid)
            assert proves_no_task(info.value)
            assert (info.value.state, info.value.endpoint) == (STATE, route)
            assert created_with_state(sim) == []
            assert sent_with_state(sim) == tried_routes(flavour, kind)
        else:
            result = await submit_once(client, kind, grid)
            assert created_with_state(sim) == [result.task_id]
            assert sent_with_state(sim)[route] >= 2
            paid = [s for s in sim.submits if s.state == STATE and s.task_id is not None]
            assert [s.task_id for s in paid] == [result.task_id]


@pytest.mark.parametrize(
    ("retry", "attempts"),
    [
        pytest.param(None, 1, id="no_retry"),
        pytest.param(PATIENT_RETRY, 1, id="submit_retry"),
        pytest.param(None, 20, id="fan_out_attempts"),
    ],
)
@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: r.name)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_refused_fan_out_children_are_paid_at_most_once(
    flavour: str, refusal: Refusal, retry: RetryPolicy | None, attempts: int
) -> None:
    """Refused children are re-sent when a retry allows it; every child ends paid at most once."""
    route = paid_route(flavour, "fan_out")
    async with opened(flavour, submit_retry=retry, max_in_flight=None, **refusal.queue) as (
        sim,
        client,
    ):
        grid = await finished_grid(client)
        if refusal.name == "http_429":
            await provoke(sim, client, refusal, route)
        # A queue of one fills with the first child: the others are refused until it is done.
        events = await fan_out_events(client, grid, attempts=attempts)
        await sim.wait_idle(timeout=5)
    submitted = {e.task_id: e.op for e in events if isinstance(e, Submitted)}
    failed = [e for e in events if isinstance(e, SubmitFailed)]
    made = children_made(sim, grid)
    assert set(made.values()) <= {1}
    assert {t.task_id for t in sim.created if t.parent_id == grid.id} == set(submitted)
    for event in failed:
        assert isinstance(event.error, refusal.error)
        assert child_key(event.op) not in made
    if retry is None and attempts == 1:
        assert failed, "a refusal without any retry must surface"
    else:
        assert failed == []
        assert made == EIGHT
    assert len(submitted) + len(failed) == 8


@pytest.mark.parametrize("retry", REFUSAL_RETRIES)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_final_refusal_is_not_resent(flavour: str, retry: str) -> None:
    """A refusal that proves no task but will not change (a banned prompt) is sent once."""
    async with opened(flavour, submit_retry=REFUSAL_RETRIES[retry]) as (sim, client):
        sim.ban_words("gore")
        with pytest.raises(BannedPromptError) as info:
            await client.imagine("some gore", state=STATE)
    assert proves_no_task(info.value)
    assert not info.value.retryable
    assert sent_with_state(sim) == {"imagine": 1}
    assert created_with_state(sim) == []
