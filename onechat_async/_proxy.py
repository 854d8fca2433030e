"""Which proxy a request goes through: one given, or the environment's when trusted.

The environment is read here, once per client, rather than by aiohttp's ``trust_env``: that
one also reads ``~/.netrc``, whose entry for the API host would clash with the key header,
and it costs two thread-pool hops per request.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from ._errors import InvalidRequestError
from ._secrets import register_secret

__all__ = ["proxy_for"]


def proxy_for(url: str, *, proxy: str | None, trust_env: bool) -> str | None:
    """The proxy to reach ``url`` through: ``proxy``, else the environment's when trusted.

    ``NO_PROXY`` is honoured for the environment's proxies only: an explicit proxy is always
    used. A proxy's password is registered as a secret, so no error or log line shows it.
    """
    if proxy is not None:
        if not isinstance(proxy, str) or urlsplit(proxy).scheme not in ("http", "https"):
            raise InvalidRequestError(f"proxy must be an http:// or https:// URL, got {proxy!r}")
        _register_password(proxy)
        return proxy
    if not isinstance(trust_env, bool):
        raise InvalidRequestError(f"trust_env must be True or False, got {trust_env!r}")
    if not trust_env:
        return None
    parts = urlsplit(url)
    found = urllib.request.getproxies_environment().get(parts.scheme)
    if not found or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    _register_password(found)
    return str(found)


def _register_password(proxy: str) -> None:
    # A proxy's password must not reach an error line any more than the API key may.
    password = urlsplit(proxy).password
    if password:
        register_secret(password)
