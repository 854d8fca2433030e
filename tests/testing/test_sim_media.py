"""The newer endpoints: video, edits, upload-discord-images, cancel, describe by link.

Per flavour: trueai (csharp-v10) has them all; the gateway passes video, edits and uploads
through to its upstream and has no cancel (its HTML page); the plus edition has video (and
here edits and uploads, modelled on trueai's); the open-source Java proxy has none.
"""

from __future__ import annotations

import pytest

from tests.testing.conftest import IMAGE, Api, OpenApi

RAW = IMAGE.split(",", 1)[1]
UNKNOWN = "1748339029401828"
WITH_VIDEO = ["gateway", "java-plus", "csharp-v10"]


# -- video -----------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", WITH_VIDEO)
async def test_video_makes_a_video_task(open_api: OpenApi, flavour: str) -> None:
    """A video task ends SUCCESS with its videos: videoUrl and one videoUrls entry each."""
    api = await open_api(flavour=flavour)
    body = {"prompt": "a fox runs", "image": IMAGE, "motion": "high", "batchSize": 2}
    answer = await api.submit("video", body)
    assert answer["code"] == 1
    task = await api.finished(answer["result"])
    assert (task["action"], task["status"]) == ("VIDEO", "SUCCESS")
    assert task["videoUrl"] == task["videoUrls"][0]["url"]
    assert len(task["videoUrls"]) == 2
    if flavour == "csharp-v10":
        assert task["imageUrls"] == task["videoUrls"]
        assert task["videoUrls"][0]["thumbnail"].endswith(".webp")
    else:
        assert task["videoUrls"][0].keys() == {"url"}  # new-api's ImgUrls: url only
    async with api.session.get(task["videoUrl"]) as video:
        assert (video.status, video.content_type) == (200, "video/mp4")
    created = api.sim.created[-1]
    assert (created.endpoint, created.action) == ("video", "VIDEO")


@pytest.mark.parametrize("flavour", WITH_VIDEO)
async def test_video_extend(open_api: OpenApi, flavour: str) -> None:
    """Action "extend" with taskId and index makes a child of a finished video."""
    api = await open_api(flavour=flavour)
    first = await api.submit("video", {"prompt": "a fox runs", "image": IMAGE})
    parent = await api.finished(first["result"])
    body = {"prompt": "and jumps", "action": "extend", "taskId": parent["id"], "index": 3}
    extended = await api.submit("video", body)
    assert extended["code"] == 1
    created = api.sim.created[-1]
    assert (created.parent_id, created.index, created.action) == (parent["id"], 3, "VIDEO")
    record = api.sim.submits[-1]
    assert (record.parent_id, record.action, record.index) == (parent["id"], "VIDEO", 3)


@pytest.mark.parametrize(
    ("body", "code", "description"),
    [
        ({"prompt": " "}, 4, "Prompt 不能为空"),
        ({"prompt": "x", "taskId": "{id}", "action": "Extend"}, 4, "任务类型错误"),
        ({"prompt": "x", "image": "data:image/png;base64,!!"}, 4, "base64格式错误"),
    ],
)
async def test_video_refusals(
    open_api: OpenApi, body: dict[str, object], code: int, description: str
) -> None:
    """The trueai proxy checks the prompt, compares "extend" case-sensitively and parses images."""
    api = await open_api(flavour="csharp-v10")
    parent = await api.submit("video", {"prompt": "a fox runs"})
    sent = {
        k: (v.format(id=parent["result"]) if isinstance(v, str) else v) for k, v in body.items()
    }
    answer = await api.submit("video", sent)
    assert (answer["code"], answer["description"]) == (code, description)


@pytest.mark.parametrize(
    ("flavour", "status", "expected"),
    [
        ("csharp-v10", 404, {"code": 3}),
        ("java-plus", 200, {"code": 3}),
        ("gateway", 400, {"description": "task_not_found ", "code": 4}),
    ],
)
async def test_video_extend_of_a_missing_task(
    open_api: OpenApi, flavour: str, status: int, expected: dict[str, object]
) -> None:
    """A missing parent: trueai's 404 code 3, Java's 200 code 3, the gateway's own 400."""
    api = await open_api(flavour=flavour)
    body = {"prompt": "x", "action": "extend", "taskId": UNKNOWN, "index": 0}
    reply = await api.request("POST", "/mj/submit/video", body)
    assert reply.status == status
    assert expected.items() <= reply.json.items()


async def test_video_buttons_cannot_go_through_the_gateway_action(api: Api) -> None:
    """A video's extend buttons are unknown to new-api's /action: 400, use /video instead."""
    parent = await api.finished((await api.submit("video", {"prompt": "a fox"}))["result"])
    assert parent["buttons"][0]["customId"].startswith("MJ::JOB::animate_high_extend::1::")
    body = {"taskId": parent["id"], "customId": parent["buttons"][0]["customId"]}
    reply = await api.request("POST", "/mj/submit/action", body)
    assert reply.status == 400
    assert "unknown_action:MJ::JOB::animate_high_extend" in reply.json["error"]["message"]


# -- edits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "action", "image"),
    [("gateway", "EDITS", IMAGE), ("csharp-v10", "EDIT", RAW), ("java-plus", "EDIT", IMAGE)],
)
async def test_edits(open_api: OpenApi, flavour: str, action: str, image: str) -> None:
    """An edit is a grid task: action EDITS on the gateway's row, EDIT on the proxy."""
    api = await open_api(flavour=flavour)
    answer = await api.submit("edits", {"prompt": "make it blue", "image": image})
    task = await api.finished(answer["result"])
    assert (task["action"], task["status"]) == (action, "SUCCESS")
    assert api.sim.created[-1].action == "EDIT"
    missing = await api.submit("edits", {"prompt": "make it blue"})
    assert (missing["code"], missing["description"]) == (4, "image或prompt不能为空")


# -- uploads --------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", WITH_VIDEO)
async def test_upload_answers_a_list_of_urls_and_makes_no_task(
    open_api: OpenApi, flavour: str
) -> None:
    """upload-discord-images: result is a list of URLs, served; no task, nothing in a list."""
    api = await open_api(flavour=flavour)
    answer = await api.submit("upload-discord-images", {"base64Array": [IMAGE, IMAGE]})
    assert (answer["code"], answer["description"]) == (1, "提交成功")
    urls = answer["result"]
    assert isinstance(urls, list)
    assert len(urls) == 2
    async with api.session.get(urls[1]) as image:
        assert (image.status, image.content_type) == (200, "image/png")
    assert (api.sim.task_count, api.sim.created) == (0, ())
    assert api.sim.submits[-1].task_id is None
    refused = await api.submit("upload-discord-images", {"base64Array": []})
    assert (refused["code"], refused["description"]) == (4, "base64 参数错误")


async def test_the_gateway_relays_the_upload_answer_verbatim(api: Api) -> None:
    """new-api cannot read a list result but passes the body on as it came (text/plain)."""
    reply = await api.request("POST", "/mj/submit/upload-discord-images", {"base64Array": [IMAGE]})
    assert (reply.status, reply.content_type) == (200, "text/plain")
    assert reply.json["result"][0].endswith("/upload_0.png")


# -- cancel ---------------------------------------------------------------------------


async def test_trueai_cancel_is_for_admins_and_fails_the_task(open_api: OpenApi) -> None:
    """POST /mj/task/{id}/cancel: 200 empty for an admin, the task ends FAILURE 取消任务."""
    api = await open_api(flavour="csharp-v10", admin=True)
    task_id = await api.imagine()
    api.advance(10)
    reply = await api.request("POST", f"/mj/task/{task_id}/cancel")
    assert (reply.status, reply.body) == (200, b"")
    task = await api.fetch(task_id)
    assert (task["status"], task["failReason"]) == ("FAILURE", "取消任务")
    api.advance(600)
    assert (await api.fetch(task_id))["status"] == "FAILURE"
    for other in (task_id, UNKNOWN):  # finished and unknown ids: 200 all the same
        assert (await api.request("POST", f"/mj/task/{other}/cancel")).status == 200


async def test_a_finished_task_is_not_cancelled(open_api: OpenApi) -> None:
    """Cancel leaves a finished task as it was."""
    api = await open_api(flavour="csharp-v10", admin=True)
    done = await api.finished(await api.imagine())
    await api.request("POST", f"/mj/task/{done['id']}/cancel")
    assert (await api.fetch(done["id"]))["status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("flavour", "admin", "status", "content_type"),
    [
        ("csharp-v10", False, 400, "text/plain"),
        ("gateway", True, 200, "text/html"),
        ("java", True, 404, "application/json"),
        ("java-plus", True, 404, "application/json"),
    ],
)
async def test_cancel_elsewhere(
    open_api: OpenApi, flavour: str, admin: bool, status: int, content_type: str
) -> None:
    """Not an admin: trueai's 400 text; the gateway has no route (HTML); Java 404."""
    api = await open_api(flavour=flavour, admin=admin)
    task_id = await api.imagine()
    reply = await api.request("POST", f"/mj/task/{task_id}/cancel")
    assert (reply.status, reply.content_type) == (status, content_type)
    if flavour == "csharp-v10":
        assert reply.body.decode() == "演示模式，禁止操作"
    assert api.sim.counters["cancel"] == 1
    assert [r.endpoint for r in api.sim.submits] == ["imagine"]  # a cancel is not a submit


# -- describe by link, images by URL --------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "code"), [("csharp-v10", 1), ("gateway", 4), ("java-plus", 4), ("java", 4)]
)
async def test_describe_by_link(open_api: OpenApi, flavour: str, code: int) -> None:
    """Only trueai describes an image by link; the gateway passes it to an upstream that may not."""
    api = await open_api(flavour=flavour)
    answer = await api.submit("describe", {"link": "https://example.com/a.png"})
    assert answer["code"] == code


async def test_describe_link_through_the_gateway_to_trueai(open_api: OpenApi) -> None:
    """new-api forwards ``link`` untouched: a trueai upstream describes it."""
    api = await open_api(upstream="csharp-v10")
    answer = await api.submit("describe", {"link": "https://example.com/a.png"})
    assert answer["code"] == 1
    bad = await api.submit("describe", {"link": "ftp://example.com/a.png"})
    assert (bad["code"], bad["description"]) == (4, "链接格式错误")


@pytest.mark.parametrize("image", [RAW, "https://example.com/a.png", IMAGE])
@pytest.mark.parametrize(("flavour", "accepted"), [("csharp-v10", True), ("java", False)])
async def test_image_inputs(open_api: OpenApi, flavour: str, accepted: bool, image: str) -> None:
    """The trueai proxy takes raw base64 and http(s) URLs as images; Java only data URLs."""
    api = await open_api(flavour=flavour)
    answer = await api.submit("imagine", {"prompt": "a cat", "base64Array": [image]})
    expected = 1 if accepted or image == IMAGE else 4
    assert answer["code"] == expected
    if expected == 4:
        assert answer["description"] == "base64格式错误"


async def test_trueai_image_urls_are_the_four_grid_images(open_api: OpenApi) -> None:
    """Trueai's imageUrls lists the four images of a finished grid; none before SUCCESS."""
    api = await open_api(flavour="csharp-v10")
    task_id = await api.imagine()
    assert (await api.fetch(task_id))["imageUrls"] is None
    task = await api.finished(task_id)
    assert [u["url"].rsplit("/", 1)[1] for u in task["imageUrls"]] == [
        "0_0.png",
        "0_1.png",
        "0_2.png",
        "0_3.png",
    ]
    async with api.session.get(task["imageUrls"][0]["thumbnail"]) as thumbnail:
        assert thumbnail.status == 200


async def test_the_gateway_has_no_image_urls(api: Api) -> None:
    """new-api's task object has no imageUrls (dto.MidjourneyDto lacks it)."""
    task = await api.finished(await api.imagine())
    assert "imageUrls" not in task
    assert (task["videoUrl"], task["videoUrls"]) == ("", None)
