"""The pure rules of callbacks: tokens, binding, expiry, size, JSON and task shape."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from onechat_async import InvalidRequestError, OneChatError, TaskStatus
from onechat_async._callbacks import (
    REASONS,
    TOKEN_PARAM,
    CallbackRejectedError,
    CallbackRequest,
    Signer,
    hook_url,
    token_of,
    verify,
)
from onechat_async.callbacks import parse_callback
from tests.callbacks.conftest import NOW, OTHER_SECRET, SECRET, STATE, task_body

SIGNER = Signer(SECRET, ttl=3600.0)


def _request(body: bytes, token: str | None, method: str = "POST") -> CallbackRequest:
    query = "" if token is None else f"{TOKEN_PARAM}={token}"
    return CallbackRequest(method, query, body)


def _reason(request: CallbackRequest, *, now: float = NOW, max_body: int = 4096) -> str:
    with pytest.raises(CallbackRejectedError) as caught:
        verify(request, SIGNER, now_wall=now, max_body=max_body)
    assert caught.value.status == REASONS[caught.value.reason]
    return caught.value.reason


def test_a_genuine_callback_yields_its_task_decoded_leniently() -> None:
    """A body bound to the token's state becomes a Task, "9%" read as 9."""
    token = SIGNER.token(STATE, NOW)
    task = verify(_request(task_body(), token), SIGNER, now_wall=NOW + 10, max_body=4096)
    assert (task.id, task.status, task.progress, task.state) == (
        "1750000000000123",
        TaskStatus.IN_PROGRESS,
        9,
        STATE,
    )


def test_a_mac_under_another_secret_is_forged() -> None:
    """A token minted under a different secret is refused as bad_token."""
    forged = Signer(OTHER_SECRET, ttl=3600.0).token(STATE, NOW)
    assert _reason(_request(task_body(), forged)) == "bad_token"


def test_a_token_replayed_for_another_state_is_refused() -> None:
    """A genuine token cannot vouch for a body carrying another submit's state."""
    token = SIGNER.token("oc-someone-else", NOW)
    assert _reason(_request(task_body(), token)) == "bad_token"


def test_a_body_without_state_never_passes() -> None:
    """A body with an empty state matches no token: the binding cannot be left out."""
    token = SIGNER.token(STATE, NOW)
    assert _reason(_request(task_body(state=""), token)) == "bad_token"


def test_the_expiry_cannot_be_extended_by_editing_the_token() -> None:
    """Changing the expiry digits breaks the MAC, so a later expiry is forged, not accepted."""
    expiry, mac = SIGNER.token(STATE, NOW).split(".")
    stretched = f"{int(expiry) + 10**6}.{mac}"
    assert _reason(_request(task_body(), stretched), now=int(expiry) + 5) == "bad_token"


@pytest.mark.parametrize(
    ("delay", "reason"),
    [(3599.0, None), (3600.0, "expired"), (10**6, "expired")],
)
def test_a_token_expires_after_its_ttl(delay: float, reason: str | None) -> None:
    """A genuine token passes until ttl seconds after minting, then is refused as expired."""
    request = _request(task_body(), SIGNER.token(STATE, NOW))
    if reason is None:
        assert verify(request, SIGNER, now_wall=NOW + delay, max_body=4096).id
    else:
        assert _reason(request, now=NOW + delay) == reason


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        "123.",
        ".abc",
        "12x.abcdefghijabcdefghijabcdefghijabcdefghijabc",
        "1" * 13 + ".abcdefghijabcdefghijabcdefghijabcdefghijabc",
        "123.short",
        "123.é" + "a" * 42,
    ],
)
def test_a_missing_or_malformed_token_is_refused_before_the_body_is_read(
    token: str | None,
) -> None:
    """No token, or one of the wrong shape, is no_token even when the body is not JSON."""
    assert _reason(_request(b"not json", token)) == "no_token"


def test_a_token_given_twice_is_refused() -> None:
    """Two oc_token parameters are ambiguous: neither is taken."""
    token = SIGNER.token(STATE, NOW)
    query = f"{TOKEN_PARAM}={token}&{TOKEN_PARAM}={token}"
    assert _reason(CallbackRequest("POST", query, task_body())) == "no_token"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not_json"),
        (b"<html>hi</html>", "not_json"),
        (b"\xff\xfe\x00", "not_json"),
        (b"[" * 100_000, "not_json"),
        (b"[]", "not_a_task"),
        (b'"SUCCESS"', "not_a_task"),
        (b'{"status": "SUCCESS"}', "not_a_task"),
        (b'{"id": "abc", "status": "SUCCESS"}', "not_a_task"),
        (b'{"id": 1.5e15, "status": "SUCCESS"}', "not_a_task"),
    ],
)
def test_bodies_that_are_not_a_task_are_refused(body: bytes, reason: str) -> None:
    """Non-JSON and JSON that names no usable task id are refused, with a token or without."""
    assert _reason(_request(body, SIGNER.token(STATE, NOW)), max_body=200_000) == reason
    with pytest.raises(CallbackRejectedError) as caught:
        parse_callback(body, max_body=200_000)
    assert caught.value.reason == reason


def test_an_oversized_body_is_refused_whatever_it_holds() -> None:
    """A body one byte over the limit is too_large; one at the limit is read."""
    token = SIGNER.token(STATE, NOW)
    body = task_body(prompt="x" * 300)
    assert verify(_request(body, token), SIGNER, now_wall=NOW, max_body=len(body)).id
    assert _reason(_request(body, token), max_body=len(body) - 1) == "too_large"


def test_only_post_is_accepted() -> None:
    """A GET (a browser, a scanner) is method_not_allowed."""
    assert _reason(_request(task_body(), SIGNER.token(STATE, NOW), "GET")) == "method_not_allowed"


def test_rejections_are_onechat_errors_that_quote_no_secret_and_no_body() -> None:
    """The error is a OneChatError and a ValueError; neither token nor body shows in it."""
    token = SIGNER.token("oc-other", NOW)
    body = task_body(prompt="SECRET-PROMPT")
    with pytest.raises(CallbackRejectedError) as caught:
        verify(_request(body, token), SIGNER, now_wall=NOW, max_body=4096)
    error = caught.value
    assert isinstance(error, OneChatError)
    assert isinstance(error, ValueError)
    for text in (str(error), repr(error)):
        assert token not in text
        assert token.split(".")[1] not in text
        assert "SECRET-PROMPT" not in text
    assert error.task_id == "1750000000000123"


def test_parse_callback_reads_what_the_upstream_posts() -> None:
    """The public parser turns the camelCase wire form into a Task, lenient like a poll."""
    body = json.dumps(
        {
            "id": 1750000000000123,
            "status": "",
            "progress": " 12.5 %",
            "imageUrl": "",
            "submitTime": "1750000000000",
            "buttons": [{"customId": "MJ::JOB::upsample::1::x", "label": "U1"}, {"label": "?"}],
            "extra": {"ignored": True},
        }
    ).encode()
    task = parse_callback(body)
    assert task.id == "1750000000000123"
    assert task.status is TaskStatus.NOT_START
    assert task.progress == 12
    assert task.image_url is None
    assert task.submit_time is not None
    assert [b.label for b in task.buttons] == ["U1"]


def test_parse_callback_refuses_what_is_not_bytes() -> None:
    """A str (already decoded by some framework) is refused rather than guessed at."""
    with pytest.raises(CallbackRejectedError):
        parse_callback("{}")  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", [b"", b"x" * 31, "y" * 31, None, 12345])
def test_short_or_mistyped_secrets_are_refused(secret: object) -> None:
    """A secret shorter than the HMAC's output (or not bytes/str) is an InvalidRequestError."""
    with pytest.raises(InvalidRequestError):
        Signer(secret)


def test_the_secret_never_shows_in_a_repr() -> None:
    """repr(Signer) hides the secret."""
    assert "sss" not in repr(SIGNER)


def test_a_token_needs_a_state_to_bind_to() -> None:
    """Minting for an empty state is refused: such a token would vouch for any stateless task."""
    with pytest.raises(InvalidRequestError):
        SIGNER.token("", NOW)


def test_hook_url_keeps_the_public_urls_own_query() -> None:
    """The token is added to the query; other parameters stay; an old token is replaced."""
    url = hook_url("https://example.com/cb?x=1&oc_token=old", "123.abc")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "example.com", "/cb")
    assert parse_qs(parts.query) == {"x": ["1"], TOKEN_PARAM: ["123.abc"]}
    assert token_of(parts.query) == "123.abc"
    assert token_of(parts.query.encode()) == "123.abc"


def test_hook_url_respects_the_notify_hook_limit() -> None:
    """A public URL so long that the notifyHook would pass 2000 characters is refused."""
    with pytest.raises(InvalidRequestError):
        hook_url("https://example.com/" + "a" * 1990, SIGNER.token(STATE, NOW))


def test_the_size_is_checked_before_the_token() -> None:
    """An oversized body is too_large even with no token: nothing else about it is looked at."""
    assert _reason(_request(b"x" * 5000, None)) == "too_large"
