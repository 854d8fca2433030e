"""English beside the servers' Chinese: ``无效的令牌`` is shown as ``无效的令牌 (invalid token)``.

The gateway (new-api) and the Midjourney proxies answer in Chinese. The raw text stays (it
is what a search engine or the operator knows), followed by its meaning in parentheses. The
table holds the messages the servers are known to send (docs/quirks.md, the contract, the
simulator's copies); an unknown message is left as it came.
"""
# ruff: noqa: RUF001 - the full-width punctuation is the servers' own

from __future__ import annotations

import re

__all__ = ["english", "explain"]

#: (pattern, English). Longer phrases come first: at one position the first that matches
#: wins, so "上游任务超时" is not read as "任务超时". ``{field}`` is the ASCII word the
#: server put before the phrase ("prompt不能为空"), when there is one.
_TABLE: tuple[tuple[str, str], ...] = (
    # The gateway's key checks (HTTP 401/403).
    ("未提供令牌", "no API key was sent"),
    ("无效的令牌", "invalid token: the API key is wrong"),
    ("该令牌额度已用尽", "this key's quota is used up"),
    ("令牌额度已用尽", "the key's quota is used up"),
    ("普通用户不支持指定渠道", "ordinary users cannot choose a channel"),
    ("无效的渠道 ?Id", "invalid channel id"),
    # The gateway's distributor and relay.
    (r"分组 \S+ 下模型 \S+ 无可用渠道(?:（distributor）)?", "no channel serves this model"),
    ("无可用渠道", "no channel serves this model"),
    ("当前分组上游负载已饱和，请稍后再试", "the upstream is overloaded; try again later"),
    ("无效的midjourney请求", "invalid Midjourney request"),
    ("无效的请求", "invalid request"),
    ("上游任务超时（超过1小时）", "the upstream task timed out (over an hour)"),
    # The proxies' submit answers.
    (r"排队中，前面还有(?P<n>\d+)个任务", "queued, {n} tasks ahead"),
    ("提交失败，队列已满，请稍后重试", "submit failed: the queue is full, try again later"),
    ("队列已满，请稍后尝试", "the queue is full, try again later"),
    ("队列已满", "the queue is full"),
    ("可能包含敏感词", "the prompt may contain a banned word"),
    ("关联任务不存在或已失效", "the referenced task does not exist or has expired"),
    ("关联任务不允许执行变化", "the referenced task does not allow this change"),
    ("关联任务状态错误", "the referenced task is not in a state that allows this"),
    ("任务状态错误", "the task is not in a state that allows this"),
    ("任务类型错误", "wrong task type"),
    ("任务已存在", "the task already exists"),
    ("演示模式，禁止操作", "demo mode, not allowed: an admin key is needed"),
    ("请求参数错误", "invalid request parameters"),
    ("链接格式错误", "invalid link format"),
    (r"(?P<one>[A-Za-z0-9]+)或(?P<other>[A-Za-z0-9]+) ?不能为空", "give {one} or {other}"),
    (r"(?P<field>[A-Za-z0-9]+) ?不能为空", "{field} must not be empty"),
    ("不能为空", "must not be empty"),
    (r"(?P<field>[A-Za-z0-9]+) ?参数错误", "invalid {field}"),
    ("参数错误", "invalid parameter"),
    (r"(?P<field>[A-Za-z0-9]+) ?格式错误", "invalid {field} format"),
    ("格式错误", "invalid format"),
    # Task fail reasons.
    ("任务超时", "the task timed out"),
    ("取消任务", "task cancelled"),
    ("提交成功", "submitted"),
    ("提交失败", "submit failed"),
    # The gateway's own English-ish code, misspelt on the wire.
    (r"task_no_found", "task not found"),
)

_PATTERNS = tuple((re.compile(pattern), text) for pattern, text in _TABLE)
_GROUP = re.compile(r"\(\?P<\w+>")
# One scan for all of them; a group name may appear only once in a pattern, so the
# combined one has plain groups.
_ANY = re.compile("|".join("(?:" + _GROUP.sub("(?:", pattern) + ")" for pattern, _ in _TABLE))


def _meaning(phrase: str) -> str:
    for pattern, text in _PATTERNS:
        match = pattern.fullmatch(phrase)
        if match is not None:
            return text.format(**match.groupdict())
    return ""  # pragma: no cover - _ANY matched, so one of the patterns does


def english(text: str) -> list[str]:
    """The English of every known server phrase in ``text``, in order; empty if none."""
    return [_meaning(match.group(0)) for match in _ANY.finditer(text)]


def explain(text: str) -> str:
    """``text`` with the English of each known phrase in parentheses right after it."""
    return _ANY.sub(lambda match: f"{match.group(0)} ({_meaning(match.group(0))})", text)
