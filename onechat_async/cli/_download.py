"""``--download DIR``: save a finished task's image, carefully.

An image URL comes from the server, so it is treated as untrusted: only http(s), no
redirects to elsewhere followed blindly, a size cap enforced while streaming (a
Content-Length can lie), an ``image/*`` content type, and a file name made from the task id
alone. No API key is sent: the gateway's image route is public and a CDN must never see it.

The file gets the mode any new file of the user gets (0644 under the usual umask 022): it is
the user's picture, not a secret, and other tools and users may need to read it.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import aiohttp

from .._errors import APIConnectionError, APIError, InvalidRequestError
from .._secrets import shorten

__all__ = ["DEFAULT_MAX_BYTES", "download_image", "file_name"]

#: Midjourney upscales are a few MB; 50 MiB leaves room and still stops a runaway body.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
_CHUNK = 64 * 1024
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class DownloadError(APIError):
    """The image could not be saved: wrong scheme, type, size or an HTTP error."""


def file_name(task_id: str, content_type: str) -> str:
    """``<task id>.<ext>``; the id is reduced to safe characters so it cannot name a path."""
    stem = _SAFE.sub("_", task_id) or "image"
    return stem + _EXTENSIONS.get(content_type, ".img")


async def download_image(
    url: str,
    directory: Path,
    task_id: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 120.0,
    session: aiohttp.ClientSession | None = None,
    proxy: str | None = None,
) -> Path:
    """Fetch ``url`` into ``directory/<task id>.<ext>`` and return the path written.

    ``proxy`` sends the request through that proxy (when no ``session`` is given).
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise InvalidRequestError(f"refusing to download {shorten(url, 80)!r}: only http and https")
    own = session is None
    http = session or aiohttp.ClientSession(proxy=proxy)
    try:
        return await _fetch(http, url, directory, task_id, max_bytes=max_bytes, timeout=timeout)
    except aiohttp.ClientError as exc:
        raise APIConnectionError(
            f"downloading {shorten(url, 120)}: {exc}", task_id=task_id
        ) from exc
    except TimeoutError as exc:
        raise APIConnectionError(
            f"downloading {shorten(url, 120)}: no answer within {timeout:g} s", task_id=task_id
        ) from exc
    finally:
        if own:
            await http.close()


async def _fetch(
    http: aiohttp.ClientSession,
    url: str,
    directory: Path,
    task_id: str,
    *,
    max_bytes: int,
    timeout: float,
) -> Path:
    async with http.get(
        url,
        timeout=aiohttp.ClientTimeout(total=timeout),
        # A redirect could lead to a non-http scheme or an internal host; the gateway's
        # image route answers directly, so none is followed.
        allow_redirects=False,
    ) as resp:
        content_type = resp.content_type.lower()
        problem = _refusal(resp.status, content_type, resp.content_length, max_bytes)
        if problem is not None:
            raise DownloadError(f"downloading {shorten(url, 120)}: {problem}", task_id=task_id)
        target = directory / file_name(task_id, content_type)
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        # Written beside the target and renamed at the end, so a failed download never leaves
        # a truncated file under the final name.
        fd, partial = await asyncio.to_thread(_create_partial, directory)
        try:
            with os.fdopen(fd, "wb") as sink:
                complete = await _copy(resp.content, sink, max_bytes)
            if complete:
                await asyncio.to_thread(os.replace, partial, target)
        finally:
            await asyncio.to_thread(_remove, partial)
        if not complete:
            raise DownloadError(
                f"downloading {shorten(url, 120)}: over the {max_bytes} byte cap", task_id=task_id
            )
        return target


def _refusal(status: int, content_type: str, length: int | None, max_bytes: int) -> str | None:
    """Why an answer will not be saved, judged from its headers alone; None if it may be."""
    if status != 200:
        return f"HTTP {status}"
    if not content_type.startswith("image/"):
        return f"not an image ({content_type or 'no content type'})"
    if length is not None and length > max_bytes:
        return f"{length} bytes is over the {max_bytes} byte cap"
    return None


async def _copy(source: aiohttp.StreamReader, sink: BinaryIO, max_bytes: int) -> bool:
    """Stream ``source`` into ``sink``; False as soon as it grows past ``max_bytes``.

    The cap is checked while reading because a Content-Length can be missing or lie.
    """
    size = 0
    async for chunk in source.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            return False
        sink.write(chunk)
    return True


def _create_partial(directory: Path) -> tuple[int, str]:
    """A new, unique, empty file in ``directory``, opened for writing.

    Not :func:`tempfile.mkstemp`: that one makes the file 0600 whatever the umask, and the
    rename would keep that mode. Here the umask decides, as for any file the user makes.
    """
    while True:
        path = str(directory / f".download-{secrets.token_hex(8)}.part")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:  # pragma: no cover - 64 random bits already taken
            continue


def _remove(path: str) -> None:
    # After a successful rename the partial file is gone already: nothing to do then.
    Path(path).unlink(missing_ok=True)
