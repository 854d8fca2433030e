"""The exceptions onechat-async raises.

Every one of them derives from :class:`OneChatError`; the tree is deliberately shallow::

    OneChatError
    ├── InvalidRequestError      bad input caught before anything was sent (also a ValueError)
    ├── APIError                 the server answered, and the answer is a refusal or unusable
    │   ├── AuthenticationError  401/403: missing, wrong or exhausted key, model not allowed
    │   ├── RateLimitError       429 or code 30; retryable after ``retry_after``
    │   ├── QueueFullError       code 23, or code 9 saying the queue is full; retryable later
    │   ├── BannedPromptError    code 24; carries ``banned_word``
    │   ├── SubmitRejectedError  any other refusal of a submit (codes 3, 4, 9, ...)
    │   ├── TaskNotFoundError    the server does not know the task id
    │   ├── ServerError          5xx, HTML, empty or undecodable bodies
    │   └── DownloadError        ``download()`` refused an answer (status, type, size)
    ├── APIConnectionError       a query failed in transit, or a submit's connection was refused
    │   └── APITimeoutError      ... because it took too long (also a TimeoutError)
    ├── SubmitOutcomeUnknownError  a submit left, and what became of it is unknown: it may have
    │                            created (and charged) a task. Never re-sent by the library
    ├── CallbackRejectedError    a notifyHook call was refused (also a ValueError); carries
    │                            ``reason`` and the ``status`` the receiver answers
    ├── TaskFailedError          a tracked task ended in FAILURE or CANCEL; carries the task
    ├── TaskTimeoutError         a tracked task outlived the caller's deadline (also a TimeoutError)
    └── ClientClosedError        the client was closed: used after aclose(), or while tracking
                                 (also a RuntimeError)

Each carries what a caller needs to decide what to do next: the HTTP ``status``, the API
``code``, the server's ``message``, the ``task_id`` and the submit's ``state`` where known, and
whether retrying can help (``retryable``). None of them ever carries the API key.

:data:`TASK_FAILURES` is the tuple that ``wait()`` and ``submit_and_wait()`` raise when the
task ends without an image: ``except TASK_FAILURES`` catches every way a task can fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._models import Task

__all__ = [
    "CALLBACK_REASONS",
    "TASK_FAILURES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BannedPromptError",
    "CallbackRejectedError",
    "ClientClosedError",
    "InvalidRequestError",
    "OneChatError",
    "QueueFullError",
    "RateLimitError",
    "ServerError",
    "SubmitOutcomeUnknownError",
    "SubmitRejectedError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskTimeoutError",
]


class OneChatError(Exception):
    """Root of every error this library raises.

    :attr:`retryable` says whether the same request may succeed later; for a submit it is
    only true when the server certainly created no task. ``str(error)`` is the message
    followed by the known details: ``"queue full (endpoint='imagine', code=23)"``.

    ```python
    try:
        task = await client.submit_and_wait(client.imagine("a fox", state="job-7"))
    except OneChatError as exc:
        log.warning("failed: %s (retry: %s)", exc, exc.retryable)
    ```

    :param message: What went wrong, in words (also ``args[0]``).
    :ivar message: What went wrong, in words; a server's own message is quoted in it.
    :vartype message: str
    :ivar status: The HTTP status of the answer, if one came.
    :vartype status: int | None
    :ivar code: The API's ``code`` in the answer (21, 23, 24...), if there was one.
    :vartype code: int | None
    :ivar task_id: The task concerned, where known.
    :vartype task_id: str | None
    :ivar state: The ``state`` the submit carried (your job id), where known.
    :vartype state: str | None
    :ivar endpoint: The API operation (``"imagine"``, ``"fetch"``, ``"list-by-condition"``...).
    :vartype endpoint: str | None
    :ivar retryable: Whether the same request may succeed if sent again later.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        task_id: str | None = None,
        state: str | None = None,
        endpoint: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        if retryable is not None:
            # Some answers of an otherwise retryable kind are not worth repeating (an HTML
            # page on a wrong path is a 200 that will never become JSON).
            self.retryable = retryable
        self.message = message
        self.status = status
        self.code = code
        self.task_id = task_id
        self.state = state
        self.endpoint = endpoint

    def __str__(self) -> str:
        details = [
            f"{name}={value!r}"
            for name, value in (
                ("endpoint", self.endpoint),
                ("status", self.status),
                ("code", self.code),
                ("task_id", self.task_id),
                ("state", self.state),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidRequestError(OneChatError, ValueError):
    """The request was refused locally, before anything reached the network."""


class APIError(OneChatError):
    """The server answered, and the answer is a refusal or cannot be used."""


class AuthenticationError(APIError):
    """The key is missing, wrong, exhausted, or not allowed to use this model."""


class RateLimitError(APIError):
    """Too many requests (HTTP 429 or code 30); try again after :attr:`retry_after` seconds.

    Retryable: the request was refused before anything was created.

    :ivar retry_after: The server's ``Retry-After`` in seconds, or ``None`` if it gave none.
    :vartype retry_after: float | None
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class QueueFullError(APIError):
    """The upstream account's queue is full; no task was created. Retry later.

    :ivar retry_after: The server's ``Retry-After`` in seconds, or ``None`` if it gave none.
    :vartype retry_after: float | None
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class BannedPromptError(APIError):
    """Midjourney refused the prompt (code 24); :attr:`banned_word` says why when known.

    :ivar banned_word: The word Midjourney objected to, or ``None`` when not said.
    :vartype banned_word: str | None
    :ivar prompt_en: The prompt as sent to Midjourney (translated), or ``None``.
    :vartype prompt_en: str | None
    """

    def __init__(
        self,
        message: str,
        *,
        banned_word: str | None = None,
        prompt_en: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.banned_word = banned_word
        self.prompt_en = prompt_en


class SubmitRejectedError(APIError):
    """The server refused a submit without creating a task; :attr:`code` says how."""


class TaskNotFoundError(APIError):
    """The server does not know this task id (any more)."""


class ServerError(APIError):
    """The server failed: a 5xx, an HTML page, an empty or undecodable body."""

    retryable = True


class APIConnectionError(OneChatError):
    """The request failed in transit; for a submit, a task may or may not have been created.

    A submit that fails this way is never re-sent automatically: :attr:`state` (the
    ``state`` you passed) lets you find the task again if the server did create it.
    A submit whose request may have arrived raises :class:`SubmitOutcomeUnknownError`
    instead; this error on a submit means the connection itself failed.

    :param request_sent: False when the connection failed before the request left (a
        :class:`~onechat_async.testing.MockTransport` handler raises
        ``APIConnectionError("refused", request_sent=False)`` to stand for one).
    :ivar request_sent: False only when the connection itself failed, so the server cannot
        have seen the request.
    :vartype request_sent: bool
    """

    retryable = True

    def __init__(self, message: str, *, request_sent: bool = True, **kw: Any) -> None:
        super().__init__(message, **kw)
        #: False only when the connection itself failed, so the server cannot have seen it.
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError, TimeoutError):
    """No answer came within the request timeout."""


class SubmitOutcomeUnknownError(OneChatError):
    """A submit left, and whether it created a task is unknown; it must not be sent again.

    Raised instead of any other error when the request may have reached a server that acted
    on it: the connection broke or timed out after the request was sent, a 2xx answer was
    empty, cut short or not JSON, a 5xx came from a gateway that may have forwarded it, an
    accepted answer carried no usable task id, or the caller cancelled the submit in flight.
    :attr:`retryable` is always False: no path of this library sends it again.

    :attr:`reason` names what happened (``"timeout"``, ``"connection_lost"``,
    ``"unreadable_answer"``, ``"server_error"``, ``"no_task_id"``, ``"cancelled"``);
    :attr:`state` is the ``state`` you passed, which the server echoes on the task, so
    the task can be recognised if it turns up (a callback, a later list).

    :ivar reason: What happened, one of the words above.
    :vartype reason: str
    """

    retryable = False

    def __init__(self, message: str, *, reason: str, **kw: Any) -> None:
        kw.pop("retryable", None)
        super().__init__(message, **kw)
        self.reason = reason


CALLBACK_REASONS: Final = {
    "method_not_allowed": 405,
    "too_large": 413,
    "no_token": 401,
    "not_json": 400,
    "not_a_task": 422,
    "bad_token": 401,
    "expired": 401,
    "unknown_task": 403,
}
"""Every reason a notifyHook call is refused for, with the HTTP status the receiver answers."""


class CallbackRejectedError(OneChatError, ValueError):
    """A notifyHook call was refused; :attr:`reason` says why, :attr:`status` what to answer.

    ``reason`` is one of :data:`CALLBACK_REASONS`. The message never quotes the body or the
    token. Raised by the receiver's checks and by ``parse_callback``; a client never sees it.

    :ivar reason: Why the call was refused: a key of ``REASONS`` (``"bad_token"``,
        ``"too_large"``, ``"unknown_task"``...); :attr:`status` is the HTTP status to answer.
    :vartype reason: str
    """

    def __init__(self, reason: str, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message, status=CALLBACK_REASONS[reason], task_id=task_id)
        self.reason = reason


class TaskFailedError(OneChatError):
    """A tracked task ended in FAILURE or CANCEL; :attr:`task` is its last snapshot.

    Raised by :meth:`OneChatClient.wait` and :meth:`OneChatClient.submit_and_wait`.

    :ivar task: The final snapshot: ``task.status`` says FAILURE or CANCEL,
        ``task.fail_reason`` why.
    :vartype task: Task
    """

    def __init__(self, message: str, *, task: Task) -> None:
        super().__init__(message, task_id=task.id, state=task.state or None)
        self.task = task


class TaskTimeoutError(OneChatError, TimeoutError):
    """A tracked task outlived the caller's deadline; :attr:`task` is its last snapshot.

    The task may still finish on the server: track or wait for :attr:`task_id` again.

    :ivar task: The last snapshot read, or ``None`` if the task was never seen.
    :vartype task: Task | None
    """

    def __init__(self, message: str, *, task_id: str, task: Task | None = None) -> None:
        super().__init__(message, task_id=task_id)
        self.task = task


class ClientClosedError(OneChatError, RuntimeError):
    """The client was closed: it takes no more calls, and open streams end with this."""


TASK_FAILURES: Final = (TaskFailedError, TaskTimeoutError, TaskNotFoundError, ServerError)
"""What waiting for a task raises when it ends without an image, as one ``except`` tuple.

:class:`TaskFailedError` (FAILURE, CANCEL), :class:`TaskTimeoutError` (a deadline passed),
:class:`TaskNotFoundError` (the server forgot the task) and :class:`ServerError` (its
snapshots cannot be read). The events behind them are ``onechat_async.FAILURE_EVENTS``.
"""
