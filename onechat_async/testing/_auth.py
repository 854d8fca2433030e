"""Who may call: the key check of each server, exactly as its code reads the headers.

- new-api (``middleware/auth.go TokenAuth``): ``Authorization`` with "Bearer " stripped;
  ``mj-api-secret`` only when that is empty (or the placeholder ``midjourney-proxy``);
  then "sk-" goes and ``KEY-<channel>`` names a channel, which only an admin's token may
  pin (others: 403 普通用户不支持指定渠道). Refusals are ``new_api_error`` JSON.
- Java (``ApiAuthorizeInterceptor``): ``mj-api-secret`` only, compared as is; 401, empty.
- trueai (``WorkContext``): ``Authorization`` verbatim whenever present ("Bearer sk-..." is
  then an unknown user), ``Mj-Api-Secret`` otherwise; 401 in plain text.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._shapes import Reply, empty, new_api_error, text

__all__ = ["GatewayKey", "gateway_key", "upstream_refusal"]

#: The header new-api adds when a user who is not an admin pins a channel.
_CHANNEL_VERSION = "701e3ae1dc3f7975556d354e0675168d004891c8"


def _bearerless(value: str) -> str:
    if value.startswith(("Bearer ", "bearer ")):
        value = value[7:]
    return value.strip()


@attrs.frozen
class GatewayKey:
    """new-api's verdict on a request's key: a refusal, or the channel it pins (if any)."""

    refusal: Reply | None = None
    channel: str | None = None


def gateway_key(
    headers: Mapping[str, str], *, api_key: str, admin: bool, request_id: str
) -> GatewayKey:
    """new-api's TokenAuth."""
    key = _bearerless(headers.get("Authorization", ""))
    if key in ("", "midjourney-proxy"):
        key = _bearerless(headers.get("mj-api-secret", ""))
    # new-api splits "KEY-<channel>" at the first dash; its keys have none. A simulator key
    # may, so the configured key is matched whole and only what follows it is a channel.
    presented, token = key.removeprefix("sk-"), api_key.removeprefix("sk-")
    if not presented:
        return GatewayKey(new_api_error(401, "未提供令牌", request_id=request_id))
    if presented == token:
        return GatewayKey()
    if not presented.startswith(f"{token}-"):
        return GatewayKey(new_api_error(401, "无效的令牌", request_id=request_id))
    channel = presented[len(token) + 1 :].split("-")[0]
    if not admin:
        refusal = new_api_error(403, "普通用户不支持指定渠道", request_id=request_id)
        return GatewayKey(refusal.with_headers(specific_channel_version=_CHANNEL_VERSION))
    return GatewayKey(channel=channel)


def upstream_refusal(flavour: str, headers: Mapping[str, str], *, api_key: str) -> Reply | None:
    """The refusal of a bare proxy, or None when the key is right."""
    if flavour in ("java", "java-plus"):
        return None if headers.get("mj-api-secret") == api_key else empty(401)
    token = headers.get("Authorization")
    if token is None:
        token = headers.get("Mj-Api-Secret", "")
    return None if token == api_key else text(401, "Authorization header missing.")
