"""Malformed requests: each server refuses them in its own shape, and none answers 5xx.

The shapes are the servers' own: new-api's distributor answers 400 ``new_api_error`` ("invalid
midjourney request", in Chinese) for a submit body it cannot decode into its request struct,
its handlers 400 code 4 (``bind_request_body_failed`` for swap-face's own fields,
``do_request_failed`` for list-by-condition); the Java proxies' Spring answers 400 with its
error object; the C# proxy's ASP.NET answers ``Result.Fail`` (``success: false``) with HTTP
200, as trueai's InvalidModelStateResponseFactory does. The only 5xx a malformed request may
get are two defects of the real gateway, kept on purpose: new-api's 503 "no channel" for a
change or simple-change body without ``action`` (see docs/quirks.md), and its 500
``new_api_panic`` for an action whose customId has no ``::``.
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
from onechat_async.testing._flavours import serves
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
    "video": "/mj/submit/video",
    "edits": "/mj/submit/edits",
    "upload-discord-images": "/mj/submit/upload-discord-images",
    "list-by-condition": "/mj/task/list-by-condition",
}
GETS = {
    "fetch": "/mj/task/1748339029401828/fetch",
    "image-seed": "/mj/task/1748339029401828/image-seed",
    "image": "/mj/image/1748339029401828",
    "queue": "/mj/task/queue",
    "list": "/mj/task/list",
}
NO_CHANNEL = "无可用渠道"
# The decoder families: Go (new-api), Jackson (both Java proxies), System.Text.Json (trueai).
G, J, C = "gateway", "java", "csharp-v10"
ALL = frozenset({G, J, C})
FAMILY = {"gateway": G, "java": J, "java-plus": J, "csharp-v10": C}


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
    family = FAMILY[flavour]
    if family == G:
        error = data.get("error")
        if isinstance(error, dict):
            undecoded = "无效的midjourney请求" in str(error.get("message"))
            return reply.status == 400 and error.get("type") == "new_api_error" and undecoded
        described = str(data.get("description", "")).strip()
        unbound = described in ("bind_request_body_failed", "do_request_failed")
        return reply.status == 400 and data.get("code") == 4 and unbound
    if family == J:
        return reply.status == 400 and data.get("error") == "Bad Request"
    return reply.status == 200 and data.get("success") is False


def gateway_defect(endpoint: str, reply: Reply) -> bool:
    """new-api's 503 for a change without ``action``, or its panic on a bad customId: kept."""
    data = json_body(reply)
    error = data.get("error", {}) if isinstance(data, dict) else {}
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    no_channel = reply.status == 503 and NO_CHANNEL in message
    panic = reply.status == 500 and error.get("type") == "new_api_panic"
    return (endpoint in ("change", "simple-change") and no_channel) or (
        endpoint == "action" and panic
    )


def no_route(flavour: str, endpoint: str, reply: Reply) -> bool | None:
    """None if ``flavour`` routes ``endpoint``; else whether ``reply`` is its not-found."""
    if serves(flavour, endpoint):
        return None
    if flavour == "csharp-v10":
        return (reply.status, reply.body) == (404, b"")
    return reply.status == 404 and json_body(reply)["status"] == 404


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
        missing = no_route(flavour, endpoint, reply)
        expected = bind_refusal(flavour, reply) if missing is None else missing
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
    ("video", {"prompt": "a cat", "batchSize": "x"}, frozenset({J, C})),
    ("video", {"prompt": "a cat", "taskId": "1", "action": "extend", "index": "x"}, ALL),
    ("edits", {"prompt": "a cat", "image": 5}, frozenset({C})),
    ("edits", {"prompt": "a cat", "image": [IMAGE]}, frozenset({J, C})),
    ("upload-discord-images", {"base64Array": "x"}, ALL),
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
    missing = no_route(flavour, endpoint, reply)
    if missing is not None:
        assert missing, reply
    elif FAMILY[flavour] in refused_by:
        assert bind_refusal(flavour, reply), reply
        assert api.sim.task_count == 0
    else:
        assert reply.status < 500 or gateway_defect(endpoint, reply), reply
        assert not bind_refusal(flavour, reply), reply


@pytest.mark.parametrize(
    ("flavour", "status", "shape"),
    [
        (G, 400, "new_api_error"),
        (J, 413, "spring"),
        ("java-plus", 413, "spring"),
        (C, 413, "empty"),
    ],
)
async def test_bodies_over_the_cap(
    open_api: OpenApi, flavour: str, status: int, shape: str
) -> None:
    """A body over the server's limit is refused in its shape, and nothing is created.

    new-api reads the body in its distributor, which answers 400 ``new_api_error`` "request
    body too large" (not 413); Spring and Kestrel answer 413.
    """
    api = await open_api(flavour=flavour, max_body=4096)
    raw = io.BytesIO(b'{"prompt": "' + b"a" * 4096 + b'"}')
    headers = {**api.auth(), "Content-Type": "application/json"}
    async with api.session.post(api.sim.url + POSTS["imagine"], data=raw, headers=headers) as r:
        reply = Reply(r.status, r.content_type, dict(r.headers), await r.read())
    assert reply.status == status
    if shape == "new_api_error":
        assert reply.json["error"]["type"] == "new_api_error"
        assert "request body too large" in reply.json["error"]["message"]
    elif shape == "spring":
        assert (reply.json["status"], reply.json["error"]) == (413, "Payload Too Large")
    else:
        assert reply.body == b""
    assert api.sim.task_count == 0
    record = api.sim.submits[-1]
    assert (record.endpoint, record.status, record.state) == ("imagine", status, None)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_default_body_caps(open_api: OpenApi, flavour: str) -> None:
    """The default caps: new-api's 128 MiB, Kestrel's 30,000,000 bytes, 64 MiB for Spring."""
    api = await open_api(flavour=flavour)
    expected = {G: 128 << 20, C: 30_000_000}.get(flavour, 64 << 20)
    assert api.sim._backend.max_body == expected


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_wrong_methods(open_api: OpenApi, flavour: str) -> None:
    """Every route asked with a method it does not serve gets the server's own not-routed answer.

    new-api falls through to its web UI (200, HTML); Spring answers 405 with its error
    object; ASP.NET answers an empty 405; a route the server lacks altogether is a 404.
    """
    api = await open_api(flavour=flavour)
    names = {**{p: e for e, p in POSTS.items()}, **{p: e for e, p in GETS.items()}}
    asked = [(m, p) for p in POSTS.values() for m in ("GET", "PUT", "DELETE", "PATCH")]
    asked += [(m, p) for p in GETS.values() for m in ("POST", "PUT", "DELETE")]
    wrong = []
    for method, path in asked:
        reply = await api.request(method, path, {})
        status = 405 if serves(flavour, names[path]) else 404
        if flavour == G:
            ok = (reply.status, reply.content_type) == (200, "text/html")
        elif FAMILY[flavour] == J:
            ok = reply.status == status and json_body(reply)["status"] == status
        else:
            ok = (reply.status, reply.body) == (status, b"")
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
        # Each server's own header, so that the body reaches its decoder.
        key = {"Authorization": "Bearer sk-test"} if flavour == G else {"mj-api-secret": "sk-test"}
        headers = {**key, "Content-Type": content_type}
        async with session.request(method, sim.url + path, data=raw, headers=headers) as reply:
            body = await reply.read()
            status = reply.status
    if status >= 500:
        endpoint = next((e for e, p in POSTS.items() if p == path), "")
        defect = Reply(status, reply.content_type, {}, body)
        assert gateway_defect(endpoint, defect), (status, body[:200])
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
    """Any method, path, body and content type: no answer is a 5xx (bar new-api's defects)."""
    asyncio.run(_probe(flavour, method, path, raw, content_type))
