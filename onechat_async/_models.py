"""The values the API deals in: submit results, tasks, buttons, statuses and actions.

These are plain attrs classes with Python names and Python types. How they look on the wire
(camelCase, ``"45%"``, ids as numbers, ``""`` statuses, epoch milliseconds) is the business of
the private converter in :mod:`onechat_async._wire`, nowhere else.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = ["AccountFilter", "Button", "SubmitResult", "Task", "TaskAction", "TaskStatus"]


class _OpenStrEnum(enum.StrEnum):
    """A string enum that keeps values it does not know instead of refusing them.

    Servers add statuses and actions without notice; an unknown value becomes a pseudo-member
    named ``UNKNOWN`` whose value is the raw string, so nothing is lost and nothing breaks.
    """

    @classmethod
    def _missing_(cls, value: object) -> _OpenStrEnum | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one the library was written for."""
        return self._name_ != "UNKNOWN"


class TaskStatus(_OpenStrEnum):
    """Where a task is in its life; unknown strings are kept as ``UNKNOWN`` pseudo-members."""

    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    MODAL = "MODAL"
    IN_PROGRESS = "IN_PROGRESS"
    FAILURE = "FAILURE"
    SUCCESS = "SUCCESS"
    CANCEL = "CANCEL"

    @classmethod
    def _missing_(cls, value: object) -> _OpenStrEnum | None:
        # The gateway shows "" until its own poller first refreshes the task.
        if value == "" or value is None:
            return cls.NOT_START
        return super()._missing_(value)

    @property
    def is_terminal(self) -> bool:
        """Whether the task can no longer change."""
        return self in _TERMINAL


_TERMINAL = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCEL})


class TaskAction(_OpenStrEnum):
    """What a task does; an open set, so unknown actions are kept as ``UNKNOWN`` pseudo-members."""

    IMAGINE = "IMAGINE"
    UPSCALE = "UPSCALE"
    VARIATION = "VARIATION"
    REROLL = "REROLL"
    DESCRIBE = "DESCRIBE"
    BLEND = "BLEND"
    SHORTEN = "SHORTEN"
    SWAP_FACE = "SWAP_FACE"
    ZOOM = "ZOOM"
    PAN = "PAN"
    INPAINT = "INPAINT"
    CUSTOM_ZOOM = "CUSTOM_ZOOM"
    HIGH_VARIATION = "HIGH_VARIATION"
    LOW_VARIATION = "LOW_VARIATION"
    MODAL = "MODAL"
    UPLOAD = "UPLOAD"
    VIDEO = "VIDEO"


@attrs.frozen
class Button:
    """A button under a finished task; its ``custom_id`` drives :meth:`OneChatClient.action`.

    Found in :attr:`Task.buttons`; :meth:`Task.button` finds one by its label.

    :ivar custom_id: The opaque id the server expects back (``MJ::JOB::upsample::1::...``).
    :ivar label: What the button says: ``"U1"``, ``"V2"``, ``"Vary (Strong)"``... (may be
        ``""`` for an emoji-only button).
    :ivar emoji: The emoji shown on it, if any (``"🔄"`` for a reroll).
    :ivar type: Discord's component type (2: a button).
    :ivar style: Discord's button style (1: primary, 2: secondary...).
    """

    custom_id: str
    label: str = ""
    emoji: str = ""
    type: int = 2
    style: int = 2


_QUEUE_AHEAD = re.compile(r"(\d+)")


@attrs.frozen
class SubmitResult:
    """The server accepted a submit; follow :attr:`task_id` to see the task through.

    Returned by every submit method (:meth:`OneChatClient.imagine`...); a refused submit
    raises instead (:class:`SubmitRejectedError` and its kin).

    :ivar task_id: The new task's id (the server's ``result``).
    :ivar code: The server's code: 1 (accepted), 21 (already exists: ``task_id`` is the
        existing task) or 22 (queued).
    :ivar description: The server's message, as sent (often Chinese: "提交成功", or
        "排队中" and how many tasks wait ahead).
    :ivar properties: Extra fields of the answer, as sent (``discordInstanceId``,
        ``numberOfQueues``...).
    """

    task_id: str
    code: int = 1
    description: str = ""
    properties: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def queue_position(self) -> int | None:
        """How many tasks wait ahead of this one, when the server said so.

        The gateway rewrites code 22 ("queued") to 1 but keeps the description, so both the
        code and the text are read.
        """
        number = self.properties.get("numberOfQueues")
        if isinstance(number, int):
            return number
        if self.code == 22 or "排队" in self.description:
            match = _QUEUE_AHEAD.search(self.description)
            return int(match.group(1)) if match else None
        return None


@attrs.frozen(weakref_slot=False)
class Task:
    """A snapshot of one task as the server last described it.

    Read by :meth:`OneChatClient.fetch`, :meth:`OneChatClient.wait` and every event's
    ``task``. Times are timezone-aware UTC datetimes; the wire's quirks (``"45%"``, numeric
    ids, ``""`` statuses) are already undone.

    :ivar id: The task's id.
    :ivar status: Where the task is in its life (``""`` on the wire reads as NOT_START).
    :ivar action: What the task does (IMAGINE, UPSCALE...), or ``None`` if the server did
        not say.
    :ivar progress: Percent done, 0 to 100, or ``None`` before the server reports any.
    :ivar prompt: The prompt as submitted.
    :ivar prompt_en: The prompt as sent to Midjourney (translated, with the server's
        additions).
    :ivar description: The server's note on the task ("Submit success", "Waiting for window
        confirm"...).
    :ivar state: The ``state`` the submit carried (your job id), echoed back; ``""`` if none.
    :ivar custom_id: For a task made by a button, that button's ``custom_id``.
    :ivar bot_type: Which bot ran it: ``"MID_JOURNEY"`` or ``"NIJI_JOURNEY"`` (``""`` when
        not said).
    :ivar submit_time: When the server accepted the submit.
    :ivar start_time: When Midjourney started on it.
    :ivar finish_time: When it ended.
    :ivar image_url: The result image (a grid of four for an imagine), once there is one.
    :ivar fail_reason: Why it failed, in the server's words (FAILURE only).
    :ivar buttons: The buttons under the finished task (U1-U4, V1-V4, reroll...).
    :ivar properties: Everything else the server sent under ``properties``, as sent
        (``finalPrompt``, ``discordChannelId``...).
    :ivar image_urls: The four grid images one by one (trueai's ``imageUrls``; the gateway
        does not pass them).
    :ivar video_url: A video task's video (``videoUrl``).
    :ivar video_urls: A video task's videos one by one (``videoUrls``).
    """

    id: str
    status: TaskStatus = TaskStatus.NOT_START
    action: TaskAction | None = None
    progress: int | None = None
    prompt: str = ""
    prompt_en: str = ""
    description: str = ""
    state: str = ""
    custom_id: str = ""
    bot_type: str = ""
    submit_time: datetime | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    image_url: str | None = None
    fail_reason: str | None = None
    buttons: tuple[Button, ...] = ()
    properties: Mapping[str, Any] = attrs.field(factory=dict)
    #: The four grid images one by one (trueai's ``imageUrls``; the gateway does not pass them).
    image_urls: tuple[str, ...] = ()
    #: A video task's video (``videoUrl``).
    video_url: str | None = None
    #: A video task's videos one by one (``videoUrls``).
    video_urls: tuple[str, ...] = ()

    @property
    def is_terminal(self) -> bool:
        """Whether the task has ended (SUCCESS, FAILURE or CANCEL)."""
        return self.status.is_terminal

    @property
    def final_prompt(self) -> str | None:
        """``properties.finalPrompt``: the prompt used, or describe/shorten's answer."""
        value = self.properties.get("finalPrompt")
        return value if isinstance(value, str) and value else None

    def button(self, label: str) -> Button | None:
        """The button labelled ``label`` (``"U2"``, ``"V1"``, ...), if the task has one.

        :param label: The label to look for, exactly as shown (:attr:`Button.label`).
        """
        return next((b for b in self.buttons if b.label == label), None)


class _TaskLayout:
    """Task's slots without its frozen ``__setattr__``: a Task is filled in here, then made one.

    A frozen attrs class sets each field through ``object.__setattr__`` (a call per field);
    on a class with plain slots an assignment is a single specialised instruction. Once
    filled, the object's class is switched to Task, which CPython allows because the two
    have the same slots in the same order (why Task has no ``__weakref__`` slot: a class
    with one cannot be switched to). The poller builds a Task for every task that moved on
    every tick (``_wire._task_builder``); this costs 0.7 us where the slots' own setters
    cost 1.6 us.
    """

    __slots__ = Task.__slots__  # type: ignore[attr-defined]


@attrs.frozen
class AccountFilter:
    """Which upstream account may run an image task (``accountFilter``; gateways may strip it).

    Pass it as ``account_filter=`` to a submit; every field left at its default is not sent.

    :ivar instance_id: Only the account (Discord instance) with this id.
    :ivar modes: Only accounts that offer one of these speeds (``"FAST"``, ``"RELAX"``,
        ``"TURBO"``).
    :ivar remix: Only accounts whose Midjourney remix mode is on (True) or off (False).
    :ivar niji_remix: The same for the Niji bot.
    :ivar remix_auto_considered: Whether a remix account's automatic remix is accepted.
    """

    instance_id: str | None = None
    modes: tuple[str, ...] = ()
    remix: bool | None = None
    niji_remix: bool | None = None
    remix_auto_considered: bool | None = None
