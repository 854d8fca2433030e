"""Running the simulator as a standalone server: ``python -m onechat_async.testing``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence

from onechat_async._clock import Clock, SystemClock

from ._clock import ScaledClock
from ._flavours import FLAVOURS, UPSTREAMS
from ._lifecycle import Timings
from ._simulator import Simulator

__all__ = ["main", "serve"]


def _announce(sim: Simulator) -> None:
    sys.stdout.write(f"OneChat simulator ({sim.flavour}) listening on {sim.url}\n")
    sys.stdout.flush()


async def serve(
    *,
    port: int = 8787,
    host: str = "127.0.0.1",
    api_key: str = "sk-test",
    flavour: str = "gateway",
    upstream: str | None = None,
    admin: bool = False,
    speed: float = 1.0,
    running_limit: int = 3,
    waiting_limit: int = 10,
    notify_hooks: bool = False,
    seed: int = 0,
    timings: Timings | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Simulator], None] = _announce,
) -> None:
    """Serve a :class:`Simulator` until ``stop`` is set or the task is cancelled.

    What ``python -m onechat_async.testing`` and ``onechat-mj simulate`` run.

    ```python
    stop = asyncio.Event()
    server = asyncio.create_task(serve(port=0, speed=100, stop=stop, on_ready=print))
    ...
    stop.set()
    await server
    ```

    :param port: The port to listen on (0: any free one).
    :param host: The address to listen on.
    :param api_key: The key clients must send.
    :param flavour: Whose behaviour to show (see :class:`Simulator`).
    :param upstream: What a gateway fronts (see :class:`Simulator`).
    :param admin: Whether the key is an admin's (see :class:`Simulator`).
    :param speed: Run task lifecycles this many times faster than real time (1: real time).
    :param running_limit: The account's slots (see :class:`Simulator`).
    :param waiting_limit: The account's waiting room (see :class:`Simulator`).
    :param notify_hooks: Deliver notifyHook callbacks (see :class:`Simulator`).
    :param seed: Seeds every random choice, so runs replay.
    :param timings: How long things take (see :class:`Timings`).
    :param stop: Set it to stop serving; None serves until cancelled.
    :param on_ready: Called with the simulator once it listens (by default it prints the URL).
    :raises ValueError: A bad ``flavour``, ``upstream`` or ``speed``.
    """
    clock: Clock = SystemClock() if speed == 1.0 else ScaledClock(speed)
    sim = Simulator(
        api_key=api_key,
        flavour=flavour,
        upstream=upstream,
        admin=admin,
        clock=clock,
        running_limit=running_limit,
        waiting_limit=waiting_limit,
        notify_hooks=notify_hooks,
        seed=seed,
        timings=timings,
    )
    async with contextlib.AsyncExitStack() as stack:
        await sim.start(port=port, host=host)
        stack.push_async_callback(sim.aclose)
        on_ready(sim)
        await (stop or asyncio.Event()).wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m onechat_async.testing",
        description="Run a simulated OneChat Midjourney server until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8787, help="port (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--api-key", default="sk-test", help="the key clients must send")
    parser.add_argument(
        "--flavour", "--flavor", choices=FLAVOURS, default="gateway", help="whose quirks to show"
    )
    parser.add_argument(
        "--upstream", choices=UPSTREAMS, default=None, help="the proxy a gateway fronts"
    )
    parser.add_argument(
        "--admin",
        action="store_true",
        help="the key is an admin's (trueai's cancel, new-api's sk-KEY-<channel>)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="clock speed: 100 makes a 60 s task take 0.6 s"
    )
    parser.add_argument("--running-limit", type=int, default=3)
    parser.add_argument("--waiting-limit", type=int, default=10)
    parser.add_argument(
        "--notify-hooks",
        action="store_true",
        help="deliver notifyHook callbacks (the gateway strips them by default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; returns the exit status.

    The ``python -m onechat_async.testing`` command; ``--help`` lists the options.

    :param argv: The command-line arguments, without the program name (None: ``sys.argv``).
    """
    args = _parser().parse_args(argv)
    if args.speed <= 0:
        sys.stderr.write("--speed must be positive\n")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                port=args.port,
                host=args.host,
                api_key=args.api_key,
                flavour=args.flavour,
                upstream=args.upstream,
                admin=args.admin,
                speed=args.speed,
                running_limit=args.running_limit,
                waiting_limit=args.waiting_limit,
                notify_hooks=args.notify_hooks,
                seed=args.seed,
            )
        )
    return 0
