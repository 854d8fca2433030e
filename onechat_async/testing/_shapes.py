"""Answers as values, and the shapes each server words its refusals in. Pure.

A :class:`Reply` is what one server sends: status, body bytes, content type, headers. The
simulated servers speak in replies rather than aiohttp responses so that the gateway can
read its upstream's answer the way new-api does (bytes in, its own decoding) and so that
faults can cut or replace any answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import attrs
from aiohttp import web

__all__ = [
    "HTML_PAGE",
    "Reply",
    "csharp_fail",
    "empty",
    "gateway_error",
    "html_5xx",
    "json_reply",
    "new_api_error",
    "new_api_panic",
    "spring_error",
    "text",
    "to_response",
]

#: new-api's web UI, which it serves (HTTP 200) for every path it does not route.
HTML_PAGE = (
    '<!doctype html><html lang="zh"><head><meta charset="utf-8"/>'
    "<title>New API</title></head><body><noscript>You need to enable JavaScript to run "
    'this app.</noscript><div id="root"></div></body></html>'
)
_HTML_5XX = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>"
    "{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
#: Spring's reason phrases where they differ from Python's (RFC 7231 renamed 413).
_SPRING_REASONS = {413: "Payload Too Large"}
_JSON = "application/json; charset=utf-8"


@attrs.frozen
class Reply:
    """One HTTP answer: ``content_type`` None sends no Content-Type (an empty body)."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)

    def data(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None

    def with_headers(self, **headers: str) -> Reply:
        """The same answer with more headers."""
        return attrs.evolve(self, headers={**self.headers, **headers})


def to_response(reply: Reply) -> web.Response:
    """The aiohttp response that sends ``reply``."""
    headers = dict(reply.headers)
    if reply.content_type is not None:
        headers["Content-Type"] = reply.content_type
    return web.Response(status=reply.status, body=reply.body or None, headers=headers)


def json_reply(obj: Any, *, status: int = 200, content_type: str = _JSON) -> Reply:
    """``obj`` as compact JSON, non-ASCII kept as is (as Go, Jackson and ASP.NET write it)."""
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return Reply(status, body, content_type)


def empty(status: int) -> Reply:
    """A status with no body."""
    return Reply(status)


def text(status: int, message: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
    """A plain-text answer (ASP.NET's ``BadRequest("...")``, trueai's auth refusals)."""
    return Reply(status, message.encode(), content_type)


def new_api_error(status: int, message: str, *, request_id: str, code: str = "") -> Reply:
    """new-api's ``abortWithOpenAiMessage``: auth and distributor refusals."""
    return json_reply(
        {
            "error": {
                "message": f"{message} (request id: {request_id})",
                "type": "new_api_error",
                "code": code,
            }
        },
        status=status,
    )


def new_api_panic(error: str) -> Reply:
    """What gin's recovery handler in new-api's main.go sends for a panic."""
    message = (
        f"Panic detected, error: {error}. Please submit a issue here: "
        "https://github.com/Calcium-Ion/new-api"
    )
    return json_reply({"error": {"message": message, "type": "new_api_panic"}}, status=500)


def gateway_error(description: str, code: int = 4, *, status: int = 400) -> Reply:
    """new-api's RelayMidjourney error: description and (empty) result joined by a space."""
    return json_reply(
        {"description": f"{description} ", "type": "upstream_error", "code": code}, status=status
    )


def spring_error(path: str, status: int, *, wall: float) -> Reply:
    """Spring Boot's default error object."""
    stamp = datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")
    return json_reply(
        {
            "timestamp": stamp,
            "status": status,
            "error": _SPRING_REASONS.get(status) or HTTPStatus(status).phrase,
            "path": path,
        },
        status=status,
    )


def csharp_fail(message: str, *, wall: float, status: int = 200) -> Reply:
    """The ``Result.Fail`` of trueai (model binding and logic errors), HTTP 200 by default."""
    return json_reply(
        {"success": False, "code": -1, "message": message, "timestamp": str(int(wall * 1000))},
        status=status,
    )


def html_5xx(status: int) -> Reply:
    """An nginx error page, as a reverse proxy in front of the gateway sends."""
    page = _HTML_5XX.format(status=status, phrase=HTTPStatus(status).phrase)
    return Reply(status, page.encode(), "text/html; charset=utf-8")
