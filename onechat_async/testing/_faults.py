"""Fault injection: what can go wrong between a client and the server, as data.

A :class:`Fault` names an endpoint (or ``"*"``), a kind and a rate; the :class:`FaultBook`
decides with a seeded RNG whether a given request is hit, so a failing run replays.
"""

from __future__ import annotations

import random
import re

import attrs

__all__ = ["ENDPOINTS", "FAULT_KINDS", "SUBMIT_ENDPOINTS", "Fault", "FaultBook"]

#: Counter and fault names of the endpoints, in contract order.
ENDPOINTS = (
    "imagine",
    "change",
    "simple-change",
    "action",
    "modal",
    "blend",
    "describe",
    "shorten",
    "swap-face",
    "video",
    "edits",
    "upload-discord-images",
    "fetch",
    "list-by-condition",
    "image-seed",
    "cancel",
    "queue",
    "list",
    "image",
    "cdn",
    "unknown",
)
#: The endpoints that create a task (``stall`` and ``vanish`` faults apply to these).
SUBMIT_ENDPOINTS = frozenset(ENDPOINTS[:11])

#: Every ``kind`` a :class:`Fault` may have (``http_500_html``... pin a 5xx status).
FAULT_KINDS = (
    "http_5xx_html",
    "http_429",
    "reset",
    "slow",
    "empty_body",
    "truncated_body",
    "stall",
    "vanish",
)
_HTML_5XX = re.compile(r"^http_(5\d\d)_html$")


def _check_kind(_: object, __: attrs.Attribute[str], kind: str) -> None:
    if kind not in FAULT_KINDS and not _HTML_5XX.match(kind):
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")


def _check_endpoint(_: object, __: attrs.Attribute[str], endpoint: str) -> None:
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected '*' or one of {ENDPOINTS}")


def _check_rate(_: object, __: attrs.Attribute[float], rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be within 0..1")


@attrs.frozen(kw_only=True)
class Fault:
    """One fault rule.

    Kinds:

    - ``http_5xx_html``: an HTML error page with HTTP ``status`` (default 502), as a reverse
      proxy in front of the gateway sends; ``http_500_html``, ``http_503_html``, ... pin the
      status in the name.
    - ``http_429``: rate limited; a bare proxy's empty 429 carries ``Retry-After:
      <retry_after>``, the gateway's code 30 answer none (new-api sets no such header).
    - ``reset``: the connection is dropped without an answer.
    - ``slow``: the answer comes ``delay`` *real* seconds late (the network is not sped up
      by a scaled clock).
    - ``empty_body``: HTTP 200 with nothing in it.
    - ``truncated_body``: the real answer cut in half (a consistent Content-Length, so the
      client gets broken JSON rather than a transport error).
    - ``stall`` / ``vanish`` (submit endpoints only): the created task stops moving, or is
      forgotten by the upstream, ``after`` clock seconds after its submission (behind the
      gateway a forgotten task stays frozen in its last state: see ``Simulator.vanish``).

    ``phase="after"`` makes ``http_5xx_html``, ``reset`` and ``empty_body`` strike after the
    request took effect: a submit that happened although its answer was lost.
    ``truncated_body`` always strikes after, and ``slow`` acts once its delay is over, even if
    the client gave up waiting (as the gateway, which waits up to 60 s for the upstream and
    charges the task anyway). ``http_429`` strikes only before: no real server rate-limits a
    request it has acted on, so ``phase="after"`` with it is refused. ``count`` caps how
    many times the rule fires.

    :ivar endpoint: The endpoint it strikes: a name of ``ENDPOINTS`` (``"imagine"``,
        ``"fetch"``...) or ``"*"`` for every one.
    :ivar kind: What happens: one of ``FAULT_KINDS``, described above.
    :ivar rate: The share of matching requests it strikes, 0 to 1.
    :ivar count: The most times it fires, or None for no limit.
    :ivar status: The HTTP status of an ``http_5xx_html`` page.
    :ivar retry_after: The ``Retry-After`` seconds of a bare proxy's ``http_429``.
    :ivar delay: How many real seconds a ``slow`` answer is late.
    :ivar after: For ``stall``/``vanish``: clock seconds after the submission.
    :ivar phase: ``"before"`` (the request is not acted on) or ``"after"`` (it is, and then
        the answer is lost).
    :raises ValueError: An unknown endpoint or kind, a rate outside 0..1, ``phase="after"``
        with ``http_429``.

    ```python
    sim.inject(Fault(endpoint="imagine", kind="reset", phase="after", count=1))
    ```
    """

    endpoint: str = attrs.field(default="*", validator=_check_endpoint)
    kind: str = attrs.field(validator=_check_kind)
    rate: float = attrs.field(default=1.0, validator=_check_rate)
    count: int | None = None
    status: int = 502
    retry_after: float = 1.0
    delay: float = 0.5
    after: float = 0.0
    phase: str = attrs.field(default="before", validator=attrs.validators.in_(("before", "after")))

    def __attrs_post_init__(self) -> None:
        if self.kind == "http_429" and self.phase == "after":
            raise ValueError(
                "http_429 cannot strike after the request took effect: real servers refuse "
                "with 429 before acting (new-api's rate limiter, and its code 30 rewrite of an "
                "upstream refusal, both answer before any task exists), so a 429 proves that "
                "no task was created"
            )
        if self.html_error and not 500 <= self.http_status <= 599:
            raise ValueError(f"an HTML error fault answers a 5xx status, not {self.http_status}")

    @property
    def http_status(self) -> int:
        """The status an HTML error fault answers with."""
        match = _HTML_5XX.match(self.kind)
        return int(match.group(1)) if match else self.status

    @property
    def html_error(self) -> bool:
        """Whether this is one of the ``http_5xx_html`` kinds."""
        return self.kind == "http_5xx_html" or bool(_HTML_5XX.match(self.kind))


@attrs.define
class _Rule:
    fault: Fault
    fired: int = 0


class FaultBook:
    """The active rules and the seeded dice that decide when they strike."""

    def __init__(self, seed: int) -> None:
        # Not security: a replayable sequence is the point.
        self._rng = random.Random(f"{seed}:faults")  # noqa: S311
        self._rules: list[_Rule] = []
        self.fired = 0

    def add(self, fault: Fault) -> None:
        """Activate a rule; rules are tried in the order they were added."""
        self._rules.append(_Rule(fault))

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def __len__(self) -> int:
        return len(self._rules)

    def pick(self, endpoint: str, kinds: frozenset[str] | None = None) -> Fault | None:
        """The rule that strikes this request, if any (at most one per request)."""
        for rule in self._rules:
            fault = rule.fault
            if fault.endpoint not in ("*", endpoint):
                continue
            task_fault = fault.kind in ("stall", "vanish")
            if kinds is None and task_fault:
                continue
            if kinds is not None and fault.kind not in kinds:
                continue
            if fault.count is not None and rule.fired >= fault.count:
                continue
            if fault.rate < 1.0 and self._rng.random() >= fault.rate:
                continue
            rule.fired += 1
            self.fired += 1
            return fault
        return None
