"""Malformed requests: each server refuses them in its own shape, and none answers 5xx.

The shapes are the servers' own: new-api answers 400 with code 4 (``bind_request_body_failed``,
``do_request_failed`` for list-by-condition); the Java proxy's Spring answers 400 with its
error object; the C# proxy's ASP.NET answers ``Result.Fail`` (``success: false``) with HTTP
200, as trueai's InvalidModelStateResponseFactory does. The only 5xx a malformed request may
get is new-api's documented 503 "no channel" for a change or simple-change body without
``action`` (see docs/quirks.md): it is a routing defect of the real gateway, kept on purpose.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onechat_async.testing import FLAVOURS, ManualClock, Simulator
from tests.testing.conftest import IMAGE, Api, OpenApi, Reply

POSTS = {
    "imagine": "/mj/submit/imagine",
    "change": "/mj/submit/change",
    "simple-change": "/mj/submit/simple-change",
    "action": "/mj/submit/action",
    "modal": "/mj/submit/modal",
    "blend": "/mj/submit/blend",
    "describe": "/mj/submit/describe",
    "shorten": "/mj/submit/shorten",
    "swap-face": "/mj/insight-face/swap",
    "list-by-condition": "/mj/task/list-by-condition",
}
GETS = {
    "fetch": "/mj/task/1748339029401828/fetch",
    "image-seed": "/mj/task/1748339029401828/image-seed",
    "image": "/mj/image/1748339029401828",
}
NO_CHANNEL = "无可用渠道"
G, J, C = "gateway", "java", "csharp-v10"
ALL = frozenset(FLAVOURS)


def json_body(reply: Reply) -> Any:
    try:
        return reply.json
    except ValueError:
        return None


def bind_refusal(flavour: str, reply: Reply) -> bool:
    """Whether ``reply`` is ``flavour``'s refusal of a body it could not decode."""
    data = json_body(reply)
    if not isinstance(data, dict):
        return False
    if flavour == G:
        described = str(data.get("description", "")).strip()
        unbound = described in ("bind_request_body_failed", "do_request_failed")
        return reply.status == 400 and data.get("code") == 4 and unbound
    if flavour == J:
        return reply.status == 400 and data.get("error") == "Bad Request"
    return reply.status == 200 and data.get("success") is False


def no_channel_defect(endpoint: str, reply: Reply) -> bool:
    """new-api's 503 for a change-like body without ``action``: a real defect, kept."""
    data = json_body(reply)
    message = data.get("error", {}).get("message", "") if isinstance(data, dict) else ""
    return (
        endpoint in ("change", "simple-change")
        and reply.status == 503
        and NO_CHANNEL in str(message)
    )


def no_route_in_csharp(flavour: str, endpoint: str) -> bool:
    return flavour == C and endpoint in ("change", "simple-change")


async def post(
    api: Api, endpoint: str, raw: bytes, content_type: str = "application/json"
) -> Reply:
    return await api.request(
        "POST", POSTS[endpoint], raw=raw, headers={**api.auth(), "Content-Type": content_type}
    )


UNREADABLE = [
    b"not json",
    b"{",
    b"[1, 2]",
    b"5",
    b'"a string"',
    b"[" * 100_000,
    b'{"prompt": "a cat"} trailing',
    b"\xff\xfe\x00",
]


@pytest.mark.parametrize("endpoint", list(POSTS))
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_bodies_that_are_not_a_json_object(
    open_api: OpenApi, flavour: str, endpoint: str
) -> None:
    """Non-JSON, non-object and absurdly nested bodies get the server's refusal, no task."""
    api = await open_api(flavour=flavour)
    wrong = []
    for raw in UNREADABLE:
        reply = await post(api, endpoint, raw)
        expected = (
            (reply.status, reply.body) == (404, b"")
            if no_route_in_csharp(flavour, endpoint)
            else bind_refusal(flavour, reply)
        )
        if not expected:
            wrong.append((raw[:20], reply.status, reply.body[:80]))
    assert wrong == []
    assert api.sim.task_count == 0


# (endpoint, body, the flavours whose decoder refuses it). Java's Jackson turns scalars into
# strings and "2" or 1.5 into an int; Go and System.Text.Json do not. Fields outside new-api's
# struct (dimensions, base64, link, accountFilter) pass it untouched: the upstream's checks
# refuse them with a code 4 or accept them.
FIELD_CASES: list[tuple[str, dict[str, Any], frozenset[str]]] = [
    ("imagine", {"prompt": 5}, frozenset({G, C})),
    ("imagine", {"prompt": ["a cat"]}, ALL),
    ("imagine", {"prompt": "a cat", "base64Array": "x"}, ALL),
    ("imagine", {"prompt": "a cat", "base64Array": [5]}, frozenset({G, C})),
    ("imagine", {"prompt": "a cat", "state": {"a": 1}}, ALL),
    ("imagine", {"prompt": "a cat", "botType": [1]}, ALL),
    ("imagine", {"prompt": "a cat", "notifyHook": 5}, frozenset({G, C})),
    ("imagine", {"prompt": "a cat", "accountFilter": "x"}, frozenset({J, C})),
    ("imagine", {"prompt": "a cat", "accountFilter": {"modes": ["FAST"]}}, frozenset()),
    ("change", {"taskId": "1", "action": "UPSCALE", "index": "x"}, frozenset({G, J})),
    ("change", {"taskId": "1", "action": "UPSCALE", "index": 1.5}, frozenset({G})),
    ("change", {"taskId": "1", "action": "UPSCALE", "index": "2"}, frozenset({G})),
    ("change", {"taskId": "1", "action": "UPSCALE", "index": True}, frozenset({G, J})),
    ("change", {"taskId": "1", "action": "UPSCALE", "index": 2**70}, frozenset({G, J})),
    ("change", {"taskId": {"a": 1}, "action": "UPSCALE", "index": 1}, frozenset({G, J})),
    ("change", {"taskId": "1", "action": ["UPSCALE"], "index": 1}, frozenset({G, J})),
    ("simple-change", {"content": 5, "action": "UPSCALE"}, frozenset({G})),
    ("simple-change", {"content": ["1 U1"], "action": "UPSCALE"}, frozenset({G, J})),
    ("action", {"taskId": "1", "customId": ["MJ::JOB::upsample::1::x"]}, ALL),
    ("action", {"taskId": 5, "customId": "MJ::JOB::upsample::1::x"}, frozenset({G, C})),
    ("action", {"taskId": "1", "customId": "MJ::JOB::upsample"}, frozenset()),
    ("action", {"taskId": "1", "customId": "MJ::JOB::upsample::²::x"}, frozenset()),
    ("modal", {"taskId": ["1"]}, ALL),
    ("modal", {"taskId": "1", "maskBase64": {"a": 1}}, ALL),
    ("blend", {"base64Array": "x"}, ALL),
    ("blend", {"base64Array": [IMAGE, IMAGE], "dimensions": [1]}, frozenset({J, C})),
    ("blend", {"base64Array": [IMAGE, IMAGE], "dimensions": 5}, frozenset({C})),
    ("describe", {"base64": 5}, frozenset({C})),
    ("describe", {"link": ["https://example.com/a.png"]}, frozenset({J, C})),
    ("shorten", {"prompt": {"a": 1}}, ALL),
    ("swap-face", {"sourceBase64": 5, "targetBase64": IMAGE}, frozenset({G, C})),
    ("list-by-condition", {"ids": "x"}, ALL),
    ("list-by-condition", {"ids": 5}, ALL),
    ("list-by-condition", {"ids": [{"a": 1}]}, ALL),
    ("list-by-condition", {"ids": [5]}, frozenset({G, C})),
    ("list-by-condition", {"ids": None}, frozenset()),
]


@pytest.mark.parametrize(("endpoint", "body", "refused_by"), FIELD_CASES)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_fields_of_the_wrong_type(
    open_api: OpenApi,
    flavour: str,
    endpoint: str,
    body: dict[str, Any],
    refused_by: frozenset[str],
) -> None:
    """A field of the wrong JSON type is refused by the decoders that refuse it; never a 5xx."""
    api = await open_api(flavour=flavour)
    reply = await post(api, endpoint, json.dumps(body).encode())
    if no_route_in_csharp(flavour, endpoint):
        assert (reply.status, reply.body) == (404, b"")
    elif flavour in refused_by:
        assert bind_refusal(flavour, reply), reply
        assert api.sim.task_count == 0
    else:
        assert reply.status < 500 or no_channel_defect(endpoint, reply), reply
        assert not bind_refusal(flavour, reply), reply


@pytest.mark.parametrize(
    ("flavour", "shape"),
    [(G, "new_api_error"), (J, "spring"), (C, "empty")],
)
async def test_absurdly_large_bodies_are_413(open_api: OpenApi, flavour: str, shape: str) -> None:
    """A body over the server's limit gets 413 in its shape, and nothing is created."""
    from onechat_async.testing._app import MAX_BODY

    api = await open_api(flavour=flavour)
    raw = io.BytesIO(b'{"prompt": "' + b"a" * MAX_BODY[flavour] + b'"}')
    headers = {**api.auth(), "Content-Type": "application/json"}
    async with api.session.post(api.sim.url + POSTS["imagine"], data=raw, headers=headers) as r:
        reply = Reply(r.status, r.content_type, dict(r.headers), await r.read())
    assert reply.status == 413
    if shape == "new_api_error":
        assert reply.json["error"]["type"] == "new_api_error"
    elif shape == "spring":
        assert (reply.json["status"], reply.json["error"]) == (413, "Payload Too Large")
    else:
        assert reply.body == b""
    assert api.sim.task_count == 0
    record = api.sim.submits[-1]
    assert (record.endpoint, record.status, record.state) == ("imagine", 413, None)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_wrong_methods(open_api: OpenApi, flavour: str) -> None:
    """Every route asked with a method it does not serve gets the server's own not-routed answer.

    new-api falls through to its web UI (200, HTML); Spring answers 405 with its error
    object; ASP.NET answers an empty 405.
    """
    api = await open_api(flavour=flavour)
    asked = [(m, p) for p in POSTS.values() for m in ("GET", "PUT", "DELETE", "PATCH")]
    asked += [(m, p) for p in GETS.values() for m in ("POST", "PUT", "DELETE")]
    wrong = []
    for method, path in asked:
        reply = await api.request(method, path, {})
        if flavour == G:
            ok = (reply.status, reply.content_type) == (200, "text/html")
        elif flavour == J:
            ok = reply.status == 405 and json_body(reply)["status"] == 405
        else:
            ok = (reply.status, reply.body) == (405, b"")
        if not ok:
            wrong.append((method, path, reply.status))
    assert wrong == []
    assert api.sim.task_count == 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
FIELD_NAMES = [
    "prompt", "base64Array", "base64", "botType", "accountFilter", "notifyHook", "state",
    "taskId", "action", "index", "content", "customId", "maskBase64", "dimensions", "link",
    "sourceBase64", "targetBase64", "ids",
]  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=64),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_VALUES, max_size=5).map(
        lambda v: json.dumps(v).encode()
    ),
)


async def _probe(flavour: str, method: str, path: str, raw: bytes, content_type: str) -> int:
    async with (
        Simulator(api_key="sk-test", flavour=flavour, clock=ManualClock()) as sim,
        aiohttp.ClientSession() as session,
    ):
        headers = {
            "Authorization": "Bearer sk-test",
            "mj-api-secret": "sk-test",
            "Content-Type": content_type,
        }
        async with session.request(method, sim.url + path, data=raw, headers=headers) as reply:
            body = await reply.read()
            status = reply.status
    if status >= 500:
        endpoint = next((e for e, p in POSTS.items() if p == path), "")
        defect = Reply(status, reply.content_type, {}, body)
        assert no_channel_defect(endpoint, defect), (status, body[:200])
    return status


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    flavour=st.sampled_from(FLAVOURS),
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    path=st.sampled_from([*POSTS.values(), *GETS.values()]),
    raw=BODIES,
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain"]
    ),
)
def test_fuzzed_requests_never_get_a_5xx(
    flavour: str, method: str, path: str, raw: bytes, content_type: str
) -> None:
    """Any method, path, body and content type: no answer is a 5xx (bar new-api's 503 defect)."""
    asyncio.run(_probe(flavour, method, path, raw, content_type))
