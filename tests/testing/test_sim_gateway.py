"""The gateway flavour: every new-api quirk of CONTRACT.md, defects included."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.conftest import IMAGE, Api, OpenApi, Reply

NO_CHANNEL = "分组 default 下模型 mj_ 无可用渠道（distributor） (request id: "


def new_api_error(reply: Reply, status: int, message: str, code: str = "") -> bool:
    """Whether ``reply`` is new-api's ``abortWithOpenAiMessage``, request id appended."""
    error = reply.json["error"]
    return (
        reply.status == status
        and str(error["message"]).startswith(f"{message} (request id: ")
        and (error["type"], error["code"]) == ("new_api_error", code)
        and reply.headers["X-Oneapi-Request-Id"] in error["message"]
    )


async def _parent(api: Api) -> dict[str, Any]:
    return await api.finished(await api.imagine("a red fox"))


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Authorization": "Bearer sk-test"}, 200, None),
        ({"Authorization": "sk-test"}, 200, None),
        ({"mj-api-secret": "sk-test"}, 200, None),
        ({"Authorization": "Bearer sk-test", "mj-api-secret": "sk-test"}, 200, None),
        ({"Authorization": "midjourney-proxy", "mj-api-secret": "sk-test"}, 200, None),
        ({"mj-api-secret": "Bearer sk-test"}, 200, None),
        ({}, 401, "未提供令牌"),
        ({"Authorization": "Bearer sk-wrong"}, 401, "无效的令牌"),
        ({"Authorization": "Bearer sk-wrong", "mj-api-secret": "sk-test"}, 401, "无效的令牌"),
    ],
)
async def test_auth(api: Api, headers: dict[str, str], status: int, message: str | None) -> None:
    """Bearer or bare key; mj-api-secret only without Authorization; else a 401 new_api_error."""
    reply = await api.request("POST", "/mj/task/list-by-condition", {"ids": []}, headers=headers)
    assert reply.status == status
    if message is None:
        assert reply.json == []
    else:
        assert new_api_error(reply, 401, message)


@pytest.mark.parametrize(
    ("admin", "key", "status"),
    [(True, "sk-test-1", 200), (True, "sk-test-7", 400), (False, "sk-test-1", 403)],
)
async def test_a_key_may_pin_a_channel_for_admins_only(
    open_api: OpenApi, admin: bool, key: str, status: int
) -> None:
    """sk-KEY-<channel> pins channel 1 (the only one) for an admin; others get 403."""
    api = await open_api(admin=admin)
    headers = {"Authorization": f"Bearer {key}"}
    reply = await api.request("POST", "/mj/task/list-by-condition", {"ids": []}, headers=headers)
    assert reply.status == status
    if status == 403:
        assert new_api_error(reply, 403, "普通用户不支持指定渠道")
    elif status == 400:
        assert new_api_error(reply, 400, "无效的渠道 Id")


async def test_submit_answers_are_text_plain(api: Api) -> None:
    """Submit answers pass through as text/plain with a string result of 16 digits."""
    reply = await api.request("POST", "/mj/submit/imagine", {"prompt": "a cat"})
    assert reply.content_type == "text/plain"
    answer = reply.json
    assert answer == {
        "code": 1,
        "description": "提交成功",
        "result": answer["result"],
        "properties": {},
    }
    assert isinstance(answer["result"], str)
    assert len(answer["result"]) == 16
    assert answer["result"].isdigit()


async def test_task_ids_are_unique_even_within_one_millisecond(api: Api) -> None:
    """Many submits at the same clock instant still get distinct ids."""
    ids = {await api.imagine(f"cat {i}") for i in range(13)}
    assert len(ids) == 13


@pytest.mark.parametrize("path", ["/web/x", "/mj/submit/nothing", "/mj/task/1/cancel", "/"])
async def test_unknown_path_is_an_html_page_with_200(api: Api, path: str) -> None:
    """new-api serves its web UI, HTTP 200 text/html, for any path it does not route."""
    reply = await api.request("POST", path, {})
    assert (reply.status, reply.content_type) == (200, "text/html")
    assert reply.body.startswith(b"<!doctype html>")


@pytest.mark.parametrize("path", ["/v1/models", "/api/x", "/assets/y"])
async def test_unknown_api_paths_are_a_json_404(api: Api, path: str) -> None:
    """Under /v1, /api and /assets new-api's NoRoute answers RelayNotFound's JSON 404."""
    reply = await api.request("POST", path, {})
    assert reply.status == 404
    assert reply.json["error"]["message"] == f"Invalid URL (POST {path})"
    assert reply.json["error"]["type"] == "invalid_request_error"


async def test_wrong_method_is_an_html_page_too(api: Api) -> None:
    """A GET on a POST route falls through to the web UI as well."""
    reply = await api.request("GET", "/mj/submit/imagine")
    assert (reply.status, reply.content_type) == (200, "text/html")


async def test_unknown_task_is_400_task_no_found(api: Api) -> None:
    """Fetching an unknown id gives the gateway's own 400, trailing space and spelling kept."""
    reply = await api.request("GET", "/mj/task/1748339029401828/fetch")
    assert reply.status == 400
    assert reply.json == {"description": "task_no_found ", "type": "upstream_error", "code": 4}


async def test_non_json_body_counts_as_empty(api: Api) -> None:
    """Without Content-Type application/json the gateway binds nothing: prompt is missing."""
    reply = await api.request(
        "POST",
        "/mj/submit/imagine",
        raw=b'{"prompt": "a cat"}',
        headers={**api.auth(), "Content-Type": "text/plain"},
    )
    assert reply.status == 400
    assert reply.json["description"] == "prompt_is_required "


async def test_malformed_json_is_refused_by_the_distributor(api: Api) -> None:
    """Broken JSON is refused by new-api's distributor: 400 new_api_error, nothing sent on."""
    reply = await api.request(
        "POST",
        "/mj/submit/imagine",
        raw=b'{"prompt": ',
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert new_api_error(reply, 400, "无效的请求，无效的midjourney请求，invalid character")
    assert api.sim.task_count == 0


async def test_simple_change_without_action_is_the_503_defect(api: Api) -> None:
    """A plain simple-change body hits new-api's "mj_" model defect: HTTP 503, new_api_error."""
    parent = await _parent(api)
    reply = await api.request("POST", "/mj/submit/simple-change", {"content": f"{parent['id']} U2"})
    assert reply.status == 503
    assert reply.json["error"]["message"].startswith(NO_CHANNEL)
    assert reply.json["error"]["code"] == "model_not_found"


async def test_simple_change_with_routing_fields_reads_only_content(api: Api) -> None:
    """With taskId/action/index added it works, and the upstream obeys content alone.

    The gateway's row keeps its own label, the body's action: new-api never updates it.
    """
    parent = await _parent(api)
    answer = await api.submit(
        "simple-change",
        {"content": f"{parent['id']} v3", "taskId": parent["id"], "action": "UPSCALE", "index": 1},
    )
    assert answer["code"] == 1
    child = await api.finished(answer["result"])
    assert (child["action"], child["status"]) == ("UPSCALE", "SUCCESS")
    assert api.sim.created[-1].action == "VARIATION"


async def test_change_requires_a_nonzero_index_even_for_reroll(api: Api) -> None:
    """REROLL with index 0 is refused by the gateway; with index 1 it goes through."""
    parent = await _parent(api)
    body = {"taskId": parent["id"], "action": "REROLL", "index": 0}
    refused = await api.request("POST", "/mj/submit/change", body)
    assert (refused.status, refused.json["description"]) == (400, "index_is_required ")
    answer = await api.submit("change", {**body, "index": 1})
    assert answer["code"] == 1


async def test_change_without_action_is_503(api: Api) -> None:
    """The billing model of change also comes from action: none means no channel."""
    reply = await api.request("POST", "/mj/submit/change", {"taskId": "1", "index": 1})
    assert reply.status == 503


@pytest.mark.parametrize(
    ("ready", "parent_id", "description"),
    [
        (False, None, "task_status_not_success "),
        (True, "1748339029401828", "task_not_found "),
    ],
)
async def test_change_parent_checks(
    api: Api, ready: bool, parent_id: str | None, description: str
) -> None:
    """The parent must be known to the gateway and SUCCESS there (its table lags a refresh)."""
    task_id = await api.imagine()
    if ready:
        await api.finished(task_id)
    body = {"taskId": parent_id or task_id, "action": "UPSCALE", "index": 1}
    reply = await api.request("POST", "/mj/submit/change", body)
    assert (reply.status, reply.json["description"]) == (400, description)


async def test_queued_answer_is_rewritten_to_1_keeping_its_description(
    open_api: OpenApi,
) -> None:
    """A task that must wait answers code 1 via the gateway, with the 排队中 description."""
    api = await open_api(running_limit=1, waiting_limit=2)
    first = await api.submit("imagine", {"prompt": "one"})
    second = await api.submit("imagine", {"prompt": "two"})
    third = await api.submit("imagine", {"prompt": "three"})
    assert first["description"] == "提交成功"
    assert (second["code"], second["description"]) == (1, "排队中，前面还有0个任务")
    assert third["properties"]["numberOfQueues"] == 1
    full = await api.submit("imagine", {"prompt": "four"})
    assert full["code"] == 23
    assert "队列已满" in full["description"]


async def test_modal_actions_keep_code_21(api: Api) -> None:
    """Vary Region answers 21 (not rewritten); other actions answer 1."""
    parent = await _parent(api)
    upscale = await api.submit(
        "action", {"taskId": parent["id"], "customId": parent["buttons"][0]["customId"]}
    )
    assert upscale["code"] == 1
    upscaled = await api.finished(upscale["result"])
    region = next(b for b in upscaled["buttons"] if b["label"] == "Vary (Region)")
    modal = await api.submit("action", {"taskId": upscaled["id"], "customId": region["customId"]})
    assert (modal["code"], modal["description"]) == (21, "Waiting for window confirm")
    api.advance(15)
    assert (await api.fetch(modal["result"]))["status"] == "MODAL"


@pytest.mark.parametrize(
    ("custom_id", "refusal"),
    [
        ("", "custom_id_is_required"),
        ("MJ::JOB::dance::1::x", "unknown_action:MJ::JOB::dance::1::x"),
        ("MJ::JOB::animate_high::1::x", "unknown_action:MJ::JOB::animate_high::1::x"),
        ("MJ::Job::PicReader::1", "unknown_action:MJ::Job::PicReader::1"),
        ("MJ::JOB::upsample::x::h", "index_parse_failed"),
        ("MJ::::1", "unknown_action"),
    ],
)
async def test_action_custom_id_refusals(api: Api, custom_id: str, refusal: str) -> None:
    """new-api's distributor reads the customId itself: 400 new_api_error, nothing sent on."""
    body = {"taskId": "1748339029401828", "customId": custom_id}
    reply = await api.request("POST", "/mj/submit/action", body)
    assert new_api_error(reply, 400, f"无效的请求，{refusal}")
    assert api.sim.counters["action"] == 1
    assert api.sim.submits[-1].status == 400


@pytest.mark.parametrize(
    ("custom_id", "error"),
    [
        ("upsample", "index out of range [1] with length 1"),
        ("MJ::JOB", "index out of range [2] with length 2"),
        ("MJ::JOB::upsample", "index out of range [3] with length 3"),
    ],
)
async def test_action_custom_id_panics(api: Api, custom_id: str, error: str) -> None:
    """A customId without enough ``::`` parts crashes new-api: gin answers 500 new_api_panic."""
    reply = await api.request("POST", "/mj/submit/action", {"taskId": "1", "customId": custom_id})
    assert reply.status == 500
    assert reply.json["error"]["type"] == "new_api_panic"
    assert f"runtime error: {error}" in reply.json["error"]["message"]


async def test_action_without_task_id_goes_upstream(api: Api) -> None:
    """new-api checks its table only given a taskId; without one the upstream answers."""
    body = {"customId": "MJ::JOB::upsample::1::x"}
    reply = await api.request("POST", "/mj/submit/action", body)
    assert (reply.status, reply.content_type, reply.json["code"]) == (200, "text/plain", 3)


@pytest.mark.parametrize("missing", ["sourceBase64", "targetBase64"])
async def test_swap_face_requires_both_images(api: Api, missing: str) -> None:
    """The gateway refuses a face swap missing either image."""
    body = {"sourceBase64": IMAGE, "targetBase64": IMAGE}
    del body[missing]
    reply = await api.request("POST", "/mj/insight-face/swap", body)
    assert reply.json["description"] == "sour_base64_and_target_base64_is_required "


@pytest.mark.parametrize("prefix", ["", "/mj-fast", "/mj-relax", "/mj-turbo"])
async def test_mode_prefixes(api: Api, prefix: str) -> None:
    """Every mode prefix reaches the same endpoints and is counted under the same name."""
    reply = await api.request("POST", f"{prefix}/mj/submit/imagine", {"prompt": "a cat"})
    task_id = reply.json["result"]
    fetched = await api.request("GET", f"{prefix}/mj/task/{task_id}/fetch")
    assert fetched.json["id"] == task_id
    assert api.sim.counters["imagine"] == 1
    assert api.sim.counters["fetch"] == 1


async def test_gateway_strips_notify_hook(api: Api) -> None:
    """By default the gateway drops notifyHook: the task never carries it."""
    task_id = await api.imagine(notifyHook="http://127.0.0.1:9/hook")
    record = api.sim._store.get(task_id, 0.0)
    assert record is not None
    assert record.notify_hook == ""


async def test_fields_before_the_first_refresh(api: Api) -> None:
    """Before its first poll the gateway shows "" status and state, null buttons, properties."""
    task_id = await api.imagine(state="s-1")
    task = await api.fetch(task_id)
    assert (task["status"], task["buttons"], task["properties"]) == ("", None, None)
    assert (task["startTime"], task["finishTime"], task["imageUrl"]) == (0, 0, "")
    assert (task["state"], task["progress"], task["videoUrls"]) == ("", "0%", None)
    api.advance(15)
    assert (await api.fetch(task_id))["state"] == "s-1"


@pytest.mark.parametrize("flavour", ["java", "java-plus", "csharp-v10"])
async def test_bare_proxies_show_state_at_once(open_api: OpenApi, flavour: str) -> None:
    """A bare proxy stores ``state`` at submit: only the gateway shows "" before its poll."""
    api = await open_api(flavour=flavour)
    task = await api.fetch(await api.imagine(state="s-1"))
    assert task["state"] == "s-1"
