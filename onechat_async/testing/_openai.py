"""new-api's OpenAI-compatible relay (``/v1/...``), with minimal answers of its own.

The same gateway and the same key as the Midjourney endpoints. A request goes, as in
new-api's ``router/relay-router.go``: the router (a path or method it does not route gets
``RelayNotFound``: 404 "Invalid URL (METHOD /path)", before any key check) -> ``TokenAuth``
(the gateway's key check, :mod:`._auth`) -> ``Distribute`` (finds the model: from the JSON
body, from the form of an audio upload, or a default: ``dall-e`` for images, ``tts-1`` for
speech, ``whisper-1`` for transcriptions; none is 400 "未指定模型名称...", one that no
channel serves 503 ``model_not_found``) -> the relay. Here the relay is not an upstream but
:mod:`._openai_answers`: the simulated channel serves the models of :data:`MODELS`.

Files: new-api routes ``/v1/files`` to ``RelayNotImplemented`` (501), but ``Distribute``
runs first and finds no model in a GET or in a multipart upload, so every files request is
refused with 400 "未指定模型名称，模型名称不能为空": the seed lists a Files API that the
gateway cannot serve.
"""
# ruff: noqa: RUF001, RUF002 - the full-width punctuation is the server's own

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from . import _openai_answers as answers
from ._auth import gateway_key
from ._context import Context
from ._files import png
from ._messages import INVALID_REQUEST, NO_CHANNEL
from ._shapes import Reply, json_reply, new_api_error

__all__ = ["MODELS", "OpenAIRelay", "Upload", "V1Request", "v1_endpoint"]

#: The models the simulated channel serves, by the kind of endpoint that serves them.
MODELS: Mapping[str, tuple[str, ...]] = {
    "chat": ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo"),
    "completions": ("gpt-3.5-turbo-instruct",),
    "embeddings": ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"),
    "images": ("dall-e-3", "dall-e-2", "gpt-image-1"),
    "speech": ("tts-1", "tts-1-hd"),
    "transcriptions": ("whisper-1",),
}
_KIND_OF = {model: kind for kind, models in MODELS.items() for model in models}
_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
#: Distribute's defaults for a request that names no model.
_DEFAULT_MODEL = {"images": "dall-e", "speech": "tts-1", "transcriptions": "whisper-1"}
#: i18n ``distributor.model_name_required`` (zh-CN, new-api's default language).
MODEL_REQUIRED = "未指定模型名称，模型名称不能为空"

_ROUTES = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/completions"): "completions",
    ("POST", "/v1/embeddings"): "embeddings",
    ("POST", "/v1/images/generations"): "images",
    ("POST", "/v1/audio/speech"): "speech",
    ("POST", "/v1/audio/transcriptions"): "transcriptions",
    ("POST", "/v1/audio/translations"): "translations",
    ("GET", "/v1/files"): "files",
    ("POST", "/v1/files"): "files",
    ("GET", "/v1/models"): "models",
}
_FILE = re.compile(r"^/v1/files/[^/]+(?:/content)?$")
_SPEECH = {
    "mp3": ("audio/mpeg", answers.mp3_silence),
    "wav": ("audio/wav", answers.wav_silence),
    "pcm": ("audio/pcm", answers.pcm_silence),
}
_IMAGE_FORMATS = frozenset({"url", "b64_json"})
_TEXT_FORMATS = frozenset({"json", "text", "srt", "vtt", "verbose_json"})


@attrs.frozen
class Upload:
    """A file part of a multipart body: its name and how many bytes it had."""

    filename: str
    size: int


@attrs.frozen
class V1Request:
    """One ``/v1`` request as the relay reads it.

    ``raw`` is None when the body was larger than the server reads; ``form`` holds the
    fields of a multipart or urlencoded body (parsed by the HTTP layer), else None.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    content_type: str = ""
    raw: bytes | None = b""
    form: Mapping[str, str | Upload] | None = None


def v1_endpoint(method: str, path: str) -> str | None:
    """The endpoint ``method path`` names ("chat", "files", ...), or None if none is routed."""
    if method in ("GET", "DELETE") and _FILE.match(path):
        return "files"
    return _ROUTES.get((method, path.rstrip("/") if path != "/" else path))


def _upstream_error(
    status: int, message: str, *, request_id: str, param: str = "", code: str = ""
) -> Reply:
    """An upstream refusal as new-api relays it: OpenAI's error, its request id appended."""
    error = {
        "message": f"{message} (request id: {request_id})",
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }
    return json_reply({"error": error}, status=status)


def _not_found(method: str, path: str) -> Reply:
    # RelayNotFound: no request id, the gateway's own 404 for /v1 paths it does not route.
    error = {
        "message": f"Invalid URL ({method} {path})",
        "type": "invalid_request_error",
        "param": "",
        "code": "",
    }
    return json_reply({"error": error}, status=404)


class OpenAIRelay:
    """The ``/v1`` routes of a simulated new-api with one channel that serves :data:`MODELS`."""

    def __init__(self, ctx: Context, *, api_key: str, admin: bool, seed: int = 0) -> None:
        self.ctx = ctx
        self.api_key = api_key
        self.admin = admin
        self._serial = 0
        # Not security: ids only need to look real and replay.
        self._rng = random.Random(f"{seed}:openai")  # noqa: S311

    def _request_id(self) -> str:
        # common.NewRequestId, as the Midjourney routes make it.
        wall = self.ctx.wall()
        stamp = datetime.fromtimestamp(wall, UTC).strftime("%Y%m%d%H%M%S")
        nanos = int(wall * 1e9) % 1_000_000_000
        tail = "".join(self._rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=8))
        return f"{stamp}{nanos:09d}6a0f2c1e{tail}"

    def serve(self, request: V1Request) -> Reply:
        """Answer one request, with new-api's request id header on all but a 404."""
        endpoint = v1_endpoint(request.method, request.path)
        if endpoint is None:
            return _not_found(request.method, request.path)
        request_id = self._request_id()
        reply = self._serve(endpoint, request, request_id)
        return reply.with_headers(**{"X-Oneapi-Request-Id": request_id})

    def _serve(self, endpoint: str, request: V1Request, request_id: str) -> Reply:
        key = gateway_key(
            request.headers, api_key=self.api_key, admin=self.admin, request_id=request_id
        )
        if key.refusal is not None:
            return key.refusal
        if key.channel is not None and key.channel != "1":
            return new_api_error(400, "无效的渠道 Id", request_id=request_id)
        if endpoint == "models":
            return self._models()
        body = _json_body(request)
        model = None if isinstance(body, str) else _model_of(endpoint, body, request.form)
        if isinstance(body, str) or model is None:
            error = body if isinstance(body, str) else "field model must be a string"
            return new_api_error(400, INVALID_REQUEST.format(error=error), request_id=request_id)
        if not model:
            return new_api_error(400, MODEL_REQUIRED, request_id=request_id)
        if model not in _KIND_OF:
            message = NO_CHANNEL.format(group="default", model=model)
            return new_api_error(503, message, request_id=request_id, code="model_not_found")
        kind = "transcriptions" if endpoint == "translations" else endpoint
        if _KIND_OF[model] != kind:
            return _upstream_error(
                400,
                f"The model `{model}` does not support this endpoint.",
                request_id=request_id,
                param="model",
                code="model_not_supported",
            )
        return self._answer(endpoint, model, body, request.form or {}, request_id)

    def _models(self) -> Reply:
        data = [
            {
                "id": model,
                "object": "model",
                "created": 1626777600,
                "owned_by": "openai",
                "supported_endpoint_types": ["openai"],
            }
            for models in MODELS.values()
            for model in models
        ]
        return json_reply({"data": data, "object": "list", "success": True})

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-sim{self._serial:010d}"

    def _answer(
        self,
        endpoint: str,
        model: str,
        body: dict[str, Any],
        form: Mapping[str, str | Upload],
        request_id: str,
    ) -> Reply:
        def missing(param: str) -> Reply:
            message = f"Missing required parameter: '{param}'."
            return _upstream_error(400, message, request_id=request_id, param=param)

        created = int(self.ctx.wall())
        if endpoint in ("chat", "completions"):
            field = "messages" if endpoint == "chat" else "prompt"
            if not body.get(field):
                return missing(field)
            completion_id = self._next_id("chatcmpl" if endpoint == "chat" else "cmpl")
            if body.get("stream") is True:
                make = answers.chat_chunks if endpoint == "chat" else answers.completion_chunks
                chunks = make(body, model=model, completion_id=completion_id, created=created)
                return Reply(200, answers.sse(chunks), "text/event-stream")
            whole = answers.chat_completion if endpoint == "chat" else answers.completion
            return json_reply(
                whole(body, model=model, completion_id=completion_id, created=created)
            )
        if endpoint == "embeddings":
            return self._embeddings(model, body, request_id)
        if endpoint == "images":
            return self._images(model, body, created, request_id)
        if endpoint == "speech":
            return self._speech(body, request_id)
        upload = form.get("file")
        if not isinstance(upload, Upload):
            return missing("file")
        response_format = str(form.get("response_format") or "json")
        if response_format not in _TEXT_FORMATS:
            return _upstream_error(
                400,
                f"Invalid response_format {response_format!r}.",
                request_id=request_id,
                param="response_format",
            )
        text, content_type = answers.transcription(
            upload.filename,
            upload.size,
            response_format=response_format,
            translated=endpoint == "translations",
        )
        return Reply(200, text.encode(), content_type)

    def _embeddings(self, model: str, body: dict[str, Any], request_id: str) -> Reply:
        given = body.get("input")
        inputs: list[object] = [given] if isinstance(given, str) else list(given or [])
        if not inputs or (inputs and all(isinstance(i, int) for i in inputs)):
            # One list of token ids is one input, not many.
            inputs = [inputs] if inputs else []
        if not inputs:
            return _upstream_error(
                400, "'input' must not be empty.", request_id=request_id, param="input"
            )
        dimensions = body.get("dimensions")
        if dimensions is None:
            dimensions = _DIMENSIONS[model]
        elif (
            not isinstance(dimensions, int)
            or not 1 <= dimensions <= _DIMENSIONS[model]
            or not model.startswith("text-embedding-3")
        ):
            return _upstream_error(
                400,
                f"This model does not support dimensions={dimensions!r}.",
                request_id=request_id,
                param="dimensions",
            )
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            return _upstream_error(
                400,
                f"Invalid encoding_format {encoding!r}.",
                request_id=request_id,
                param="encoding_format",
            )
        return json_reply(
            answers.embeddings(inputs, model=model, dimensions=dimensions, encoding=encoding)
        )

    def _images(self, model: str, body: dict[str, Any], created: int, request_id: str) -> Reply:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            message = "Missing required parameter: 'prompt'."
            return _upstream_error(400, message, request_id=request_id, param="prompt")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= (1 if model == "dall-e-3" else 10):
            return _upstream_error(
                400, f"Invalid value for 'n': {n!r}.", request_id=request_id, param="n"
            )
        # gpt-image-1 only ever answers base64.
        response_format = "b64_json" if model == "gpt-image-1" else body.get("response_format")
        response_format = response_format or "url"
        if response_format not in _IMAGE_FORMATS:
            return _upstream_error(
                400,
                f"Invalid response_format {response_format!r}.",
                request_id=request_id,
                param="response_format",
            )
        data: list[dict[str, Any]] = []
        folder = self.ctx.store.new_seed()
        if response_format == "url":
            # Served by the simulated CDN, like the grids of the Midjourney tasks.
            self.ctx.store.uploads.add(folder)
        for i in range(n):
            image: dict[str, Any] = {}
            if response_format == "url":
                image["url"] = f"{self.ctx.base_url}/attachments/{folder}/image_{i}.png"
            else:
                image["b64_json"] = base64.b64encode(png()).decode()
            if model == "dall-e-3":
                image["revised_prompt"] = prompt
            data.append(image)
        return json_reply({"created": created, "data": data})

    def _speech(self, body: dict[str, Any], request_id: str) -> Reply:
        for param in ("input", "voice"):
            if not body.get(param):
                message = f"Missing required parameter: '{param}'."
                return _upstream_error(400, message, request_id=request_id, param=param)
        response_format = body.get("response_format") or "mp3"
        if response_format not in _SPEECH:
            return _upstream_error(
                400,
                f"The simulator speaks mp3, wav and pcm, not {response_format!r}.",
                request_id=request_id,
                param="response_format",
            )
        content_type, make = _SPEECH[response_format]
        return Reply(200, make(), content_type)


def _json_body(request: V1Request) -> dict[str, Any] | str:
    """The JSON object of a JSON body ({} for any other body), or why it cannot be read."""
    if request.raw is None:
        return "request body too large"
    if not request.content_type.startswith("application/json"):
        return {}
    try:
        data = json.loads(request.raw)
    except (ValueError, RecursionError):
        return "invalid JSON request body"
    return data if isinstance(data, dict) else {}


def _model_of(
    endpoint: str, body: dict[str, Any], form: Mapping[str, str | Upload] | None
) -> str | None:
    """Distribute's reading of the model (getModelRequest); None: not a string."""
    if endpoint in ("transcriptions", "translations"):
        given = (form or {}).get("model")
        return given if isinstance(given, str) and given else _DEFAULT_MODEL["transcriptions"]
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        return None
    return model or _DEFAULT_MODEL.get(endpoint, "")
