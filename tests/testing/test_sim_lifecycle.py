"""Task lifecycles: the pure timeline functions, then the same thing seen over HTTP."""

from __future__ import annotations

import pytest

from onechat_async.testing import Timings
from onechat_async.testing._lifecycle import (
    GATEWAY_TIMEOUT_REASON,
    TIMEOUT_REASON,
    Plan,
    gateway_at,
    next_change,
    plan,
    rank,
    upstream_at,
)
from tests.testing.conftest import Api, OpenApi

T = Timings()


def _imagine(*, fails: bool = False, fail_reason: str = "") -> Plan:
    return plan(
        submitted_at=0.0,
        queued_at=0.0,
        slot_free_at=float("-inf"),
        action="IMAGINE",
        timings=T,
        fails=fails,
        fail_reason=fail_reason,
    )


@pytest.mark.parametrize(
    ("t", "status", "progress"),
    [
        (0.0, "NOT_START", None),
        (1.0, "SUBMITTED", 0),
        (5.0, "IN_PROGRESS", 9),
        (30.0, "IN_PROGRESS", 54),
        (54.9, "IN_PROGRESS", 90),
        (55.0, "SUCCESS", 100),
        (9999.0, "SUCCESS", 100),
    ],
)
def test_upstream_timeline(t: float, status: str, progress: int | None) -> None:
    """Upstream, an imagine goes NOT_START -> SUBMITTED 0% -> IN_PROGRESS steps -> SUCCESS."""
    snap = upstream_at(_imagine(), t, T)
    assert (snap.status, snap.progress) == (status, progress)


def test_progress_never_goes_back() -> None:
    """Progress rises monotonically in steps and the rank of every view only goes up."""
    p = _imagine()
    ranks = [rank(upstream_at(p, t / 2, T)) for t in range(200)]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) > 8


@pytest.mark.parametrize(
    ("t", "status", "progress"),
    [
        (0.0, "", 0),
        (14.9, "", 0),
        (15.0, "IN_PROGRESS", 27),
        (29.0, "IN_PROGRESS", 27),
        (45.0, "IN_PROGRESS", 81),
        (60.0, "SUCCESS", 100),
    ],
)
def test_gateway_sees_the_upstream_on_its_refresh_ticks(
    t: float, status: str, progress: int
) -> None:
    """The gateway shows "" until its first poll, then what the upstream showed at each tick."""
    snap = gateway_at(_imagine(), t, T, origin=0.0)
    assert (snap.status, snap.progress) == (status, progress)
    assert snap.refreshed is (status != "")


def test_failure_is_100_percent_at_the_gateway_and_blank_upstream() -> None:
    """A failing task reports progress "100%" through the gateway and none upstream."""
    p = _imagine(fails=True, fail_reason="[Invalid parameter] Invalid value")
    assert upstream_at(p, 100, T).progress is None
    seen = gateway_at(p, 100, T, origin=0.0)
    assert (seen.status, seen.progress, seen.fail_reason) == (
        "FAILURE",
        100,
        "[Invalid parameter] Invalid value",
    )


def test_gateway_force_fails_after_an_hour() -> None:
    """A task stalled upstream fails at the gateway one hour after its submission."""
    p = Plan(submitted_at=0.0, queued_at=0.0, start_at=1.0, finish_at=55.0, stalled_at=2.0)
    assert gateway_at(p, 3599, T, origin=0.0).status == "SUBMITTED"
    failed = gateway_at(p, 3600, T, origin=0.0)
    assert (failed.status, failed.fail_reason) == ("FAILURE", GATEWAY_TIMEOUT_REASON)
    assert upstream_at(p, 10**6, T).status == "SUBMITTED"


def test_running_too_long_fails_with_the_proxy_timeout() -> None:
    """A job longer than task_timeout fails there with 任务超时."""
    slow = Timings(imagine=1000.0)
    p = plan(submitted_at=0, queued_at=0, slot_free_at=0, action="IMAGINE", timings=slow)
    snap = upstream_at(p, 400, slow)
    assert (snap.status, snap.fail_reason) == ("FAILURE", TIMEOUT_REASON)


def test_a_busy_slot_delays_the_start() -> None:
    """A task queued while every slot is busy starts when the first slot frees."""
    p = plan(submitted_at=0, queued_at=0, slot_free_at=40, action="UPSCALE", timings=T)
    assert upstream_at(p, 39, T).status == "NOT_START"
    assert p.start_at == 40


def test_modal_tasks_wait_for_the_modal_call() -> None:
    """A MODAL task never advances and has no next change until it is queued."""
    p = Plan(submitted_at=0.0, queued_at=None, modal=True)
    assert upstream_at(p, 10**6, T).status == "MODAL"
    assert next_change(p, 0, T) is None


def test_next_change_walks_every_visible_step() -> None:
    """Following next_change visits each status and progress step once, then stops."""
    p = _imagine()
    t, seen = 0.0, []
    while (due := next_change(p, t, T)) is not None:
        t = due
        seen.append(upstream_at(p, t, T).status)
    assert seen[0] == "SUBMITTED"
    assert seen[-1] == "SUCCESS"
    assert seen.count("IN_PROGRESS") == 10


def test_next_change_stops_at_a_stall() -> None:
    """A stalled task has no change after its stall time."""
    p = Plan(submitted_at=0.0, queued_at=0.0, start_at=1.0, finish_at=55.0, stalled_at=3.0)
    assert next_change(p, 0.0, T) == 1.0
    assert next_change(p, 1.0, T) is None


def test_timings_per_action() -> None:
    """Upscales are quicker than imagines and unknown actions get the default duration."""
    assert T.run_time("UPSCALE") < T.run_time("IMAGINE")
    assert T.run_time("PAN") == T.other


async def test_gateway_lifecycle_over_http(open_api: OpenApi) -> None:
    """Via the gateway, one task shows "" -> NOT_START -> SUBMITTED -> IN_PROGRESS -> SUCCESS."""
    slow_start = Timings(dispatch=20.0, submitted=15.0, imagine=30.0)
    api = await open_api(timings=slow_start)
    task_id = await api.imagine("a lighthouse --v 7", state="order-42")
    seen = []
    for _ in range(8):
        task = await api.fetch(task_id)
        seen.append((task["status"], task["progress"]))
        api.advance(15)
    assert [s for s, _ in seen] == [
        "",
        "NOT_START",
        "SUBMITTED",
        "IN_PROGRESS",
        "IN_PROGRESS",
        "SUCCESS",
        "SUCCESS",
        "SUCCESS",
    ]
    assert seen[2][1] == "0%"
    assert task["state"] == "order-42"
    assert task["properties"]["finalPrompt"] == "a lighthouse --v 7.0"
    assert task["submitTime"] < task["startTime"] < task["finishTime"]


async def test_java_lifecycle_over_http(api_java: Api) -> None:
    """A bare proxy never shows "", and leaves unset fields null until they are known."""
    task_id = await api_java.imagine()
    task = await api_java.fetch(task_id)
    assert (task["status"], task["progress"], task["startTime"], task["imageUrl"]) == (
        "NOT_START",
        None,
        None,
        None,
    )
    api_java.advance(2)
    task = await api_java.fetch(task_id)
    assert (task["status"], task["progress"]) == ("SUBMITTED", "0%")
    api_java.advance(20)
    assert (await api_java.fetch(task_id))["status"] == "IN_PROGRESS"
    done = await api_java.finished(task_id, step=5)
    assert done["progress"] == "100%"
    assert done["description"].startswith("/imagine ")


@pytest.fixture
async def api_java(open_api: OpenApi) -> Api:
    """A bare Java proxy on a ManualClock."""
    return await open_api(flavour="java")
