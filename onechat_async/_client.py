"""``OneChatClient``: the thin asyncio shell around the pure request and response modules."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

from . import _follow
from . import _requests as rq
from ._callback_link import CallbackLink
from ._clock import Clock, SystemClock
from ._errors import (
    ClientClosedError,
    InvalidRequestError,
    OneChatError,
    QueueFullError,
    SubmitRejectedError,
    TaskTimeoutError,
)
from ._follow import ALL_CHILDREN, EventStream
from ._models import AccountFilter, SubmitResult, Task
from ._outcome import may_resend, settle, unknown
from ._policy import PollPolicy
from ._poller import Poller
from ._proxy import proxy_for
from ._receiver import CallbackReceiver
from ._requests import Request
from ._responses import (
    Response,
    is_missing_route,
    read_cancelled,
    read_raw_task,
    read_seed,
    read_submit,
    read_task,
    read_task_list,
    read_task_rows,
    read_uploaded,
)
from ._retry import RetryPolicy
from ._secrets import get_logger, register_secret, scrub
from ._store import Store
from ._task_state import further
from ._tracker import chunked
from ._transport import AiohttpTransport, Transport
from ._validate import count, optional_seconds, seconds
from ._version import __version__
from ._wire import Row
from ._workers import Durable, ResumeStream, retry_for

if TYPE_CHECKING:
    # Only named in a signature: the aiohttp code itself stays in _transport.
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "BotType", "ChangeAction", "ImageInput", "Mode", "OneChatClient"]

_T = TypeVar("_T")
_log = get_logger("onechat_async")

DEFAULT_BASE_URL = "https://gpts.onechat.fun"
_MODES = {"fast": "/mj-fast/mj", "relax": "/mj-relax/mj", "turbo": "/mj-turbo/mj", None: "/mj"}
Mode = Literal["fast", "relax", "turbo"]
BotType = Literal["MID_JOURNEY", "NIJI_JOURNEY"]
"""Which Discord bot runs a task: Midjourney itself, or Niji (the anime model)."""
ChangeAction = Literal["UPSCALE", "VARIATION", "REROLL"]
"""What :meth:`OneChatClient.change` does to a grid."""
ImageInput = bytes | str | os.PathLike[str]
"""Image bytes, a path to an image file, a ``data:`` URL, or an http(s) URL the server fetches."""

_SimpleRoute = Literal["simple-change", "change", "action"]


class OneChatClient:
    """An async client for the OneChat Midjourney API.

    Use it as an async context manager, or call :meth:`aclose` when done. A client belongs
    to the event loop it is first used in; using it from another raises a
    :class:`~onechat_async.OneChatError` saying so (make one client per loop, or use
    :class:`onechat_async.sync.SyncOneChatClient` from threads).

    Queries are retried after transient failures according to ``retry``. Submits are never
    re-sent after a failure that may have created a task (that raises
    :class:`~onechat_async.SubmitOutcomeUnknownError`); refusals that prove no task was made
    and may pass later (429, queue full, connection refused) are re-sent as ``submit_retry``
    says.

    :param api_key: the OneChat key (``sk-...``); default: ``ONECHAT_API_KEY``.
    :param base_url: the server; default: ``ONECHAT_BASE_URL``, else
        :data:`~onechat_async.DEFAULT_BASE_URL`.
    :param mode: ``"fast"``, ``"relax"`` or ``"turbo"`` sends requests under ``/mj-fast``,
        ``/mj-relax`` or ``/mj-turbo``. Only a bare trueai proxy honours it: through OneChat
        (new-api) the prefix is ignored and the task runs (and is billed) in the upstream
        account's mode. To ask for a mode through a gateway, put ``--fast``/``--relax``/
        ``--turbo`` in the prompt.
    :param session: an aiohttp session to borrow (left open on close); default: the client
        makes and closes its own.
    :param timeout: seconds (or a timedelta) for each query (fetch, list, image-seed);
        short, they are retried. Every method's own ``timeout=`` overrides it for one call.
    :param submit_timeout: seconds for each submit; it must outlast the gateway's own wait
        of up to 60 s on the upstream, since the gateway creates and charges the task even
        after we gave up.
    :param retry: how queries are retried; None: the default ``RetryPolicy()``;
        ``RetryPolicy.off()``: never.
    :param submit_retry: how submits refused with proof that no task was made are re-sent;
        None: the default, which is never; pass a :class:`~onechat_async.RetryPolicy` to
        turn it on (``RetryPolicy.off()`` says "never" explicitly).
    :param poll: how tracked tasks are polled; None: the default ``PollPolicy()``.
    :param clock: the time source (tests pass a simulated one); default: the system's.
    :param transport: the network seam (tests pass their own); default: aiohttp.
    :param rng: the random source for jitter; default: a fresh ``random.Random()``.
    :param callbacks: a :class:`~onechat_async.callbacks.CallbackReceiver` for the
        upstream's notifyHook calls (see docs/callbacks.md): every submit then carries a
        notifyHook to it (unless you give your own ``notify_hook``) and a ``state`` binding
        the hook's token; verified calls update tracked tasks at once, and polling slows to
        ``PollPolicy.reconcile_interval`` while they flow. The client starts the receiver's
        server before its first submit and stops it on close (unless ``serve=False``).
    :param store: a :class:`~onechat_async.SQLiteStore` or ``RedisStore`` that journals
        every submit and every event of the tasks it made, so :meth:`resume` finds them
        after a restart (see docs/workers.md); ``idempotency_key=`` on a submit then makes
        it once-only.
    :param max_in_flight: how many of the account's tasks may run at once (10 for a 3 + 10
        account); submits wait their turn, counted through the store across workers.
    :param lease_ttl: seconds a dead worker's tasks wait before another worker takes them.
    :param proxy: an http(s) proxy URL every API request goes through (its password never
        appears in errors or logs).
    :param trust_env: with no ``proxy``, take one from ``HTTPS_PROXY``/``HTTP_PROXY``
        (``NO_PROXY`` honoured), read once here. ``~/.netrc`` is never read.
    :raises InvalidRequestError: an argument is wrong (a bad key, URL, mode, policy, ...).

    Workers (see docs/workers.md): ``store`` (a :class:`~onechat_async.stores.SQLiteStore`
    or ``RedisStore``) journals every submit and every event of the tasks it made, so
    :meth:`resume` finds them after a restart, and several clients on one ``RedisStore``
    share the work; ``idempotency_key=`` on a submit makes it once-only. Submits wait their
    turn until the account has room, counted through the store across workers, and a
    queue-full refusal is a wait, never an error: by default (``max_in_flight="auto"``) the
    number of tasks in flight starts at 10 and learns the account's size from its
    refusals; an int (10 for a 3 + 10 account) caps it; None turns admission off.
    ``lease_ttl`` is how long a dead worker's tasks wait before another worker takes them
    over. ``key_ttl`` (7 days; None: for good) is how long the store keeps an accepted or
    refused key and an ended task: after it, the same key is sent (and paid for) again.
    Unknown outcomes are never dropped.

    Example::

        async with OneChatClient(api_key="sk-...") as client:
            result = await client.imagine("a red fox in snow")
            task = await client.wait(result.task_id, deadline=600)
            print(task.image_url)
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        mode: Mode | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float | timedelta = 30.0,
        submit_timeout: float | timedelta = 90.0,
        retry: RetryPolicy | None = None,
        submit_retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        clock: Clock | None = None,
        transport: Transport | None = None,
        rng: random.Random | None = None,
        callbacks: CallbackReceiver | None = None,
        store: Store | None = None,
        max_in_flight: int | Literal["auto"] | None = "auto",
        lease_ttl: float | timedelta = 60.0,
        key_ttl: float | timedelta | None = timedelta(days=7),
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        if not (mode is None or isinstance(mode, str)) or mode not in _MODES:
            raise InvalidRequestError(
                f"mode must be 'fast', 'relax', 'turbo' or None, got {mode!r}"
            )
        self._api_key = _checked_key(
            api_key if api_key is not None else os.environ.get("ONECHAT_API_KEY", "")
        )
        register_secret(self._api_key)
        base = base_url if base_url is not None else os.environ.get("ONECHAT_BASE_URL")
        if base is not None and not isinstance(base, str):
            raise InvalidRequestError(f"base_url must be a str, got {type(base).__name__}")
        self._base_url = (base or DEFAULT_BASE_URL).rstrip("/")
        if not self._base_url.startswith(("http://", "https://")):
            raise InvalidRequestError(f"base_url must be an http(s) URL, got {self._base_url!r}")
        for name, value, kind in (
            ("retry", retry, RetryPolicy),
            ("submit_retry", submit_retry, RetryPolicy),
            ("poll", poll, PollPolicy),
        ):
            if value is not None and not isinstance(value, kind):
                raise InvalidRequestError(
                    f"{name} must be a {kind.__name__} or None, got {type(value).__name__}"
                )
        self._mode = mode
        self._prefix = self._base_url + _MODES[mode]
        self._timeout = seconds(timeout, what="timeout")
        self._submit_timeout = seconds(submit_timeout, what="submit_timeout")
        self._retry = retry if retry is not None else RetryPolicy()
        self._submit_retry = submit_retry
        self._clock: Clock = clock if clock is not None else SystemClock()
        _check_shape(self._clock, "clock", ("now", "wall", "sleep"))
        if transport is not None:
            _check_shape(transport, "transport", ("send", "aclose"))
            if proxy is not None or trust_env:
                raise InvalidRequestError(
                    "proxy and trust_env configure the built-in transport; "
                    "a transport of your own handles proxies itself"
                )
        self._session = session
        self._transport: Transport = transport or AiohttpTransport(
            session, proxy=proxy_for(self._base_url, proxy=proxy, trust_env=trust_env)
        )
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        if max_in_flight is not None and max_in_flight != "auto":
            count(max_in_flight, what="max_in_flight")
        if store is not None:
            _check_shape(store, "store", ("get_key", "swap_key", "get_task", "swap_task"))
        # Idle until the first task is followed; one poller serves every stream of this client.
        self._poller = Poller(
            _PollQueries(self),
            poll if poll is not None else PollPolicy(),
            clock=self._clock,
            rng=self._rng,
        )
        ttl = seconds(lease_ttl, what="lease_ttl")
        self._durable = Durable(
            store,
            max_in_flight=max_in_flight,
            clock=self._clock,
            poller=self._poller,
            lease_ttl=ttl,
            send_ttl=self._submit_timeout + ttl,
            key_ttl=None if key_ttl is None else seconds(key_ttl, what="key_ttl"),
        )
        # A simulated clock holds still while a request is in flight (see Clock); the real
        # one has no busy(), and then a request is sent with no wrapper around it.
        if callbacks is not None and not isinstance(callbacks, CallbackReceiver):
            raise InvalidRequestError(
                f"callbacks must be a CallbackReceiver or None, got {type(callbacks).__name__}"
            )
        self._callbacks = (
            None
            if callbacks is None
            else CallbackLink(callbacks, self._poller, self._clock, self._durable)
        )
        self._busy: Callable[[], contextlib.AbstractContextManager[object]] | None = getattr(
            self._clock, "busy", None
        )
        self._simple_route: _SimpleRoute | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"onechat-async/{__version__}",
        }
        if self._api_key:
            # mj-api-secret alone is read by all three servers: new-api falls back to it when
            # Authorization is absent, open-source Java reads nothing else, and trueai reads
            # Authorization verbatim when present ("Bearer sk-..." is then an unknown user).
            self._headers["mj-api-secret"] = self._api_key

    def __repr__(self) -> str:
        key = "set" if self._api_key else "unset"
        return f"OneChatClient(base_url={self._base_url!r}, mode={self._mode!r}, api_key=<{key}>)"

    @property
    def base_url(self) -> str:
        """The server this client talks to."""
        return self._base_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop tracking and close what the client owns; a closed client cannot be reused."""
        if self._closed:
            return
        self._closed = True
        if self._callbacks is not None:
            await self._callbacks.aclose()
        await self._poller.aclose()
        try:
            await self._durable.aclose()
        finally:
            await self._transport.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this OneChatClient is closed; make a new one")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside a coroutine: checked again where it awaits
        if self._loop is None:
            # A borrowed session is tied to the loop it was made in; aiohttp would only say
            # "Timeout context manager should be used inside a task", a bare RuntimeError.
            # (aiohttp has no public accessor for it; getattr keeps this safe should it go.)
            made_in = getattr(self._session, "_loop", None)
            if made_in is not None and made_in is not loop:
                raise InvalidRequestError(
                    "the aiohttp session given to this OneChatClient belongs to another event "
                    "loop; make the session (or let the client make its own) inside the loop "
                    "that uses the client"
                )
            self._loop = loop
        elif loop is not self._loop:
            if self._loop.is_closed():
                raise ClientClosedError(
                    "this OneChatClient belongs to an event loop that has closed (a second "
                    "asyncio.run?); make a new client inside the loop that uses it"
                )
            raise InvalidRequestError(
                "this OneChatClient belongs to another event loop; make one client per event "
                "loop, inside the loop that uses it"
            )

    # -- sending ---------------------------------------------------------------------------

    def _send(self, request: Request, timeout: float) -> Awaitable[Response]:
        """The transport's answer to ``request``, to be awaited; the caller checked we are open.

        A plain function handing back the transport's own awaitable, so that a request costs
        no coroutine frame of ours (this is the hot path of every submit and poll).
        """
        sending = self._transport.send(
            request.method,
            self._prefix + request.path,
            headers=self._headers,
            body=rq.encode_body(request),
            timeout=timeout,
        )
        return sending if self._busy is None else self._held(sending, self._busy)

    @staticmethod
    async def _held(
        sending: Awaitable[Response], busy: Callable[[], contextlib.AbstractContextManager[object]]
    ) -> Response:
        with busy():
            return await sending

    async def _query(
        self,
        request: Request,
        reader: Callable[..., _T],
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> _T:
        """Send a query, read it, and retry what ``retry`` allows after transient failures."""
        policy = retry or self._retry
        started = self._clock.now()
        attempt = 0
        while True:
            attempt += 1
            try:
                self._check_open()
                response = await self._send(request, timeout or self._timeout)
                if _log.isEnabledFor(logging.DEBUG):
                    _log.debug("%s %s -> %s", request.method, request.path, response.status)
                return reader(response, request, now_wall=self._clock.wall())
            except OneChatError as exc:
                error = self._annotate(exc, request)
            if not error.retryable:
                raise error
            wait = policy.next_wait(
                attempt,
                self._clock.now() - started,
                retry_after=getattr(error, "retry_after", None),
                rng=self._rng,
            )
            if wait is None:
                raise error
            _log.info("retrying %s in %.2f s after %s", request.endpoint, wait, error)
            await self._clock.sleep(wait)

    def _submit(
        self, request: Request, key: str | None = None, timeout: float | None = None
    ) -> Coroutine[Any, Any, SubmitResult]:
        # Not a coroutine itself: the submit's own coroutine is handed back, one frame less.
        if self._callbacks is not None:
            # The state the hook binds is minted now, so the journal tags the submit with it.
            request = self._callbacks.stated(request)

        def send_once() -> Awaitable[SubmitResult]:
            return self._submit_read(request, read_submit, resend=False, timeout=timeout)

        if key is None and not self._durable.journal_all:
            first = self._submit_read(request, read_submit, timeout=timeout)
            if self._durable.gate is None:
                return first
            return self._dormant(first, request.state, send_once)
        return self._journaled(key, request.state, send_once)

    async def _dormant(
        self,
        first: Awaitable[SubmitResult],
        state: str | None,
        send: Callable[[], Awaitable[SubmitResult]],
    ) -> SubmitResult:
        """Send at once while admission sleeps; a full account wakes it and the submit waits."""
        try:
            result = await first
        except QueueFullError:
            # No task was made (proves_no_task): sending it again through admission is safe.
            if not await self._durable.wake():
                raise
            return await self._journaled(None, state, send)
        self._durable.made(result.task_id)
        return result

    async def _journaled(
        self,
        key: str | None,
        state: str | None,
        send: Callable[[], Awaitable[SubmitResult]],
    ) -> SubmitResult:
        """``send()`` through the journal: once per key, after admission, outcome recorded."""
        self._check_open()
        if key is not None and (not isinstance(key, str) or not key):
            raise InvalidRequestError("idempotency_key must be a non-empty str")
        started = self._clock.now()
        policy = self._submit_retry
        backoff = self._poller.policy.backoff

        def policy_wait(attempt: int, error: OneChatError) -> float | None:
            if policy is None:
                return None
            return policy.next_wait(
                attempt,
                self._clock.now() - started,
                retry_after=getattr(error, "retry_after", None),
                rng=self._rng,
            )

        def backoff_wait(attempt: int, error: OneChatError) -> float:
            return backoff.wait(
                attempt, retry_after=getattr(error, "retry_after", None), rng=self._rng
            )

        retry = retry_for(policy_wait, backoff_wait, admission=self._durable.gate is not None)
        if self._callbacks is not None:
            self._callbacks.keyed(state, key)
        return await self._durable.submit(key, send, tag=state or "", retry=retry)

    def _submit_read(
        self,
        request: Request,
        reader: Callable[..., _T],
        *,
        resend: bool = True,
        timeout: float | None = None,
    ) -> Coroutine[Any, Any, _T]:
        """Send a submit, with this client's notifyHook unless the caller named one.

        A plain function handing back the sending coroutine, so that a submit without a
        callback link costs no coroutine frame of ours here.
        """
        link = self._callbacks
        if link is None or not link.wants(request):
            return self._send_submit(request, reader, resend=resend, timeout=timeout)
        return self._linked_submit(link, request, reader, resend=resend, timeout=timeout)

    async def _linked_submit(
        self,
        link: CallbackLink,
        request: Request,
        reader: Callable[..., _T],
        *,
        resend: bool,
        timeout: float | None,
    ) -> _T:
        def send(request: Request, reader: Callable[..., _T]) -> Awaitable[_T]:
            return self._send_submit(request, reader, resend=resend, timeout=timeout)

        self._check_open()
        return await link.submit(await link.prepare(request), send, reader)

    async def _send_submit(
        self,
        request: Request,
        reader: Callable[..., _T],
        *,
        resend: bool = True,
        timeout: float | None = None,
    ) -> _T:
        """Send a submit once, or again only after an answer that proves no task was made.

        Every failure is settled by :func:`~onechat_async._outcome.settle`: what may have
        created a task raises SubmitOutcomeUnknownError and is never re-sent.
        """
        # Through the journal (resend=False) the journal alone decides on sending again.
        policy = self._submit_retry if resend else None
        timeout = timeout or self._submit_timeout
        # The clock is read only when a wait may be computed (most submits have no policy).
        started = 0.0 if policy is None else self._clock.now()
        attempt = 0
        while True:
            attempt += 1
            sent = False
            try:
                self._check_open()
                sent = True
                response = await self._send(request, timeout)
                if _log.isEnabledFor(logging.DEBUG):
                    _log.debug("%s %s -> %s", request.method, request.path, response.status)
                return reader(response, request, now_wall=self._clock.wall())
            except asyncio.CancelledError:
                if sent:
                    _log.warning(
                        "%s was cancelled in flight: it may have created a task (state=%r)",
                        request.endpoint,
                        request.state,
                    )
                raise
            except OneChatError as exc:
                error = settle(self._annotate(exc, request), request)
            except Exception as exc:  # noqa: BLE001 - an unexpected failure after sending
                _log.error("%s failed unexpectedly: %s", request.endpoint, type(exc).__name__)
                error = unknown(request, "unreadable_answer")
            if policy is None or not may_resend(error):
                raise error
            wait = policy.next_wait(
                attempt,
                self._clock.now() - started,
                retry_after=getattr(error, "retry_after", None),
                rng=self._rng,
            )
            if wait is None:
                raise error
            _log.info("sending %s again in %.2f s after %s", request.endpoint, wait, error)
            await self._clock.sleep(wait)

    def _annotate(self, exc: OneChatError, request: Request) -> OneChatError:
        scrub(exc, (self._api_key,))
        exc.endpoint = exc.endpoint or request.endpoint
        exc.task_id = exc.task_id or request.task_id
        exc.state = exc.state or request.state
        if exc.status == 401 and not self._api_key:
            exc.message += " (no API key was given: pass api_key or set ONECHAT_API_KEY)"
        return exc

    async def _image(self, image: ImageInput) -> str:
        if isinstance(image, bytes | bytearray):
            return rq.data_url(bytes(image))
        if isinstance(image, str) and image.startswith(("data:", "http://", "https://")):
            # A URL is passed on as it is: trueai fetches it (the gateway passes it on, the
            # open-source Java proxy refuses anything but data: URLs).
            return image
        if isinstance(image, str | os.PathLike):
            path = Path(image)
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise InvalidRequestError(
                    f"image {str(image)[:80]!r} is neither a data: URL nor a readable file"
                ) from exc
            return rq.data_url(data)
        raise InvalidRequestError(
            f"an image must be bytes, a path, a data: URL or an http(s) URL, got {image!r}"
        )

    async def _images(self, images: Sequence[ImageInput]) -> list[str]:
        if isinstance(images, bytes | str):
            raise InvalidRequestError("pass a list of images, not a single one")
        if not isinstance(images, Sequence):
            raise InvalidRequestError(
                f"pass a list of images (bytes, paths or URLs), got {type(images).__name__}"
            )
        return [await self._image(image) for image in images]

    # -- submits ---------------------------------------------------------------------------
    # Every submit takes the same trailing keywords; their meaning is written out once per
    # method below, because the API reference shows each method on its own.

    async def imagine(
        self,
        prompt: str,
        *,
        images: Sequence[ImageInput] = (),
        bot_type: BotType | None = None,
        account_filter: AccountFilter | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Start a four-image grid from a prompt, optionally with reference images.

        :param prompt: the Midjourney prompt, parameters included (``"a fox --ar 16:9"``).
        :param images: reference images (bytes, paths, ``data:`` or http(s) URLs), sent
            before the prompt as Midjourney image prompts.
        :param bot_type: ``"MID_JOURNEY"`` (the server's default) or ``"NIJI_JOURNEY"``:
            which Discord bot, and so which model family, runs the task.
        :param account_filter: which upstream accounts may take the task (instance id,
            modes, remix settings); omitted, the server picks any account.
        :param notify_hook: a URL the upstream POSTs the task to whenever it changes;
            omitted, the client's ``callbacks`` receiver's URL (if any) is used.
        :param state: your own text (up to 255 characters) stored on the task and echoed in
            :attr:`Task.state`, callbacks and errors, to recognise the task (an order id).
            With ``callbacks`` set and no ``state`` given, a fresh one is made.
        :param idempotency_key: makes this submit once-only through the client's ``store``:
            the same key again returns the first result and never makes a second task.
        :param timeout: seconds (or a timedelta) for this submit's request, instead of the
            client's ``submit_timeout``.
        :returns: the accepted submit; ``result.task_id`` is the new task.
        :raises InvalidRequestError: an argument is wrong; nothing was sent.
        :raises BannedPromptError: Midjourney refused the prompt; no task was made.
        :raises SubmitRejectedError: any other refusal; no task was made.
        :raises QueueFullError: the account's queue is full; no task was made.
        :raises RateLimitError: too many requests; no task was made.
        :raises AuthenticationError: the key is missing, wrong or out of quota.
        :raises SubmitOutcomeUnknownError: the submit may have created (and charged) a task;
            it is never sent again by the library.

        Example::

            result = await client.imagine("a red fox in snow --ar 3:2", state="order-17")
            task = await client.wait(result.task_id, deadline=600)
        """
        return await self._submit(
            rq.imagine(
                prompt,
                [] if _no_images(images) else await self._images(images),
                bot_type=bot_type,
                account_filter=account_filter,
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def change(
        self,
        task_id: str,
        action: ChangeAction,
        index: int | None = None,
        *,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Upscale, vary or reroll a finished grid through ``/submit/change``.

        :meth:`simple_change` does the same on every kind of server; prefer it.

        :param task_id: the finished grid's task id.
        :param action: ``"UPSCALE"``, ``"VARIATION"`` or ``"REROLL"``.
        :param index: which image of the grid, 1 to 4 (not for ``"REROLL"``).
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit of the new child task.
        :raises InvalidRequestError: an argument is wrong; nothing was sent.
        :raises SubmitRejectedError: refused (the parent is not a finished grid, ...).
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.change(grid_id, "UPSCALE", 2)
        """
        return await self._submit(
            rq.change(task_id, action, index, notify_hook=notify_hook, state=state),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def simple_change(
        self,
        task_id: str,
        op: str | None = None,
        *,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Upscale, vary or reroll a finished grid: ``simple_change(grid_id, "U2")``.

        Works on every server kind: the body carries what the gateway needs to route it; a
        server that lacks the endpoint is asked through ``/change``, then through ``/action``
        with the parent's button. Only answers that prove no task was made lead to the next
        route, so one call creates at most one task. The route that worked is remembered.

        :param task_id: the finished grid's task id; or, with ``op`` left out, the
            server's own ``"<task id> <op>"`` form (``"1712345 U2"``).
        :param op: ``"U1"`` to ``"U4"`` (upscale), ``"V1"`` to ``"V4"`` (vary) or ``"R"``
            (reroll).
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine` (it bounds each route's request).
        :returns: the accepted submit of the new child task.
        :raises InvalidRequestError: the id or op is malformed; nothing was sent.
        :raises SubmitRejectedError: refused, or the parent has no such button.
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.simple_change(grid_id, "U2")
        """
        task_id, parsed = rq.parse_simple_change(task_id, op)
        limit = _call_timeout(timeout)
        if self._callbacks is not None:
            state = self._callbacks.state_for(state, notify_hook)

        def send_once() -> Awaitable[SubmitResult]:
            return self._simple_change(
                task_id, parsed, notify_hook, state, resend=False, timeout=limit
            )

        if idempotency_key is None and not self._durable.journal_all:
            first = self._simple_change(
                task_id, parsed, notify_hook, state, resend=True, timeout=limit
            )
            if self._durable.gate is None:
                return await first
            return await self._dormant(first, state, send_once)
        return await self._journaled(idempotency_key, state, send_once)

    async def _simple_change(
        self,
        task_id: str,
        parsed: str,
        notify_hook: str | None,
        state: str | None,
        *,
        resend: bool,
        timeout: float | None,
    ) -> SubmitResult:
        routes: tuple[_SimpleRoute, ...] = ("simple-change", "change", "action")
        if self._simple_route is not None:
            routes = routes[routes.index(self._simple_route) :]
        for route in routes:
            request = await self._simple_change_request(
                route, task_id, parsed, notify_hook, state, timeout=timeout
            )
            result = await self._submit_read(
                request, _submit_unless_missing_route, resend=resend, timeout=timeout
            )
            if result is None:
                _log.info("%s is not served here; trying the next route", request.endpoint)
                continue
            self._simple_route = route
            return result
        raise SubmitRejectedError(
            "the server offers none of simple-change, change or action",
            task_id=task_id,
            state=state,
            endpoint="simple-change",
        )

    async def _simple_change_request(
        self,
        route: _SimpleRoute,
        task_id: str,
        op: str,
        notify_hook: str | None,
        state: str | None,
        *,
        timeout: float | None,
    ) -> Request:
        if route == "simple-change":
            return rq.simple_change(task_id, op, notify_hook=notify_hook, state=state)
        if route == "change":
            action, index = rq.op_action_index(op)
            return rq.change(task_id, action, index, notify_hook=notify_hook, state=state)
        parent = await self._query(rq.fetch(task_id), read_task, timeout=timeout)
        prefix = rq.change_op_button_prefix(op)
        button = next((b for b in parent.buttons if b.custom_id.startswith(prefix)), None)
        if button is None:
            raise SubmitRejectedError(
                f"task {task_id} has no {op} button (status {parent.status.value}); "
                "only a finished grid can be changed",
                task_id=task_id,
                state=state,
                endpoint="action",
            )
        return rq.action(task_id, button.custom_id, notify_hook=notify_hook, state=state)

    async def action(
        self,
        task_id: str,
        custom_id: str,
        *,
        enable_remix: bool | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Press a button of a finished task: zoom, pan, vary, upscale, ...

        :param task_id: the finished task whose button is pressed.
        :param custom_id: the button's :attr:`Button.custom_id` (``task.buttons``, or
            ``task.button("Zoom Out 2x")``).
        :param enable_remix: ``True`` (trueai) opens the remix window: the task waits in
            MODAL for :meth:`modal` with a new prompt, even where the account would submit
            directly.
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit of the new task.
        :raises InvalidRequestError: an argument is wrong; nothing was sent.
        :raises SubmitRejectedError: refused (unknown button, unfinished task, ...).
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            zoom = task.button("Zoom Out 2x")
            if zoom is not None:
                result = await client.action(task.id, zoom.custom_id)
        """
        return await self._submit(
            rq.action(
                task_id,
                custom_id,
                enable_remix=enable_remix,
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def modal(
        self,
        task_id: str,
        *,
        prompt: str | None = None,
        mask: ImageInput | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Complete a task waiting in MODAL (a Custom Zoom prompt, a Vary Region mask).

        :param task_id: the task that sits in MODAL (tracking yields ``NeedsModal``).
        :param prompt: the new prompt (Custom Zoom, remix).
        :param mask: the region to vary, as an image (Vary Region).
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit.
        :raises InvalidRequestError: an argument is wrong; nothing was sent.
        :raises SubmitRejectedError: refused (the task is not in MODAL, ...).
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            await client.modal(event.task_id, prompt="a fox on the moon --zoom 2")
        """
        mask_url = await self._image(mask) if mask is not None else None
        return await self._submit(
            rq.modal(task_id, prompt, mask_url, notify_hook=notify_hook, state=state),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def blend(
        self,
        images: Sequence[ImageInput],
        *,
        dimensions: Literal["PORTRAIT", "SQUARE", "LANDSCAPE"] = "SQUARE",
        bot_type: BotType | None = None,
        account_filter: AccountFilter | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Blend two to five images into a grid.

        :param images: two to five images (bytes, paths, ``data:`` or http(s) URLs).
        :param dimensions: the grid's shape: ``"PORTRAIT"``, ``"SQUARE"`` or ``"LANDSCAPE"``.
        :param bot_type: see :meth:`imagine`.
        :param account_filter: see :meth:`imagine`.
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit.
        :raises InvalidRequestError: an argument is wrong (or an image unreadable).
        :raises SubmitRejectedError: refused; no task was made.
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.blend(["cat.png", "dog.png"], dimensions="LANDSCAPE")
        """
        return await self._submit(
            rq.blend(
                await self._images(images),
                dimensions,
                bot_type=bot_type,
                account_filter=account_filter,
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def describe(
        self,
        image: ImageInput | None = None,
        *,
        link: str | None = None,
        bot_type: BotType | None = None,
        account_filter: AccountFilter | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Ask for four prompts describing an image (the answer is in ``Task.final_prompt``).

        :param image: the image (bytes, a path, a ``data:`` or http(s) URL).
        :param link: instead of ``image``, a URL the server fetches itself (trueai; the
            gateway passes it on; open-source Java has no ``link``).
        :param bot_type: see :meth:`imagine`.
        :param account_filter: see :meth:`imagine`.
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit.
        :raises InvalidRequestError: an argument is wrong (or the image unreadable).
        :raises SubmitRejectedError: refused; no task was made.
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.describe("photo.jpg")
            prompts = (await client.wait(result.task_id)).final_prompt
        """
        return await self._submit(
            rq.describe(
                await self._image(image) if image is not None else None,
                link=link,
                bot_type=bot_type,
                account_filter=account_filter,
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def shorten(
        self,
        prompt: str,
        *,
        bot_type: BotType | None = None,
        account_filter: AccountFilter | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Analyse a prompt (the answer is in ``Task.final_prompt``).

        :param prompt: the prompt to analyse.
        :param bot_type: see :meth:`imagine`.
        :param account_filter: see :meth:`imagine`.
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit.
        :raises InvalidRequestError: an argument is wrong; nothing was sent.
        :raises SubmitRejectedError: refused; no task was made.
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.shorten("a very very detailed painting of a fox")
        """
        return await self._submit(
            rq.shorten(
                prompt,
                bot_type=bot_type,
                account_filter=account_filter,
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def swap_face(
        self,
        source: ImageInput,
        target: ImageInput,
        *,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Put the face from ``source`` onto ``target`` (InsightFace).

        :param source: the image with the face to take.
        :param target: the image to put it on.
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit.
        :raises InvalidRequestError: an argument is wrong (or an image unreadable).
        :raises SubmitRejectedError: refused; no task was made.
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.swap_face("me.jpg", "poster.png")
        """
        return await self._submit(
            rq.swap_face(
                await self._image(source),
                await self._image(target),
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def video(
        self,
        prompt: str,
        *,
        image: ImageInput | None = None,
        end_image: ImageInput | None = None,
        motion: Literal["low", "high"] | None = None,
        loop: bool | None = None,
        batch_size: Literal[1, 2, 4] | None = None,
        extend: str | None = None,
        index: int | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Animate ``image`` into short videos, or extend a finished video.

        The finished task carries ``Task.video_url`` and ``Task.video_urls``. Served by the
        gateway and trueai, not by open-source Java.

        :param prompt: what should happen in the video.
        :param image: the first frame.
        :param end_image: the last frame.
        :param motion: ``"low"`` or ``"high"`` motion.
        :param loop: whether the video loops back to its first frame.
        :param batch_size: how many videos: 1, 2 or 4.
        :param extend: to extend a finished video task, its id.
        :param index: with ``extend``, which of its videos (1 to 4) to go on from.
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit.
        :raises InvalidRequestError: an argument is wrong; nothing was sent.
        :raises SubmitRejectedError: refused; no task was made.
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.video("the fox runs", image="fox.png", motion="high")
        """
        return await self._submit(
            rq.video(
                prompt,
                image=await self._image(image) if image is not None else None,
                end_image=await self._image(end_image) if end_image is not None else None,
                motion=motion,
                loop=loop,
                batch_size=batch_size,
                extend=extend,
                index=index,
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def edits(
        self,
        prompt: str,
        image: ImageInput,
        *,
        account_filter: AccountFilter | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> SubmitResult:
        """Edit ``image`` as ``prompt`` says (``/submit/edits``; the gateway and trueai).

        :param prompt: what to change.
        :param image: the image to edit.
        :param account_filter: see :meth:`imagine`.
        :param notify_hook: see :meth:`imagine`.
        :param state: see :meth:`imagine`.
        :param idempotency_key: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: the accepted submit.
        :raises InvalidRequestError: an argument is wrong (or the image unreadable).
        :raises SubmitRejectedError: refused; no task was made.
        :raises SubmitOutcomeUnknownError: the submit may have created a task.

        Example::

            result = await client.edits("make the sky purple", "fox.png")
        """
        return await self._submit(
            rq.edits(
                prompt,
                await self._image(image),
                account_filter=account_filter,
                notify_hook=notify_hook,
                state=state,
            ),
            idempotency_key,
            _call_timeout(timeout),
        )

    async def upload_images(
        self,
        images: Sequence[ImageInput],
        *,
        account_filter: AccountFilter | None = None,
        timeout: float | timedelta | None = None,
    ) -> list[str]:
        """Host images on the upstream's Discord; the URLs they got, in order. No task is made.

        Like every submit it is sent once (the gateway charges for it).

        :param images: the images to host.
        :param account_filter: see :meth:`imagine`.
        :param timeout: see :meth:`imagine`.
        :returns: one URL per image, in order.
        :raises InvalidRequestError: an argument is wrong (or an image unreadable).
        :raises SubmitRejectedError: refused.
        :raises SubmitOutcomeUnknownError: the answer was lost; the images may be hosted.

        Example::

            [url] = await client.upload_images(["fox.png"])
        """
        return await self._submit_read(
            rq.upload_images(await self._images(images), account_filter=account_filter),
            read_uploaded,
            timeout=_call_timeout(timeout),
        )

    async def cancel(self, task_id: str, *, timeout: float | timedelta | None = None) -> None:
        """Ask the server to cancel a task that has not finished. Not retried.

        Only a bare trueai proxy offers it, and only to an admin key; the task then ends in
        FAILURE ("取消任务"), which tracking reports as usual.

        :param task_id: the task to cancel.
        :param timeout: seconds (or a timedelta) for this request, instead of the client's
            ``timeout``.
        :raises APIError: the server has no cancel, or refused it.
        :raises APIConnectionError: the request failed in transit.

        Example::

            await client.cancel(result.task_id)
        """
        await self._query(
            rq.cancel(task_id), read_cancelled, retry=_NO_RETRY, timeout=_call_timeout(timeout)
        )

    # -- queries ---------------------------------------------------------------------------

    async def fetch(self, task_id: str, *, timeout: float | timedelta | None = None) -> Task:
        """The task's current snapshot.

        Retried after transient failures as the client's ``retry`` policy says.

        :param task_id: the task's id.
        :param timeout: seconds (or a timedelta) for each request of this call, instead of
            the client's ``timeout``.
        :raises TaskNotFoundError: the server does not know the id.
        :raises APIConnectionError: the server could not be reached (after retries).
        :raises ServerError: the server failed or its answer cannot be read.

        Example::

            task = await client.fetch(result.task_id)
            print(task.status, task.progress)
        """
        return await self._query(rq.fetch(task_id), read_task, timeout=_call_timeout(timeout))

    async def list_tasks(
        self, task_ids: Sequence[str], *, timeout: float | timedelta | None = None
    ) -> list[Task]:
        """Snapshots of many tasks, in the order asked; ids the server does not know are left out.

        Asks in chunks of at most 100 ids, concurrently.

        :param task_ids: the ids (a list, not one str).
        :param timeout: see :meth:`fetch`.
        :raises InvalidRequestError: ``task_ids`` is one str or holds a malformed id.
        :raises APIConnectionError: the server could not be reached (after retries).
        :raises ServerError: the server failed or its answer cannot be read.

        Example::

            tasks = await client.list_tasks(["1712345", "1712346"])
        """
        if isinstance(task_ids, str) or not isinstance(task_ids, Iterable):
            raise InvalidRequestError("list_tasks takes a list of ids, not one id")
        wanted = list(dict.fromkeys(rq.check_task_id(t) for t in task_ids))
        limit = _call_timeout(timeout)
        chunks = chunked(wanted, 100)
        answers = await asyncio.gather(
            *(
                self._query(rq.list_by_condition(chunk), read_task_list, timeout=limit)
                for chunk in chunks
            )
        )
        found: dict[str, Task] = {}
        for task in (task for answer in answers for task in answer):
            # After a /modal the gateway lists a task twice: keep the row that moved.
            seen = found.get(task.id)
            found[task.id] = task if seen is None else further(seen, task)
        return [found[t] for t in wanted if t in found]

    async def image_seed(self, task_id: str, *, timeout: float | timedelta = 90.0) -> str:
        """The Midjourney seed of a finished task.

        :param task_id: the finished task's id.
        :param timeout: seconds (or a timedelta) for each request; 90 by default, since the
            server may take up to a minute to ask Discord.
        :raises TaskNotFoundError: the server does not know the id.
        :raises APIError: the server has no seed for it.

        Example::

            seed = await client.image_seed(task.id)
        """
        return await self._query(
            rq.image_seed(task_id), read_seed, timeout=seconds(timeout, what="timeout")
        )

    # -- following tasks: thin doors onto _follow -------------------------------------------

    def _deadline_at(self, value: object) -> float | None:
        after = optional_seconds(value, what="deadline")
        return None if after is None else self._clock.now() + after

    def track(self, task_id: str, *, deadline: float | timedelta | None = None) -> EventStream:
        """Follow one task; ``async for`` its events until the terminal one.

        :param task_id: the task to follow.
        :param deadline: seconds (or a timedelta) from now after which this stream ends with
            ``TimedOut`` (the task may still run server-side); None: only the poll
            policy's own ``deadline`` applies.
        :returns: a stream of :class:`TaskEvent` values, ending after the terminal one.
        :raises InvalidRequestError: the id or deadline is malformed.
        :raises ClientClosedError: the client is closed.

        Example::

            async for event in client.track(result.task_id, deadline=600):
                if isinstance(event, ProgressChanged):
                    print(event.progress)
        """
        return _follow.track(
            self._poller,
            [self._watchable(task_id)],
            deadline_at=self._deadline_at(deadline),
            journal=self._durable,
        )

    def track_many(
        self, task_ids: Sequence[str], *, deadline: float | timedelta | None = None
    ) -> EventStream:
        """Follow several tasks in one merged stream that ends when all of them have ended.

        :param task_ids: the tasks to follow (a list, not one str).
        :param deadline: see :meth:`track`; it applies to every task of the stream.
        :returns: one stream of all their events.
        :raises InvalidRequestError: ``task_ids`` is one str, or an id is malformed.
        :raises ClientClosedError: the client is closed.

        Example::

            async for event in client.track_many(ids, deadline=900):
                if event.is_terminal:
                    print(event.task_id, type(event).__name__)
        """
        if isinstance(task_ids, str) or not isinstance(task_ids, Iterable):
            raise InvalidRequestError("track_many takes a list of ids, not one id")
        return _follow.track(
            self._poller,
            [self._watchable(t) for t in task_ids],
            deadline_at=self._deadline_at(deadline),
            journal=self._durable,
        )

    async def wait(self, task_id: str, *, deadline: float | timedelta | None = None) -> Task:
        """The task once it succeeded.

        :param task_id: the task to wait for.
        :param deadline: see :meth:`track`.
        :returns: the task's final snapshot (SUCCESS).
        :raises TaskFailedError: the task ended in FAILURE or CANCEL.
        :raises TaskTimeoutError: ``deadline`` or the poll policy's deadline passed first.
        :raises TaskNotFoundError: the server forgot the task.
        :raises ServerError: its snapshots cannot be read.

        Every one of them is in :data:`~onechat_async.TASK_FAILURES`.

        Example::

            try:
                task = await client.wait(result.task_id, deadline=600)
            except TASK_FAILURES as error:
                print("no image:", error)
        """
        task_id = self._watchable(task_id)
        return await _follow.wait(
            self._poller,
            task_id,
            deadline_at=self._deadline_at(deadline),
            journal=self._durable,
        )

    def fan_out(
        self,
        parent_id: str,
        ops: Sequence[str] = ALL_CHILDREN,
        *,
        concurrency: int = 4,
        attempts: int = 5,
        state: str | None = None,
        idempotency_key: str | None = None,
        deadline: float | timedelta | None = None,
    ) -> EventStream:
        """Submit the children of a finished grid (default U1-U4 and V1-V4) and follow them all.

        Yields ``Submitted`` per accepted child, then its events, each naming its child in
        ``event.op``; a child whose submit failed yields ``SubmitFailed`` (``parent_id`` and
        ``op`` say which; its error is SubmitOutcomeUnknownError when the child may exist)
        and the others go on. A child is sent again only after a refusal that proves no task
        was made.

        :param parent_id: the finished grid's task id.
        :param ops: the children to make, among ``"U1"``..``"U4"``, ``"V1"``..``"V4"``,
            ``"R"``.
        :param concurrency: how many submits may be in flight at once.
        :param attempts: tries per child, counting the first, after refusals that prove no
            task was made (rate limit, queue full).
        :param state: see :meth:`imagine`; the same for every child.
        :param idempotency_key: makes each child once-only: child ``op`` is submitted under
            ``f"{key}/{op}"`` (see :meth:`imagine`).
        :param deadline: see :meth:`track`; children not finished by then end with
            ``TimedOut``, and children not yet submitted then are never sent (they end
            ``SubmitFailed`` with a :class:`~onechat_async.TaskTimeoutError`).
        :returns: one stream of every child's events.
        :raises InvalidRequestError: an argument is wrong; nothing was sent.
        :raises ClientClosedError: the client is closed.

        Example::

            async for event in client.fan_out(grid_id, ["U1", "U2"], deadline=900):
                if isinstance(event, Succeeded):
                    print(event.op, event.task.image_url)
        """
        parent = self._watchable(parent_id)
        if isinstance(ops, str) or not isinstance(ops, Iterable):
            raise InvalidRequestError("ops must be a list of operations such as ['U1', 'V2']")
        ops = [rq.parse_simple_change(parent, op)[1] for op in ops]
        count(concurrency, what="concurrency")
        count(attempts, what="attempts")
        rq.check_state(state)
        deadline_at = self._deadline_at(deadline)

        async def submit_child(parent: str, op: str) -> SubmitResult:
            if deadline_at is not None and self._clock.now() >= deadline_at:
                # A paid submit the caller no longer waits for is not sent: the child ends
                # SubmitFailed with this error, which proves no task was made.
                raise TaskTimeoutError(
                    f"the fan-out's deadline passed before {op} of {parent} was submitted",
                    task_id=parent,
                )
            if idempotency_key is None:
                # No keyword it does not need: a subclass may override simple_change.
                return await self.simple_change(parent, op, state=state)
            key = f"{idempotency_key}/{op}"
            return await self.simple_change(parent, op, state=state, idempotency_key=key)

        return _follow.fan_out(
            self._poller,
            submit_child,
            parent,
            ops,
            concurrency=concurrency,
            attempts=attempts,
            backoff=self._poller.policy.backoff,
            clock=self._clock,
            rng=self._rng,
            deadline_at=deadline_at,
            journal=self._durable,
        )

    def submit_and_track(
        self,
        submit: Awaitable[SubmitResult],
        *,
        deadline: float | timedelta | None = None,
    ) -> EventStream:
        """Await a submit (``client.imagine(...)``) and follow its task from ``Submitted`` on.

        :param submit: a submit not yet awaited, such as ``client.imagine("a cat")``.
        :param deadline: see :meth:`track`.
        :returns: a stream that starts with ``Submitted``; a submit that fails raises its
            error from the first ``__anext__``.
        :raises InvalidRequestError: ``submit`` is not an awaitable submit.
        :raises ClientClosedError: the client is closed.

        Example::

            async for event in client.submit_and_track(client.imagine("a cat"), deadline=600):
                print(event)
        """
        try:
            self._check_open()
            submit = _submit_awaitable(submit)
            deadline_at = self._deadline_at(deadline)
        except OneChatError:
            _close_unsent(submit)
            raise
        return _follow.submit_and_track(
            self._poller, submit, deadline_at=deadline_at, journal=self._durable
        )

    async def submit_and_wait(
        self,
        submit: Awaitable[SubmitResult],
        *,
        deadline: float | timedelta | None = None,
    ) -> Task:
        """Await a submit and then :meth:`wait` for the task it created.

        :param submit: a submit not yet awaited, such as ``client.imagine("a cat")``.
        :param deadline: see :meth:`track`; counted from this call, the submit included.
        :returns: the finished task.
        :raises OneChatError: what the submit raises (see :meth:`imagine`) or what
            :meth:`wait` raises.

        Example::

            task = await client.submit_and_wait(client.imagine("a cat"), deadline=600)
        """
        try:
            self._check_open()
            submit = _submit_awaitable(submit)
            deadline_at = self._deadline_at(deadline)
        except OneChatError:
            _close_unsent(submit)
            raise
        result = await submit
        return await _follow.wait(
            self._poller, result.task_id, deadline_at=deadline_at, journal=self._durable
        )

    def resume(self) -> ResumeStream:
        """Follow every unfinished task in the store, from this process or any earlier one.

        One stream of their events, each journaled and numbered (``event.identity``) before
        you see it. Tasks another live worker tracks are left to it; those whose worker died
        are taken over once its lease expires (looked for every ``lease_ttl`` seconds). The
        stream ends when the store holds no unfinished task.

        :raises ClientClosedError: the client is closed.

        Example::

            async for event in client.resume():
                handle(event)
        """
        self._check_open()
        if self._callbacks is not None:
            self._callbacks.watch_inbox()  # callbacks other workers receive for what it takes
        return ResumeStream(self._durable, self._poller, rescan=self._durable.lease_ttl)

    @property
    def store(self) -> Store:
        """The journal's store (a private MemoryStore unless one was given)."""
        return self._durable.store

    def adopted(self, state: str) -> tuple[str, ...]:
        """The tasks a callback revealed for submits with ``state`` whose answer never came.

        A submit that raised :class:`~onechat_async.SubmitOutcomeUnknownError` may still have
        made a task; with ``callbacks=`` on, the first callback carrying its ``state`` (the
        error's :attr:`~onechat_async.OneChatError.state`) adopts that task: it is tracked
        from then on, and named here. Empty until such a callback came (or without callbacks).

        :param state: the ``state`` of the submit whose outcome was unknown.

        Example::

            ids = client.adopted(error.state)
        """
        return () if self._callbacks is None else self._callbacks.adopted(state)

    def _watchable(self, task_id: str) -> str:
        self._check_open()
        return rq.check_task_id(task_id)


class _PollQueries:
    """The poller's door into the client: one request per call, no retries, raw answers."""

    def __init__(self, client: OneChatClient) -> None:
        self._client = client

    async def list_raw(self, task_ids: Sequence[str]) -> list[Row] | None:
        return await self._client._query(
            rq.list_by_condition(task_ids), _rows_unless_missing_route, retry=_NO_RETRY
        )

    async def fetch_raw(self, task_id: str) -> object:
        return await self._client._query(rq.fetch(task_id), read_raw_task, retry=_NO_RETRY)


_NO_RETRY = RetryPolicy.off()


def _no_images(images: object) -> bool:
    """Whether ``images`` is an empty list or tuple (imagine's default), cheaply checked."""
    return not images and isinstance(images, list | tuple)


def _check_shape(value: object, what: str, methods: tuple[str, ...]) -> None:
    missing = [name for name in methods if not callable(getattr(value, name, None))]
    if missing:
        raise InvalidRequestError(
            f"{what} must have {', '.join(methods)} methods; a {type(value).__name__} lacks "
            f"{', '.join(missing)}"
        )


def _submit_awaitable(submit: object) -> Awaitable[SubmitResult]:
    if not inspect.isawaitable(submit):
        hint = " (call it: client.imagine('...'), not client.imagine)" if callable(submit) else ""
        raise InvalidRequestError(
            f"submit must be an awaitable submit such as client.imagine('a cat'), "
            f"got {type(submit).__name__}{hint}"
        )
    return submit


def _close_unsent(submit: object) -> None:
    """A refused submit_and_* call: close its coroutine, which never ran, so it cannot warn."""
    if isinstance(submit, Coroutine):
        submit.close()


def _checked_key(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidRequestError(f"api_key must be a str, got {type(key).__name__}")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in key):
        # A newline would break the header (or smuggle another one); aiohttp would raise a
        # bare ValueError on the first request instead.
        raise InvalidRequestError(
            "api_key contains spaces, control or non-ASCII characters; paste the key alone "
            "(sk-...), without 'Bearer ' or a trailing newline"
        )
    return key


def _rows_unless_missing_route(
    response: Response, request: Request, *, now_wall: float
) -> list[Row] | None:
    """The task list as rows, or None when the server lacks list-by-condition."""
    if is_missing_route(response):
        return None
    return read_task_rows(response, request, now_wall=now_wall)


def _submit_unless_missing_route(
    response: Response, request: Request, *, now_wall: float
) -> SubmitResult | None:
    """The submit's result, or None when the server lacks this endpoint (no task was made)."""
    if is_missing_route(response):
        return None
    return read_submit(response, request, now_wall=now_wall)


def _call_timeout(value: object) -> float | None:
    """A per-call ``timeout=`` as seconds; None keeps the client's own."""
    return None if value is None else seconds(value, what="timeout")
