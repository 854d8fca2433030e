"""Blocking calls for synchronous code (Celery tasks, scripts, WSGI views): ``SyncOneChatClient``.

One :class:`~onechat_async.OneChatClient` runs on a private event loop in a daemon thread;
each method sends its call there and blocks the calling thread until the call ends. Any
number of threads may share one instance: their calls run concurrently on that one loop,
through one connection pool and one poller. Nothing here reimplements the client: every
method is the async method of the same name, with the same parameters, result and errors.

What ``close()`` does with calls still running, and why:

- submits and queries (``imagine``, ``fetch``, ...) and :meth:`SyncOneChatClient.run` calls
  are let finish: cancelling a submit in flight would leave a paid task unaccounted for.
  Each is bounded by its ``timeout=`` or the client's own timeouts.
- waits and streams (``wait``, ``track``, ``track_many``, ``fan_out``) are cancelled; their
  callers get :class:`~onechat_async.ClientClosedError`, as does any later call.

A process that forks (Celery's prefork pool) must not use an instance made before the fork:
the loop thread does not survive it. Make one per process, after the fork (docs/sync.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from ._client import OneChatClient
from ._errors import ClientClosedError, InvalidRequestError
from ._events import Event
from ._follow import EventStream

__all__ = ["SyncOneChatClient"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
#: What a stream's step returns once the stream has ended.
_END: Any = object()


class _LoopThread:
    """An event loop of our own, run by a daemon thread until :meth:`stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="onechat-async-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            # Whatever is left (a stream's helpers, a call cancelled at close) ends here,
            # so that no task is destroyed while pending.
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    @property
    def current(self) -> bool:
        """Whether the caller runs on this loop's thread."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Schedule ``coro`` on the loop; its result arrives in the future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        """Stop the loop, let the thread finish its cleanup, and wait for it."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()


def _blocking(
    method: Callable[Concatenate[OneChatClient, _P], Awaitable[_T]], *, cancel_on_close: bool
) -> Callable[Concatenate[SyncOneChatClient, _P], _T]:
    """The blocking twin of an async ``OneChatClient`` method: same parameters, same result."""

    def call(self: SyncOneChatClient, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return self._call(lambda client: method(client, *args, **kwargs), cancel_on_close)

    _named(call, method, "Blocks until it returns; same parameters, result and errors.")
    return call


def _streaming(
    method: Callable[Concatenate[OneChatClient, _P], EventStream],
) -> Callable[Concatenate[SyncOneChatClient, _P], Generator[Event, None, None]]:
    """The blocking twin of a streaming method: an iterator of the same events."""

    def call(
        self: SyncOneChatClient, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Generator[Event, None, None]:
        async def opened(client: OneChatClient) -> EventStream:
            return method(client, *args, **kwargs)

        # Opened now, on the loop, so that a bad argument raises here and not at the first next().
        return self._events(self._call(opened, cancel_on_close=False))

    _named(call, method, "A blocking iterator of the same events; ``break`` stops following.")
    return call


def _named(call: Callable[..., Any], method: Callable[..., Any], how: str) -> None:
    name = method.__name__
    call.__name__ = name
    call.__qualname__ = f"SyncOneChatClient.{name}"
    call.__doc__ = (
        f":meth:`OneChatClient.{name} <onechat_async.OneChatClient.{name}>`, for synchronous "
        f"code. {how}\n\n{method.__doc__ or ''}"
    )


class SyncOneChatClient:
    """A blocking :class:`~onechat_async.OneChatClient`, safe to share between threads.

    Takes the keyword arguments of ``OneChatClient`` (``api_key``, ``base_url``, ``timeout``,
    ``retry``, ``poll``, ``proxy``, ``trust_env``, ...), except ``session``: the client makes
    its own on the private loop. Use it as a context manager, or call :meth:`close` when
    done; once closed, every call raises :class:`~onechat_async.ClientClosedError`.

    Every async method has a blocking twin of the same name and parameters: the submits
    (``imagine``, ``change``, ``simple_change``, ``action``, ``modal``, ``blend``,
    ``describe``, ``shorten``, ``swap_face``, ``video``, ``edits``, ``upload_images``,
    ``cancel``), the queries (``fetch``, ``list_tasks``, ``image_seed``) and ``wait``.
    ``track``, ``track_many`` and ``fan_out`` return plain iterators of the same events.
    For anything else, :meth:`run` runs a coroutine of yours with the async client.

    Its blocking methods must not be called from the private loop itself (from inside a
    coroutine given to :meth:`run`): that raises :class:`~onechat_async.InvalidRequestError`
    instead of deadlocking.

    :param options: the keyword arguments of :class:`~onechat_async.OneChatClient`.
    :raises InvalidRequestError: ``session`` was given, or an option is wrong.

    Example::

        with SyncOneChatClient(api_key="sk-...") as client:
            result = client.imagine("a red fox", timeout=60)
            task = client.wait(result.task_id, deadline=600)
    """

    def __init__(self, **options: Any) -> None:
        if options.get("session") is not None:
            raise InvalidRequestError(
                "SyncOneChatClient makes its own session on its private event loop; "
                "a session from another loop cannot be used there"
            )
        self._lock = threading.Lock()
        self._closed = False
        self._stopped = threading.Event()
        # Calls in flight -> whether close() cancels them (waits) or lets them end (submits).
        self._pending: dict[concurrent.futures.Future[Any], bool] = {}
        self._runner = _LoopThread()

        async def make() -> OneChatClient:
            # Made on the loop it will belong to.
            return OneChatClient(**options)

        try:
            self._client = self._runner.submit(make()).result()
        except BaseException:
            self._runner.stop()
            raise
        # A client that is never closed is closed when it is collected, or at interpreter
        # exit (weakref.finalize runs then), so a forgotten close() leaks nothing.
        self._shut_down = weakref.finalize(self, _shut_down, self._runner, self._client)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"SyncOneChatClient({self._client!r}, {state})"

    @property
    def base_url(self) -> str:
        """The server the client talks to."""
        return self._client.base_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def __enter__(self) -> Self:
        if self._closed:
            raise ClientClosedError("this SyncOneChatClient is closed; make a new one")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- running calls on the loop --------------------------------------------------------

    def _check_caller(self) -> None:
        if self._runner.current:
            raise InvalidRequestError(
                "a SyncOneChatClient method was called from its own event loop (inside a "
                "coroutine given to run()); await the async client's method there instead"
            )

    def _call(self, work: Callable[[OneChatClient], Awaitable[_T]], cancel_on_close: bool) -> _T:
        """Run ``work(client)`` on the loop and block until it ends; its result or error."""
        self._check_caller()

        async def on_loop() -> _T:
            return await work(self._client)

        with self._lock:
            if self._closed:
                raise ClientClosedError("this SyncOneChatClient is closed; make a new one")
            future = self._runner.submit(on_loop())
            self._pending[future] = cancel_on_close
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self._closed:
                raise ClientClosedError(
                    "this SyncOneChatClient was closed while the call was waiting"
                ) from None
            raise
        finally:
            if not future.done():
                # The caller gave up (KeyboardInterrupt, SystemExit): so does the call.
                future.cancel()
            with self._lock:
                self._pending.pop(future, None)

    def run(self, work: Callable[[OneChatClient], Awaitable[_T]]) -> _T:
        """Run ``work(client)`` on the private loop with the async client; block for its result.

        For what has no blocking twin, e.g.
        ``sync.run(lambda c: c.submit_and_wait(c.imagine("a fox")))``. ``work`` is called on
        the loop, so it may create and await anything bound to it. :meth:`close` lets it
        finish, like a submit.

        :param work: a function of the async client returning an awaitable.
        :returns: what the awaitable returns.
        :raises ClientClosedError: the client is closed.
        :raises InvalidRequestError: called from the private loop itself.
        :raises Exception: whatever ``work`` raises.

        Example::

            task = sync.run(lambda c: c.submit_and_wait(c.imagine("a fox"), deadline=600))
        """
        return self._call(work, cancel_on_close=False)

    def _events(self, stream: EventStream) -> Generator[Event, None, None]:
        async def step(_: OneChatClient) -> Event:
            try:
                return await anext(stream)
            except StopAsyncIteration:
                return _END  # type: ignore[no-any-return]

        try:
            while (event := self._call(step, cancel_on_close=True)) is not _END:
                yield event
        finally:
            # Stops following at once (a break, an error, the iterator dropped); non-blocking,
            # so it is safe from any thread, even from a garbage collection on the loop's own.
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._runner.loop.call_soon_threadsafe(stream.close)

    # -- the blocking twins ---------------------------------------------------------------

    imagine = _blocking(OneChatClient.imagine, cancel_on_close=False)
    change = _blocking(OneChatClient.change, cancel_on_close=False)
    simple_change = _blocking(OneChatClient.simple_change, cancel_on_close=False)
    action = _blocking(OneChatClient.action, cancel_on_close=False)
    modal = _blocking(OneChatClient.modal, cancel_on_close=False)
    blend = _blocking(OneChatClient.blend, cancel_on_close=False)
    describe = _blocking(OneChatClient.describe, cancel_on_close=False)
    shorten = _blocking(OneChatClient.shorten, cancel_on_close=False)
    swap_face = _blocking(OneChatClient.swap_face, cancel_on_close=False)
    video = _blocking(OneChatClient.video, cancel_on_close=False)
    edits = _blocking(OneChatClient.edits, cancel_on_close=False)
    upload_images = _blocking(OneChatClient.upload_images, cancel_on_close=False)
    cancel = _blocking(OneChatClient.cancel, cancel_on_close=False)
    fetch = _blocking(OneChatClient.fetch, cancel_on_close=False)
    list_tasks = _blocking(OneChatClient.list_tasks, cancel_on_close=False)
    image_seed = _blocking(OneChatClient.image_seed, cancel_on_close=False)
    wait = _blocking(OneChatClient.wait, cancel_on_close=True)
    track = _streaming(OneChatClient.track)
    track_many = _streaming(OneChatClient.track_many)
    fan_out = _streaming(OneChatClient.fan_out)

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client and stop its thread; safe to call twice, from any thread.

        Waits and streams in flight are cancelled (their callers get ClientClosedError);
        submits, queries and :meth:`run` calls in flight are let finish first.

        :raises InvalidRequestError: called from the private loop itself.

        Example::

            sync = SyncOneChatClient()
            try:
                sync.imagine("a fox")
            finally:
                sync.close()
        """
        self._check_caller()
        with self._lock:
            closing, self._closed = not self._closed, True
            pending = dict(self._pending)
        if not closing:
            self._stopped.wait()  # another thread is closing it: return once it is done
            return
        for future, cancel in pending.items():
            if cancel:
                future.cancel()
        concurrent.futures.wait(pending)
        try:
            self._shut_down()
        finally:
            self._stopped.set()


def _shut_down(runner: _LoopThread, client: OneChatClient) -> None:
    """Close ``client`` on its loop, then stop the loop's thread."""
    if runner.current:
        # Collected on the loop's own thread: it cannot wait for itself.
        runner.loop.call_soon_threadsafe(runner.loop.stop)
        return
    try:
        runner.submit(client.aclose()).result()
    finally:
        runner.stop()
