"""Which endpoint a path names: a first segment before ``/mj/`` set apart, ids pulled out. Pure.

Whether a flavour serves the endpoint, and what a prefix means to it, is
:mod:`._flavours`' business; this only reads the path.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["Route", "route"]

_POSTS = {
    "/mj/submit/imagine": "imagine",
    "/mj/submit/change": "change",
    "/mj/submit/simple-change": "simple-change",
    "/mj/submit/action": "action",
    "/mj/submit/modal": "modal",
    "/mj/submit/blend": "blend",
    "/mj/submit/describe": "describe",
    "/mj/submit/shorten": "shorten",
    "/mj/submit/video": "video",
    "/mj/submit/edits": "edits",
    "/mj/submit/upload-discord-images": "upload-discord-images",
    "/mj/insight-face/swap": "swap-face",
    "/mj/task/list-by-condition": "list-by-condition",
}
_GETS = {"/mj/task/queue": "queue", "/mj/task/list": "list"}
_TASK = re.compile(r"^/mj/task/(?P<id>[^/]+)/(?P<what>fetch|image-seed|cancel)$")
_IMAGE = re.compile(r"^/mj/image/(?P<id>[^/]+)$")
#: The stand-in for Discord's (or Midjourney's) CDN: grid images, thumbnails, videos.
_CDN = re.compile(r"^/attachments/(?P<id>[^/]+)/(?P<file>[^/]+\.(?:png|webp|mp4))$")
_PREFIXED = re.compile(r"^/(?P<prefix>[^/]+)(?P<rest>/mj/.*)$")
#: Requests that create or change a paid task (cancel and the queries are not).
_NOT_SUBMITS = frozenset({"list-by-condition", "cancel"})


@attrs.frozen
class Route:
    """A resolved request: the endpoint's counter name, the task id if any, the method.

    ``prefix`` is the first path segment of ``/<prefix>/mj/...`` ("" for a plain ``/mj/``).
    """

    name: str
    method: str
    task_id: str = ""
    prefix: str = ""
    file: str = ""

    @property
    def submit(self) -> bool:
        """Whether the endpoint creates (or changes) a task someone pays for."""
        return self.method == "POST" and self.name not in _NOT_SUBMITS


def route(path: str) -> Route:
    """Resolve ``path``; unknown paths come back as ``Route("unknown", "")``."""
    cdn = _CDN.match(path)
    if cdn:
        return Route("cdn", "GET", cdn.group("id"), file=cdn.group("file"))
    prefix = ""
    prefixed = _PREFIXED.match(path)
    if prefixed and prefixed.group("prefix") != "mj":
        prefix, path = prefixed.group("prefix"), prefixed.group("rest")
    if path in _POSTS:
        return Route(_POSTS[path], "POST", prefix=prefix)
    if path in _GETS:
        return Route(_GETS[path], "GET", prefix=prefix)
    image = _IMAGE.match(path)
    if image:
        return Route("image", "GET", image.group("id"), prefix)
    task = _TASK.match(path)
    if task:
        what = task.group("what")
        return Route(what, "POST" if what == "cancel" else "GET", task.group("id"), prefix)
    return Route("unknown", "", prefix=prefix)
