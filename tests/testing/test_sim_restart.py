"""Restarting the simulator: same address, same tasks, refused connections while it is down."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from onechat_async.testing import Fault, ManualClock, Simulator
from tests.testing.conftest import Api, until


async def test_restart_keeps_address_tasks_counters_and_records(api: Api) -> None:
    """After a restart the same URL serves the same tasks; counters and records carry on."""
    url = api.sim.url
    task_id = await api.imagine(state="before")
    await api.sim.restart()
    assert (api.sim.url, api.sim.running, api.sim.restarts) == (url, True, 1)
    api.advance(15)  # the gateway's row shows the state from its first refresh on
    assert (await api.fetch(task_id))["state"] == "before"
    assert api.sim.counters["imagine"] == 1
    assert [t.task_id for t in api.sim.created] == [task_id]
    await api.imagine(state="after")
    assert api.sim.task_count == 2


async def test_connections_are_refused_while_down(api: Api) -> None:
    """During the downtime a connection attempt is refused; afterwards requests work again."""
    task_id = await api.imagine()
    restarting = asyncio.create_task(api.sim.restart(downtime=0.2))
    await until(lambda: not api.sim.running, "the simulator stopped listening")
    with pytest.raises(aiohttp.ClientConnectorError):
        await api.request("GET", f"/mj/task/{task_id}/fetch")
    await restarting
    assert (await api.fetch(task_id))["id"] == task_id


async def test_requests_in_flight_are_cut_off_and_create_nothing(api: Api) -> None:
    """A submit still being served when the server restarts gets no answer and makes no task."""
    api.sim.inject(Fault(endpoint="imagine", kind="slow", delay=30))
    sending = asyncio.create_task(api.request("POST", "/mj/submit/imagine", {"state": "cut"}))
    await until(lambda: api.sim.counters["imagine"] == 1, "the submit reached the server")
    await api.sim.restart()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sending
    assert api.sim.task_count == 0
    [record] = api.sim.submits
    assert record.fault is not None
    assert (record.state, record.status, record.fault.kind) == ("cut", None, "slow")


async def test_close_during_the_downtime_stays_closed() -> None:
    """A simulator closed while it is down for a restart does not come back."""
    sim = Simulator(clock=ManualClock())
    await sim.start()
    restarting = asyncio.create_task(sim.restart(downtime=0.05))
    await until(lambda: not sim.running, "the simulator stopped listening")
    await sim.aclose()
    await restarting
    assert (sim.running, sim.closed, sim.restarts) == (False, True, 0)


@pytest.mark.parametrize("downtime", [-1.0, float("nan"), float("inf")])
async def test_restart_refuses_a_nonsense_downtime(api: Api, downtime: float) -> None:
    """A negative or non-finite downtime is a ValueError, and the server keeps running."""
    with pytest.raises(ValueError, match="downtime"):
        await api.sim.restart(downtime=downtime)
    assert api.sim.running


async def test_only_a_running_simulator_restarts() -> None:
    """Restarting one that never started, or was closed, is a RuntimeError."""
    sim = Simulator(clock=ManualClock())
    with pytest.raises(RuntimeError, match="running"):
        await sim.restart()
    await sim.start()
    await sim.aclose()
    with pytest.raises(RuntimeError, match="running"):
        await sim.restart()
