"""3. Submit fan-out throughput: 2,000 imagines at concurrency 64, ours against raw aiohttp.

Both sides post the same bodies (``{"prompt": ...}``, encoded the way the client encodes it)
to the same simulator, 64 in flight at a time, over a connection pool of the same size, and
both parse the answer and keep the task id. Ours goes through ``OneChatClient.imagine``:
validation, headers, the retry wrapper, dormant admission (the default ``max_in_flight``),
the answer's checks and decoding. It runs twice: as shipped (the default construction: the
client makes its own aiohttp session), and with a plain ``aiohttp.ClientSession()`` lent to
it, which tells the client's own cost from its session settings. The simulator runs in the
same process, so its CPU is in every figure; the client-only overhead per submit is reported
apart, from CPU time.

Run alone: ``python -m benchmarks.bench_fanout [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import attrs

from onechat_async import OneChatClient
from onechat_async.testing import Simulator

from ._harness import API_KEY, submit_all
from ._report import Result, Table, Target, median

__all__ = ["FULL", "QUICK", "SMOKE", "Config", "run"]

_TARGET = 0.95


@attrs.frozen
class Config:
    """Submits per run, how many in flight, and runs per side."""

    submits: int = 2_000
    concurrency: int = 64
    repeats: int = 4


FULL = Config()
QUICK = Config(repeats=1)
SMOKE = Config(submits=20, concurrency=4, repeats=1)


@attrs.frozen
class _Run:
    seconds: float
    cpu: float
    accepted: int


async def _timed(
    submit: Callable[[str], Awaitable[str]], prompts: Sequence[str], concurrency: int
) -> _Run:
    cpu, wall = time.process_time(), time.perf_counter()
    ids = await submit_all(submit, prompts, concurrency=concurrency)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return _Run(wall, cpu, len({i for i in ids if i}))


async def _measure(config: Config) -> Result:
    total = (config.submits * config.repeats + config.concurrency) * 3
    runs: dict[str, list[_Run]] = {"ours": [], "lent": [], "raw": []}
    # The real account limits would refuse most of these; throughput is the question here.
    async with (
        Simulator(api_key=API_KEY, running_limit=total, waiting_limit=total) as sim,
        # Built as users build it: the default max_in_flight ("auto") included. Its admission
        # sleeps until the account first refuses a submit for a full queue, which this
        # account (room for every task) never does; its dormant bookkeeping is measured.
        OneChatClient(api_key=API_KEY, base_url=sim.url) as client,
        aiohttp.ClientSession() as lent_session,
        OneChatClient(api_key=API_KEY, base_url=sim.url, session=lent_session) as lent,
        aiohttp.ClientSession() as session,
    ):
        url = sim.url + "/mj/submit/imagine"
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

        async def ours_submit(prompt: str) -> str:
            return (await client.imagine(prompt)).task_id

        async def lent_submit(prompt: str) -> str:
            return (await lent.imagine(prompt)).task_id

        async def raw_submit(prompt: str) -> str:
            # What the client puts on the wire for an imagine, byte for byte.
            body = json.dumps({"prompt": prompt}, ensure_ascii=False).encode()
            async with session.post(url, data=body, headers=headers) as resp:
                answer = json.loads(await resp.read())
            return str(answer["result"])

        sides = {"ours": ours_submit, "lent": lent_submit, "raw": raw_submit}
        warm = [f"warm-up {i}" for i in range(config.concurrency)]
        for submit in sides.values():
            # Open the pools' connections before anything is timed.
            await _timed(submit, warm, config.concurrency)
        names = list(sides)
        for r in range(config.repeats):
            # Rotate who goes first, so that no side always meets the same process state.
            for name in names[r % 3 :] + names[: r % 3]:
                prompts = [f"{name} run {r} task {i} --ar 3:2" for i in range(config.submits)]
                runs[name].append(await _timed(sides[name], prompts, config.concurrency))
    rate = {k: median([config.submits / run.seconds for run in v]) for k, v in runs.items()}
    cpu = {k: median([run.cpu / config.submits for run in v]) for k, v in runs.items()}
    accepted = {k: min(run.accepted for run in v) for k, v in runs.items()}
    ratio = rate["ours"] / rate["raw"]
    table = Table(
        f"{config.submits:,} imagine submits at concurrency {config.concurrency}, "
        f"median of {config.repeats} runs per side",
        ("side", "submits/s", "vs raw", "CPU µs per submit (client + server)", "accepted"),
        tuple(
            (label, rate[k], rate[k] / rate["raw"], cpu[k] * 1e6, accepted[k])
            for k, label in (
                ("ours", "ours, as shipped (OneChatClient.imagine)"),
                ("lent", "ours, lent a plain aiohttp.ClientSession()"),
                ("raw", "raw aiohttp"),
            )
        ),
    )
    notes = (
        (
            "client-only CPU over raw aiohttp per submit: "
            f"{(cpu['ours'] - cpu['raw']) * 1e6:.0f} µs as shipped, "
            f"{(cpu['lent'] - cpu['raw']) * 1e6:.0f} µs with the lent session"
        ),
        "the simulator shares the process (and a core) with every client",
    )
    target = Target(
        "throughput ours (as shipped) / raw aiohttp", ratio, f">= {_TARGET:g}", ratio >= _TARGET
    )
    return Result("3. Submit fan-out throughput", (table,), (target,), notes)


def run(config: Config = FULL) -> Result:
    """Time ``config.repeats`` runs per side, alternating who goes first; report medians."""
    return asyncio.run(_measure(config))


def main(argv: Sequence[str] = ()) -> None:
    """Run and print the benchmark."""
    from ._report import render

    print(render(run(QUICK if "--quick" in argv else FULL)))


if __name__ == "__main__":
    main(sys.argv[1:])
