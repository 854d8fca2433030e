"""Routes per flavour: mode prefixes, missing routes against missing tasks, the extra queries.

- Mode prefixes: new-api routes any ``/<x>/mj/...``, strips a ``/mj-<x>`` prefix before it
  forwards and reads the mode nowhere (same channel, same price); trueai honours
  ``/mj-fast``, ``/mj-relax`` and ``/mj-turbo``; the Java proxies have no such routes.
- 404: trueai answers a missing parent task with 404 and ``{code: 3}``, a missing route with
  an empty 404; the gateway answers its own 400 ``task_not_found`` when it has no row, and
  passes the upstream's 404s on.
"""

from __future__ import annotations

import asyncio

import pytest

from onechat_async.testing import ManualClock, Timings
from tests.testing.conftest import IMAGE, Api, OpenApi

UNKNOWN = "1748339029401828"
NOT_FOUND = {"code": 3, "description": "关联任务不存在或已失效", "result": None, "properties": {}}


# -- mode prefixes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "seen"),
    [("/mj-turbo", None), ("/mj-relax", None), ("/mj-anything", None), ("/MJ-TURBO", "TURBO")],
)
async def test_the_gateway_strips_a_mode_prefix_and_ignores_it(
    open_api: OpenApi, prefix: str, seen: str | None
) -> None:
    """A /mj-<x> prefix reaches the same route and the upstream sees no mode.

    new-api strips only a lower-case "/mj-" (strings.Contains); "/MJ-TURBO" goes on as is,
    and trueai, which matches routes in any case, honours it: the same price, a turbo job.
    """
    api = await open_api(upstream="csharp-v10")
    reply = await api.request("POST", f"{prefix}/mj/submit/imagine", {"prompt": "a cat"})
    task_id = reply.json["result"]
    assert reply.json["code"] == 1
    fetched = await api.request("GET", f"{prefix}/mj/task/{task_id}/fetch")
    assert fetched.json["id"] == task_id
    record = api.sim._store.get(task_id, 0.0)
    assert record is not None
    upstream = api.sim._backend.upstream.render(record, 0.0)
    assert (upstream["mode"], upstream["requestMode"]) == (seen or "FAST", seen)


async def test_the_gateway_forwards_another_prefix_as_is(api: Api) -> None:
    """A prefix without "/mj-" is routed, but forwarded unchanged: the upstream has no route."""
    reply = await api.request("POST", "/fast/mj/submit/imagine", {"prompt": "a cat"})
    assert (reply.status, reply.json["status"]) == (404, 404)
    assert api.sim.task_count == 0
    task_id = await api.imagine()
    fetched = await api.request("GET", f"/fast/mj/task/{task_id}/fetch")
    assert fetched.json["id"] == task_id  # fetch reads the gateway's rows: no upstream


@pytest.mark.parametrize(
    ("prefix", "mode", "requested"),
    [("", "FAST", None), ("/mj-turbo", "TURBO", "TURBO"), ("/mj-relax", "RELAX", "RELAX")],
)
async def test_trueai_honours_the_mode_routes(
    open_api: OpenApi, prefix: str, mode: str, requested: str | None
) -> None:
    """The trueai proxy records the mode a prefix asks for (``mode`` and ``requestMode``)."""
    api = await open_api(flavour="csharp-v10")
    reply = await api.request("POST", f"{prefix}/mj/submit/imagine", {"prompt": "a cat"})
    task = await api.fetch(reply.json["result"])
    assert (task["mode"], task["requestMode"]) == (mode, requested)


@pytest.mark.parametrize(
    ("flavour", "prefix", "status"),
    [("csharp-v10", "/mj-slow", 404), ("java", "/mj-fast", 404), ("java-plus", "/mj-turbo", 404)],
)
async def test_no_such_mode_route(
    open_api: OpenApi, flavour: str, prefix: str, status: int
) -> None:
    """The trueai proxy has three mode routes only; the Java proxies have none."""
    api = await open_api(flavour=flavour)
    reply = await api.request("POST", f"{prefix}/mj/submit/imagine", {"prompt": "a cat"})
    assert reply.status == status
    assert api.sim.task_count == 0


# -- missing task or missing route ----------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("action", {"taskId": UNKNOWN, "customId": "MJ::JOB::upsample::1::x"}),
        ("modal", {"taskId": UNKNOWN, "prompt": "x"}),
        ("video", {"prompt": "x", "action": "extend", "taskId": UNKNOWN, "index": 0}),
    ],
)
async def test_trueai_missing_parent_is_404_code_3(
    open_api: OpenApi, endpoint: str, body: dict[str, object]
) -> None:
    """Trueai's NotFound(SubmitResultVO.Fail(NOT_FOUND, ...)): HTTP 404 with a JSON code 3."""
    api = await open_api(flavour="csharp-v10")
    reply = await api.request("POST", f"/mj/submit/{endpoint}", body)
    assert (reply.status, reply.json) == (404, NOT_FOUND)


async def test_trueai_image_seed_of_a_missing_task_is_404_code_3(open_api: OpenApi) -> None:
    """image-seed of a task trueai does not know: 404 with code 3 too."""
    api = await open_api(flavour="csharp-v10")
    reply = await api.request("GET", f"/mj/task/{UNKNOWN}/image-seed")
    assert (reply.status, reply.json) == (404, NOT_FOUND)


@pytest.mark.parametrize("endpoint", ["change", "simple-change"])
async def test_trueai_missing_route_is_an_empty_404(open_api: OpenApi, endpoint: str) -> None:
    """v10 removed /change and /simple-change: ASP.NET's 404 without a body."""
    api = await open_api(flavour="csharp-v10")
    reply = await api.request("POST", f"/mj/submit/{endpoint}", {"content": f"{UNKNOWN} U1"})
    assert (reply.status, reply.body) == (404, b"")


async def test_a_missing_route_behind_the_gateway_is_an_empty_404(open_api: OpenApi) -> None:
    """new-api relays trueai's empty 404 with its status: still an empty 404 (no task)."""
    api = await open_api(upstream="csharp-v10")
    grid = await api.finished(await api.imagine())
    body = {"taskId": grid["id"], "action": "UPSCALE", "index": 1}
    reply = await api.request("POST", "/mj/submit/change", body)
    assert (reply.status, reply.body) == (404, b"")
    assert api.sim.task_count == 1


@pytest.mark.parametrize("upstream", ["java-plus", "csharp-v10"])
async def test_the_gateway_checks_its_own_rows_first(open_api: OpenApi, upstream: str) -> None:
    """A parent the gateway has no row for: its own 400 task_not_found, whatever the upstream."""
    api = await open_api(upstream=upstream)
    body = {"taskId": UNKNOWN, "customId": "MJ::JOB::upsample::1::x"}
    reply = await api.request("POST", "/mj/submit/action", body)
    assert reply.status == 400
    assert reply.json == {"description": "task_not_found ", "type": "upstream_error", "code": 4}


# -- the gateway's relays -------------------------------------------------------------


async def test_image_seed_gives_up_after_30_seconds(open_api: OpenApi) -> None:
    """new-api waits 30 s for the upstream's seed, then answers 400 do_request_failed code 5."""
    clock = ManualClock()
    api = await open_api(clock=clock, timings=Timings(seed=45.0))
    task_id = (await api.finished(await api.imagine()))["id"]
    seeding = asyncio.ensure_future(api.request("GET", f"/mj/task/{task_id}/image-seed"))
    async with asyncio.timeout(5):
        await clock.wait_for_sleepers()
    api.advance(29)
    await clock.settle()
    assert not seeding.done()
    api.advance(1)
    reply = await seeding
    assert reply.status == 400
    assert reply.json == {"description": "do_request_failed ", "type": "upstream_error", "code": 5}


async def test_image_seed_within_the_limit_is_relayed(api: Api) -> None:
    """A seed in time comes back re-marshalled by new-api, with the upstream's status."""
    task_id = (await api.finished(await api.imagine()))["id"]
    seeding = asyncio.ensure_future(api.request("GET", f"/mj/task/{task_id}/image-seed"))
    assert api.clock is not None
    async with asyncio.timeout(5):
        await api.clock.wait_for_sleepers()
    api.advance(api.sim.timings.seed)
    reply = await seeding
    assert reply.status == 200
    assert list(reply.json) == ["code", "description", "properties", "result"]
    assert reply.json["code"] == 1


@pytest.mark.parametrize(("flavour", "code"), [("gateway", 22), ("java-plus", 22)])
async def test_swap_face_keeps_code_22(open_api: OpenApi, flavour: str, code: int) -> None:
    """RelaySwapFace rewrites nothing: a queued swap answers 22 through the gateway too."""
    api = await open_api(flavour=flavour, running_limit=1)
    await api.imagine()
    body = {"sourceBase64": IMAGE, "targetBase64": IMAGE}
    answer = await api.submit("swap-face", body)
    assert answer["code"] == code
    queued = await api.submit("imagine", {"prompt": "queued"})
    assert queued["code"] == (1 if flavour == "gateway" else 22)


async def test_swap_face_refusals_are_remarshalled(api: Api) -> None:
    """new-api re-marshals swap-face answers: a null result becomes ""."""
    reply = await api.request(
        "POST", "/mj/insight-face/swap", {"sourceBase64": "x", "targetBase64": IMAGE}
    )
    assert reply.json == {
        "code": 4,
        "description": "sourceBase64参数错误",
        "properties": {},
        "result": "",
    }


# -- the Java proxies' own queries ----------------------------------------------------


@pytest.mark.parametrize("flavour", ["java", "java-plus"])
async def test_java_queue_and_list(open_api: OpenApi, flavour: str) -> None:
    """GET /mj/task/queue: unfinished tasks by submit time; /mj/task/list: all, newest first."""
    api = await open_api(flavour=flavour, running_limit=1)
    first = await api.imagine("one")
    api.advance(1)
    second = await api.imagine("two")
    queue = await api.request("GET", "/mj/task/queue")
    assert [t["id"] for t in queue.json] == [first, second]
    await api.finished(first, step=5)
    queue = await api.request("GET", "/mj/task/queue")
    assert [t["id"] for t in queue.json] == [second]
    listed = await api.request("GET", "/mj/task/list")
    assert [t["id"] for t in listed.json] == [second, first]


@pytest.mark.parametrize(("flavour", "status"), [("csharp-v10", 200), ("gateway", 200)])
async def test_list_elsewhere(open_api: OpenApi, flavour: str, status: int) -> None:
    """Trueai lists its latest 100 tasks; the gateway has no such route (its HTML page)."""
    api = await open_api(flavour=flavour)
    await api.imagine()
    reply = await api.request("GET", "/mj/task/list")
    assert reply.status == status
    if flavour == "gateway":
        assert reply.content_type == "text/html"
    else:
        assert len(reply.json) == 1
