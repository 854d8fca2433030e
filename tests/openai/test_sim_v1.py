"""The simulator's ``/v1`` routes: the gateway's key check and refusals, and minimal answers."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from onechat_async.testing import Simulator
from onechat_async.testing._openai import MODELS, OpenAIRelay, Upload, V1Request, v1_endpoint

KEY = "sk-test"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(api_key=KEY) as s:
        yield s


@pytest.fixture
async def oai(sim: Simulator) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=f"{sim.url}/v1", api_key=KEY, max_retries=0) as client:
        yield client


async def _raw(
    sim: Simulator,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sim.url + path, headers=headers, json=body, data=data) as response,
    ):
        return response.status, dict(response.headers), await response.read()


BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "未提供令牌"),
        ({"Authorization": "Bearer sk-wrong"}, 401, "无效的令牌"),
        ({"mj-api-secret": KEY}, 200, None),
        (BEARER, 200, None),
        ({"Authorization": KEY}, 200, None),
    ],
)
async def test_key_is_checked_as_the_gateway_checks_it(
    sim: Simulator, headers: dict[str, str], status: int, message: str | None
) -> None:
    """/v1 reads the key like /mj: Authorization with or without Bearer, else mj-api-secret."""
    got, answer_headers, body = await _raw(sim, "GET", "/v1/models", headers=headers)
    assert got == status
    assert "X-Oneapi-Request-Id" in answer_headers
    if message is not None:
        error = json.loads(body)["error"]
        assert error["type"] == "new_api_error"
        assert error["message"].startswith(message)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nothing"), ("GET", "/v1/chat/completions"), ("PUT", "/v1/embeddings")],
)
async def test_unrouted_paths_get_the_gateway_404_before_any_key_check(
    sim: Simulator, method: str, path: str
) -> None:
    """A /v1 path or method new-api does not route answers RelayNotFound, with no key needed."""
    status, _, body = await _raw(sim, method, path)
    assert status == 404
    assert json.loads(body)["error"]["message"] == f"Invalid URL ({method} {path})"


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, 400, "未指定"),
        ("/v1/chat/completions", {"model": 7, "messages": []}, 400, "must be a string"),
        ("/v1/chat/completions", {"model": "no-such", "messages": []}, 503, "no-such"),
        ("/v1/chat/completions", {"model": "whisper-1", "messages": []}, 400, "not support"),
        ("/v1/chat/completions", {"model": "gpt-4o"}, 400, "'messages'"),
        ("/v1/images/generations", {"prompt": "a fox"}, 503, "dall-e"),
        ("/v1/audio/speech", {"input": "hi", "voice": "alloy"}, 200, None),
        ("/v1/audio/speech", {"model": "tts-1", "voice": "alloy"}, 400, "'input'"),
        (
            "/v1/audio/speech",
            {"model": "tts-1", "input": "x", "voice": "a", "response_format": "flac"},
            400,
            "flac",
        ),
        (
            "/v1/embeddings",
            {"model": "text-embedding-ada-002", "input": "x", "dimensions": 4},
            400,
            "dimensions",
        ),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": []}, 400, "'input'"),
        ("/v1/images/generations", {"model": "dall-e-3", "prompt": "x", "n": 2}, 400, "'n'"),
    ],
)
async def test_distribute_and_relay_refusals(
    sim: Simulator, path: str, body: dict[str, Any], status: int, fragment: str | None
) -> None:
    """The model is read, defaulted and checked as new-api's Distribute does, then the body."""
    got, _, answer = await _raw(sim, "POST", path, headers=BEARER, body=body)
    assert got == status, answer
    if fragment is not None:
        assert fragment in json.loads(answer)["error"]["message"]


async def test_a_json_body_that_does_not_parse_is_refused(sim: Simulator) -> None:
    """Broken JSON is the distributor's 400 invalid request, not a crash."""
    headers = {**BEARER, "Content-Type": "application/json"}
    status, _, body = await _raw(sim, "POST", "/v1/chat/completions", headers=headers, data=b"{")
    assert status == 400
    assert "invalid JSON" in json.loads(body)["error"]["message"]


async def test_chat_answers_and_streams_the_same_text(oai: AsyncOpenAI, sim: Simulator) -> None:
    """A streamed chat carries, chunk by chunk, the text the plain answer carries whole."""
    messages: Any = [{"role": "user", "content": "hello fox"}]
    whole = await oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = whole.choices[0].message.content
    assert text is not None
    assert "hello fox" in text
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        usage = chunk.usage or usage
    assert "".join(pieces) == text
    assert usage == whole.usage
    assert sim.counters["v1/chat"] == 2


async def test_streamed_chat_is_server_sent_events_ending_in_done(sim: Simulator) -> None:
    """The wire form of stream=true: text/event-stream, data lines, then data: [DONE]."""
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    status, headers, raw = await _raw(
        sim, "POST", "/v1/chat/completions", headers=BEARER, body=body
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    events = raw.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: {") for e in events[:-2])


async def test_completions_stream_too(oai: AsyncOpenAI) -> None:
    """The legacy completion endpoint answers whole or streamed, the same text."""
    whole = await oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once")
    stream = await oai.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Once", stream=True
    )
    pieces = [chunk.choices[0].text async for chunk in stream]
    assert "".join(pieces) == whole.choices[0].text
    assert "Once" in whole.choices[0].text


async def test_embeddings_are_stable_unit_vectors_in_either_encoding(oai: AsyncOpenAI) -> None:
    """The same input gives the same vector, float or base64 on the wire, of the asked size."""
    inputs = ["a fox", "a dog"]
    packed = await oai.embeddings.create(model="text-embedding-3-small", input=inputs)
    floats = await oai.embeddings.create(
        model="text-embedding-3-small", input=inputs, encoding_format="float"
    )
    short = await oai.embeddings.create(model="text-embedding-3-small", input="a fox", dimensions=8)
    assert [d.embedding for d in packed.data] == [d.embedding for d in floats.data]
    assert len(packed.data[0].embedding) == 1536
    assert packed.data[0].embedding != packed.data[1].embedding
    assert len(short.data[0].embedding) == 8
    assert sum(x * x for x in short.data[0].embedding) == pytest.approx(1.0, abs=1e-5)


async def test_token_id_inputs_are_one_input_per_list(sim: Simulator) -> None:
    """A list of ints is one input; a list of lists is one input each, as OpenAI reads them."""
    for given, count in (([1, 2, 3], 1), ([[1, 2], [3]], 2)):
        body = {"model": "text-embedding-3-small", "input": given, "encoding_format": "base64"}
        status, _, raw = await _raw(sim, "POST", "/v1/embeddings", headers=BEARER, body=body)
        data = json.loads(raw)["data"]
        assert status == 200
        assert len(data) == count
        vector = struct.unpack("<1536f", base64.b64decode(data[0]["embedding"]))
        assert len(vector) == 1536


async def test_images_by_url_are_served_and_inline_ones_decode(
    oai: AsyncOpenAI, sim: Simulator
) -> None:
    """An image URL points at the simulator's CDN; b64_json holds a PNG."""
    by_url = await oai.images.generate(model="dall-e-3", prompt="a fox")
    url = by_url.data[0].url if by_url.data else None
    assert url is not None
    assert url.startswith(sim.url)
    assert by_url.data
    assert by_url.data[0].revised_prompt == "a fox"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert (await response.read()).startswith(b"\x89PNG")
    inline = await oai.images.generate(
        model="dall-e-2", prompt="a fox", n=2, response_format="b64_json"
    )
    assert inline.data is not None
    assert len(inline.data) == 2
    assert base64.b64decode(inline.data[0].b64_json or "").startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("response_format", "magic"), [("mp3", b"\xff\xfb"), ("wav", b"RIFF"), ("pcm", b"\0\0")]
)
async def test_speech_is_silence_in_the_asked_format(
    oai: AsyncOpenAI, response_format: Any, magic: bytes
) -> None:
    """Speech answers bytes of the asked audio format."""
    speech = await oai.audio.speech.create(
        model="tts-1", voice="alloy", input="hi", response_format=response_format
    )
    assert speech.content.startswith(magic)


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ("json", "Transcription of a.wav (3 bytes)."),
        ("text", "Transcription of a.wav (3 bytes).\n"),
    ],
)
async def test_transcriptions_name_the_uploaded_file(
    oai: AsyncOpenAI, response_format: Any, expected: str
) -> None:
    """A transcription is a multipart upload; the answer names the file and its size."""
    result = await oai.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", b"abc"), response_format=response_format
    )
    assert (result if isinstance(result, str) else result.text) == expected


async def test_translations_and_verbose_json(oai: AsyncOpenAI, sim: Simulator) -> None:
    """Translations share the transcription models; verbose_json carries the task and text."""
    # openai-python deprecates audio.translations; the gateway still routes it.
    form = aiohttp.FormData({"model": "whisper-1"})
    form.add_field("file", b"x", filename="b.mp3")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.url}/v1/audio/translations", data=form, headers=BEARER) as answer,
    ):
        english = await answer.json()
    verbose = await oai.audio.transcriptions.create(
        model="whisper-1", file=("b.mp3", b"x"), response_format="verbose_json"
    )
    assert english == {"text": "Translation of b.mp3 (1 bytes)."}
    assert verbose.text == "Transcription of b.mp3 (1 bytes)."


async def test_a_transcription_without_a_file_is_refused(sim: Simulator) -> None:
    """A form with no file part is the upstream's missing-parameter 400."""
    form = aiohttp.FormData({"model": "whisper-1"})
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.url}/v1/audio/transcriptions", data=form(), headers=BEARER) as response,
    ):
        assert response.status == 400
        assert "'file'" in (await response.json())["error"]["message"]


@pytest.mark.parametrize("call", ["list", "create", "retrieve"])
async def test_files_are_refused_as_new_api_refuses_them(oai: AsyncOpenAI, call: str) -> None:
    """Every Files call gets Distribute's 400 'no model name', never an answer."""
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "list": oai.files.list,
        "create": lambda: oai.files.create(file=("a.jsonl", b"{}\n"), purpose="batch"),
        "retrieve": lambda: oai.files.retrieve("file-1"),
    }
    with pytest.raises(openai.BadRequestError) as caught:
        await calls[call]()
    assert "未指定模型名称" in caught.value.message


async def test_models_lists_every_served_model(oai: AsyncOpenAI) -> None:
    """models.list() shows exactly the simulated channel's models."""
    listed = {m.id async for m in oai.models.list()}
    assert listed == {m for models in MODELS.values() for m in models}


@pytest.mark.parametrize("flavour", ["java", "java-plus", "csharp-v10"])
async def test_a_bare_proxy_has_no_v1(flavour: str) -> None:
    """Only the gateway serves /v1; a bare proxy answers it as any path it does not know."""
    async with Simulator(api_key=KEY, flavour=flavour) as sim:
        status, _, _ = await _raw(sim, "GET", "/v1/models", headers=BEARER)
        assert status != 200
        assert sim.counters["v1/models"] == 0


def test_endpoint_names() -> None:
    """Paths resolve to endpoint names; /v1/files/{id} and its content are files too."""
    assert v1_endpoint("GET", "/v1/files/file-1/content") == "files"
    assert v1_endpoint("DELETE", "/v1/files/file-1") == "files"
    assert v1_endpoint("POST", "/v1/chat/completions/") == "chat"
    assert v1_endpoint("POST", "/v1/files/x") is None


async def test_an_oversized_json_body_is_refused(sim: Simulator) -> None:
    """A body the server would not read whole is a 400, not a crash."""
    relay = OpenAIRelay(sim._ctx, api_key=KEY, admin=False)
    request = V1Request(
        "POST", "/v1/chat/completions", BEARER, content_type="application/json", raw=None
    )
    reply = relay.serve(request)
    assert reply.status == 400
    assert "too large" in json.loads(reply.body)["error"]["message"]
    form_request = V1Request(
        "POST",
        "/v1/audio/transcriptions",
        BEARER,
        content_type="multipart/form-data",
        form={"file": Upload("z.wav", 2), "response_format": "srt"},
    )
    assert b"z.wav" in relay.serve(form_request).body


async def test_an_oversized_upload_is_refused_over_http() -> None:
    """A multipart body over the server's limit is the distributor's 400, not a crash."""
    async with Simulator(api_key=KEY, max_body=1024) as sim:
        form = aiohttp.FormData({"model": "whisper-1"})
        form.add_field("file", b"x" * 4096, filename="big.wav")
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{sim.url}/v1/audio/transcriptions", data=form, headers=BEARER
            ) as response,
        ):
            assert response.status == 400
            assert "too large" in (await response.json())["error"]["message"]
