"""Every endpoint of the contract: submits, MODAL flow, queries, images, counters, steering."""

from __future__ import annotations

import asyncio

import pytest

from onechat_async.testing import Timings
from tests.testing.conftest import IMAGE, Api, OpenApi

RAW_BASE64 = IMAGE.split(",", 1)[1]


@pytest.mark.parametrize(
    ("endpoint", "body", "action"),
    [
        ("imagine", {"prompt": "a cat", "base64Array": [IMAGE]}, "IMAGINE"),
        ("blend", {"base64Array": [IMAGE, IMAGE], "dimensions": "PORTRAIT"}, "BLEND"),
        ("blend", {"base64Array": [IMAGE] * 5}, "BLEND"),
        ("describe", {"base64": IMAGE}, "DESCRIBE"),
        ("shorten", {"prompt": "a very very detailed cat, 8k --ar 3:2"}, "SHORTEN"),
        ("swap-face", {"sourceBase64": IMAGE, "targetBase64": IMAGE}, "SWAP_FACE"),
    ],
)
async def test_submit_and_finish(
    api: Api, endpoint: str, body: dict[str, object], action: str
) -> None:
    """Each task-creating endpoint gives a task of the right action that ends in SUCCESS."""
    answer = await api.submit(endpoint, body)
    assert answer["code"] == 1
    task = await api.finished(answer["result"])
    assert (task["action"], task["status"], task["progress"]) == (action, "SUCCESS", "100%")
    assert api.sim.counters[endpoint] == 1


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("imagine", {"prompt": "   "}),
        ("imagine", {"prompt": "a cat", "base64Array": [RAW_BASE64]}),
        ("blend", {"base64Array": [IMAGE]}),
        ("blend", {"base64Array": [IMAGE] * 6}),
        ("blend", {"base64Array": [IMAGE, RAW_BASE64]}),
        ("blend", {"base64Array": [IMAGE, IMAGE], "dimensions": "TALL"}),
        ("describe", {}),
        ("describe", {"base64": RAW_BASE64}),
        ("describe", {"link": "https://example.com/a.png"}),
        ("shorten", {"prompt": ""}),
        ("swap-face", {"sourceBase64": RAW_BASE64, "targetBase64": IMAGE}),
    ],
)
async def test_validation_is_code_4(api: Api, endpoint: str, body: dict[str, object]) -> None:
    """Blank prompts, raw base64, wrong image counts and bad dimensions answer code 4."""
    reply = await api.request(
        "POST",
        "/mj/insight-face/swap" if endpoint == "swap-face" else f"/mj/submit/{endpoint}",
        body,
    )
    assert reply.json["code"] == 4


async def test_csharp_describe_takes_a_link(open_api: OpenApi) -> None:
    """The C# upstream describes an image by link as well as by base64."""
    api = await open_api(flavour="csharp-v10")
    answer = await api.submit("describe", {"link": "https://example.com/a.png"})
    assert answer["code"] == 1


async def test_describe_prompts_are_numbered(api: Api) -> None:
    """Describe's properties.finalPrompt holds four prompts numbered 1 to 4."""
    task = await api.finished((await api.submit("describe", {"base64": IMAGE}))["result"])
    lines = task["properties"]["finalPrompt"].split("\n\n")
    assert [line[0] for line in lines] == ["1", "2", "3", "4"]
    assert task["imageUrl"]


async def test_shorten_analysis_in_final_prompt(api: Api) -> None:
    """Shorten's analysis (important tokens and shortened prompts) lands in finalPrompt."""
    answer = await api.submit("shorten", {"prompt": "a cat on a mat, cinematic --v 6"})
    task = await api.finished(answer["result"])
    text = task["properties"]["finalPrompt"]
    assert "Important tokens" in text
    assert "Shortened prompts" in text
    assert task["imageUrl"] == ""


async def test_buttons_after_success(api: Api) -> None:
    """A finished grid has U1-U4, a reroll and V1-V4 with Discord-shaped custom ids."""
    task = await api.finished(await api.imagine())
    ids = [b["customId"] for b in task["buttons"]]
    assert [b["label"] for b in task["buttons"]] == [
        "U1",
        "U2",
        "U3",
        "U4",
        "",
        "V1",
        "V2",
        "V3",
        "V4",
    ]
    assert ids[1].startswith("MJ::JOB::upsample::2::")
    assert ids[4].startswith("MJ::JOB::reroll::0::")
    assert ids[4].endswith("::SOLO")
    assert ids[5].startswith("MJ::JOB::variation::1::")
    assert all(isinstance(b["type"], int) and isinstance(b["style"], int) for b in task["buttons"])


@pytest.mark.parametrize(
    ("label", "action"),
    [("U3", "UPSCALE"), ("V2", "VARIATION"), ("", "REROLL")],
)
async def test_action_follows_the_parent_buttons(api: Api, label: str, action: str) -> None:
    """/action with a parent's button customId starts the matching task."""
    parent = await api.finished(await api.imagine())
    button = next(b for b in parent["buttons"] if b["label"] == label)
    answer = await api.submit("action", {"taskId": parent["id"], "customId": button["customId"]})
    child = await api.finished(answer["result"])
    assert (child["action"], child["status"]) == (action, "SUCCESS")


async def test_action_refuses_a_foreign_custom_id(api: Api) -> None:
    """A customId that is not among the parent's buttons answers code 4."""
    parent = await api.finished(await api.imagine())
    answer = await api.submit(
        "action", {"taskId": parent["id"], "customId": "MJ::JOB::upsample::1::not-this-one"}
    )
    assert answer["code"] == 4


@pytest.mark.parametrize(
    ("label", "action"), [("Custom Zoom", "CUSTOM_ZOOM"), ("Vary (Region)", "INPAINT")]
)
@pytest.mark.parametrize("flavour", ["java-plus", "csharp-v10"])
async def test_modal_flow(open_api: OpenApi, flavour: str, label: str, action: str) -> None:
    """Custom Zoom / Vary Region park a task in MODAL; /modal runs that same task to SUCCESS.

    (Through the gateway the same flow leaves two rows: see test_sim_gateway_rows.)
    """
    api = await open_api(flavour=flavour)
    grid = await api.finished(await api.imagine())
    up = await api.submit(
        "action", {"taskId": grid["id"], "customId": grid["buttons"][0]["customId"]}
    )
    upscaled = await api.finished(up["result"])
    button = next(b for b in upscaled["buttons"] if b["label"] == label)
    opened = await api.submit("action", {"taskId": upscaled["id"], "customId": button["customId"]})
    assert opened["code"] == 21
    api.advance(600)
    assert (await api.fetch(opened["result"]))["status"] == "MODAL"
    confirmed = await api.submit(
        "modal", {"taskId": opened["result"], "prompt": "a fox --zoom 2", "maskBase64": IMAGE}
    )
    assert (confirmed["code"], confirmed["result"]) == (1, opened["result"])
    done = await api.finished(opened["result"])
    assert (done["action"], done["status"], done["prompt"]) == (action, "SUCCESS", "a fox --zoom 2")
    again = await api.submit("modal", {"taskId": opened["result"], "maskBase64": IMAGE})
    assert again["code"] == 4


async def test_inpaint_modal_needs_a_mask(open_api: OpenApi) -> None:
    """Vary Region's /modal without a data-URL mask answers code 4 and stays MODAL."""
    api = await open_api(flavour="java-plus")
    grid = await api.finished(await api.imagine(), step=5)
    up = await api.submit("change", {"taskId": grid["id"], "action": "UPSCALE", "index": 1})
    upscaled = await api.finished(up["result"], step=5)
    region = next(b for b in upscaled["buttons"] if b["label"] == "Vary (Region)")
    opened = await api.submit("action", {"taskId": upscaled["id"], "customId": region["customId"]})
    answer = await api.submit("modal", {"taskId": opened["result"], "prompt": "x"})
    assert answer["code"] == 4
    assert (await api.fetch(opened["result"]))["status"] == "MODAL"
    unknown = await api.submit("modal", {"taskId": "1748339029401828"})
    assert unknown["code"] == 3


async def test_list_by_condition_omits_unknown_and_shuffles(open_api: OpenApi) -> None:
    """list-by-condition returns known tasks only, each once, in no guaranteed order.

    ids that are not a list do not bind (new-api's do_request_failed); null ids list nothing.
    """
    api = await open_api(waiting_limit=100)
    ids = [await api.imagine(f"p{i}") for i in range(30)]
    reply = await api.request(
        "POST", "/mj/task/list-by-condition", {"ids": [*ids, "1748339029401828", ids[0]]}
    )
    got = [task["id"] for task in reply.json]
    assert sorted(got) == sorted(ids)
    assert got != ids
    refused = await api.request("POST", "/mj/task/list-by-condition", {"ids": "nope"})
    assert (refused.status, refused.json["description"]) == (400, "do_request_failed ")
    empty = await api.request("POST", "/mj/task/list-by-condition", {"ids": None})
    assert empty.json == []


async def test_image_seed_blocks_on_the_clock_then_answers(api: Api) -> None:
    """image-seed waits its clock time and answers code 1 with a seed string."""
    task_id = (await api.finished(await api.imagine()))["id"]
    seeded = asyncio.ensure_future(api.request("GET", f"/mj/task/{task_id}/image-seed"))
    assert api.clock is not None
    async with asyncio.timeout(5):
        await api.clock.wait_for_sleepers()
    assert not seeded.done()
    api.advance(api.sim.timings.seed)
    reply = await seeded
    assert reply.json["code"] == 1
    assert reply.json["result"].isdigit()


@pytest.mark.parametrize(
    ("flavour", "status", "key", "value"),
    [
        ("gateway", 400, "description", "task_no_found "),
        ("java", 404, "error", "Not Found"),
        ("java-plus", 200, "code", 3),
        ("csharp-v10", 404, "code", 3),
    ],
)
async def test_image_seed_unknown_task(
    open_api: OpenApi, flavour: str, status: int, key: str, value: object
) -> None:
    """image-seed of an unknown task fails in each flavour's own shape (Java has no route)."""
    api = await open_api(flavour=flavour)
    reply = await api.request("GET", "/mj/task/1748339029401828/image-seed")
    assert (reply.status, reply.json[key]) == (status, value)


@pytest.mark.parametrize(
    ("flavour", "status", "description"),
    [("java-plus", 200, "任务状态错误"), ("csharp-v10", 400, "关联任务状态错误")],
)
async def test_image_seed_of_an_unfinished_task(
    open_api: OpenApi, flavour: str, status: int, description: str
) -> None:
    """There is no seed before SUCCESS: code 4 (with HTTP 400 on trueai)."""
    api = await open_api(flavour=flavour, timings=Timings(seed=0))
    reply = await api.request("GET", f"/mj/task/{await api.imagine()}/image-seed")
    assert (reply.status, reply.json["code"], reply.json["description"]) == (
        status,
        4,
        description,
    )


async def test_images_are_served_without_auth(api: Api) -> None:
    """The imageUrl points at a real PNG the simulator serves, with ?rand= until SUCCESS."""
    task_id = await api.imagine()
    api.advance(30)
    running = await api.fetch(task_id)
    assert "?rand=" in running["imageUrl"]
    done = await api.finished(task_id)
    assert done["imageUrl"] == f"{api.sim.url}/mj/image/{task_id}"
    reply = await api.request("GET", f"/mj/image/{task_id}", headers={})
    assert (reply.status, reply.content_type) == (200, "image/png")
    assert reply.body.startswith(b"\x89PNG\r\n\x1a\n")
    missing = await api.request("GET", "/mj/image/1748339029401828", headers={})
    assert (missing.status, missing.json) == (400, {"error": "midjourney_task_not_found"})
    assert api.sim.counters["image"] == 2


async def test_upstream_image_urls_are_served(open_api: OpenApi) -> None:
    """A bare proxy's CDN-like image URL is served by the simulator as well."""
    api = await open_api(flavour="java")
    task = await api.finished(await api.imagine(), step=5)
    async with api.session.get(task["imageUrl"]) as response:
        assert response.status == 200
        assert (await response.read()).startswith(b"\x89PNG")


async def test_banned_words_answer_24(api: Api) -> None:
    """A banned word answers code 24 with promptEn and bannedWord, and creates no task."""
    api.sim.ban_words("Blood")
    answer = await api.submit("imagine", {"prompt": "rivers of blood"})
    assert answer["code"] == 24
    assert answer["properties"] == {"promptEn": "rivers of blood", "bannedWord": "Blood"}
    assert api.sim.task_count == 0
    shortened = await api.submit("shorten", {"prompt": "blood moon"})
    assert shortened["code"] == 24


async def test_failing_prompts_are_accepted_then_fail(api: Api) -> None:
    """A prompt marked to fail answers code 1, then ends FAILURE with a realistic reason."""
    api.sim.fail_prompts("--ar 100:1")
    api.sim.fail_prompts("weird", reason="Job action restricted")
    task = await api.finished(await api.imagine("wide --ar 100:1"))
    assert (task["status"], task["progress"]) == ("FAILURE", "100%")
    assert task["failReason"] == "[Invalid parameter] Invalid value"
    other = await api.finished(await api.imagine("weird"))
    assert other["failReason"] == "Job action restricted"


@pytest.mark.parametrize(("flavour", "status"), [("java", 200), ("csharp-v10", 204)])
async def test_vanish_forgets_a_task(open_api: OpenApi, flavour: str, status: int) -> None:
    """A bare proxy forgets a vanished task: fetch answers empty, list-by-condition omits it."""
    api = await open_api(flavour=flavour)
    gone, kept = await api.imagine("a"), await api.imagine("b")
    api.sim.vanish(gone)
    assert (await api.request("GET", f"/mj/task/{gone}/fetch")).status == status
    listed = await api.request("POST", "/mj/task/list-by-condition", {"ids": [gone, kept]})
    assert [t["id"] for t in listed.json] == [kept]
    assert api.sim.task(gone) is None
    with pytest.raises(KeyError):
        api.sim.vanish(gone)


async def test_stall_freezes_a_task(open_api: OpenApi) -> None:
    """A stalled task keeps its state forever upstream (the gateway fails it after an hour)."""
    api = await open_api(flavour="java")
    task_id = await api.imagine()
    api.advance(10)
    api.sim.stall(task_id)
    before = await api.fetch(task_id)
    api.advance(10_000)
    assert await api.fetch(task_id) == before
    with pytest.raises(KeyError):
        api.sim.stall("1748339029401828")


async def test_counters_count_and_reset(api: Api) -> None:
    """Counters count requests per endpoint name plus a total, and reset to zero."""
    task_id = await api.imagine()
    await api.fetch(task_id)
    await api.request("POST", "/mj/task/list-by-condition", {"ids": [task_id]})
    counters = api.sim.counters
    assert (counters["imagine"], counters["fetch"], counters["list-by-condition"]) == (1, 1, 1)
    assert counters["total"] == 3
    assert counters["simple-change"] == 0
    api.sim.reset_counters()
    assert counters["total"] == 0


async def test_task_returns_what_fetch_would(api: Api) -> None:
    """sim.task(id) is the raw task object, for assertions without a request."""
    task_id = await api.imagine(state="abc")
    assert api.sim.task(task_id) == await api.fetch(task_id)
    assert api.sim.counters["fetch"] == 1


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("imagine", {"prompt": "a cat", "base64Array": ["data:image/png;base64,!!not base64"]}),
        ("simple-change", {"content": 42, "action": "UPSCALE"}),
        ("change", {"taskId": "1748339029401828", "action": "ZOOM", "index": 1}),
    ],
)
async def test_more_validation(open_api: OpenApi, endpoint: str, body: dict[str, object]) -> None:
    """Bad base64 inside a data URL, a content Jackson made a string, an odd action: code 4."""
    api = await open_api(flavour="java")
    assert (await api.submit(endpoint, body))["code"] == 4


async def test_modal_refusals(open_api: OpenApi) -> None:
    """/modal checks banned words and the queue like any submit, leaving the task in MODAL."""
    api = await open_api(flavour="java-plus", running_limit=1, waiting_limit=0)
    grid = await api.finished(await api.imagine("a niji cat --niji 6"), step=5)
    assert grid["properties"]["finalPrompt"] == "a niji cat --niji 6"
    up = await api.finished(
        (await api.submit("change", {"taskId": grid["id"], "action": "UPSCALE", "index": 1}))[
            "result"
        ],
        step=5,
    )
    zoom = next(b for b in up["buttons"] if b["label"] == "Custom Zoom")
    opened = await api.submit("action", {"taskId": up["id"], "customId": zoom["customId"]})
    api.sim.ban_words("gore")
    banned = await api.submit("modal", {"taskId": opened["result"], "prompt": "gore --zoom 2"})
    assert banned["code"] == 24
    await api.imagine("keeps the only slot busy")
    full = await api.submit("modal", {"taskId": opened["result"], "prompt": "ok --zoom 2"})
    assert full["code"] == 23
    assert (await api.fetch(opened["result"]))["status"] == "MODAL"
