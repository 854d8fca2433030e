"""Every request builder in _requests: the whole Request it makes, and what it refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from onechat_async import _requests as rq
from onechat_async._errors import InvalidRequestError
from onechat_async._models import AccountFilter
from onechat_async._requests import Request

HOOK = "https://example.invalid/hook"
OPTIONS: dict[str, Any] = {"notify_hook": HOOK, "state": "mine"}
IMAGE_OPTIONS: dict[str, Any] = {
    "bot_type": "NIJI_JOURNEY",
    "account_filter": AccountFilter(instance_id="7"),
    **OPTIONS,
}
#: What the shared options add to every submit body.
TAIL = {"notifyHook": HOOK, "state": "mine"}
IMAGE_TAIL = {"botType": "NIJI_JOURNEY", "accountFilter": {"instanceId": "7"}, **TAIL}
#: Every video option unset: each test sets the ones it is about.
VIDEO: dict[str, Any] = {
    "image": None,
    "end_image": None,
    "motion": None,
    "loop": None,
    "batch_size": None,
    "extend": None,
    "index": None,
    **OPTIONS,
}


def submit(path: str, body: dict[str, Any], task_id: str | None = None) -> Request:
    endpoint = path.rsplit("/", 1)[-1]
    return Request("POST", path, endpoint, body, is_submit=True, task_id=task_id, state="mine")


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        pytest.param(
            lambda: rq.imagine("a cat", ["data:x"], **IMAGE_OPTIONS),
            submit(
                "/submit/imagine",
                {"prompt": "a cat", "base64Array": ["data:x"], **IMAGE_TAIL},
            ),
            id="imagine",
        ),
        pytest.param(
            lambda: rq.change("42", "upscale", 3, **OPTIONS),
            submit(
                "/submit/change",
                {"taskId": "42", "action": "UPSCALE", "index": 3, **TAIL},
                "42",
            ),
            id="change",
        ),
        pytest.param(
            lambda: rq.change("42", "REROLL", None, **OPTIONS),
            submit(
                "/submit/change",
                {"taskId": "42", "action": "REROLL", "index": 1, **TAIL},
                "42",
            ),
            id="change-reroll",
        ),
        pytest.param(
            lambda: rq.simple_change("42", "V2", **OPTIONS),
            submit(
                "/submit/simple-change",
                {"content": "42 V2", "taskId": "42", "action": "VARIATION", "index": 2, **TAIL},
                "42",
            ),
            id="simple-change",
        ),
        pytest.param(
            lambda: rq.action("42", "MJ::JOB::upsample::1::abc", **OPTIONS),
            submit(
                "/submit/action",
                {"taskId": "42", "customId": "MJ::JOB::upsample::1::abc", **TAIL},
                "42",
            ),
            id="action",
        ),
        pytest.param(
            lambda: rq.modal("42", "zoom out", "data:mask", **OPTIONS),
            submit(
                "/submit/modal",
                {"taskId": "42", "prompt": "zoom out", "maskBase64": "data:mask", **TAIL},
                "42",
            ),
            id="modal",
        ),
        pytest.param(
            lambda: rq.blend(["data:a", "data:b"], "SQUARE", **IMAGE_OPTIONS),
            submit(
                "/submit/blend",
                {"base64Array": ["data:a", "data:b"], "dimensions": "SQUARE", **IMAGE_TAIL},
            ),
            id="blend",
        ),
        pytest.param(
            lambda: rq.describe("data:a", **IMAGE_OPTIONS),
            submit("/submit/describe", {"base64": "data:a", **IMAGE_TAIL}),
            id="describe",
        ),
        pytest.param(
            lambda: rq.shorten("a long prompt", **IMAGE_OPTIONS),
            submit("/submit/shorten", {"prompt": "a long prompt", **IMAGE_TAIL}),
            id="shorten",
        ),
        pytest.param(
            lambda: rq.swap_face("data:a", "data:b", **OPTIONS),
            submit(
                "/insight-face/swap", {"sourceBase64": "data:a", "targetBase64": "data:b", **TAIL}
            ),
            id="swap-face",
        ),
        pytest.param(
            lambda: rq.action("42", "MJ::JOB::upsample::1::abc", enable_remix=True, **OPTIONS),
            submit(
                "/submit/action",
                {
                    "taskId": "42",
                    "customId": "MJ::JOB::upsample::1::abc",
                    "enableRemix": True,
                    **TAIL,
                },
                "42",
            ),
            id="action-remix",
        ),
        pytest.param(
            lambda: rq.action("42", "MJ::JOB::upsample::1::abc", enable_remix=False, **OPTIONS),
            submit(
                "/submit/action",
                {
                    "taskId": "42",
                    "customId": "MJ::JOB::upsample::1::abc",
                    "enableRemix": False,
                    **TAIL,
                },
                "42",
            ),
            id="action-no-remix",
        ),
        pytest.param(
            lambda: rq.describe(None, link="https://a.invalid/1.png", **IMAGE_OPTIONS),
            submit("/submit/describe", {"link": "https://a.invalid/1.png", **IMAGE_TAIL}),
            id="describe-link",
        ),
        pytest.param(
            lambda: rq.video("move", **{**VIDEO, "image": "data:a"}),
            submit("/submit/video", {"prompt": "move", "image": "data:a", **TAIL}),
            id="video",
        ),
        pytest.param(
            lambda: rq.video(
                "move",
                **{
                    **VIDEO,
                    "image": "data:a",
                    "end_image": "data:b",
                    "motion": "high",
                    "loop": True,
                    "batch_size": 4,
                },
            ),
            submit(
                "/submit/video",
                {
                    "prompt": "move",
                    "image": "data:a",
                    "endImage": "data:b",
                    "motion": "high",
                    "loop": True,
                    "batchSize": 4,
                    **TAIL,
                },
            ),
            id="video-every-option",
        ),
        pytest.param(
            lambda: rq.video("more", **{**VIDEO, "extend": "41", "index": 4}),
            submit(
                "/submit/video",
                {"prompt": "more", "action": "extend", "taskId": "41", "index": 3, **TAIL},
                "41",
            ),
            id="video-extend",
        ),
        pytest.param(
            lambda: rq.video("more", **{**VIDEO, "extend": "41", "index": 1}),
            submit(
                "/submit/video",
                {"prompt": "more", "action": "extend", "taskId": "41", "index": 0, **TAIL},
                "41",
            ),
            id="video-extend-first",
        ),
        pytest.param(
            lambda: rq.describe(None, link="http://a.invalid/1.png", **IMAGE_OPTIONS),
            submit("/submit/describe", {"link": "http://a.invalid/1.png", **IMAGE_TAIL}),
            id="describe-http-link",
        ),
        pytest.param(
            lambda: rq.edits(
                "make it red", "data:a", account_filter=AccountFilter(instance_id="7"), **OPTIONS
            ),
            submit(
                "/submit/edits",
                {
                    "prompt": "make it red",
                    "image": "data:a",
                    "accountFilter": {"instanceId": "7"},
                    **TAIL,
                },
            ),
            id="edits",
        ),
        pytest.param(
            lambda: rq.upload_images(("data:a",), account_filter=AccountFilter(instance_id="7")),
            Request(
                "POST",
                "/submit/upload-discord-images",
                "upload-discord-images",
                {"base64Array": ["data:a"], "accountFilter": {"instanceId": "7"}},
                is_submit=True,
            ),
            id="upload-images",
        ),
        pytest.param(
            lambda: rq.cancel(42),  # type: ignore[arg-type]
            Request("POST", "/task/42/cancel", "cancel", task_id="42"),
            id="cancel",
        ),
        pytest.param(
            lambda: rq.fetch("42"),
            Request("GET", "/task/42/fetch", "fetch", task_id="42"),
            id="fetch",
        ),
        pytest.param(
            lambda: rq.image_seed("42"),
            Request("GET", "/task/42/image-seed", "image-seed", task_id="42"),
            id="image-seed",
        ),
        pytest.param(
            lambda: rq.list_by_condition(("41", "42")),
            Request("POST", "/task/list-by-condition", "list-by-condition", {"ids": ["41", "42"]}),
            id="list-by-condition",
        ),
    ],
)
def test_each_builder_makes_the_whole_request(built: Any, expected: Request) -> None:
    """Method, path, endpoint name, body, submit flag, task id and state are all as sent."""
    assert built() == expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: rq.imagine(" ", [], bot_type=None, account_filter=None, **OPTIONS),
            "imagine needs a non-blank prompt",
            id="blank-imagine",
        ),
        pytest.param(
            lambda: rq.shorten(" ", bot_type=None, account_filter=None, **OPTIONS),
            "shorten needs a non-blank prompt",
            id="blank-shorten",
        ),
        pytest.param(
            lambda: rq.action("42", " ", **OPTIONS),
            "action needs the button's non-empty custom_id",
            id="blank-custom-id",
        ),
        pytest.param(
            lambda: rq.fetch("4x2"),
            "task id must be a string of digits, got '4x2'",
            id="bad-task-id",
        ),
        pytest.param(
            lambda: rq.change("42", "UPSCALE", 5, **OPTIONS),
            "UPSCALE needs an index from 1 to 4, got 5",
            id="index-5",
        ),
        pytest.param(
            lambda: rq.change("42", 7, 1, **OPTIONS),  # type: ignore[arg-type]
            "action must be one of ['REROLL', 'UPSCALE', 'VARIATION'], got 7",
            id="action-not-a-str",
        ),
        pytest.param(
            lambda: rq.blend(["data:a"], "SQUARE", bot_type=None, account_filter=None, **OPTIONS),
            "blend takes 2 to 5 images, got 1",
            id="blend-one-image",
        ),
        pytest.param(
            lambda: rq.parse_simple_change(7),  # type: ignore[arg-type]
            "simple-change content must be a str, got 7",
            id="content-not-a-str",
        ),
        pytest.param(
            lambda: rq.parse_simple_change("42U1"),
            "simple-change content must be '<task id> <U1..U4|V1..V4|R>', got '42U1'",
            id="content-without-space",
        ),
        pytest.param(
            lambda: rq.parse_simple_change("42 U5"),
            "simple-change operation must be U1..U4, V1..V4 or R, got 'U5'",
            id="op-u5",
        ),
        pytest.param(
            lambda: rq.data_url(b"plain text"),
            "image bytes are not PNG, JPEG, GIF or WEBP",
            id="not-an-image",
        ),
        pytest.param(
            lambda: rq.action("42", "X" * 100, **OPTIONS),
            "custom_id must be a button's customId such as 'MJ::JOB::upsample::1::<hash>', "
            f"got {'X' * 80!r}",
            id="custom-id-shortened",
        ),
        pytest.param(
            lambda: rq.action("42", "MJ::JOB::upsample::1::a", enable_remix="yes", **OPTIONS),  # type: ignore[arg-type]
            "enable_remix must be True or False, got 'yes'",
            id="remix-not-a-bool",
        ),
        pytest.param(
            lambda: rq.modal("42", 7, None, **OPTIONS),  # type: ignore[arg-type]
            "prompt must be a str, got int",
            id="modal-prompt-not-a-str",
        ),
        pytest.param(
            lambda: rq.blend(
                ["data:a", "data:b"], "WIDE", bot_type=None, account_filter=None, **OPTIONS
            ),
            "dimensions must be one of ['LANDSCAPE', 'PORTRAIT', 'SQUARE'], got 'WIDE'",
            id="blend-dimensions",
        ),
        pytest.param(
            lambda: rq.imagine("a cat", [], bot_type="MJ", account_filter=None, **OPTIONS),
            "bot_type must be one of ['MID_JOURNEY', 'NIJI_JOURNEY'], got 'MJ'",
            id="bot-type",
        ),
        pytest.param(
            lambda: rq.imagine(
                "a cat",
                [],
                bot_type=None,
                account_filter={"instanceId": "7"},  # type: ignore[arg-type]
                **OPTIONS,
            ),
            "account_filter must be an AccountFilter, got dict",
            id="account-filter-a-dict",
        ),
        pytest.param(
            lambda: rq.describe(None, bot_type=None, account_filter=None, **OPTIONS),
            "describe takes one image or one link, not both or neither",
            id="describe-neither",
        ),
        pytest.param(
            lambda: rq.describe(
                "data:a",
                link="https://a.invalid/1.png",
                bot_type=None,
                account_filter=None,
                **OPTIONS,
            ),
            "describe takes one image or one link, not both or neither",
            id="describe-both",
        ),
        pytest.param(
            lambda: rq.describe(
                None, link="ftp://a.invalid/1.png", bot_type=None, account_filter=None, **OPTIONS
            ),
            "link must be an http(s) URL, got 'ftp://a.invalid/1.png'",
            id="describe-ftp-link",
        ),
        pytest.param(
            lambda: rq.describe(
                None, link="x" * 100, bot_type=None, account_filter=None, **OPTIONS
            ),
            f"link must be an http(s) URL, got {'x' * 80!r}",
            id="describe-link-shortened",
        ),
        pytest.param(
            lambda: rq.encode_body(
                Request("POST", "/submit/imagine", "imagine", {"prompt": "a" * rq.MAX_BODY_BYTES})
            ),
            "the imagine request is 32.0 MiB, over the 32 MiB a gateway may accept: "
            "send smaller images",
            id="body-over-32-mib",
        ),
        pytest.param(
            lambda: rq.video(" ", **{**VIDEO, "image": "data:a"}),
            "video needs a non-blank prompt",
            id="video-blank-prompt",
        ),
        pytest.param(
            lambda: rq.video("move", **VIDEO),
            "video needs an image to animate, or extend= a finished video",
            id="video-nothing-to-move",
        ),
        pytest.param(
            lambda: rq.video("move", **{**VIDEO, "image": "data:a", "motion": "mid"}),
            "motion must be 'low' or 'high', got 'mid'",
            id="video-motion",
        ),
        pytest.param(
            lambda: rq.video("move", **{**VIDEO, "image": "data:a", "loop": 1}),
            "loop must be True or False, got 1",
            id="video-loop-not-a-bool",
        ),
        pytest.param(
            lambda: rq.video("move", **{**VIDEO, "image": "data:a", "batch_size": 3}),
            "batch_size must be 1, 2 or 4, got 3",
            id="video-batch-3",
        ),
        pytest.param(
            lambda: rq.video("move", **{**VIDEO, "image": "data:a", "batch_size": True}),
            "batch_size must be 1, 2 or 4, got True",
            id="video-batch-true",
        ),
        pytest.param(
            lambda: rq.video("more", **{**VIDEO, "index": 1}),
            "extend (the video task's id) must be a string of digits, got None",
            id="video-index-without-extend",
        ),
        pytest.param(
            lambda: rq.video("more", **{**VIDEO, "extend": "41"}),
            "extending a video needs index 1 to 4, got None",
            id="video-extend-without-index",
        ),
        pytest.param(
            lambda: rq.video("more", **{**VIDEO, "extend": "41", "index": 5}),
            "extending a video needs index 1 to 4, got 5",
            id="video-index-5",
        ),
        pytest.param(
            lambda: rq.video("more", **{**VIDEO, "extend": "41", "index": True}),
            "extending a video needs index 1 to 4, got True",
            id="video-index-true",
        ),
        pytest.param(
            lambda: rq.edits(" ", "data:a", account_filter=None, **OPTIONS),
            "edits needs a non-blank prompt",
            id="edits-blank-prompt",
        ),
        pytest.param(
            lambda: rq.upload_images([], account_filter=None),
            "upload_images takes 1 to 10 images, got 0",
            id="upload-no-image",
        ),
        pytest.param(
            lambda: rq.upload_images(["data:a"] * 11, account_filter=None),
            "upload_images takes 1 to 10 images, got 11",
            id="upload-11-images",
        ),
        pytest.param(
            lambda: rq.cancel("4 2"),
            "task id must be a string of digits, got '4 2'",
            id="cancel-bad-id",
        ),
    ],
)
def test_each_refusal_says_what_was_wrong(build: Any, message: str) -> None:
    """A malformed call is refused locally, with a message naming the rule it broke."""
    with pytest.raises(InvalidRequestError) as info:
        build()
    assert info.value.message == message


@pytest.mark.parametrize(
    ("images", "accepted"),
    [(["a"] * 1, False), (["a"] * 2, True), (["a"] * 5, True), (["a"] * 6, False)],
)
def test_blend_takes_two_to_five_images(images: list[str], accepted: bool) -> None:
    """Both ends of the 2..5 range are accepted; one fewer or one more is refused."""

    def build() -> rq.Request:
        return rq.blend(images, "SQUARE", bot_type=None, account_filter=None, **OPTIONS)

    if accepted:
        assert build().body["base64Array"] == images  # type: ignore[index]
    else:
        with pytest.raises(InvalidRequestError):
            build()


@pytest.mark.parametrize(("index", "accepted"), [(0, False), (1, True), (4, True), (5, False)])
def test_change_index_is_one_to_four(index: int, accepted: bool) -> None:
    """Both ends of 1..4 are accepted for UPSCALE; 0 and 5 are refused."""
    if accepted:
        assert rq.change("42", "UPSCALE", index, **OPTIONS).body["index"] == index  # type: ignore[index]
    else:
        with pytest.raises(InvalidRequestError):
            rq.change("42", "UPSCALE", index, **OPTIONS)


@pytest.mark.parametrize(
    ("hook", "state", "accepted"),
    [
        pytest.param("http://h.invalid/x", None, True, id="http-hook"),
        pytest.param("https://" + "h" * (2000 - 8), None, True, id="hook-of-2000"),
        pytest.param("https://" + "h" * (2001 - 8), None, False, id="hook-of-2001"),
        pytest.param("ftp://h.invalid/x", None, False, id="ftp-hook"),
        pytest.param(None, "s" * 255, True, id="state-of-255"),
        pytest.param(None, "s" * 256, False, id="state-of-256"),
    ],
)
def test_hook_and_state_limits_are_inclusive(
    hook: str | None, state: str | None, accepted: bool
) -> None:
    """An http(s) hook of up to 2,000 characters and a state of up to 255 are sent as given."""

    def build() -> rq.Request:
        return rq.swap_face("data:a", "data:b", notify_hook=hook, state=state)

    if accepted:
        body = build().body
        assert body is not None
        assert body.get("notifyHook") == hook
        assert body.get("state") == state
    else:
        with pytest.raises(InvalidRequestError):
            build()


@pytest.mark.parametrize(
    ("image", "mime"),
    [
        pytest.param(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", id="webp"),
        pytest.param(b"\x89PNG\r\n\x1a\n...", "image/png", id="png"),
    ],
)
def test_data_url_names_the_image_type(image: bytes, mime: str) -> None:
    """The magic bytes pick the MIME type, and the payload is the image's base64."""
    assert rq.data_url(image).startswith(f"data:{mime};base64,")


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(b"RIFF\x00\x00\x00\x00WAVEfmt ", id="riff-but-wave"),
        pytest.param(b"JUNK\x00\x00\x00\x00WEBPVP8 ", id="webp-tag-without-riff"),
    ],
)
def test_webp_needs_both_riff_and_webp_tags(image: bytes) -> None:
    """A RIFF file that is not WEBP, or WEBP bytes without RIFF, are not taken for images."""
    with pytest.raises(InvalidRequestError):
        rq.data_url(image)


def test_a_task_id_given_as_an_int_is_its_digits() -> None:
    """An int id is sent as its decimal digits; a bool is not taken for an id."""
    assert rq.fetch(42).path == "/task/42/fetch"  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        rq.fetch(True)  # type: ignore[arg-type]


def test_only_ints_and_strs_can_be_task_ids() -> None:
    """A value that merely prints as digits (a Decimal) is not taken for a task id."""
    with pytest.raises(InvalidRequestError):
        rq.fetch(Decimal(42))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("custom_id", "accepted"),
    [
        pytest.param("MJ::JOB::upsample::1", True, id="upsample-of-4-parts"),
        pytest.param("MJ::JOB::upsample", False, id="upsample-of-3-parts"),
        pytest.param("MJ::JOB::variation::2", True, id="variation-of-4-parts"),
        pytest.param("MJ::JOB::variation", False, id="variation-of-3-parts"),
        pytest.param("MJ::JOB::reroll", True, id="reroll-of-3-parts"),
        pytest.param("MJ::CustomZoom::abc", True, id="other-of-3-parts"),
        pytest.param("MJ::CustomZoom", False, id="other-of-2-parts"),
        pytest.param("XX::JOB::upsample::1::abc", False, id="not-mj"),
    ],
)
def test_a_custom_id_needs_the_parts_new_api_reads(custom_id: str, accepted: bool) -> None:
    """An MJ:: customId needs three parts, and four for upsample and variation buttons."""

    def build() -> rq.Request:
        return rq.action("42", custom_id, **OPTIONS)

    if accepted:
        assert build().body["customId"] == custom_id  # type: ignore[index]
    else:
        with pytest.raises(InvalidRequestError):
            build()


def test_a_body_is_sent_as_utf8_json() -> None:
    """Non-ASCII text is sent as its UTF-8 bytes, not as escapes; no body sends nothing."""
    request = Request("POST", "/submit/imagine", "imagine", {"prompt": "猫"})
    assert rq.encode_body(request) == '{"prompt": "猫"}'.encode()
    assert rq.encode_body(Request("GET", "/task/42/fetch", "fetch")) is None


@pytest.mark.parametrize(
    ("size", "accepted"), [(rq.MAX_BODY_BYTES, True), (rq.MAX_BODY_BYTES + 1, False)]
)
def test_a_body_of_exactly_the_cap_is_sent(size: int, accepted: bool) -> None:
    """A body of exactly MAX_BODY_BYTES goes out; one byte more is refused before sending."""
    wrapper = len('{"prompt": ""}')
    request = Request("POST", "/submit/imagine", "imagine", {"prompt": "a" * (size - wrapper)})
    if accepted:
        assert len(rq.encode_body(request) or b"") == size
    else:
        with pytest.raises(InvalidRequestError):
            rq.encode_body(request)
