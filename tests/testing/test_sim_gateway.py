"""The gateway flavour: every new-api quirk of CONTRACT.md, defects included."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.conftest import IMAGE, Api, OpenApi

NO_CHANNEL = {
    "error": {"message": "当前分组 default 下对于模型 mj_ 无可用渠道", "type": "new_api_error"}
}


async def _parent(api: Api) -> dict[str, Any]:
    return await api.finished(await api.imagine("a red fox"))


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Authorization": "Bearer sk-test"}, 200, None),
        ({"Authorization": "sk-test"}, 200, None),
        ({"mj-api-secret": "sk-test"}, 200, None),
        ({"Authorization": "Bearer sk-test", "mj-api-secret": "sk-test"}, 200, None),
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
        assert reply.json == {"error": {"message": message, "type": "new_api_error"}}


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


@pytest.mark.parametrize("path", ["/v1/models", "/mj/submit/nothing", "/"])
async def test_unknown_path_is_an_html_page_with_200(api: Api, path: str) -> None:
    """new-api serves its web UI, HTTP 200 text/html, for any path it does not route."""
    reply = await api.request("POST", path, {})
    assert (reply.status, reply.content_type) == (200, "text/html")
    assert reply.body.startswith(b"<!doctype html>")
    assert api.sim.counters["unknown"] == 1


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


async def test_malformed_json_is_a_bind_failure(api: Api) -> None:
    """Broken JSON is refused by the gateway itself with HTTP 400 code 4."""
    reply = await api.request(
        "POST",
        "/mj/submit/imagine",
        raw=b'{"prompt": ',
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert (reply.status, reply.json["code"]) == (400, 4)


async def test_simple_change_without_action_is_the_503_defect(api: Api) -> None:
    """A plain simple-change body hits new-api's "mj_" model defect: HTTP 503, new_api_error."""
    parent = await _parent(api)
    reply = await api.request("POST", "/mj/submit/simple-change", {"content": f"{parent['id']} U2"})
    assert reply.status == 503
    assert reply.json == NO_CHANNEL


async def test_simple_change_with_routing_fields_reads_only_content(api: Api) -> None:
    """With taskId/action/index added it works, and the upstream obeys content alone."""
    parent = await _parent(api)
    answer = await api.submit(
        "simple-change",
        {"content": f"{parent['id']} v3", "taskId": parent["id"], "action": "UPSCALE", "index": 1},
    )
    assert answer["code"] == 1
    child = await api.finished(answer["result"])
    assert child["action"] == "VARIATION"
    assert child["status"] == "SUCCESS"


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


async def test_action_needs_both_ids(api: Api) -> None:
    """The gateway refuses an action without taskId or customId, or with an unknown one."""
    for body, description in [
        ({"customId": "MJ::JOB::upsample::1::x"}, "task_id_is_required "),
        ({"taskId": "1"}, "custom_id_is_required "),
        ({"taskId": "1", "customId": "MJ::JOB::dance::1::x"}, "unknown_action "),
    ]:
        reply = await api.request("POST", "/mj/submit/action", body)
        assert (reply.status, reply.json["description"]) == (400, description)


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
    """Before its first poll the gateway shows "" status, null buttons and properties."""
    task = await api.fetch(await api.imagine(state="s-1"))
    assert (task["status"], task["buttons"], task["properties"]) == ("", None, None)
    assert (task["startTime"], task["finishTime"], task["imageUrl"]) == (0, 0, "")
    assert task["state"] == "s-1"
