"""Fault injection: every kind, rates from a seeded RNG, count limits, before and after."""

from __future__ import annotations

import json
import time
from http import HTTPStatus

import aiohttp
import pytest

from onechat_async.testing import Fault
from tests.testing.conftest import Api, OpenApi


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("http_5xx_html", 502),
        ("http_500_html", 500),
        ("http_503_html", 503),
        ("http_504_html", 504),
    ],
)
async def test_html_server_errors(api: Api, kind: str, status: int) -> None:
    """5xx faults answer an nginx-like HTML page with the status the kind names."""
    api.sim.inject(Fault(endpoint="fetch", kind=kind))
    reply = await api.request("GET", f"/mj/task/{await api.imagine()}/fetch")
    assert (reply.status, reply.content_type) == (status, "text/html")
    assert f"<title>{status} {HTTPStatus(status).phrase}</title>".encode() in reply.body


async def test_http_5xx_html_status_option(api: Api) -> None:
    """The generic kind takes its status from the status option."""
    api.sim.inject(Fault(kind="http_5xx_html", status=500))
    assert (await api.request("POST", "/mj/task/list-by-condition", {"ids": []})).status == 500


@pytest.mark.parametrize(
    ("flavour", "body_code"),
    [("gateway", 30), ("java", None), ("java-plus", None), ("csharp-v10", None)],
)
async def test_http_429_and_retry_after(
    open_api: OpenApi, flavour: str, body_code: int | None
) -> None:
    """A bare proxy's 429 is empty with Retry-After; the gateway's is code 30 and has none."""
    api = await open_api(flavour=flavour)
    api.sim.inject(Fault(endpoint="imagine", kind="http_429", retry_after=2.5))
    reply = await api.request("POST", "/mj/submit/imagine", {"prompt": "x"})
    assert reply.status == 429
    if body_code is None:
        assert (reply.body, reply.headers["Retry-After"]) == (b"", "2.5")
    else:
        assert reply.json["code"] == body_code
        assert "Retry-After" not in reply.headers


async def test_reset_drops_the_connection(api: Api) -> None:
    """A reset closes the connection without any answer."""
    api.sim.inject(Fault(endpoint="fetch", kind="reset"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.request("GET", "/mj/task/1/fetch")
    # aiohttp retries an idempotent GET once on a dropped connection: both were struck.
    assert api.sim.counters["fetch"] == api.sim.faults_fired >= 1


async def test_reset_after_the_submit_took_effect(api: Api) -> None:
    """With phase="after" the task exists although the client never heard about it."""
    api.sim.inject(Fault(endpoint="imagine", kind="reset", phase="after"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.request("POST", "/mj/submit/imagine", {"prompt": "lost answer"})
    assert api.sim.task_count == 1


async def test_slow_answers_late_but_right(api: Api) -> None:
    """A slow fault delays the real answer by its delay in real seconds."""
    api.sim.inject(Fault(endpoint="list-by-condition", kind="slow", delay=0.05))
    started = time.monotonic()
    reply = await api.request("POST", "/mj/task/list-by-condition", {"ids": []})
    assert time.monotonic() - started >= 0.05
    assert reply.json == []


async def test_empty_body(api: Api) -> None:
    """empty_body answers HTTP 200 with nothing in it."""
    api.sim.inject(Fault(endpoint="imagine", kind="empty_body"))
    reply = await api.request("POST", "/mj/submit/imagine", {"prompt": "x"})
    assert (reply.status, reply.body) == (200, b"")
    assert api.sim.task_count == 0


async def test_empty_body_after_the_submit(api: Api) -> None:
    """An after-phase empty body hides a submit that happened."""
    api.sim.inject(Fault(endpoint="imagine", kind="empty_body", phase="after"))
    reply = await api.request("POST", "/mj/submit/imagine", {"prompt": "x"})
    assert reply.body == b""
    assert api.sim.task_count == 1


async def test_truncated_body(api: Api) -> None:
    """truncated_body sends the first half of the real answer: well-framed, broken JSON."""
    task_id = await api.imagine()
    full = await api.request("GET", f"/mj/task/{task_id}/fetch")
    api.sim.inject(Fault(endpoint="fetch", kind="truncated_body"))
    cut = await api.request("GET", f"/mj/task/{task_id}/fetch")
    assert cut.status == 200
    assert full.body.startswith(cut.body)
    assert 0 < len(cut.body) < len(full.body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.body)


async def test_rate_is_seeded_and_replayable(open_api: OpenApi) -> None:
    """A rate-0.3 rule hits about 30% of requests, in the same pattern for the same seed."""

    async def pattern() -> list[int]:
        api = await open_api(seed=7)
        api.sim.inject(Fault(endpoint="list-by-condition", kind="empty_body", rate=0.3))
        replies = [
            await api.request("POST", "/mj/task/list-by-condition", {"ids": []}) for _ in range(100)
        ]
        return [len(r.body) for r in replies]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 15 <= first.count(0) <= 45


async def test_count_limits_a_rule(api: Api) -> None:
    """A rule with count=2 strikes twice, then lets requests through."""
    api.sim.inject(Fault(endpoint="*", kind="http_5xx_html", count=2))
    statuses = [
        (await api.request("POST", "/mj/task/list-by-condition", {"ids": []})).status
        for _ in range(4)
    ]
    assert statuses == [502, 502, 200, 200]
    assert api.sim.faults_fired == 2


async def test_rules_apply_only_to_their_endpoint(api: Api) -> None:
    """A fetch rule leaves imagine alone, and clear_faults removes every rule."""
    api.sim.inject(Fault(endpoint="fetch", kind="http_5xx_html"))
    task_id = await api.imagine()
    assert (await api.request("GET", f"/mj/task/{task_id}/fetch")).status == 502
    api.sim.clear_faults()
    assert (await api.request("GET", f"/mj/task/{task_id}/fetch")).status == 200


async def test_stall_fault_freezes_new_tasks(open_api: OpenApi) -> None:
    """A stall rule on imagine freezes the created task `after` seconds past its submission."""
    api = await open_api(flavour="java")
    api.sim.inject(Fault(endpoint="imagine", kind="stall", after=2.0))
    task_id = await api.imagine()
    api.advance(10_000)
    assert (await api.fetch(task_id))["status"] == "SUBMITTED"


async def test_vanish_fault_forgets_new_tasks(open_api: OpenApi) -> None:
    """A vanish rule makes the created task unknown `after` seconds past its submission."""
    api = await open_api(flavour="java-plus")
    api.sim.inject(Fault(endpoint="imagine", kind="vanish", after=20.0))
    task_id = await api.imagine()
    api.advance(15)
    assert (await api.fetch(task_id))["status"] == "IN_PROGRESS"
    api.advance(5)
    assert (await api.request("GET", f"/mj/task/{task_id}/fetch")).body == b""
    assert api.sim.task_count == 0


async def test_vanish_fault_freezes_the_gateway_row(api: Api) -> None:
    """Behind the gateway a vanished task keeps its last refreshed state, forever."""
    api.sim.inject(Fault(endpoint="imagine", kind="vanish", after=20.0))
    task_id = await api.imagine()
    api.advance(15)
    seen = await api.fetch(task_id)
    assert seen["status"] == "IN_PROGRESS"
    api.advance(100_000)
    later = await api.fetch(task_id)
    # Only the ?rand= new-api appends to a preview changes.
    assert {**later, "imageUrl": ""} == {**seen, "imageUrl": ""}
    assert api.sim.task_count == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": "http_404_html"}, "unknown fault kind"),
        ({"kind": "reset", "endpoint": "upload"}, "unknown endpoint"),
        ({"kind": "reset", "rate": 1.5}, "rate"),
        ({"kind": "reset", "phase": "during"}, "phase"),
        ({"kind": "http_429", "phase": "after"}, "before any task exists"),
        ({"kind": "http_5xx_html", "status": 429}, "5xx"),
    ],
)
def test_fault_validation(options: dict[str, object], message: str) -> None:
    """Mistyped fault rules fail at construction, not silently at request time."""
    with pytest.raises(ValueError, match=message):
        Fault(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["http_5xx_html", "reset", "empty_body", "truncated_body"])
async def test_every_after_kind_but_429_hides_a_created_task(api: Api, kind: str) -> None:
    """Each kind allowed after the fact leaves the task created and its answer unusable."""
    api.sim.inject(Fault(endpoint="imagine", kind=kind, phase="after"))
    try:
        reply = await api.request("POST", "/mj/submit/imagine", {"prompt": "paid, unseen"})
    except aiohttp.ServerDisconnectedError:
        assert kind == "reset"
    else:
        assert kind != "reset"
        with pytest.raises(json.JSONDecodeError):
            json.loads(reply.body)
    assert api.sim.task_count == 1
    assert api.sim.created[0].state is None


async def test_a_slow_submit_creates_its_task_after_the_client_gave_up(api: Api) -> None:
    """A slow answer past the client's timeout still creates (and charges) the task."""
    api.sim.inject(Fault(endpoint="imagine", kind="slow", delay=0.2))
    with pytest.raises(TimeoutError):
        await api.session.post(
            api.sim.url + "/mj/submit/imagine",
            json={"prompt": "too late to hear", "state": "gone"},
            headers=api.auth(),
            timeout=aiohttp.ClientTimeout(total=0.02),
        )
    assert api.sim.task_count == 0
    await api.sim.wait_idle(timeout=5)
    assert [(t.endpoint, t.state) for t in api.sim.created] == [("imagine", "gone")]
    record = api.sim.submits[-1]
    assert record.fault is not None
    assert (record.fault.kind, record.status, record.task_id) == (
        "slow",
        200,
        api.sim.created[0].task_id,
    )
