"""The bodies of the simulated ``/v1`` answers: small, deterministic, shaped like OpenAI's. Pure.

Nothing here thinks: a chat answer quotes the last user message, an embedding is drawn from
a generator seeded by its input, speech is silence, a transcription names the file it got.
What matters is the shape, which openai-python parses into its own models, and that the same
request always gets the same answer, so that documentation examples print stable output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import struct
from collections.abc import Mapping
from typing import Any

__all__ = [
    "chat_chunks",
    "chat_completion",
    "completion",
    "completion_chunks",
    "embeddings",
    "mp3_silence",
    "pcm_silence",
    "sse",
    "transcription",
    "wav_silence",
]

#: How long the simulated speech lasts, whatever the text.
_SPEECH_SECONDS = 0.25
_RATE = 24_000  # OpenAI's speech sample rate


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _usage(prompt: str, answer: str) -> dict[str, int]:
    # Words stand in for tokens: the counts only need to be plausible and stable.
    p, c = _words(prompt), _words(answer)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _text_of(content: object) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, Mapping)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def reply_text(model: str, messages: object) -> str:
    """What the simulated model says: it quotes the last user message."""
    said = ""
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, Mapping) and message.get("role") == "user":
                said = _text_of(message.get("content"))
    return f"[{model}] You said: {said}" if said else f"[{model}] Hello!"


def _prompt_of(messages: object) -> str:
    if not isinstance(messages, list):
        return ""
    return " ".join(_text_of(m.get("content")) for m in messages if isinstance(m, Mapping))


def chat_completion(
    body: Mapping[str, Any], *, model: str, completion_id: str, created: int
) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    text = reply_text(model, body.get("messages"))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(_prompt_of(body.get("messages")), text),
    }


def _pieces(text: str) -> list[str]:
    """``text`` cut after each word, as a model streams it."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def chat_chunks(
    body: Mapping[str, Any], *, model: str, completion_id: str, created: int
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, in order."""
    text = reply_text(model, body.get("messages"))

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""}, None)]
    chunks += [chunk({"content": piece}, None) for piece in _pieces(text)]
    chunks.append(chunk({}, "stop"))
    if _include_usage(body):
        usage = chunk({}, None)
        usage["choices"] = []
        usage["usage"] = _usage(_prompt_of(body.get("messages")), text)
        chunks.append(usage)
    return chunks


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _prompt_text(prompt: object) -> str:
    if isinstance(prompt, list):
        return " ".join(p for p in prompt if isinstance(p, str))
    return prompt if isinstance(prompt, str) else ""


def completion_text(model: str, prompt: object) -> str:
    """What the simulated instruct model appends to ``prompt``."""
    return f" [{model}] continues: {_prompt_text(prompt)}".rstrip()


def completion(
    body: Mapping[str, Any], *, model: str, completion_id: str, created: int
) -> dict[str, Any]:
    """A ``text_completion`` object."""
    text = completion_text(model, body.get("prompt"))
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(_prompt_text(body.get("prompt")), text),
    }


def completion_chunks(
    body: Mapping[str, Any], *, model: str, completion_id: str, created: int
) -> list[dict[str, Any]]:
    """The ``text_completion`` objects of a streamed completion, in order."""
    text = completion_text(model, body.get("prompt"))
    pieces = _pieces(text)
    return [
        {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "text": piece,
                    "logprobs": None,
                    "finish_reason": "stop" if i == len(pieces) - 1 else None,
                }
            ],
        }
        for i, piece in enumerate(pieces)
    ]


def sse(chunks: list[dict[str, Any]]) -> bytes:
    """Server-sent events as new-api relays them: one ``data:`` line each, then ``[DONE]``."""
    lines = [
        f"data: {json.dumps(c, ensure_ascii=False, separators=(',', ':'))}\n\n" for c in chunks
    ]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def _vector(model: str, item: object, dimensions: int) -> list[float]:
    """A unit vector that depends only on the model and the input."""
    seed = hashlib.sha256(f"{model}\0{json.dumps(item)}".encode()).hexdigest()
    rng = random.Random(seed)  # noqa: S311 - stable fake data, not cryptography
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    # Rounded through float32, so that the float and base64 forms carry the same numbers.
    return [struct.unpack("<f", struct.pack("<f", x / norm))[0] for x in raw]


def embeddings(
    inputs: list[object], *, model: str, dimensions: int, encoding: str
) -> dict[str, Any]:
    """A ``list`` of ``embedding`` objects, as floats or as base64 of little-endian float32."""
    data: list[dict[str, Any]] = []
    for index, item in enumerate(inputs):
        vector = _vector(model, item, dimensions)
        embedding: object = vector
        if encoding == "base64":
            packed = struct.pack(f"<{len(vector)}f", *vector)
            embedding = base64.b64encode(packed).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(
        _words(i) if isinstance(i, str) else len(i) if isinstance(i, list) else 1 for i in inputs
    )
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def pcm_silence() -> bytes:
    """Raw 16-bit mono PCM at 24 kHz: silence."""
    return bytes(2 * int(_RATE * _SPEECH_SECONDS))


def wav_silence() -> bytes:
    """A valid WAV file of silence (16-bit mono, 24 kHz)."""
    pcm = pcm_silence()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        _RATE,
        _RATE * 2,
        2,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


def mp3_silence() -> bytes:
    """MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, mono) whose audio data is all zeros."""
    # 144 * bitrate / sample rate = 417 bytes a frame, header included; about 26 ms each.
    frame = b"\xff\xfb\x90\xc4" + bytes(417 - 4)
    return frame * max(1, round(_SPEECH_SECONDS / 0.026))


def transcription(
    filename: str, size: int, *, response_format: str, translated: bool
) -> tuple[str, str]:
    """The body and content type of a transcription (or translation) of a ``size``-byte file."""
    verb = "Translation" if translated else "Transcription"
    text = f"{verb} of {filename} ({size} bytes)."
    if response_format == "text":
        return text + "\n", "text/plain; charset=utf-8"
    if response_format == "srt":
        return f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n", "text/plain; charset=utf-8"
    if response_format == "vtt":
        return f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n\n", "text/plain; charset=utf-8"
    body: dict[str, Any] = {"text": text}
    if response_format == "verbose_json":
        body = {
            "task": "translate" if translated else "transcribe",
            "language": "english",
            "duration": 1.0,
            "text": text,
            "segments": [],
        }
    return json.dumps(body, ensure_ascii=False), "application/json"
