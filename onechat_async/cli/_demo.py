"""``demo`` and ``simulate``: the built-in simulator, in-process or as a server.

The demo is the five-minute pitch: with no key and no network it starts a simulated
gateway on 127.0.0.1 with a fast clock, imagines a grid, then fans out U1-U4/V1-V4, all
with live progress, and sums up what happened.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click
from rich.console import Console

from .._events import Succeeded
from .._follow import ALL_CHILDREN
from .._policy import PollPolicy
from ..testing import FLAVOURS, ScaledClock, Simulator, serve
from ._app import Run, Settings, cli, execute
from ._exits import ExitCode
from ._following import describe_outcome, follow_stream, outcome_code
from ._output import task_table
from ._serialize import task_json
from ._watch import children_table, run_fan_out

__all__: list[str] = []

_DEMO_KEY = "sk-demo"
_PROMPT = "a lighthouse on a cliff in a storm, oil painting --ar 3:2 --v 7"


@cli.command()
@click.option(
    "--speed",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="How much faster than real time the simulated server runs.",
)
@click.option("--prompt", default=_PROMPT, show_default=True, help="What to imagine.")
@click.pass_obj
def demo(settings: Settings, speed: float, prompt: str) -> None:
    """Imagine a grid, then fan out U1-U4/V1-V4, on a built-in simulated server.

    No key and no network needed: the simulator runs in this process on 127.0.0.1 with a
    clock SPEED times faster than real time (about 10 seconds at the default).
    """

    async def body(run: Run) -> int:
        return await _demo(run, speed, prompt)

    # Deadlines are measured on the simulated clock, which the real-time guard cannot see.
    execute(settings, body, deadline=False)


async def _demo(run: Run, speed: float, prompt: str) -> int:
    reporter = run.reporter
    clock = ScaledClock(speed)
    sim = await run.stack.enter_async_context(Simulator(api_key=_DEMO_KEY, clock=clock))
    client = await run.client(
        api_key=_DEMO_KEY,
        base_url=sim.url,
        mode=None,
        clock=clock,
        # The simulated hour is a few minutes of real time at most; --timeout is read as
        # simulated seconds here, like every duration of this run.
        poll=PollPolicy(deadline=run.settings.timeout),
    )
    started = time.monotonic()
    reporter.note(
        f"Simulated OneChat gateway on {sim.url}, clock x{speed:g}: "
        "timings are the real service's, only faster."
    )
    reporter.note(f"1/2 imagine {prompt!r}")
    with reporter.live():
        ended = await follow_stream(run, client.submit_and_track(client.imagine(prompt)))
    (grid,) = ended.values()
    if not isinstance(grid, Succeeded):
        reporter.error_line(describe_outcome(grid))
        return outcome_code(grid)
    reporter.note(f"2/2 fan-out of {grid.task_id}: U1-U4 (upscales) and V1-V4 (variations)")
    code, rows, bad = await run_fan_out(
        run, client, grid.task_id, ops=ALL_CHILDREN, concurrency=4, download=None
    )
    for event in bad:
        reporter.error_line(describe_outcome(event))
    real = time.monotonic() - started
    simulated = clock.now()
    requests = {name: count for name, count in sorted(sim.counters.items()) if count}
    summary: dict[str, Any] = {
        "ok": code == ExitCode.OK,
        "grid": task_json(grid.task),
        "children": rows,
        "tasks": 1 + len(rows),
        "real_seconds": round(real, 2),
        "simulated_seconds": round(simulated, 1),
        "requests": requests,
    }

    def human(out: Console) -> None:
        out.print(task_table(grid.task))
        out.print(children_table(rows))
        polls = requests.get("list-by-condition", 0) + requests.get("fetch", 0)
        out.print(
            f"[bold]{1 + len(rows)} tasks[/] in {real:.1f} s "
            f"({simulated / 60:.1f} simulated minutes), {requests.get('total', 0)} requests "
            f"of which {polls} polls.",
            highlight=False,
        )
        out.print(
            "Next: [bold]onechat-mj simulate[/] serves this simulator for your own code; "
            "[bold]onechat-mj --help[/] lists every command.",
            highlight=False,
        )

    reporter.result("demo", summary, human)
    return code


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="Port to listen on (0: any free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--flavour",
    type=click.Choice(list(FLAVOURS)),
    default="gateway",
    show_default=True,
    help="Whose quirks to show: the new-api gateway, a bare Java proxy, or the C# v10 one.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Clock speed: 100 makes a 60 s task take 0.6 s.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option(
    "--fail-prompt",
    "fail_prompts",
    multiple=True,
    metavar="TEXT",
    help="Tasks whose prompt contains TEXT end in FAILURE (repeatable).",
)
@click.option(
    "--ban-word",
    "ban_words",
    multiple=True,
    metavar="WORD",
    help="Prompts containing WORD are refused as banned, code 24 (repeatable).",
)
@click.pass_obj
def simulate(
    settings: Settings,
    *,
    port: int,
    host: str,
    flavour: str,
    speed: float,
    seed: int,
    fail_prompts: tuple[str, ...],
    ban_words: tuple[str, ...],
) -> None:
    """Serve the simulated OneChat API until Ctrl-C, for your own code to talk to.

    Clients must send the global --api-key (default sk-test). Point them at the printed URL:
    `ONECHAT_BASE_URL=http://127.0.0.1:8787 ONECHAT_API_KEY=sk-test onechat-mj imagine ...`
    """
    key = settings.api_key or "sk-test"

    def ready(sim: Simulator) -> None:
        sim.fail_prompts(*fail_prompts)
        sim.ban_words(*ban_words)
        # A plain line on stdout, flushed: scripts wait for it to learn the port.
        click.echo(f"OneChat simulator ({sim.flavour}) listening on {sim.url}")
        shown = key if key == "sk-test" else "the one given with --api-key"
        click.echo(f"api key: {shown}; Ctrl-C stops it", err=True)

    try:
        asyncio.run(
            serve(
                port=port,
                host=host,
                api_key=key,
                flavour=flavour,
                speed=speed,
                seed=seed,
                on_ready=ready,
            )
        )
    except KeyboardInterrupt:
        # Ctrl-C is how a server is meant to stop: not an error.
        return
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise click.exceptions.Exit(ExitCode.ERROR) from None
