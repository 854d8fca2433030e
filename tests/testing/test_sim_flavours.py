"""The bare upstream flavours: the open-source Java proxy, its plus edition, trueai (C# v10+)."""

from __future__ import annotations

import pytest

from tests.testing.conftest import IMAGE, Api, OpenApi


@pytest.fixture
async def java(open_api: OpenApi) -> Api:
    """A bare Java proxy."""
    return await open_api(flavour="java")


@pytest.fixture
async def csharp(open_api: OpenApi) -> Api:
    """A C# v10 proxy."""
    return await open_api(flavour="csharp-v10")


@pytest.mark.parametrize(
    ("flavour", "status", "body"),
    [("java", 401, b""), ("csharp-v10", 401, b"Authorization header missing.")],
)
async def test_upstreams_read_only_mj_api_secret(
    open_api: OpenApi, flavour: str, status: int, body: bytes
) -> None:
    """A bare proxy refuses a Bearer key (Java ignores the header, trueai reads it verbatim)."""
    api = await open_api(flavour=flavour)
    reply = await api.request(
        "POST", "/mj/submit/imagine", {"prompt": "x"}, headers={"Authorization": "Bearer sk-test"}
    )
    assert (reply.status, reply.body) == (status, body)
    secret = {"mj-api-secret": "sk-test"}
    reply = await api.request("POST", "/mj/submit/imagine", {"prompt": "x"}, headers=secret)
    assert reply.json["code"] == 1


@pytest.mark.parametrize(
    ("flavour", "headers", "status"),
    [
        # new-api: Authorization wins, "Bearer " stripped; mj-api-secret only without it.
        ("gateway", {"Authorization": "Bearer sk-test"}, 200),
        ("gateway", {"mj-api-secret": "sk-test"}, 200),
        ("gateway", {"Authorization": "Bearer sk-test", "mj-api-secret": "sk-test"}, 200),
        # open-source Java (and, as far as its docs tell, plus): mj-api-secret only.
        ("java", {"Authorization": "Bearer sk-test", "mj-api-secret": "sk-test"}, 200),
        ("java", {"Authorization": "sk-test"}, 401),
        ("java-plus", {"Authorization": "sk-test"}, 401),
        ("java-plus", {"mj-api-secret": "sk-test"}, 200),
        # trueai: Authorization verbatim whenever present; "Bearer sk-..." is an unknown user,
        # even with the right mj-api-secret beside it.
        ("csharp-v10", {"Authorization": "sk-test"}, 200),
        ("csharp-v10", {"Mj-Api-Secret": "sk-test"}, 200),
        ("csharp-v10", {"Authorization": "Bearer sk-test", "mj-api-secret": "sk-test"}, 401),
    ],
)
async def test_each_flavour_reads_the_key_as_its_server_does(
    open_api: OpenApi, flavour: str, headers: dict[str, str], status: int
) -> None:
    """Each flavour reads Authorization and mj-api-secret the way its real server's code does."""
    api = await open_api(flavour=flavour)
    reply = await api.request("POST", "/mj/submit/imagine", {"prompt": "x"}, headers=headers)
    assert reply.status == status


@pytest.mark.parametrize(("flavour", "status"), [("java", 200), ("csharp-v10", 204)])
async def test_unknown_task_fetch(open_api: OpenApi, flavour: str, status: int) -> None:
    """Java answers an unknown task with an empty 200, C# with 204."""
    api = await open_api(flavour=flavour)
    reply = await api.request("GET", "/mj/task/1748339029401828/fetch")
    assert (reply.status, reply.body) == (status, b"")


async def test_java_keeps_codes_22_and_answers_23_when_full(open_api: OpenApi) -> None:
    """The Java proxy shows 22 with numberOfQueues, then 23 once the waiting room is full."""
    api = await open_api(flavour="java", running_limit=2, waiting_limit=1)
    codes = [(await api.submit("imagine", {"prompt": f"p{i}"}))["code"] for i in range(4)]
    assert codes == [1, 1, 22, 23]


async def test_csharp_queue_full_is_code_9(open_api: OpenApi) -> None:
    """The C# proxy says queue full with code 9 and 队列已满 in the description."""
    api = await open_api(flavour="csharp-v10", running_limit=1, waiting_limit=0)
    await api.imagine()
    full = await api.submit("imagine", {"prompt": "more"})
    assert full["code"] == 9
    assert "队列已满" in full["description"]


async def test_queue_drains_as_slots_free(open_api: OpenApi) -> None:
    """Once running tasks finish, waiting ones start and new submits are accepted again."""
    api = await open_api(flavour="java", running_limit=1, waiting_limit=1)
    first, second = await api.imagine("a"), await api.imagine("b")
    assert (await api.submit("imagine", {"prompt": "c"}))["code"] == 23
    await api.finished(first, step=5)
    assert (await api.fetch(second))["status"] != "NOT_START"
    assert (await api.submit("imagine", {"prompt": "d"}))["code"] == 22


@pytest.mark.parametrize("endpoint", ["change", "simple-change"])
async def test_csharp_has_no_change_routes(csharp: Api, endpoint: str) -> None:
    """C# v10 removed /change and /simple-change: 404 with an empty body."""
    reply = await csharp.request("POST", f"/mj/submit/{endpoint}", {"content": "1 U1"})
    assert (reply.status, reply.body) == (404, b"")


async def test_csharp_does_the_same_job_with_action(csharp: Api) -> None:
    """The parent's button customId drives upsample through /action instead."""
    parent = await csharp.finished(await csharp.imagine(), step=5)
    u2 = next(b for b in parent["buttons"] if b["label"] == "U2")
    assert u2["customId"].startswith("MJ::JOB::upsample::2::")
    answer = await csharp.submit("action", {"taskId": parent["id"], "customId": u2["customId"]})
    child = await csharp.finished(answer["result"], step=5)
    assert (child["action"], child["status"]) == ("UPSCALE", "SUCCESS")


async def test_csharp_error_shape(csharp: Api) -> None:
    """Some C# failures come as HTTP 200 {"success": false, "code": -1, ...}."""
    reply = await csharp.request(
        "POST",
        "/mj/submit/imagine",
        raw=b"{nope",
        headers={**csharp.auth(), "Content-Type": "application/json"},
    )
    body = reply.json
    assert reply.status == 200
    assert (body["success"], body["code"]) == (False, -1)
    assert body["message"]
    assert body["timestamp"].isdigit()


async def test_upstreams_add_extra_fields(open_api: OpenApi, csharp: Api) -> None:
    """Each proxy's task object has its own fields; the open-source Java one has no buttons."""
    plus = await open_api(flavour="java-plus")
    oss = await open_api(flavour="java")
    plus_task = await plus.fetch(await plus.imagine())
    oss_task = await oss.fetch(await oss.imagine())
    csharp_task = await csharp.fetch(await csharp.imagine())
    assert {"maskBase64", "buttons", "customId", "botType"} <= plus_task.keys()
    assert not {"maskBase64", "buttons", "customId", "botType"} & oss_task.keys()
    extras = {"seed", "mode", "requestMode", "instanceId", "imageUrls", "videoUrl", "videoUrls"}
    assert extras <= csharp_task.keys()
    assert oss_task["status"] == "NOT_START"


async def test_java_upscale_twice_answers_21_existing(open_api: OpenApi) -> None:
    """The plus edition answers a repeated upscale with 21 and the existing task."""
    java = await open_api(flavour="java-plus")
    parent = await java.finished(await java.imagine(), step=5)
    body = {"taskId": parent["id"], "action": "UPSCALE", "index": 2}
    first = await java.submit("change", body)
    again = await java.submit("change", body)
    assert (again["code"], again["result"]) == (21, first["result"])
    assert again["properties"]["status"] == "NOT_START"


@pytest.mark.parametrize(
    ("body", "code", "description"),
    [
        ({"action": "UPSCALE", "index": 1}, 3, "关联任务不存在或已失效"),
        ({"action": "ZOOM", "index": 1}, 4, "action参数错误"),
        ({"action": "UPSCALE", "index": 5}, 4, "index参数错误"),
    ],
)
async def test_java_change_validation(
    java: Api, body: dict[str, object], code: int, description: str
) -> None:
    """The Java proxy answers bad change bodies with HTTP 200 and codes 3 or 4."""
    answer = await java.submit("change", {"taskId": "1748339029401828", **body})
    assert (answer["code"], answer["description"]) == (code, description)


async def test_java_change_needs_a_finished_grid_parent(java: Api) -> None:
    """Changing an unfinished task, or an upscale, is refused with code 4."""
    pending = await java.imagine()
    answer = await java.submit("change", {"taskId": pending, "action": "VARIATION", "index": 1})
    assert (answer["code"], answer["description"]) == (4, "关联任务状态错误")
    grid = await java.finished(pending, step=5)
    up = await java.submit("change", {"taskId": grid["id"], "action": "UPSCALE", "index": 1})
    await java.finished(up["result"], step=5)
    again = await java.submit("change", {"taskId": up["result"], "action": "UPSCALE", "index": 1})
    assert (again["code"], again["description"]) == (4, "关联任务不允许执行变化")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("{id} U12", 1),
        ("{id} u1", 1),
        ("{id} r", 1),
        ("{id} U5", 4),
        ("{id}  U1", 4),
        ("{id}", 4),
        ("{id} X1", 4),
    ],
)
async def test_java_simple_change_grammar(java: Api, content: str, code: int) -> None:
    """Only the op's first two characters are read: U12 is U1, U5 and bad spacing are code 4."""
    parent = await java.finished(await java.imagine(), step=5)
    answer = await java.submit("simple-change", {"content": content.format(id=parent["id"])})
    assert answer["code"] == code


@pytest.mark.parametrize(("flavour", "status"), [("java", 415), ("csharp-v10", 415)])
async def test_upstreams_refuse_non_json_bodies(
    open_api: OpenApi, flavour: str, status: int
) -> None:
    """A bare proxy refuses a body that is not labelled JSON with 415."""
    api = await open_api(flavour=flavour)
    reply = await api.request(
        "POST",
        "/mj/submit/imagine",
        raw=b'{"prompt":"x"}',
        headers={**api.auth(), "Content-Type": "text/plain"},
    )
    assert reply.status == status


@pytest.mark.parametrize(("flavour", "status"), [("java", 404), ("csharp-v10", 404)])
async def test_upstream_unknown_paths_are_404(open_api: OpenApi, flavour: str, status: int) -> None:
    """Unlike the gateway, a bare proxy answers 404 for paths it does not route."""
    api = await open_api(flavour=flavour)
    reply = await api.request("GET", "/nothing/here")
    assert reply.status == status
    assert reply.content_type != "text/html"


async def test_java_malformed_json_is_400(java: Api) -> None:
    """Spring refuses broken JSON with its own 400 error body."""
    reply = await java.request(
        "POST",
        "/mj/submit/imagine",
        raw=b"[",
        headers={**java.auth(), "Content-Type": "application/json"},
    )
    assert (reply.status, reply.json["error"]) == (400, "Bad Request")


async def test_java_wrong_method_is_405(java: Api) -> None:
    """Spring answers a known path with the wrong method with 405."""
    reply = await java.request("GET", "/mj/submit/imagine")
    assert (reply.status, reply.json["status"]) == (405, 405)


def test_unknown_flavour_is_refused() -> None:
    """A typo in the flavour fails loudly at construction."""
    from onechat_async.testing import Simulator

    with pytest.raises(ValueError, match="flavour"):
        Simulator(flavour="python")


@pytest.mark.parametrize(
    "endpoint",
    [
        "action",
        "modal",
        "shorten",
        "video",
        "edits",
        "upload-discord-images",
    ],
)
async def test_open_source_java_lacks_the_plus_routes(java: Api, endpoint: str) -> None:
    """The open-source proxy has no action, modal, shorten, swap, video...: Spring's 404."""
    reply = await java.request("POST", f"/mj/submit/{endpoint}", {"prompt": "x"})
    assert (reply.status, reply.json["error"]) == (404, "Not Found")
    swap = await java.request("POST", "/mj/insight-face/swap", {})
    seed = await java.request("GET", "/mj/task/1748339029401828/image-seed")
    assert (swap.status, seed.status) == (404, 404)


async def test_open_source_java_tasks_have_no_buttons(java: Api) -> None:
    """Its Task has no buttons, customId or botType, and never shows MODAL."""
    task = await java.finished(await java.imagine(), step=5)
    assert task["status"] == "SUCCESS"
    assert not {"buttons", "customId", "botType", "maskBase64"} & task.keys()


@pytest.mark.parametrize(
    ("endpoint", "body", "code", "description"),
    [
        ("imagine", {"prompt": "a cat", "base64": IMAGE}, 1, "提交成功"),
        ("imagine", {"prompt": "a cat", "base64": "aGVsbG8="}, 4, "base64格式错误"),
        ("blend", {"base64Array": [IMAGE, IMAGE], "dimensions": None}, 4, "dimensions参数错误"),
        ("change", {"taskId": " ", "action": "UPSCALE", "index": 1}, 4, "taskId不能为空"),
        ("describe", {"base64": "https://example.com/a.png"}, 4, "base64格式错误"),
    ],
)
async def test_open_source_java_validation(
    java: Api, endpoint: str, body: dict[str, object], code: int, description: str
) -> None:
    """Data URLs only (a single ``base64`` too), an explicit null dimensions, a blank taskId."""
    answer = await java.submit(endpoint, body)
    assert (answer["code"], answer["description"]) == (code, description)


async def test_trueai_blend_defaults_a_null_dimensions(csharp: Api) -> None:
    """Trueai reads a null dimensions as the default SQUARE and takes raw base64 images."""
    raw = IMAGE.split(",", 1)[1]
    answer = await csharp.submit("blend", {"base64Array": [raw, IMAGE], "dimensions": None})
    assert answer["code"] == 1


def test_upstream_is_for_the_gateway_only() -> None:
    """upstream= names what a gateway fronts; a bare proxy or an unknown upstream is refused."""
    from onechat_async.testing import Simulator

    with pytest.raises(ValueError, match="upstream"):
        Simulator(flavour="java", upstream="csharp-v10")
    with pytest.raises(ValueError, match="upstream"):
        Simulator(upstream="java")
    with pytest.raises(ValueError, match="max_body"):
        Simulator(max_body=0)
