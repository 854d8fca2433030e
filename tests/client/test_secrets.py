"""The API key never shows: redaction rules, and every error and log record under echo faults."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from onechat_async import (
    APIConnectionError,
    OneChatClient,
    OneChatError,
    PollPolicy,
    RetryPolicy,
    ServerError,
    TaskFailedError,
)
from onechat_async._models import Task
from onechat_async._requests import imagine
from onechat_async._responses import Response, read_submit
from onechat_async._secrets import (
    MARKER,
    RedactingFilter,
    get_logger,
    redact,
    register_secret,
    registered_secrets,
    scrub,
    shorten,
)
from onechat_async.testing import ManualClock
from tests.helpers import API_KEY, ScriptedServer, Seen

SECRET = "sk-unit-SECRET-abcdef0123"
SUBMIT = imagine("x", [], bot_type=None, account_filter=None, notify_hook=None, state=None)

# -- redact --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Bearer {SECRET}", f"Bearer {MARKER}"),
        (f"{SECRET}{SECRET} and {SECRET}", f"{MARKER}{MARKER} and {MARKER}"),
        (f"key={SECRET}x", f"key={MARKER}x"),
        ("nothing to hide", "nothing to hide"),
        (json.dumps({"k": 'sk-a/b"c-0123456789'}), json.dumps({"k": MARKER})),
        ("token=sk-a%2Fb%22c-0123456789", f"token={MARKER}"),
    ],
)
def test_redact_replaces_every_spelling(text: str, expected: str) -> None:
    """Every occurrence, also JSON-escaped or percent-encoded, becomes the marker."""
    assert redact(text, [SECRET, 'sk-a/b"c-0123456789']) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("k", MARKER),
        ("Bearer k", f"Bearer {MARKER}"),
        ("keep the kettle", "keep the kettle"),
        ("k=k;", f"{MARKER}={MARKER};"),
    ],
)
def test_short_secrets_are_replaced_only_as_whole_tokens(text: str, expected: str) -> None:
    """A short (test) key hides where it stands alone, without eating ordinary words."""
    assert redact(text, ["k"]) == expected


def test_empty_secrets_are_ignored() -> None:
    """An empty secret leaves the text as it is."""
    assert redact("abc", ["", ""]) == "abc"


def test_longer_secret_wins_over_one_it_contains() -> None:
    """A key that contains another is replaced whole, not around the shorter one."""
    assert redact("sk-0123456789-extra", ["sk-0123456789", "sk-0123456789-extra"]) == MARKER


def test_register_secret_ignores_empty_and_repeats() -> None:
    """Registering twice, or an empty string, leaves one entry per real secret."""
    register_secret("sk-registered-0123456789")
    register_secret("sk-registered-0123456789")
    register_secret("")
    assert registered_secrets().count("sk-registered-0123456789") == 1
    assert "" not in registered_secrets()


def test_every_client_registers_its_key() -> None:
    """Making a client registers its key for every RedactingFilter of the process."""
    OneChatClient(api_key="sk-made-here-0123456789", base_url="http://127.0.0.1:9")
    assert "sk-made-here-0123456789" in registered_secrets()


# -- scrub ---------------------------------------------------------------------------------


def test_scrub_redacts_message_attributes_and_chain_but_not_state() -> None:
    """The message, args, str attributes and chained errors lose the key; state stays."""
    inner = ValueError(f"body was {SECRET}")
    try:
        try:
            raise inner
        except ValueError as cause:
            raise ServerError(f"echo {SECRET}", state=f"mine {SECRET}") from cause
    except ServerError as caught:
        error = caught
    error.add_note(f"note {SECRET}")
    error.banned = f"word {SECRET}"  # type: ignore[attr-defined]
    assert scrub(error, [SECRET]) is error
    assert error.message == f"echo {MARKER}"
    assert error.args == (f"echo {MARKER}",)
    assert error.banned == f"word {MARKER}"  # type: ignore[attr-defined]
    assert error.__notes__ == [f"note {MARKER}"]
    assert inner.args == (f"body was {MARKER}",)
    assert error.state == f"mine {SECRET}"
    printed = "".join(traceback.format_exception(error)).replace(f"mine {SECRET}", "")
    assert SECRET not in printed


# -- RedactingFilter -----------------------------------------------------------------------


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args or None, info)


def _fail(error: BaseException, cause: BaseException | None = None) -> None:
    raise error from cause


def _raised_with_cause() -> ValueError:
    try:
        try:
            _fail(KeyError(f"Bearer {SECRET}"))
        except KeyError as cause:
            _fail(ValueError("outer"), cause)
    except ValueError as error:
        return error
    raise AssertionError


def test_filter_redacts_the_formatted_message() -> None:
    """A secret passed as a format argument is gone from the message handlers format."""
    record = _record("refused: %s (%d)", f"Bearer {SECRET}", 401)
    assert RedactingFilter([SECRET]).filter(record)
    assert record.getMessage() == f"refused: Bearer {MARKER} (401)"
    assert SECRET not in logging.Formatter().format(record)


def test_filter_leaves_clean_records_alone() -> None:
    """A record without secrets keeps its template and args (for handlers that group by it)."""
    record = _record("polled %d tasks", 3)
    RedactingFilter([SECRET]).filter(record)
    assert record.msg == "polled %d tasks"
    assert record.args == (3,)


def test_filter_redacts_chained_tracebacks_and_drops_the_exception() -> None:
    """A traceback whose cause holds the key is printed redacted, and the live error dropped."""
    record = _record("crashed", exc=_raised_with_cause())
    RedactingFilter([SECRET]).filter(record)
    assert record.exc_info is None
    assert record.exc_text is not None
    assert "KeyError" in record.exc_text
    assert MARKER in record.exc_text
    assert SECRET not in logging.Formatter().format(record)


def test_filter_keeps_clean_exceptions() -> None:
    """A traceback without secrets keeps its exception for handlers that want the object."""
    record = _record("crashed", exc=ValueError("plain"))
    RedactingFilter([SECRET]).filter(record)
    assert record.exc_info is not None


def test_filter_redacts_stack_info_and_survives_bad_formats() -> None:
    """Stack text is redacted, and a broken format string cannot smuggle its args out."""
    record = _record("%d tasks", f"Bearer {SECRET}")
    record.stack_info = f"Stack: {SECRET}"
    RedactingFilter([SECRET]).filter(record)
    assert SECRET not in record.getMessage()
    assert record.stack_info == f"Stack: {MARKER}"


def test_filter_uses_registered_secrets() -> None:
    """A filter made without secrets hides the ones registered later."""
    register_secret("sk-later-registered-0123")
    record = _record("key sk-later-registered-0123")
    RedactingFilter().filter(record)
    assert record.getMessage() == f"key {MARKER}"


def test_get_logger_attaches_one_filter() -> None:
    """The library's loggers carry one RedactingFilter however often they are asked for."""
    logger = get_logger("onechat_async.test_secrets")
    assert get_logger("onechat_async.test_secrets") is logger
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1


def test_get_logger_records_reach_handlers_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """A record logged on a library logger reaches every handler already redacted."""
    register_secret(SECRET)
    caplog.set_level(logging.DEBUG)
    get_logger("onechat_async.test_secrets").debug("header %s", f"Bearer {SECRET}")
    assert SECRET not in caplog.text
    assert MARKER in caplog.text


# -- end to end: a server that echoes the key back ----------------------------------------

TASK_ID = "1748339029401828"
ROUTES = [
    ("POST", "/mj/submit/imagine"),
    ("GET", f"/mj/task/{TASK_ID}/fetch"),
    ("POST", "/mj/task/list-by-condition"),
]
ECHO = "Authorization=@AUTH@ mj-api-secret=@SECRET@"

#: name -> (status, body, content type); "reset" and "timeout" are connection faults.
FAULTS: dict[str, tuple[int, str, str]] = {
    "401": (401, json.dumps({"error": {"message": f"无效的令牌 {ECHO}", "type": "x"}}), "json"),
    "403": (403, json.dumps({"error": {"message": f"not allowed: {ECHO}"}}), "json"),
    "429": (429, json.dumps({"error": {"message": f"slow down {ECHO}"}}), "json"),
    "500": (500, json.dumps({"error": {"message": f"panic {ECHO}", "type": "p"}}), "json"),
    "400": (400, json.dumps({"description": f"task_no_found {ECHO}", "code": 4}), "json"),
    "200-code-4": (200, json.dumps({"code": 4, "description": f"bad: {ECHO}"}), "json"),
    "200-not-json": (200, f"oops {ECHO}", "text/plain"),
    "html": (200, f"<html><body>{ECHO}</body></html>", "text/html"),
    "reset": (0, "", ""),
    "timeout": (0, "", ""),
}


class EchoServer(ScriptedServer):
    """A ScriptedServer that writes the request's key headers into its bodies, or breaks."""

    def __init__(self) -> None:
        super().__init__()
        self.fault = ""
        self.release = asyncio.Event()
        self.echoed: list[bytes] = []

    def script(self, fault: str) -> None:
        """Answer every route with ``fault``."""
        self.fault = fault
        status, body, kind = FAULTS[fault]
        content_type = "application/json" if kind == "json" else kind
        for method, path in ROUTES:
            self.replies[(method, path)].clear()
            self.reply(method, path, status=status, body=body, content_type=content_type)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.fault == "reset":
            assert request.transport is not None
            request.transport.abort()
        if self.fault in ("reset", "timeout"):
            await self.release.wait()
        reply = self.replies[(request.method, request.path)][0]
        echoed = reply.body.replace(
            b"@AUTH@", request.headers.get("Authorization", "").encode()
        ).replace(b"@SECRET@", request.headers.get("mj-api-secret", "").encode())
        self.seen.append(Seen(request.method, request.path, dict(request.headers), body))
        self.echoed.append(echoed)
        return web.Response(status=reply.status, body=echoed, headers=reply.headers)


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    await server.start()
    yield server
    server.release.set()
    await server.stop()


@pytest.fixture
async def leaky_client(echo: EchoServer) -> AsyncIterator[OneChatClient]:
    async with OneChatClient(
        api_key=API_KEY,
        base_url=echo.url,
        # Simulated time that holds still while a request is in flight, so that the wait
        # below hears the server's answer before its deadline.
        clock=ManualClock(auto_advance=True),
        timeout=0.3,
        submit_timeout=0.3,
        retry=RetryPolicy(attempts=2, wait_initial=0.5, wait_jitter=0.0),
        poll=PollPolicy(interval=1.0, deadline=60.0),
    ) as client:
        yield client


Call = Callable[[OneChatClient], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "imagine": lambda c: c.imagine("a fox", state="s-1"),
    "fetch": lambda c: c.fetch(TASK_ID),
    "list_tasks": lambda c: c.list_tasks([TASK_ID]),
    "wait": lambda c: c.wait(TASK_ID, deadline=30),
}


def assert_key_absent(text: str, where: str) -> None:
    """Neither the key nor its Bearer header appear in ``text``."""
    assert API_KEY not in text, f"the key leaked through {where}: {text[:500]}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def assert_error_is_clean(error: BaseException) -> None:
    """No rendering of ``error`` or of what hangs from it shows the key."""
    assert_key_absent(str(error), "str()")
    assert_key_absent(repr(error), "repr()")
    assert_key_absent("".join(traceback.format_exception(error)), "format_exception()")
    for linked in _chain(error):
        assert not isinstance(linked, aiohttp.ClientError), f"aiohttp reachable: {linked!r}"
        for name, value in vars(linked).items():
            if name != "state":
                assert_key_absent(repr(value), f"attribute {name}")
    # The transport's frames hold the request headers while it works: none that a traceback
    # keeps (and an error tracker recording locals would send) may still hold them.
    frame_tb = error.__traceback__
    while frame_tb is not None:
        frame = frame_tb.tb_frame
        if frame.f_code.co_filename.endswith("_transport.py"):
            for name, value in frame.f_locals.items():
                assert_key_absent(repr(value), f"local {name} of {frame.f_code.co_name}")
        frame_tb = frame_tb.tb_next


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_echoed_key_appears_nowhere(
    echo: EchoServer,
    leaky_client: OneChatClient,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    call: str,
) -> None:
    """Whatever a server echoes, no error, repr, traceback or log record shows the key."""
    caplog.set_level(logging.DEBUG)
    echo.script(fault)
    with pytest.raises(OneChatError) as info:
        await CALLS[call](leaky_client)
    if fault not in ("reset", "timeout"):
        # The server did send the key back: the test is about hiding it, not missing it.
        assert any(API_KEY.encode() in body for body in echo.echoed)
    assert_error_is_clean(info.value)
    if isinstance(info.value, APIConnectionError):
        assert info.value.request_sent
    assert_key_absent(caplog.text, "the captured log")
    for record in caplog.records:
        assert_key_absent(record.getMessage(), f"record {record.name}")
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
            assert_key_absent(text, f"traceback of {record.name}")


async def test_the_echo_does_reach_the_error_unredacted_without_scrub(
    echo: EchoServer, leaky_client: OneChatClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without both redactions, the echo would reach the message: the test above can fail.

    Server text is redacted where it is cut (shorten, over the registered keys) and every
    error again by the client (scrub); either alone hides this echo.
    """
    monkeypatch.setattr("onechat_async._client.scrub", lambda exc, _secrets: exc)
    monkeypatch.setattr("onechat_async._secrets.registered_secrets", tuple)
    echo.script("401")
    with pytest.raises(OneChatError) as info:
        await leaky_client.fetch(TASK_ID)
    assert API_KEY in str(info.value)


def test_task_failure_errors_are_scrubbed_too() -> None:
    """Any OneChatError is scrubbed, including one that carries a task."""
    task = Task(id=TASK_ID)
    error = TaskFailedError(f"failed: {SECRET}", task=task)
    assert SECRET not in str(scrub(error, [SECRET]))


def _prefixes(secret: str, shortest: int = 6) -> list[str]:
    return [secret[:n] for n in range(shortest, len(secret) + 1)]


def _refusal_text(status: int, body: bytes) -> str:
    with pytest.raises(OneChatError) as info:
        read_submit(Response(status, {}, body), SUBMIT, now_wall=0.0)
    return str(info.value)


@pytest.mark.parametrize("cut", [70, 75, 78, 80, 85, 495, 499, 503])
def test_a_cut_never_leaves_a_piece_of_the_key(cut: int) -> None:
    """Server text cut to a limit is redacted first: no piece of a key straddling the cut shows."""
    register_secret(SECRET)
    text = "x" * (cut - 5) + SECRET + " and more" * 80
    shown = [
        shorten(text, 80),
        shorten(text, 500),
        _refusal_text(200, text.encode()),  # not JSON: a preview of the body
        _refusal_text(400, json.dumps({"description": text}).encode()),  # a long message
    ]
    for rendering in shown:
        assert not any(piece in rendering for piece in _prefixes(SECRET)), rendering
