"""The client end to end against the simulator of each server kind, over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from onechat_async import (
    AuthenticationError,
    BannedPromptError,
    OneChatClient,
    QueueFullError,
    RetryPolicy,
    ServerError,
    SubmitRejectedError,
    Succeeded,
    TaskFailedError,
    TaskNotFoundError,
    TaskStatus,
)
from onechat_async.testing import ManualClock, Simulator

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
# The open-source Java proxy has no shorten, swap-face or image-seed: its plus edition does.
FLAVOURS = ["gateway", "java-plus", "csharp-v10"]


@pytest.fixture(params=FLAVOURS)
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    clock = ManualClock(auto_advance=True)
    async with Simulator(api_key="sk-flavour", flavour=request.param, clock=clock) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[OneChatClient]:
    async with OneChatClient(api_key=sim.api_key, base_url=sim.url, clock=sim.clock) as c:
        yield c


async def test_simple_change_works_on_every_server_kind(
    sim: Simulator, client: OneChatClient
) -> None:
    """imagine, wait, then simple-change U2 and V1: each call makes exactly one task."""
    grid = await client.submit_and_wait(client.imagine("a red fox --ar 3:2", state="order-42"))
    assert grid.status is TaskStatus.SUCCESS
    assert grid.state == "order-42"
    for op in ("U2", "v1", "R"):
        before = sim.task_count
        child = await client.simple_change(grid.id, op)
        assert sim.task_count == before + 1
        done = await client.wait(child.task_id)
        assert done.status is TaskStatus.SUCCESS
    # The C# upstream has neither change endpoint, so the parent's buttons are pressed.
    route = "action" if sim.flavour == "csharp-v10" else "simple-change"
    assert sim.counters[route] >= 3


async def test_fan_out_of_eight_on_every_server_kind(sim: Simulator, client: OneChatClient) -> None:
    """All eight children of a grid are submitted once each and succeed."""
    grid = await client.submit_and_wait(client.imagine("a lighthouse"))
    before = sim.task_count
    async with client.fan_out(grid.id) as events:
        succeeded = [e.task_id async for e in events if isinstance(e, Succeeded)]
    assert len(set(succeeded)) == 8
    assert sim.task_count == before + 8


async def test_every_query_and_submit_kind(sim: Simulator, client: OneChatClient) -> None:
    """Describe, shorten, blend, swap-face and image-seed work and list_tasks finds them."""
    grid = await client.submit_and_wait(client.imagine("a cat"))
    described = await client.submit_and_wait(client.describe(PNG))
    assert described.final_prompt
    shortened = await client.submit_and_wait(client.shorten("a very very long prompt"))
    assert shortened.final_prompt
    blended = await client.submit_and_wait(client.blend([PNG, PNG]))
    swapped = await client.submit_and_wait(client.swap_face(PNG, PNG))
    ids = [grid.id, described.id, shortened.id, blended.id, swapped.id]
    assert [t.id for t in await client.list_tasks(ids)] == ids
    assert await client.image_seed(grid.id)


async def test_unknown_task_on_every_server_kind(client: OneChatClient) -> None:
    """An id the server never made raises TaskNotFoundError whatever the server kind."""
    with pytest.raises(TaskNotFoundError):
        await client.fetch("1700000000000123")


async def test_wrong_key_on_every_server_kind(sim: Simulator) -> None:
    """A wrong key raises AuthenticationError and the key is not in the message."""
    async with OneChatClient(api_key="sk-wrong-key", base_url=sim.url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.imagine("a cat")
    assert "sk-wrong-key" not in str(info.value)


async def test_failing_and_banned_prompts(sim: Simulator, client: OneChatClient) -> None:
    """A prompt the server fails raises TaskFailedError with the reason; a banned one code 24."""
    sim.fail_prompts("--badflag")
    sim.ban_words("gore")
    with pytest.raises(TaskFailedError) as failed:
        await client.submit_and_wait(client.imagine("a cat --badflag"))
    assert failed.value.task.fail_reason
    with pytest.raises(BannedPromptError) as banned:
        await client.imagine("some gore")
    assert banned.value.code == 24


async def test_queue_full_and_opt_in_retry() -> None:
    """Without admission, past the waiting limit a submit raises QueueFullError; retry waits."""
    clock = ManualClock(auto_advance=True)
    async with Simulator(api_key="k", clock=clock, running_limit=1, waiting_limit=1) as sim:
        async with OneChatClient(
            api_key="k", base_url=sim.url, clock=clock, max_in_flight=None
        ) as client:
            await client.imagine("one")
            queued = await client.imagine("two")
            assert queued.queue_position is not None
            with pytest.raises(QueueFullError):
                await client.imagine("three")
        patient = OneChatClient(
            api_key="k",
            base_url=sim.url,
            clock=clock,
            submit_retry=RetryPolicy(attempts=20, wait_initial=30, wait_max=60, timeout=3600),
        )
        async with patient:
            assert (await patient.imagine("three")).task_id


async def test_wrong_path_gets_html() -> None:
    """A base URL with a wrong path reaches the gateway's HTML page: a refusal, not JSON.

    For a submit the page proves that nothing was made (SubmitRejectedError); for a query it
    is a ServerError.
    """
    async with Simulator(api_key="k", clock=ManualClock()) as sim:
        # (/v1/... would reach new-api's JSON 404, and /<x>/mj/... its mode routes.)
        client = OneChatClient(api_key="k", base_url=sim.url + "/web/app")
        async with client:
            with pytest.raises(SubmitRejectedError, match="HTML"):
                await client.imagine("a cat")
            with pytest.raises(ServerError, match="HTML"):
                await client.fetch("1748339029401828")
