"""SyncOneChatClient: the async client's calls, blocking, from any number of threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from onechat_async import (
    ClientClosedError,
    InvalidRequestError,
    OneChatClient,
    OneChatError,
    SubmitResult,
    Succeeded,
    Task,
    TaskNotFoundError,
)
from onechat_async.sync import SyncOneChatClient
from onechat_async.testing import Fault, ScaledClock
from tests.docs_examples import SimulatorThread, run_page

KEY = "sk-test"


@pytest.fixture
def server() -> Iterator[SimulatorThread]:
    with SimulatorThread(api_key=KEY, clock=ScaledClock(1000)) as srv:
        yield srv


@pytest.fixture
def sync(server: SimulatorThread) -> Iterator[SyncOneChatClient]:
    assert server.sim is not None
    with SyncOneChatClient(api_key=KEY, base_url=server.url, clock=server.sim.clock) as client:
        yield client


def _sim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "onechat-async-sync"]


def test_submit_then_wait_blocks_until_the_task_succeeds(sync: SyncOneChatClient) -> None:
    """imagine() returns the submit result; wait() returns the finished task."""
    result = sync.imagine("a fox", state="job-1")
    assert isinstance(result, SubmitResult)
    task = sync.wait(result.task_id, deadline=600)
    assert isinstance(task, Task)
    assert task.status == "SUCCESS"
    assert sync.fetch(result.task_id).id == result.task_id
    assert [t.id for t in sync.list_tasks([result.task_id])] == [result.task_id]


def test_track_is_a_plain_iterator_ending_with_the_terminal_event(
    sync: SyncOneChatClient,
) -> None:
    """track() yields the async stream's events in a for loop, the last one terminal."""
    task_id = sync.imagine("a fox").task_id
    events = list(sync.track(task_id))
    assert events
    assert isinstance(events[-1], Succeeded)
    assert all(e.task_id == task_id for e in events)


def test_fan_out_and_track_many_stream_too(sync: SyncOneChatClient) -> None:
    """The other streaming methods are iterators as well, over every child."""
    parent = sync.imagine("a fox").task_id
    sync.wait(parent, deadline=600)
    children = {e.task_id for e in sync.fan_out(parent, ["U1", "V1"]) if isinstance(e, Succeeded)}
    assert len(children) == 2
    ended = [e for e in sync.track_many(sorted(children)) if isinstance(e, Succeeded)]
    assert {e.task_id for e in ended} == children


def test_errors_are_the_async_clients_errors(sync: SyncOneChatClient) -> None:
    """A refusal raises the same OneChatError the async method raises, in the caller's thread."""
    with pytest.raises(TaskNotFoundError):
        sync.fetch("1234567890123456")
    with pytest.raises(InvalidRequestError):
        sync.imagine("")


def test_a_bad_stream_argument_raises_at_the_call_not_at_iteration(
    sync: SyncOneChatClient,
) -> None:
    """track_many("one id") is refused when called, before any iteration."""
    with pytest.raises(InvalidRequestError, match="list of ids"):
        sync.track_many("1234567890123456")


def test_many_threads_share_one_client_and_one_loop_thread(
    sync: SyncOneChatClient, server: SimulatorThread
) -> None:
    """Eight threads submit and wait at once through one instance; one private thread serves."""
    assert len(_sim_threads()) == 1

    def job(n: int) -> str:
        result = sync.imagine(f"fox {n}", state=f"job-{n}")
        return sync.wait(result.task_id, deadline=600).status.value

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(job, range(8)))
    assert statuses == ["SUCCESS"] * 8
    assert server.sim is not None
    assert server.sim.counters["imagine"] == 8
    assert len(_sim_threads()) == 1


def test_after_close_every_call_raises_client_closed(server: SimulatorThread) -> None:
    """A closed instance refuses every method with ClientClosedError; close is idempotent."""
    sync = SyncOneChatClient(api_key=KEY, base_url=server.url)
    sync.close()
    sync.close()
    assert sync.closed
    assert not _sim_threads()
    calls: list[Any] = [
        lambda: sync.imagine("a fox"),
        lambda: sync.fetch("1234567890123456"),
        lambda: sync.wait("1234567890123456"),
        lambda: next(sync.track("1234567890123456")),
        lambda: sync.run(lambda c: c.fetch("1234567890123456")),
    ]
    for call in calls:
        with pytest.raises(ClientClosedError, match="closed"):
            call()
    with pytest.raises(ClientClosedError), sync:
        pass


def test_close_cancels_a_wait_in_flight(sync: SyncOneChatClient, server: SimulatorThread) -> None:
    """A thread blocked in a wait gets ClientClosedError when another thread closes the client."""
    task_id = sync.imagine("a fox").task_id
    assert server.sim is not None
    server.sim.stall(task_id)
    waiting = threading.Event()

    async def wait_forever(client: OneChatClient) -> Task:
        waiting.set()
        return await client.wait(task_id)

    def blocked() -> object:
        try:
            # Through the wait's own door, so that close() treats it as a wait.
            return sync._call(wait_forever, cancel_on_close=True)
        except OneChatError as exc:
            return exc

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(blocked)
        waiting.wait()
        sync.close()
        assert isinstance(outcome.result(), ClientClosedError)


def test_close_lets_a_submit_in_flight_finish(server: SimulatorThread) -> None:
    """A submit that is on its way when close() is called completes: no paid task goes unseen."""
    assert server.sim is not None
    server.sim.inject(Fault(endpoint="imagine", kind="slow", delay=0.2, rate=1.0))
    sync = SyncOneChatClient(api_key=KEY, base_url=server.url, clock=server.sim.clock)
    sending = threading.Event()

    async def submit(client: OneChatClient) -> SubmitResult:
        sending.set()
        return await client.imagine("a fox")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(sync.run, submit)
        sending.wait()
        sync.close()
        result = outcome.result()
    assert [c.task_id for c in server.sim.created] == [result.task_id]


def test_blocking_calls_from_the_private_loop_are_refused(sync: SyncOneChatClient) -> None:
    """Calling a blocking method from inside run() raises instead of deadlocking."""

    async def nested(_: OneChatClient) -> object:
        return sync.fetch("1234567890123456")

    with pytest.raises(InvalidRequestError, match="its own event loop"):
        sync.run(nested)


def test_run_reaches_what_has_no_blocking_twin(sync: SyncOneChatClient) -> None:
    """run() awaits a coroutine of the caller's with the async client, on the private loop."""
    task = sync.run(lambda c: c.submit_and_wait(c.imagine("a fox"), deadline=600))
    assert task.status == "SUCCESS"


def test_a_borrowed_session_is_refused() -> None:
    """A session belongs to another loop, so the facade refuses one instead of breaking later."""

    class _Session:
        pass

    with pytest.raises(InvalidRequestError, match="own session"):
        SyncOneChatClient(session=_Session())
    assert not _sim_threads()


def test_bad_options_raise_and_leave_no_thread() -> None:
    """The async client's own validation errors come out of the constructor; no thread is left."""
    with pytest.raises(InvalidRequestError):
        SyncOneChatClient(api_key=KEY, base_url="ftp://nowhere")
    assert not _sim_threads()


def test_dropping_an_iterator_stops_following(
    sync: SyncOneChatClient, server: SimulatorThread
) -> None:
    """Breaking out of track() closes the stream on the loop; the client stays usable."""
    task_id = sync.imagine("a fox").task_id
    events = sync.track(task_id)
    next(events)
    events.close()
    assert sync.wait(task_id, deadline=600).status == "SUCCESS"


def test_the_repr_names_the_client_and_its_state(sync: SyncOneChatClient) -> None:
    """The repr shows the wrapped client (never the key) and whether it is open."""
    assert "open" in repr(sync)
    assert KEY not in repr(sync)
    assert sync.base_url.startswith("http://127.0.0.1")


def test_docs_sync_page_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Every python block of docs/sync.md runs against the simulator."""
    # Fast enough that a task has ended by the client's first poll (the client runs on real time).
    run_page("docs/sync.md", clock=ScaledClock(100_000))
    out = capsys.readouterr().out
    assert "SUCCESS" in out


def test_the_twins_keep_the_async_signatures() -> None:
    """Each blocking twin carries its async method's name and documentation."""
    assert SyncOneChatClient.imagine.__name__ == "imagine"
    assert OneChatClient.imagine.__doc__ is not None
    assert OneChatClient.imagine.__doc__ in (SyncOneChatClient.imagine.__doc__ or "")
    assert asyncio.iscoroutinefunction(OneChatClient.wait)
    assert not asyncio.iscoroutinefunction(SyncOneChatClient.wait)


def test_a_forgotten_client_is_closed_when_collected(server: SimulatorThread) -> None:
    """Dropping an open instance closes its client and ends its thread, without warnings."""
    sync = SyncOneChatClient(api_key=KEY, base_url=server.url)
    sync.imagine("a fox")
    assert len(_sim_threads()) == 1
    del sync
    gc.collect()
    assert not _sim_threads()


def test_close_ends_a_track_loop_in_another_thread(
    sync: SyncOneChatClient, server: SimulatorThread
) -> None:
    """A thread iterating track() gets ClientClosedError when another thread closes the client."""
    task_id = sync.imagine("a fox").task_id
    assert server.sim is not None
    server.sim.stall(task_id)
    first = threading.Event()

    def follow() -> object:
        try:
            for _ in sync.track(task_id):
                first.set()
        except OneChatError as exc:
            return exc
        return None

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(follow)
        first.wait()
        sync.close()
        assert isinstance(outcome.result(), ClientClosedError)
