"""The gateway's table: a second row after /modal, and rows that outlive the upstream's task.

new-api inserts a row for every accepted submit and deletes none (model/midjourney.go);
``fetch`` answers an id's oldest row, ``list-by-condition`` every row, and its poller
updates only the newest. Bare proxies keep one task per id and forget what they lose.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.conftest import IMAGE, Api, OpenApi

UNKNOWN = "1748339029401828"


async def _opened_modal(api: Api, label: str = "Custom Zoom") -> str:
    """An upscale's Custom Zoom (or Vary Region), parked in MODAL; returns its id."""
    grid = await api.finished(await api.imagine())
    up = await api.submit(
        "action", {"taskId": grid["id"], "customId": grid["buttons"][0]["customId"]}
    )
    upscaled = await api.finished(up["result"])
    button = next(b for b in upscaled["buttons"] if b["label"] == label)
    opened = await api.submit("action", {"taskId": upscaled["id"], "customId": button["customId"]})
    assert opened["code"] == 21
    return str(opened["result"])


async def _listed(api: Api, task_id: str) -> list[dict[str, Any]]:
    reply = await api.request("POST", "/mj/task/list-by-condition", {"ids": [task_id]})
    assert reply.status == 200
    rows: list[dict[str, Any]] = reply.json
    return rows


@pytest.mark.parametrize("upstream", ["java-plus", "csharp-v10"])
async def test_modal_inserts_a_second_row_and_fetch_keeps_the_stale_one(
    open_api: OpenApi, upstream: str
) -> None:
    """After /modal, fetch answers the old MODAL row forever; list returns both rows."""
    api = await open_api(upstream=upstream)
    task_id = await _opened_modal(api)
    api.advance(15)
    assert (await api.fetch(task_id))["status"] == "MODAL"
    confirmed = await api.submit("modal", {"taskId": task_id, "prompt": "a fox --zoom 2"})
    assert (confirmed["code"], confirmed["result"]) == (1, task_id)
    rows = await _listed(api, task_id)
    assert sorted((r["action"], r["status"]) for r in rows) == [
        ("CUSTOM_ZOOM", "MODAL"),
        ("MODAL", ""),
    ]
    assert [r["id"] for r in rows] == [task_id, task_id]
    api.advance(3600 * 3)
    stale = await api.fetch(task_id)
    assert (stale["action"], stale["status"], stale["progress"]) == ("CUSTOM_ZOOM", "MODAL", "")
    moved = next(r for r in await _listed(api, task_id) if r["action"] == "MODAL")
    assert (moved["status"], moved["progress"]) == ("SUCCESS", "100%")
    assert moved["prompt"] == stale["prompt"]  # the row keeps the prompt of the parent row
    assert api.sim.task(task_id) == stale
    assert [r["action"] for r in api.sim.task_rows(task_id)] == ["CUSTOM_ZOOM", "MODAL"]


async def test_a_row_frozen_before_the_first_refresh_stays_empty(api: Api) -> None:
    """A /modal before the gateway's first poll of the MODAL task freezes its row at ""."""
    task_id = await _opened_modal(api)
    await api.submit("modal", {"taskId": task_id, "prompt": "a fox --zoom 2"})
    api.advance(3600 * 2)
    assert (await api.fetch(task_id))["status"] == ""
    statuses = sorted(r["status"] for r in await _listed(api, task_id))
    assert statuses == ["", "SUCCESS"]


async def test_list_order_of_the_two_rows_is_not_guaranteed(api: Api) -> None:
    """The two rows come in either order (the seeded RNG decides, so runs replay)."""
    task_id = await _opened_modal(api)
    api.advance(15)
    await api.submit("modal", {"taskId": task_id, "prompt": "a fox --zoom 2"})
    orders = {tuple(r["action"] for r in await _listed(api, task_id)) for _ in range(12)}
    assert orders == {("CUSTOM_ZOOM", "MODAL"), ("MODAL", "CUSTOM_ZOOM")}


async def test_buttons_of_a_modal_result_are_refused_by_the_gateway(api: Api) -> None:
    """A later /action on the id meets the stale row: 400 task_status_not_success (code 4)."""
    task_id = await _opened_modal(api)
    api.advance(15)
    await api.submit("modal", {"taskId": task_id, "prompt": "a fox --zoom 2"})
    api.advance(600)
    finished = next(r for r in await _listed(api, task_id) if r["status"] == "SUCCESS")
    custom_id = finished["buttons"][0]["customId"]
    reply = await api.request(
        "POST", "/mj/submit/action", {"taskId": task_id, "customId": custom_id}
    )
    assert reply.status == 400
    assert reply.json == {
        "description": "task_status_not_success ",
        "type": "upstream_error",
        "code": 4,
    }


async def test_mj_image_serves_the_oldest_row(api: Api) -> None:
    """/mj/image/{id} reads the oldest row: after /modal that row has no image (403)."""
    task_id = await _opened_modal(api)
    api.advance(15)
    await api.submit("modal", {"taskId": task_id, "prompt": "a fox --zoom 2"})
    api.advance(600)
    reply = await api.request("GET", f"/mj/image/{task_id}", headers={})
    assert reply.status == 403
    assert reply.json["error"].startswith("request blocked")


async def test_vary_region_keeps_21_and_a_remix_variation_becomes_1(api: Api) -> None:
    """21 reaches the client for Vary Region; a remix (enableRemix) variation's 21 reads 1."""
    grid = await api.finished(await api.imagine())
    v1 = next(b for b in grid["buttons"] if b["label"] == "V1")
    body = {"taskId": grid["id"], "customId": v1["customId"], "enableRemix": True}
    remix = await api.submit("action", body)
    assert remix["code"] == 1
    api.advance(15)
    assert (await api.fetch(remix["result"]))["status"] == "MODAL"
    region = await _opened_modal(api, "Vary (Region)")
    api.advance(15)
    assert (await api.fetch(region))["status"] == "MODAL"
    confirmed = await api.submit("modal", {"taskId": region, "maskBase64": IMAGE})
    assert confirmed["code"] == 1


# -- tasks the upstream forgot -----------------------------------------------------------


async def test_the_gateway_never_deletes_a_task_the_upstream_forgot(api: Api) -> None:
    """A vanished task stays frozen behind the gateway: fetch answers it, never force-failed."""
    task_id = await api.imagine()
    api.advance(30)
    seen = await api.fetch(task_id)
    assert seen["status"] == "IN_PROGRESS"
    api.sim.vanish(task_id)
    api.advance(api.sim.timings.gateway_timeout * 3)
    later = await api.fetch(task_id)
    assert (later["status"], later["progress"], later["failReason"]) == (
        seen["status"],
        seen["progress"],
        "",
    )
    assert [r["status"] for r in await _listed(api, task_id)] == ["IN_PROGRESS"]
    assert api.sim.task_count == 0
    with pytest.raises(KeyError):
        api.sim.vanish(task_id)


async def test_a_stalled_task_the_upstream_still_returns_is_force_failed(api: Api) -> None:
    """Only a task the upstream still returns meets new-api's one-hour force-fail."""
    task_id = await api.imagine()
    api.advance(30)
    api.sim.stall(task_id)
    api.advance(api.sim.timings.gateway_timeout)
    failed = await api.fetch(task_id)
    assert (failed["status"], failed["failReason"]) == ("FAILURE", "上游任务超时（超过1小时）")


async def test_a_task_lost_before_the_first_refresh_stays_empty(api: Api) -> None:
    """Lost before the gateway's first poll, a row keeps status "" forever."""
    task_id = await api.imagine()
    api.sim.vanish(task_id)
    api.advance(10_000)
    assert (await api.fetch(task_id))["status"] == ""


@pytest.mark.parametrize(
    ("flavour", "status"), [("java", 200), ("java-plus", 200), ("csharp-v10", 204)]
)
async def test_bare_proxies_forget(open_api: OpenApi, flavour: str, status: int) -> None:
    """A bare proxy forgets a vanished task: Java's empty 200, trueai's 204, left out of lists."""
    api = await open_api(flavour=flavour)
    task_id = await api.imagine()
    api.sim.vanish(task_id)
    reply = await api.request("GET", f"/mj/task/{task_id}/fetch")
    assert (reply.status, reply.body) == (status, b"")
    assert await _listed(api, task_id) == []
    assert api.sim.task(task_id) is None
    assert api.sim.task_rows(task_id) == []


async def test_a_vanished_task_through_the_gateway_is_still_a_parent_it_knows(
    open_api: OpenApi,
) -> None:
    """The gateway finds its row, so the upstream's own 404 code 3 reaches the client."""
    api = await open_api(upstream="csharp-v10")
    grid = await api.finished(await api.imagine())
    api.sim.vanish(grid["id"])
    body = {"taskId": grid["id"], "customId": grid["buttons"][0]["customId"]}
    reply = await api.request("POST", "/mj/submit/action", body)
    assert (reply.status, reply.json["code"]) == (404, 3)
    assert reply.json["description"] == "关联任务不存在或已失效"
    missing = await api.request("POST", "/mj/submit/action", {**body, "taskId": UNKNOWN})
    assert missing.status == 400
    assert missing.json == {"description": "task_not_found ", "type": "upstream_error", "code": 4}
