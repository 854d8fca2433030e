"""Running the simulator: start/stop, the standalone server, the pytest fixtures, scale."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from onechat_async.testing import ManualClock, ScaledClock, Simulator, main, serve
from tests.testing.conftest import OpenApi

ROOT = Path(__file__).resolve().parents[2]


async def test_start_picks_a_free_port_and_close_is_final() -> None:
    """Port 0 gives an ephemeral port; aclose twice is fine; a closed simulator stays closed."""
    sim = Simulator(clock=ManualClock())
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.url
    await sim.start()
    assert sim.url.startswith("http://127.0.0.1:")
    assert sim.port > 0
    with pytest.raises(RuntimeError, match="already running"):
        await sim.start()
    assert "gateway" in repr(sim)
    await sim.aclose()
    await sim.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await sim.start()


async def test_serve_runs_until_stopped() -> None:
    """serve() announces a ready simulator, answers requests, and returns when stop is set."""
    ready: asyncio.Future[Simulator] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve(port=0, api_key="sk-cli", speed=500.0, stop=stop, on_ready=ready.set_result)
    )
    first: set[asyncio.Future[Any]] = {ready, server}
    await asyncio.wait(first, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert not server.done(), server
    sim = ready.result()
    assert isinstance(sim.clock, ScaledClock)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.url}/mj/submit/imagine",
            json={"prompt": "cli"},
            headers={"Authorization": "Bearer sk-cli"},
        ) as response,
    ):
        assert (await response.json(content_type=None))["code"] == 1
    stop.set()
    await asyncio.wait_for(server, 5)
    with pytest.raises(aiohttp.ClientConnectorError):
        async with aiohttp.ClientSession() as session:
            await session.get(f"{sim.url}/mj/task/1/fetch")


async def test_serve_passes_upstream_and_admin() -> None:
    """serve(upstream=..., admin=...) builds a gateway on that upstream with an admin key."""
    ready: asyncio.Future[Simulator] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve(port=0, upstream="csharp-v10", admin=True, stop=stop, on_ready=ready.set_result)
    )
    sim = await asyncio.wait_for(ready, 5)
    assert (sim.flavour, sim.upstream) == ("gateway", "csharp-v10")
    assert sim._backend.upstream.admin
    stop.set()
    await asyncio.wait_for(server, 5)


def test_the_command_line_knows_the_new_options() -> None:
    """--upstream and --admin are parsed; an unknown upstream is refused."""
    from onechat_async.testing._server import _parser

    args = _parser().parse_args(["--upstream", "csharp-v10", "--admin", "--flavour", "java-plus"])
    assert (args.upstream, args.admin, args.flavour) == ("csharp-v10", True, "java-plus")
    with pytest.raises(SystemExit):
        _parser().parse_args(["--upstream", "java"])


def test_main_refuses_a_non_positive_speed(capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns 2 and explains when --speed is not positive."""
    assert main(["--speed", "0"]) == 2
    assert "--speed" in capsys.readouterr().err


async def test_python_dash_m_prints_the_url_and_stops_on_ctrl_c() -> None:
    """`python -m onechat_async.testing` prints its URL, serves, and exits 0 on SIGINT."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "onechat_async.testing",
        "--port",
        "0",
        "--api-key",
        "sk-m",
        "--flavour",
        "java",
        "--speed",
        "100",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "(java) listening on http://127.0.0.1:" in line
        url = line.rsplit(" ", 1)[1].strip()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/mj/task/list-by-condition",
                json={"ids": []},
                headers={"mj-api-secret": "sk-m"},
            ) as response,
        ):
            assert await response.json() == []
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_fixtures_wire_a_client_to_the_simulator(
    onechat_simulator: Simulator, onechat_client: Any
) -> None:
    """The plugin's client talks to the plugin's simulator on one fast clock."""
    submitted = await onechat_client.imagine("a fox in the snow", state="fixture")
    for _ in range(200):
        task = await onechat_client.fetch(submitted.task_id)
        if task.is_terminal:
            break
        # Clock time passing on the fixture's scaled clock is what this test simulates.
        await onechat_simulator.clock.sleep(5)
    assert task.status.value == "SUCCESS"
    assert task.state == "fixture"
    assert onechat_simulator.counters["imagine"] == 1
    assert onechat_simulator.api_key == "sk-test"


@pytest.mark.parametrize("flavour", ["gateway", "java-plus"])
async def test_ten_thousand_tasks_stay_cheap(open_api: OpenApi, flavour: str) -> None:
    """With 10,000 tasks, listing 100 ids is as cheap as with a handful: nothing scans them all."""
    api = await open_api(flavour=flavour, running_limit=10_000, waiting_limit=0)
    gateway = api.sim._backend.gateway
    started = time.perf_counter()
    ids = []
    for i in range(10_000):
        task_id = str(api.sim._proxy.imagine({"prompt": f"cat {i}"}, 0.0).result)
        if gateway is not None:
            gateway.rows.insert(task_id, action="IMAGINE", prompt="", description="", now=0.0)
        ids.append(task_id)
    created = time.perf_counter() - started
    assert api.sim.task_count == 10_000
    api.advance(30)
    chunk = [i for i in ids[::100] if i]
    started = time.perf_counter()
    for _ in range(20):
        reply = await api.request("POST", "/mj/task/list-by-condition", {"ids": chunk})
    per_list = (time.perf_counter() - started) / 20
    assert len(reply.json) == 100
    assert {t["status"] for t in reply.json} == {"IN_PROGRESS"}
    # Generous bounds: a scan over 10,000 tasks per request would blow them.
    assert created < 5.0
    assert per_list < 0.25


async def test_a_busy_port_fails_cleanly() -> None:
    """Starting on a port already taken raises, and the simulator can still be closed."""
    async with Simulator(clock=ManualClock()) as first:
        second = Simulator(clock=ManualClock())
        with pytest.raises(OSError, match="address already in use"):
            await second.start(port=first.port)
        await second.aclose()


@pytest.mark.parametrize(("running", "waiting"), [(0, 10), (3, -1)])
def test_limits_are_checked(running: int, waiting: int) -> None:
    """A limit that makes no sense fails at construction."""
    with pytest.raises(ValueError, match="running_limit"):
        Simulator(running_limit=running, waiting_limit=waiting)
