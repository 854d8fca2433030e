"""The servers as their source says they behave: what the client does about each (issue 10).

Each case is an answer copied from the servers' code (new-api, midjourney-proxy, trueai), played
by a scripted aiohttp server on loopback.
"""

from __future__ import annotations

from typing import Any

import pytest

from onechat_async import (
    APIError,
    InvalidRequestError,
    OneChatClient,
    PollPolicy,
    RetryPolicy,
    SubmitOutcomeUnknownError,
    SubmitRejectedError,
    Succeeded,
    TaskStatus,
)
from onechat_async._wire import decode_task
from onechat_async.testing import ManualClock
from tests.helpers import ScriptedServer

PARENT = "1748339029401828"
CHILD = "1748339029401999"
OK = {"code": 1, "description": "提交成功", "properties": {}, "result": CHILD}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
BUTTONS = [
    {"customId": f"MJ::JOB::upsample::{i}::abc", "label": f"U{i}", "type": 2, "style": 2}
    for i in range(1, 5)
]


def task(task_id: str = PARENT, status: str = "SUCCESS", **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "status": status, "progress": "100%", "buttons": BUTTONS, **extra}


@pytest.fixture
async def client(server: ScriptedServer) -> Any:
    async with OneChatClient(
        api_key="sk-fidelity", base_url=server.url, retry=RetryPolicy(attempts=3, wait_jitter=0)
    ) as c:
        yield c


async def test_a_missing_parent_ends_the_route_walk(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """Trueai's 404 {code: 3} is "the parent task is gone", not "no such route": no next route."""
    server.reply("POST", "/mj/submit/simple-change", status=404)  # v10+: route removed
    server.reply("POST", "/mj/submit/change", status=404)
    server.reply("GET", f"/mj/task/{PARENT}/fetch", json_body=task())
    server.reply(
        "POST",
        "/mj/submit/action",
        status=404,
        json_body={"code": 3, "description": "关联任务不存在或已失效", "result": None},
    )
    with pytest.raises(SubmitRejectedError, match="关联任务") as info:
        await client.simple_change(PARENT, "U1")
    assert info.value.code == 3
    assert info.value.status == 404
    assert server.paths().count("/mj/submit/action") == 1


async def test_an_empty_404_is_a_missing_route(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """An empty 404 (a route trueai v10 removed) moves on to the next route and succeeds."""
    server.reply("POST", "/mj/submit/simple-change", status=404)
    server.reply("POST", "/mj/submit/change", status=404)
    server.reply("GET", f"/mj/task/{PARENT}/fetch", json_body=task())
    server.reply("POST", "/mj/submit/action", json_body=OK)
    result = await client.simple_change(PARENT, "U2")
    assert result.task_id == CHILD
    assert server.seen[-1].json["customId"] == "MJ::JOB::upsample::2::abc"


@pytest.mark.parametrize(
    "custom_id", ["nope", "MJ::JOB", "MJ::JOB::upsample", "MJ::JOB::variation", "XX::JOB::a::1"]
)
async def test_a_custom_id_new_api_would_crash_on_is_refused_locally(
    server: ScriptedServer, client: OneChatClient, custom_id: str
) -> None:
    """new-api panics (500) on a customId with too few "::" parts: refused before sending."""
    with pytest.raises(InvalidRequestError, match="customId"):
        await client.action(PARENT, custom_id)
    assert server.seen == []


async def test_a_body_over_the_gateway_cap_is_refused_locally(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """A request body over 32 MiB is refused with a sentence, and nothing is sent."""
    with pytest.raises(InvalidRequestError, match="MiB"):
        await client.imagine("x" * (33 * 1024 * 1024))
    assert server.seen == []


async def test_code_5_on_a_query_is_retried(server: ScriptedServer, client: OneChatClient) -> None:
    """image-seed past the gateway's 30 s wait (400 code 5) is a transient ServerError."""
    path = f"/mj/task/{PARENT}/image-seed"
    busy = {"description": "do_request_failed ", "type": "upstream_error", "code": 5}
    server.reply("GET", path, status=400, json_body=busy)
    server.reply("GET", path, json_body={"code": 1, "description": "成功", "result": "4242"})
    assert await client.image_seed(PARENT) == "4242"
    assert server.paths().count(path) == 2


async def test_code_5_on_a_submit_is_outcome_unknown(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """A submit the gateway lost the upstream's answer to (400 code 5) may exist: not re-sent."""
    lost = {"description": "do_request_failed ", "type": "upstream_error", "code": 5}
    server.reply("POST", "/mj/submit/imagine", status=400, json_body=lost)
    with pytest.raises(SubmitOutcomeUnknownError) as info:
        await client.imagine("a cat", state="job-5")
    assert info.value.reason == "server_error"
    assert info.value.state == "job-5"
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("call", "body"),
    [
        (
            {"link": "https://example.invalid/cat.png"},
            {"link": "https://example.invalid/cat.png"},
        ),
        (
            {"image": "https://example.invalid/cat.png"},
            {"base64": "https://example.invalid/cat.png"},
        ),
    ],
)
async def test_describe_by_link_or_url(
    server: ScriptedServer, client: OneChatClient, call: dict[str, Any], body: dict[str, Any]
) -> None:
    """Describe sends a link as trueai reads it; an http(s) image is passed on as it is."""
    server.reply("POST", "/mj/submit/describe", json_body=OK)
    await client.describe(**call)
    assert body.items() <= server.seen[0].json.items()


@pytest.mark.parametrize(
    "call", [{}, {"image": PNG, "link": "https://x/y.png"}, {"link": "ftp://x"}]
)
async def test_describe_needs_one_image_or_one_link(
    server: ScriptedServer, client: OneChatClient, call: dict[str, Any]
) -> None:
    """Neither, both, or a link that is no http(s) URL: refused before sending."""
    with pytest.raises(InvalidRequestError):
        await client.describe(**call)
    assert server.seen == []


async def test_video_and_its_extension(server: ScriptedServer, client: OneChatClient) -> None:
    """Video sends the fields trueai reads; extending sends action "extend" and a 0-based index."""
    server.reply("POST", "/mj/submit/video", json_body=OK, times=2)
    await client.video("a cat walks", image=PNG, motion="high", loop=True, batch_size=2)
    first = server.seen[0].json
    assert first["prompt"] == "a cat walks"
    assert first["image"].startswith("data:image/png;base64,")
    assert (first["motion"], first["loop"], first["batchSize"]) == ("high", True, 2)
    assert "action" not in first
    await client.video("it goes on", extend=PARENT, index=4)
    second = server.seen[1].json
    assert (second["action"], second["taskId"], second["index"]) == ("extend", PARENT, 3)


@pytest.mark.parametrize(
    "call",
    [
        {"prompt": "x"},  # nothing to animate
        {"prompt": "x", "image": PNG, "motion": "fast"},
        {"prompt": "x", "image": PNG, "batch_size": 3},
        {"prompt": "x", "extend": PARENT, "index": 0},
        {"prompt": "x", "extend": PARENT},
        {"prompt": " ", "image": PNG},
    ],
)
async def test_bad_video_calls_are_refused_locally(
    server: ScriptedServer, client: OneChatClient, call: dict[str, Any]
) -> None:
    """A video call no server would take is refused with InvalidRequestError, nothing sent."""
    with pytest.raises(InvalidRequestError):
        await client.video(**call)
    assert server.seen == []


async def test_edits_and_remix(server: ScriptedServer, client: OneChatClient) -> None:
    """Edits sends prompt and image; action(enable_remix=True) sends enableRemix."""
    server.reply("POST", "/mj/submit/edits", json_body=OK)
    server.reply("POST", "/mj/submit/action", json_body=OK)
    await client.edits("make it blue", "https://example.invalid/a.png")
    await client.action(PARENT, "MJ::JOB::variation::1::abc", enable_remix=True)
    assert server.seen[0].json == {
        "prompt": "make it blue",
        "image": "https://example.invalid/a.png",
    }
    assert server.seen[1].json["enableRemix"] is True


async def test_upload_images_returns_the_urls(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """upload-discord-images answers a list of URLs in result; no task id is expected."""
    urls = ["https://cdn.example.invalid/1.png", "https://cdn.example.invalid/2.png"]
    server.reply(
        "POST",
        "/mj/submit/upload-discord-images",
        json_body={"code": 1, "description": "提交成功", "result": urls, "properties": {}},
    )
    assert await client.upload_images([PNG, PNG]) == urls
    assert len(server.seen[0].json["base64Array"]) == 2


async def test_an_upload_accepted_without_urls_is_outcome_unknown(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """An accepted, charged upload whose answer lists no URL is outcome-unknown, sent once."""
    server.reply(
        "POST",
        "/mj/submit/upload-discord-images",
        json_body={"code": 1, "description": "提交成功", "result": None},
    )
    with pytest.raises(SubmitOutcomeUnknownError) as info:
        await client.upload_images([PNG])
    assert info.value.reason == "no_task_id"
    assert len(server.seen) == 1


async def test_cancel_on_trueai_and_elsewhere(
    server: ScriptedServer, client: OneChatClient
) -> None:
    """Trueai's cancel answers 200 empty; a gateway's HTML page: none here; 400 text: refused."""
    path = f"/mj/task/{PARENT}/cancel"
    server.reply("POST", path, status=200)
    await client.cancel(PARENT)  # no error is the answer
    server.replies[("POST", path)].clear()
    with pytest.raises(APIError, match="no task cancel"):
        await client.cancel(PARENT)  # no route: the scripted server's HTML page
    server.reply("POST", path, status=400, body="演示模式，禁止操作", content_type="text/plain")
    with pytest.raises(APIError, match="admin key") as info:
        await client.cancel(PARENT)
    assert "演示模式" in info.value.message
    assert server.paths().count(path) == 3


@pytest.mark.parametrize(
    ("raw", "images", "video", "videos"),
    [
        (  # trueai
            {
                "imageUrls": [{"url": "u1", "thumbnail": "t1"}, {"url": "u2", "thumbnail": "t2"}],
                "videoUrl": "v",
                "videoUrls": [{"url": "v1", "thumbnail": "t"}],
            },
            ("u1", "u2"),
            "v",
            ("v1",),
        ),
        ({"videoUrl": "v", "videoUrls": [{"url": "v1"}, {"url": "v2"}]}, (), "v", ("v1", "v2")),
        ({"imageUrls": None, "videoUrls": "nope", "videoUrl": 5}, (), "5", ()),
        ({"imageUrls": [1, {"url": None}, "u"]}, ("u",), None, ()),
    ],
)
def test_image_and_video_urls_decode_leniently(
    raw: dict[str, Any], images: tuple[str, ...], video: str | None, videos: tuple[str, ...]
) -> None:
    """ImageUrls and videoUrls in either server's shape become tuples of URLs; junk is dropped."""
    decoded = decode_task({"id": PARENT, **raw})
    assert (decoded.image_urls, decoded.video_url, decoded.video_urls) == (images, video, videos)


MODAL_ROW = {"id": int(PARENT), "action": "VARIATION", "status": "MODAL", "progress": "0%"}
LIVE_ROW = {"id": PARENT, "action": "MODAL", "status": "IN_PROGRESS", "progress": "40%"}


@pytest.mark.parametrize("rows", [[MODAL_ROW, LIVE_ROW], [LIVE_ROW, MODAL_ROW]])
async def test_list_tasks_keeps_the_row_that_moved(
    server: ScriptedServer, client: OneChatClient, rows: list[dict[str, Any]]
) -> None:
    """After a /modal the gateway lists the task twice; list_tasks gives the live row."""
    server.reply("POST", "/mj/task/list-by-condition", json_body=rows)
    (listed,) = await client.list_tasks([PARENT])
    assert (listed.status, listed.progress) == (TaskStatus.IN_PROGRESS, 40)


async def test_tracking_follows_the_row_that_moves(server: ScriptedServer) -> None:
    """Both rows in every answer, in any order: the stream moves on and never goes back."""
    done = {**LIVE_ROW, "status": "SUCCESS", "progress": "100%"}
    path = "/mj/task/list-by-condition"
    server.reply("POST", path, json_body=[MODAL_ROW, LIVE_ROW])
    server.reply("POST", path, json_body=[LIVE_ROW, MODAL_ROW])
    server.reply("POST", path, json_body=[MODAL_ROW, done])
    clock = ManualClock(auto_advance=True)
    async with OneChatClient(
        api_key="k", base_url=server.url, clock=clock, poll=PollPolicy(interval=1)
    ) as client:
        events = [event async for event in client.track(PARENT)]
    names = [type(e).__name__ for e in events]
    assert names[-1] == "Succeeded"
    assert "NeedsModal" not in names
    assert isinstance(events[-1], Succeeded)
    progress = [e.progress for e in events if hasattr(e, "progress")]
    assert progress == sorted(progress)
