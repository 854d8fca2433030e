"""How new-api talks to its upstream and passes the answer on. Pure.

``DoMidjourneyHttpRequest`` re-encodes the client's JSON (minus ``accountFilter`` and
``notifyHook``, unless the operator enabled them) and reads the answer as bytes. A submit's
answer goes back as it came, bar two rewrites (21 -> 1 except for Vary Region and Custom
Zoom, 22 -> 1), with the upstream's status and no Content-Type (Go sniffs text/plain); an
empty answer goes back empty. Swap-face and image-seed answers are decoded into
``MidjourneyResponse`` and encoded again, so nothing is rewritten there.
"""

from __future__ import annotations

import json

from ._proxy import MODAL_ACTIONS
from ._shapes import HTML_PAGE, Reply, gateway_error, json_reply

__all__ = ["forwarded", "no_route", "relayed", "remarshalled"]

_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"


def forwarded(raw: bytes, *, notify_hooks: bool) -> bytes | Reply:
    """The body sent upstream, or new-api's refusal of one it cannot decode into a map."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = []
    if data is not None and not isinstance(data, dict):
        return gateway_error("read_request_body_failed", 5)
    data = dict(data or {})
    data.pop("accountFilter", None)  # MjAccountFilterEnabled is off by default
    if not notify_hooks:
        data.pop("notifyHook", None)  # and so is MjNotifyEnabled
    return json.dumps(data, ensure_ascii=False).encode()


def relayed(reply: Reply, action: str) -> Reply:
    """The upstream's submit answer as new-api passes it on."""
    if not reply.body:
        # empty_response_body comes back with a nil error: status and empty body relayed.
        return Reply(reply.status)
    data = reply.data()
    if not isinstance(data, dict):
        return gateway_error("unmarshal_response_body_failed", 5)
    body = reply.body.decode()
    if data.get("code") == 21 and action not in MODAL_ACTIONS:
        body = body.replace('"code":21', '"code":1')
    if data.get("code") == 22:
        body = body.replace('"code":22', '"code":1')
    return Reply(reply.status, body.encode(), _TEXT)


def remarshalled(reply: Reply) -> Reply:
    """json.Marshal(MidjourneyResponse) with the upstream's status (swap-face, image-seed)."""
    if reply.body and reply.data() is None:
        return gateway_error("unmarshal_response_body_failed", 5)
    data = reply.data() if reply.body else None
    if not isinstance(data, dict):
        data = {"code": 5, "description": "empty_response_body", "properties": None}
    result, code = data.get("result"), data.get("code")
    body = {
        "code": code if isinstance(code, int) and not isinstance(code, bool) else 0,
        "description": str(data.get("description") or ""),
        "properties": data.get("properties"),
        "result": result if isinstance(result, str) else "",
    }
    return json_reply(body, status=reply.status, content_type=_TEXT)


def no_route(method: str, path: str) -> Reply:
    """NoRoute (web-router.go): the web UI, but a JSON 404 under /v1, /api and /assets."""
    if path.startswith(("/v1", "/api", "/assets")):
        error = {
            "message": f"Invalid URL ({method} {path})",
            "type": "invalid_request_error",
            "param": "",
            "code": "",
        }
        return json_reply({"error": error}, status=404)
    return Reply(200, HTML_PAGE.encode(), _HTML)
