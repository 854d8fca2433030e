"""The asyncio shell around one paid submit: journal writes, admission and the request, in order.

The order is the whole point; each step says what a crash right after it leaves behind:

1. read the key and ask :func:`._journal.decide`: a task that exists is replayed and an
   unknown outcome raised *before* waiting for admission; a live holder is waited for;
2. wait for an admission permit (:class:`._admission.AdmissionGate`), holding no claim: a
   crash here leaves nothing but a permit that expires;
3. read and decide again, then claim the key (CLAIMED) by compare-and-swap: one caller wins;
4. mark it SENDING, with a lease that outlasts the request: a crash from here on makes the
   key's outcome unknown, and it is never sent again;
5. send the request, once;
6. on success, journal the task (so ``resume`` finds it) and *then* the key's ACCEPTED
   outcome; on failure, the key's REFUSED or UNKNOWN outcome as the money rule says; those
   writes are shielded from cancellation, and a store failure there is logged, never allowed
   to hide the server's answer from the caller.

A refusal that proves no task and is worth repeating (queue full, rate limited) goes back to
step 1 when ``retry`` gives a wait, ahead of the submits that queued behind it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

import attrs

from . import _journal as journal
from ._admission import AdmissionGate, Ticket
from ._clock import Clock
from ._errors import OneChatError, QueueFullError, SubmitOutcomeUnknownError
from ._models import SubmitResult
from ._outcome import may_resend, proves_no_task
from ._store import KeyRecord, Store

__all__ = ["SubmitJournal"]

_log = logging.getLogger("onechat_async")

#: ``retry(attempt, error)``: seconds to wait before trying a resendable refusal again, or None.
Retry = Callable[[int, OneChatError], float | None]


@attrs.frozen(kw_only=True)
class SubmitJournal:
    """Sends submits through the journal and the admission gate (see the module docstring).

    ``owner`` names this worker (unique per client instance); ``send_ttl`` must outlast one
    request (the submit timeout plus a margin); ``task_ttl`` is the tracking lease a new task
    starts with; ``wait_poll`` is how often a submit waiting on another holder of its key looks
    again; ``keep`` is how long a settled key stays in the store (None: for good).
    """

    store: Store
    owner: str
    clock: Clock
    send_ttl: float
    task_ttl: float
    gate: AdmissionGate | None = None
    wait_poll: float = 1.0
    #: How long a settled (accepted or refused) key is kept before the store may drop it.
    keep: float | None = None

    async def submit(
        self,
        key: str | None,
        send: Callable[[], Awaitable[SubmitResult]],
        *,
        tag: str = "",
        retry: Retry | None = None,
    ) -> SubmitResult:
        """The result of sending ``send()`` once for ``key`` (None: no idempotency key)."""
        attempt = 0
        first = False
        while True:
            if key is not None:
                replayed = await self._settle_key(key, tag, claim=False)
                if isinstance(replayed, SubmitResult):
                    return replayed
            ticket = await self._admit(key, first=first)
            try:
                claimed = None if key is None else await self._settle_key(key, tag, claim=True)
                if isinstance(claimed, SubmitResult):
                    await self._release(ticket)
                    return claimed
                sent = None if claimed is None else await self._mark_sending(claimed)
            except BaseException:
                await self._release(ticket)
                raise
            if claimed is not None and sent is None:
                # Our claim expired and was taken over before we sent anything: start over.
                await self._release(ticket)
                continue
            try:
                result = await send()
            except asyncio.CancelledError:
                error = SubmitOutcomeUnknownError("cancelled in flight", reason="cancelled")
                await self._record_failure(sent, error)
                raise
            except OneChatError as error:
                await self._record_failure(sent, error)
                if not proves_no_task(error):
                    # A task may exist and occupy the account: its permit is left to expire.
                    raise
                await self._refused(ticket, error)
                attempt += 1
                wait = retry(attempt, error) if retry is not None and may_resend(error) else None
                if wait is None:
                    raise
                await self.clock.sleep(wait)
                first = True
                continue
            await self._record_success(key, sent, result)
            if self.gate is not None and ticket is not None:
                await self.gate.accepted(ticket, result.task_id)
            return result

    async def _settle_key(
        self, key: str, tag: str, *, claim: bool
    ) -> SubmitResult | KeyRecord | None:
        """Wait until the key is replayable, unknown (raised) or claimable; claim it if asked."""
        while True:
            found = await self.store.get_key(key)
            now = self.clock.wall()
            decision = journal.decide(
                found, key=key, owner=self.owner, now=now, ttl=self.send_ttl, tag=tag
            )
            if isinstance(decision, journal.Replay):
                return decision.result
            if isinstance(decision, journal.Unknown):
                raise decision.error
            if isinstance(decision, journal.Wait):
                await self.clock.sleep(min(self.wait_poll, max(0.0, decision.until - now)))
                continue
            if not claim:
                return None
            won = await self.store.swap_key(decision.expected_version, decision.record)
            if won is not None:
                return won
            # Another caller wrote first: read what it wrote and decide again.

    async def _mark_sending(self, claimed: KeyRecord) -> KeyRecord | None:
        record = journal.sending(claimed, now=self.clock.wall(), ttl=self.send_ttl)
        return await self.store.swap_key(claimed.version, record)

    async def _record_failure(self, sent: KeyRecord | None, error: OneChatError) -> None:
        if sent is None:
            return
        settled = journal.failed(sent, error, now=self.clock.wall(), keep=self.keep)
        await self._write_shielded(self.store.swap_key(sent.version, settled))

    async def _record_success(
        self, key: str | None, sent: KeyRecord | None, result: SubmitResult
    ) -> None:
        # The task first: a crash between the two writes leaves a task that resume() finds
        # (and a key that answers "unknown"), never an accepted key whose task nobody tracks.
        record = journal.new_task(
            result.task_id,
            key=key or "",
            owner=self.owner,
            now=self.clock.wall(),
            ttl=self.task_ttl,
        )
        await self._write_shielded(self.store.swap_task(0, record))
        if sent is not None:
            await self._write_shielded(
                self.store.swap_key(
                    sent.version,
                    journal.accepted(sent, result, now=self.clock.wall(), keep=self.keep),
                )
            )

    async def _write_shielded(self, write: Awaitable[object]) -> None:
        try:
            if await asyncio.shield(write) is None:
                _log.error("the journal lost a write it owned; another worker changed it")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the server's answer matters more than the journal
            _log.error("the journal could not record a submit's outcome: %s", type(exc).__name__)

    async def _admit(self, key: str | None, *, first: bool) -> Ticket | None:
        if self.gate is None:
            return None
        name = f"submit:{key}" if key is not None else f"submit:{uuid.uuid4().hex}"
        return await self.gate.acquire(name, first=first)

    async def _refused(self, ticket: Ticket | None, error: OneChatError) -> None:
        if self.gate is not None and ticket is not None:
            await self.gate.refused(ticket, queue_full=isinstance(error, QueueFullError))

    async def _release(self, ticket: Ticket | None) -> None:
        if self.gate is not None and ticket is not None:
            await self.gate.refused(ticket, queue_full=False)
