"""Server texts that carry full-width punctuation, kept verbatim in one place.

Clients match on these strings (for instance "队列已满" in a code 9), so they must read
exactly as the servers write them, full-width commas and brackets included.
"""
# ruff: noqa: RUF001 - the full-width punctuation is the servers' own

from __future__ import annotations

__all__ = [
    "CANCEL_REFUSED",
    "GATEWAY_TIMEOUT",
    "INVALID_MJ_REQUEST",
    "INVALID_REQUEST",
    "NO_CHANNEL",
    "OVERLOADED",
    "QUEUED",
    "QUEUE_FULL_CSHARP",
    "QUEUE_FULL_JAVA",
]

#: Submit description of a task that waits; ``{ahead}`` is how many wait before it.
QUEUED = "排队中，前面还有{ahead}个任务"
#: Java proxy, code 23.
QUEUE_FULL_JAVA = "队列已满，请稍后尝试"
#: C# proxy, code 9.
QUEUE_FULL_CSHARP = "提交失败，队列已满，请稍后重试"
#: new-api's fail reason for a task still unfinished after an hour.
GATEWAY_TIMEOUT = "上游任务超时（超过1小时）"
#: new-api's code 30 answer, with HTTP 429.
OVERLOADED = "当前分组上游负载已饱和，请稍后再试"
#: new-api's distributor (i18n zh-CN): ``{error}`` is why it refused the request.
INVALID_REQUEST = "无效的请求，{error}"
#: ... and why it could not decode a Midjourney body.
INVALID_MJ_REQUEST = "无效的midjourney请求，{error}"
#: ... and a billing model no channel serves (``mj_`` for a change without ``action``).
NO_CHANNEL = "分组 {group} 下模型 {model} 无可用渠道（distributor）"
#: trueai's cancel for a token that is not an admin's (HTTP 400, plain text).
CANCEL_REFUSED = "演示模式，禁止操作"
