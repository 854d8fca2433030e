"""``onechat_async.download``: a server's URL saved safely, with limits, as any user file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from onechat_async import (
    APIConnectionError,
    DownloadError,
    InvalidRequestError,
    OneChatError,
    download,
)
from tests.helpers import ScriptedServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200


def _names(directory: Path) -> list[str]:
    """What the directory holds, by name."""
    return sorted(p.name for p in directory.iterdir())


async def test_an_image_is_saved_under_its_safe_name(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """The image lands in DIR/<name>.<ext from content type>, with the bytes sent."""
    server.reply("GET", "/img/grid.png", body=PNG, content_type="image/png")
    path = await download(f"{server.url}/img/grid.png", tmp_path / "new", name="1712345")
    assert path == tmp_path / "new" / "1712345.png"
    assert path.read_bytes() == PNG
    assert "mj-api-secret" not in {k.lower() for k in server.seen[0].headers}


@pytest.mark.parametrize(
    ("name", "url_path", "expected"),
    [
        pytest.param("../../etc/passwd", "/x.png", "______etc_passwd.png", id="traversal"),
        pytest.param("/abs/path", "/x.png", "_abs_path.png", id="absolute"),
        pytest.param(None, "/cdn/abc-123.png", "abc-123.png", id="from-url"),
        pytest.param("", "/x.png", "image.png", id="empty"),
        pytest.param("a" * 500, "/x.png", "a" * 100 + ".png", id="long"),
    ],
)
async def test_a_hostile_name_cannot_leave_the_directory(
    server: ScriptedServer, tmp_path: Path, name: str | None, url_path: str, expected: str
) -> None:
    """Whatever the name or URL, the file is a plain name inside the directory."""
    server.reply("GET", url_path, body=PNG, content_type="image/png")
    path = await download(server.url + url_path, tmp_path, name=name)
    assert path == tmp_path / expected
    assert _names(tmp_path) == [expected]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


async def test_the_file_gets_the_users_usual_mode(server: ScriptedServer, tmp_path: Path) -> None:
    """The file's mode is 0666 under the umask (0644 usually), not mkstemp's 0600."""
    server.reply("GET", "/x.png", body=PNG, content_type="image/png")
    path = await download(f"{server.url}/x.png", tmp_path, name="t")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


@pytest.mark.parametrize(
    ("status", "content_type", "body", "match"),
    [
        pytest.param(200, "text/html", b"<html></html>", "not an image", id="html"),
        pytest.param(200, "application/json", b"{}", "not an image", id="json"),
        pytest.param(404, "image/png", PNG, "HTTP 404", id="404"),
        pytest.param(302, "image/png", PNG, "HTTP 302", id="redirect-not-followed"),
        pytest.param(200, "image/png", b"x" * 2000, "cap", id="over-cap"),
    ],
)
async def test_refused_answers_leave_nothing_behind(
    server: ScriptedServer,
    tmp_path: Path,
    status: int,
    content_type: str,
    body: bytes,
    match: str,
) -> None:
    """A wrong status, type or size is a DownloadError and no file (not even a partial) stays."""
    server.reply("GET", "/x", status=status, body=body, content_type=content_type)
    with pytest.raises(DownloadError, match=match):
        await download(f"{server.url}/x", tmp_path, name="t", max_bytes=1000)
    assert _names(tmp_path) == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/x.png", "javascript:alert(1)", "/relative.png"],
)
async def test_only_http_urls_are_fetched(tmp_path: Path, url: str) -> None:
    """Any other scheme is refused before anything is opened."""
    with pytest.raises(InvalidRequestError, match="only http and https"):
        await download(url, tmp_path)
    assert _names(tmp_path) == []


async def test_a_slow_server_runs_into_the_timeout(server: ScriptedServer, tmp_path: Path) -> None:
    """A server slower than ``timeout`` is an APIConnectionError (a OneChatError)."""
    server.reply("GET", "/x.png", body=PNG, content_type="image/png", delay=0.5)
    with pytest.raises(APIConnectionError) as info:
        await download(f"{server.url}/x.png", tmp_path, timeout=0.05)
    assert isinstance(info.value, OneChatError)
    assert info.value.endpoint == "download"
