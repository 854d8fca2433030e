"""Fixtures for the store suite: every store under test, and a real redis-server on loopback.

The Redis tests use ``$ONECHAT_TEST_REDIS_URL`` when .ci/run started a server, else start
``redis-server`` here; without one they are skipped, except in CI (``$CI`` set), where a
missing Redis fails them instead of hiding them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from onechat_async._store import Store
from onechat_async.stores import MemoryStore, RedisStore, SQLiteStore

REDIS_URL_ENV = "ONECHAT_TEST_REDIS_URL"
STORE_KINDS = ["memory", "sqlite", "redis"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real Redis server on 127.0.0.1, for the whole session."""
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed, and CI must run the Redis tests")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        # Wait on the server's own word, not on a timer.
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server exited with {proc.wait()}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
        proc.stdout.close()


def make_store(kind: str, request: pytest.FixtureRequest, path: Path) -> Store:
    """A fresh, empty store of ``kind``; Redis ones get a prefix of their own."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(path / "journal.db")
    url = request.getfixturevalue("redis_url")
    return RedisStore(url, prefix=f"test:{uuid.uuid4().hex}:")


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store in turn, empty, closed after the test."""
    made = make_store(request.param, request, tmp_path)
    yield made
    await made.aclose()
