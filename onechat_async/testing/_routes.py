"""Which endpoint a path names: mode prefixes stripped, ids pulled out. Pure."""

from __future__ import annotations

import re

import attrs

__all__ = ["Route", "route"]

_MODES = {"/mj-fast": "FAST", "/mj-relax": "RELAX", "/mj-turbo": "TURBO"}
_POSTS = {
    "/mj/submit/imagine": "imagine",
    "/mj/submit/change": "change",
    "/mj/submit/simple-change": "simple-change",
    "/mj/submit/action": "action",
    "/mj/submit/modal": "modal",
    "/mj/submit/blend": "blend",
    "/mj/submit/describe": "describe",
    "/mj/submit/shorten": "shorten",
    "/mj/insight-face/swap": "swap-face",
    "/mj/task/list-by-condition": "list-by-condition",
}
_TASK_GET = re.compile(r"^/mj/task/(?P<id>[^/]+)/(?P<what>fetch|image-seed)$")
_IMAGE = re.compile(r"^/(?:mj/image/(?P<id>[^/?]+)|attachments/(?P<aid>[^/]+)/[^/]+\.png)$")


@attrs.frozen
class Route:
    """A resolved request: the endpoint's counter name, the task id if any, the method."""

    name: str
    method: str
    task_id: str = ""
    mode: str = ""

    @property
    def submit(self) -> bool:
        """Whether the endpoint creates or changes a task."""
        return self.method == "POST" and self.name != "list-by-condition"


def route(path: str) -> Route:
    """Resolve ``path``; unknown paths come back as ``Route("unknown", "")``."""
    image = _IMAGE.match(path)
    if image:
        return Route("image", "GET", image.group("id") or image.group("aid"))
    mode = ""
    for prefix, name in _MODES.items():
        if path.startswith(prefix + "/mj/"):
            path, mode = path[len(prefix) :], name
            break
    if path in _POSTS:
        return Route(_POSTS[path], "POST", mode=mode)
    task = _TASK_GET.match(path)
    if task:
        return Route(task.group("what"), "GET", task.group("id"), mode)
    return Route("unknown", "")
