"""Which server offers what: the routes of each flavour, and how its upstream words things.

Read from each server's own source (see docs/testing.md for the table):

- ``gateway``: new-api (``router/relay-router.go registerMjRouterGroup``) in front of an
  upstream proxy, ``java-plus`` by default or ``csharp-v10``.
- ``java``: the open-source midjourney-proxy (novicezk): imagine, change, simple-change,
  describe, blend and the task queries; no buttons, no MODAL, data URLs only.
- ``java-plus``: the closed plus edition as its docs describe it: the open-source routes plus
  action, modal, shorten, swap-face, image-seed, buttons and video; edits and
  upload-discord-images (which the docs do not detail) are modelled on trueai's.
- ``csharp-v10``: trueai-org's rewrite, v10 and later: no change or simple-change, but
  video, edits, uploads, cancel, describe by link and raw base64 or http(s) image inputs.
"""

from __future__ import annotations

import attrs

from ._messages import QUEUE_FULL_CSHARP, QUEUE_FULL_JAVA

__all__ = ["FLAVOURS", "UPSTREAMS", "Dialect", "mode_of", "serves"]

#: Whose server a :class:`Simulator` can be: new-api's gateway, or a bare proxy.
FLAVOURS = ("gateway", "java", "java-plus", "csharp-v10")
#: The upstreams a simulated gateway can front.
UPSTREAMS = ("java-plus", "csharp-v10")

_JAVA = frozenset(
    {
        "imagine",
        "change",
        "simple-change",
        "describe",
        "blend",
        "fetch",
        "list-by-condition",
        "queue",
        "list",
    }
)
_PLUS_EXTRAS = frozenset(
    {
        "action",
        "modal",
        "shorten",
        "swap-face",
        "image-seed",
        "video",
        "edits",
        "upload-discord-images",
    }
)
_PLUS = _JAVA | _PLUS_EXTRAS
_CSHARP = (_PLUS - {"change", "simple-change", "queue"}) | {"cancel"}
# new-api routes no queue, list or cancel; /mj/image/{id} is its own.
_GATEWAY = (_PLUS - {"queue", "list"}) | {"image"}
_ROUTES = {"gateway": _GATEWAY, "java": _JAVA, "java-plus": _PLUS, "csharp-v10": _CSHARP}
#: trueai's mode routes ([Route("mj-turbo/mj/submit")] ...); ASP.NET matches them in any case.
_CSHARP_MODES = {"mj-fast": "FAST", "mj-relax": "RELAX", "mj-turbo": "TURBO"}


def serves(flavour: str, endpoint: str) -> bool:
    """Whether ``flavour``'s server has a route for ``endpoint`` (the CDN is everyone's)."""
    return endpoint == "cdn" or endpoint in _ROUTES[flavour]


def mode_of(flavour: str, prefix: str) -> str | None:
    """The speed mode a path prefix asks for, "" for none, None if the server has no such route.

    new-api routes any ``/<x>/mj/...`` and reads the mode nowhere; trueai has the three
    ``mj-<mode>`` routes; the Java proxies have none.
    """
    if not prefix:
        return ""
    if flavour == "gateway":
        return ""
    if flavour == "csharp-v10":
        return _CSHARP_MODES.get(prefix.lower())
    return None


@attrs.frozen
class Dialect:
    """How one upstream proxy validates and words its submit answers."""

    flavour: str
    #: trueai's DataUrl.Parse: raw base64 and http(s) URLs besides data URLs.
    any_image: bool
    #: trueai describes an image by ``link`` too.
    links: bool
    #: trueai answers a missing parent task with HTTP 404 (NotFound(...)), Java with 200.
    not_found_status: int
    #: Whether tasks carry Discord buttons (the plus edition and trueai).
    buttons: bool
    queue_full_code: int
    queue_full_text: str

    @classmethod
    def of(cls, flavour: str) -> Dialect:
        """The dialect of an upstream flavour."""
        if flavour == "csharp-v10":
            return cls(
                flavour,
                any_image=True,
                links=True,
                not_found_status=404,
                buttons=True,
                queue_full_code=9,
                queue_full_text=QUEUE_FULL_CSHARP,
            )
        return cls(
            flavour,
            any_image=False,
            links=False,
            not_found_status=200,
            buttons=flavour == "java-plus",
            queue_full_code=23,
            queue_full_text=QUEUE_FULL_JAVA,
        )
