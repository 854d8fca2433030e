"""Which image inputs each upstream accepts. Pure.

The Java proxies (open-source and plus) read only data URLs (``DataUrlSerializer``; anything
else is a MalformedURLException, code 4 ``base64格式错误``). trueai's ``DataUrl.Parse`` also
takes an http(s) URL as is and raw base64 as a PNG.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["acceptable", "is_data_url", "is_http_url"]

_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,(?P<data>.*)$", re.DOTALL)
# trueai's own pattern: any type before ";base64,".
_CSHARP_DATA_URL = re.compile(r"data:(?P<type>.+?);base64,(?P<data>.+)", re.DOTALL)


def _decodes(data: str) -> bool:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def is_data_url(value: object) -> bool:
    """Whether ``value`` is a ``data:image/...;base64,`` URL holding valid base64."""
    if not isinstance(value, str):
        return False
    match = _DATA_URL.match(value)
    return match is not None and _decodes(match.group("data"))


def is_http_url(value: object) -> bool:
    """Whether ``value`` starts like a URL trueai fetches itself (``StartsWith("http")``)."""
    return isinstance(value, str) and value[:4].lower() == "http"


def acceptable(value: object, *, any_image: bool) -> bool:
    """Whether an upstream takes ``value`` as an image (``any_image``: trueai's rules)."""
    if not any_image:
        return is_data_url(value)
    if not isinstance(value, str) or not value.strip():
        return False
    if is_http_url(value):
        return True
    match = _CSHARP_DATA_URL.search(value)
    return _decodes(match.group("data") if match else value.strip())
