"""Request building: validation before anything is sent, and the bodies each endpoint gets."""

from __future__ import annotations

import pytest

from onechat_async import AccountFilter, InvalidRequestError
from onechat_async import _requests as rq

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("1320098173412546 U2", ("1320098173412546", "U2")),
        ("1320098173412546 u4", ("1320098173412546", "U4")),
        ("1320098173412546 v1", ("1320098173412546", "V1")),
        ("1320098173412546 r", ("1320098173412546", "R")),
        ("1 R", ("1", "R")),
    ],
)
def test_simple_change_grammar_accepts(content: str, expected: tuple[str, str]) -> None:
    """Valid simple-change contents split into the id and the upper-cased operation."""
    assert rq.parse_simple_change(content) == expected


@pytest.mark.parametrize(
    "content",
    [
        "123 U5",
        "123 U12",
        "abc U1",
        "",
        "123",
        "123  U1",
        " 123 U1",
        "123 U1 ",
        "123 X1",
        "123 U0",
        "123 RR",
        "123\tU1",
        "12.3 U1",
    ],
)
def test_simple_change_grammar_refuses(content: str) -> None:
    """Anything but '<digits> U1..U4|V1..V4|R' with one space is refused locally."""
    with pytest.raises(InvalidRequestError):
        rq.parse_simple_change(content)


def test_simple_change_takes_id_and_op_apart() -> None:
    """simple_change(task_id, op) is the same as the joined content."""
    assert rq.parse_simple_change("42", "v3") == ("42", "V3")


@pytest.mark.parametrize(
    ("op", "action", "index", "prefix"),
    [
        ("U1", "UPSCALE", 1, "MJ::JOB::upsample::1::"),
        ("U4", "UPSCALE", 4, "MJ::JOB::upsample::4::"),
        ("V2", "VARIATION", 2, "MJ::JOB::variation::2::"),
        ("R", "REROLL", 1, "MJ::JOB::reroll::0::"),
    ],
)
def test_operation_equivalents(op: str, action: str, index: int, prefix: str) -> None:
    """Each operation maps to a /change action and index (never 0) and a button prefix."""
    assert rq.op_action_index(op) == (action, index)
    assert rq.change_op_button_prefix(op) == prefix


def test_simple_change_body_carries_routing_fields() -> None:
    """The simple-change body has content plus taskId/action/index for new-api's router."""
    req = rq.simple_change("77", "V3", notify_hook=None, state="s1")
    assert req.path == "/submit/simple-change"
    assert req.body == {
        "content": "77 V3",
        "taskId": "77",
        "action": "VARIATION",
        "index": 3,
        "state": "s1",
    }
    assert req.is_submit
    assert req.state == "s1"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: rq.imagine(
                "  ", [], bot_type=None, account_filter=None, notify_hook=None, state=None
            ),
            "non-blank",
        ),
        (
            lambda: rq.imagine(
                "x", [], bot_type="DALL_E", account_filter=None, notify_hook=None, state=None
            ),
            "bot_type",
        ),
        (
            lambda: rq.imagine(
                "x", [], bot_type=None, account_filter=None, notify_hook="ftp://x", state=None
            ),
            "notify_hook",
        ),
        (
            lambda: rq.imagine(
                "x",
                [],
                bot_type=None,
                account_filter=None,
                notify_hook="https://x/" + "a" * 2000,
                state=None,
            ),
            "notify_hook",
        ),
        (
            lambda: rq.imagine(
                "x", [], bot_type=None, account_filter=None, notify_hook=None, state="s" * 256
            ),
            "state",
        ),
        (lambda: rq.change("1", "ZOOM", 1, notify_hook=None, state=None), "action"),
        (lambda: rq.change("1", "UPSCALE", 5, notify_hook=None, state=None), "index"),
        (lambda: rq.change("1", "UPSCALE", None, notify_hook=None, state=None), "index"),
        (lambda: rq.change("x1", "UPSCALE", 1, notify_hook=None, state=None), "digits"),
        (lambda: rq.action("1", " ", notify_hook=None, state=None), "custom_id"),
        (
            lambda: rq.blend(
                ["a"], "SQUARE", bot_type=None, account_filter=None, notify_hook=None, state=None
            ),
            "2 to 5",
        ),
        (
            lambda: rq.blend(
                ["a", "b"],
                "ROUND",
                bot_type=None,
                account_filter=None,
                notify_hook=None,
                state=None,
            ),
            "dimensions",
        ),
        (
            lambda: rq.shorten(
                "", bot_type=None, account_filter=None, notify_hook=None, state=None
            ),
            "non-blank",
        ),
        (lambda: rq.fetch("../etc"), "digits"),
        (lambda: rq.data_url(b"not an image"), "PNG"),
    ],
)
def test_invalid_arguments_are_refused_locally(call: object, message: str) -> None:
    """Bad arguments raise InvalidRequestError (a ValueError) naming what is wrong."""
    with pytest.raises(InvalidRequestError, match=message) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, ValueError)


def test_reroll_through_change_gets_index_one() -> None:
    """The gateway refuses index 0, so a REROLL without index is sent with index 1."""
    req = rq.change("5", "reroll", None, notify_hook=None, state=None)
    assert req.body == {"taskId": "5", "action": "REROLL", "index": 1}


def test_integer_task_ids_become_strings() -> None:
    """An id given as an int is sent as the decimal string the servers expect."""
    req = rq.fetch(1320098173412546)  # type: ignore[arg-type]
    assert req.path == "/task/1320098173412546/fetch"
    assert req.task_id == "1320098173412546"


def test_image_options_are_camel_case() -> None:
    """Bot type, account filter, hook and state appear under their wire names."""
    req = rq.imagine(
        "a fox",
        ["data:image/png;base64,AA=="],
        bot_type="NIJI_JOURNEY",
        account_filter=AccountFilter(instance_id="i1", modes=("FAST",), remix=True),
        notify_hook="https://example.test/hook",
        state="order-42",
    )
    assert req.body == {
        "prompt": "a fox",
        "base64Array": ["data:image/png;base64,AA=="],
        "botType": "NIJI_JOURNEY",
        "accountFilter": {"instanceId": "i1", "modes": ["FAST"], "remix": True},
        "notifyHook": "https://example.test/hook",
        "state": "order-42",
    }


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 8, "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    ],
)
def test_data_url_sniffs_the_type(data: bytes, mime: str) -> None:
    """Image bytes become a data: URL with the type read from their magic number."""
    assert rq.data_url(data).startswith(f"data:{mime};base64,")


def test_list_and_seed_requests() -> None:
    """list-by-condition posts the ids; image-seed is a GET on the task."""
    assert rq.list_by_condition(["1", "2"]).body == {"ids": ["1", "2"]}
    seed = rq.image_seed("9")
    assert (seed.method, seed.path, seed.is_submit) == ("GET", "/task/9/image-seed", False)


def test_swap_describe_modal_bodies() -> None:
    """The remaining submit bodies use the wire names of the contract."""
    swap = rq.swap_face("data:a", "data:b", notify_hook=None, state=None)
    assert (swap.path, swap.body) == (
        "/insight-face/swap",
        {"sourceBase64": "data:a", "targetBase64": "data:b"},
    )
    desc = rq.describe("data:x", bot_type=None, account_filter=None, notify_hook=None, state=None)
    assert desc.body == {"base64": "data:x"}
    modal = rq.modal("3", "zoom out", "data:m", notify_hook=None, state=None)
    assert modal.body == {"taskId": "3", "prompt": "zoom out", "maskBase64": "data:m"}
