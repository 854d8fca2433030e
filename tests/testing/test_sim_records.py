"""What the simulator records: the tasks submits created, and every submit it served."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from onechat_async.testing import CreatedTask, Fault
from tests.testing.conftest import Api, OpenApi, until


async def test_created_names_endpoint_state_and_parentage(api: Api) -> None:
    """Each created task carries the endpoint that made it, its state and what it works on."""
    parent = await api.finished(await api.imagine("a grid", state="s-parent"))
    change = {"content": f"{parent['id']} V3", "taskId": parent["id"], "action": "VARIATION"}
    child = await api.submit("simple-change", {**change, "index": 3, "state": "s-child"})
    button = next(b for b in parent["buttons"] if b["customId"].startswith("MJ::JOB::upsample::2"))
    pressed = await api.submit(
        "action", {"taskId": parent["id"], "customId": button["customId"], "state": "s-up"}
    )
    assert api.sim.created == (
        CreatedTask(parent["id"], "imagine", "s-parent", "IMAGINE"),
        CreatedTask(child["result"], "simple-change", "s-child", "VARIATION", parent["id"], 3),
        CreatedTask(pressed["result"], "action", "s-up", "UPSCALE", parent["id"], 2),
    )


async def test_answers_naming_an_existing_task_create_nothing(open_api: OpenApi) -> None:
    """A /modal call and Java's "upscale already exists" answer name old tasks: not created."""
    api = await open_api(flavour="java-plus")
    parent = await api.finished(await api.imagine(), step=5)
    body = {"taskId": parent["id"], "action": "UPSCALE", "index": 1}
    first = await api.submit("change", body)
    again = await api.submit("change", {**body, "state": "dup"})
    assert (again["code"], again["result"]) == (21, first["result"])
    upscaled = await api.finished(first["result"], step=5)
    zoom = next(b for b in upscaled["buttons"] if b["customId"].startswith("MJ::CustomZoom"))
    modal = await api.submit("action", {"taskId": upscaled["id"], "customId": zoom["customId"]})
    confirmed = await api.submit("modal", {"taskId": modal["result"], "prompt": "zoom --zoom 2"})
    assert confirmed["result"] == modal["result"]
    assert [t.task_id for t in api.sim.created] == [parent["id"], first["result"], modal["result"]]
    assert [r.task_id for r in api.sim.submits][-3:] == [None, modal["result"], None]


async def test_submits_record_refusals_faults_and_answers(api: Api) -> None:
    """Every submit that reached the server is recorded with its state, answer and fault."""
    await api.request("POST", "/mj/submit/imagine", {"prompt": " ", "state": "blank"})
    api.sim.inject(Fault(endpoint="imagine", kind="http_429", count=1))
    await api.request("POST", "/mj/submit/imagine", {"prompt": "x", "state": "limited"})
    api.sim.inject(Fault(endpoint="imagine", kind="reset", phase="after", count=1))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.request("POST", "/mj/submit/imagine", {"prompt": "x", "state": "lost"})
    created = await api.imagine(state="fine")
    blank, limited, lost, fine = api.sim.submits
    assert (blank.state, blank.status, blank.code, blank.task_id) == ("blank", 200, 4, None)
    assert limited.fault is not None
    assert (limited.status, limited.code, limited.fault.kind) == (429, 30, "http_429")
    assert lost.fault is not None
    assert (lost.status, lost.fault.phase) == (None, "after")
    assert lost.task_id == api.sim.created[0].task_id
    assert (fine.status, fine.code, fine.task_id) == (200, 1, created)


async def test_submits_by_state_counts_every_request(api: Api) -> None:
    """submits_by_state counts each state's requests, refused ones and stateless ones too."""
    await api.imagine(state="a")
    await api.request("POST", "/mj/submit/imagine", {"prompt": "", "state": "a"})
    await api.imagine(state="b")
    await api.imagine()
    await api.request("POST", "/mj/task/list-by-condition", {"ids": []})
    assert api.sim.submits_by_state() == {"a": 2, "b": 1, None: 1}


async def test_submits_name_what_a_change_asks_for(api: Api) -> None:
    """A change-like submit records the task it names and the action and index it asks for."""
    await api.request("POST", "/mj/submit/simple-change", {"content": "17 u2", "action": "UPSCALE"})
    await api.request("POST", "/mj/submit/change", {"taskId": "18", "action": "REROLL", "index": 1})
    await api.request(
        "POST", "/mj/submit/action", {"taskId": "19", "customId": "MJ::JOB::variation::4::h"}
    )
    assert [(r.parent_id, r.action, r.index) for r in api.sim.submits] == [
        ("17", "UPSCALE", 2),
        ("18", "REROLL", 1),
        ("19", "VARIATION", 4),
    ]


async def test_submits_are_in_arrival_order(api: Api) -> None:
    """A slow submit that arrived first is listed first, although it was answered last."""
    api.sim.inject(Fault(endpoint="imagine", kind="slow", delay=0.2, count=1))
    first = asyncio.create_task(api.request("POST", "/mj/submit/imagine", {"state": "first"}))
    await until(lambda: api.sim.counters["imagine"] == 1, "the first submit arrived")
    await api.request("POST", "/mj/submit/imagine", {"prompt": "x", "state": "second"})
    assert [(r.state, r.status) for r in api.sim.submits] == [("first", None), ("second", 200)]
    await first
    assert [r.state for r in api.sim.submits] == ["first", "second"]
    assert api.sim.submits[0].status == 400


async def test_wait_idle_serves_several_waiters_and_times_out(api: Api) -> None:
    """Two waiters both return once the slow request ends; a short timeout raises."""
    api.sim.inject(Fault(endpoint="imagine", kind="slow", delay=0.2, count=1))
    sending = asyncio.create_task(api.request("POST", "/mj/submit/imagine", {"prompt": "x"}))
    await until(lambda: api.sim.counters["imagine"] == 1, "the submit arrived")
    with pytest.raises(TimeoutError):
        await api.sim.wait_idle(timeout=0.001)
    await asyncio.gather(api.sim.wait_idle(timeout=5), api.sim.wait_idle(timeout=5))
    assert (await sending).status == 200
    assert api.sim.task_count == 1
