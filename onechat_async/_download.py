"""``download()``: save a finished task's image (or video) to a file, carefully.

The URL comes from the server, so it is treated as untrusted: only http(s); no redirect
followed (one could lead to another scheme or an internal host, and the gateway's image
route answers directly); a size cap enforced while reading (a Content-Length can be missing
or lie) by the same bounded reader as every API answer; an ``image/*`` or ``video/*``
content type; and a file name made of safe characters alone, so it cannot name a path
outside the directory. No API key is sent: the image route is public and a CDN must never
see the key.

The file gets the mode any new file of the user gets (0644 under the usual umask 022): it is
the user's picture, not a secret. It is written beside its final name and renamed at the
end, so a failed download never leaves a truncated file under that name.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._errors import APIError, InvalidRequestError, OneChatError
from ._proxy import proxy_for
from ._responses import Response
from ._secrets import shorten
from ._transport import AiohttpTransport
from ._validate import count, seconds

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_MAX_BYTES", "DownloadError", "download", "file_name"]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
"""The default size cap (50 MiB): Midjourney upscales are a few MB."""

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}
_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_MAX_STEM = 100
_HEADERS = {"Accept": "image/*, video/*"}


class DownloadError(APIError):
    """The file could not be saved: an HTTP error, not an image, or over the size cap."""


def file_name(stem: str, content_type: str) -> str:
    """``<stem>.<ext>``, the stem reduced to safe characters so that it cannot name a path."""
    safe = _SAFE.sub("_", stem)[:_MAX_STEM] or "image"
    return safe + _EXTENSIONS.get(content_type, ".img")


async def download(
    url: str,
    directory: str | os.PathLike[str],
    *,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float | timedelta = 120.0,
    proxy: str | None = None,
    trust_env: bool = False,
    session: aiohttp.ClientSession | None = None,
) -> Path:
    """Fetch ``url`` (a task's ``image_url``) into ``directory`` and return the file's path.

    :param url: the http(s) URL to fetch; nothing else is fetched, and no redirect followed.
    :param directory: where to save it; made if missing.
    :param name: the file's name without extension (the task id, say); characters other
        than letters, digits, ``_`` and ``-`` become ``_``. Default: the URL's last path
        segment. The extension comes from the content type (``.png``, ``.webp``, ...).
    :param max_bytes: the size cap; a larger answer is refused and nothing is left behind.
    :param timeout: seconds (or a timedelta) for the whole download.
    :param proxy: an http(s) proxy URL to fetch through.
    :param trust_env: take the proxy from ``HTTPS_PROXY``/``HTTP_PROXY`` (``NO_PROXY``
        honoured) when ``proxy`` is not given.
    :param session: an aiohttp session to borrow (left open); by default one is made and
        closed.
    :returns: the path written, ``directory/<name>.<ext>``; an existing file there is
        replaced.
    :raises InvalidRequestError: not an http(s) URL, or a bad argument.
    :raises DownloadError: an HTTP status other than 200, not an image or video, or over
        ``max_bytes``.
    :raises APIConnectionError: the server could not be reached, or took too long.

    Example::

        task = await client.wait(result.task_id)
        path = await download(task.image_url, "images", name=task.id)
    """
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        shown = shorten(url, 80) if isinstance(url, str) else type(url).__name__
        raise InvalidRequestError(f"refusing to download {shown!r}: only http and https")
    if name is not None and not isinstance(name, str):
        raise InvalidRequestError(f"name must be a str, got {type(name).__name__}")
    count(max_bytes, what="max_bytes")
    limit = seconds(timeout, what="timeout")
    folder = Path(directory)
    transport = AiohttpTransport(
        session,
        max_response_bytes=max_bytes,
        proxy=proxy_for(url, proxy=proxy, trust_env=trust_env),
    )
    try:
        response = await transport.send("GET", url, headers=_HEADERS, body=None, timeout=limit)
    except OneChatError as exc:
        exc.endpoint = "download"
        if "larger than" in exc.message:
            # The transport's own cap refusal: say it in this function's words.
            raise DownloadError(
                f"downloading {shorten(url, 120)}: over the {max_bytes} byte cap",
                endpoint="download",
            ) from None
        raise
    finally:
        await transport.aclose()
    content_type = _content_type(response)
    problem = _refusal(response.status, content_type)
    if problem is not None:
        raise DownloadError(
            f"downloading {shorten(url, 120)}: {problem}",
            status=response.status,
            endpoint="download",
        )
    stem = name if name is not None else urlsplit(url).path.rsplit("/", 1)[-1].split(".")[0]
    target = folder / file_name(stem, content_type)
    await asyncio.to_thread(_write, folder, target, response.body)
    return target


def _content_type(response: Response) -> str:
    return (response.header("Content-Type") or "").split(";", 1)[0].strip().lower()


def _refusal(status: int, content_type: str) -> str | None:
    """Why an answer will not be saved; None if it may be."""
    if status != 200:
        return f"HTTP {status}"
    if not content_type.startswith(("image/", "video/")):
        return f"not an image ({shorten(content_type, 60) or 'no content type'})"
    return None


def _write(folder: Path, target: Path, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fd, partial = _create_partial(folder)
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
        os.replace(partial, target)
    finally:
        # After a successful rename the partial file is gone already: nothing to do then.
        Path(partial).unlink(missing_ok=True)


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
