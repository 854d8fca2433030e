"""Gateway-shaped list-by-condition bodies for the benchmarks that need no server.

The CPU and memory benchmarks measure the client's pure core on 10,000 tasks; building those
answers here keeps them deterministic and independent of the network. The task objects carry
the gateway's full field set (CONTRACT.md section 4), including the ``?rand=`` that the
gateway appends to ``imageUrl`` on every answer while a task runs, so that "nothing changed"
answers still differ byte for byte, as they do for real.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["CHUNK", "make_ids", "task_object", "tick_bodies"]

CHUNK = 100
_BASE_ID = 1_749_945_600_000_000
_SERVER = "https://gpts.onechat.fun"


def make_ids(n: int) -> list[str]:
    """``n`` task ids shaped like the real ones (epoch ms and three digits)."""
    return [str(_BASE_ID + 1_000 * i + i % 997) for i in range(n)]


def task_object(task_id: str, *, progress: int, tick: int) -> dict[str, Any]:
    """One running IMAGINE task at ``progress`` percent, as the gateway shows it."""
    submit = int(task_id) // 1000
    return {
        "id": task_id,
        "action": "IMAGINE",
        "customId": "",
        "botType": "",
        "prompt": "a lighthouse in a storm, oil painting --ar 3:2 --v 7",
        "promptEn": "a lighthouse in a storm, oil painting --ar 3:2 --v 7",
        "description": "提交成功",
        "state": f"order-{task_id[-6:]}",
        "submitTime": submit,
        "startTime": submit + 1_000,
        "finishTime": 0,
        "imageUrl": f"{_SERVER}/mj/image/{task_id}?rand={tick * 7919 + int(task_id) % 7919}",
        "status": "IN_PROGRESS",
        "progress": f"{progress}%",
        "failReason": "",
        "maskBase64": "",
        "properties": {"finalPrompt": "", "finalZhPrompt": ""},
        "buttons": [],
    }


def tick_bodies(ids: Sequence[str], *, tick: int, changed: float) -> list[bytes]:
    """The encoded answers of one tick over ``ids`` (chunks of 100).

    At tick 0 every task is at 10%; at each later tick the first ``changed`` fraction of
    every chunk has moved up by ``tick`` percent, the rest still shows 10%.
    """
    moved = round(CHUNK * changed)
    bodies = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        objects = [
            task_object(task_id, progress=10 + (tick if i < moved else 0), tick=tick)
            for i, task_id in enumerate(chunk)
        ]
        bodies.append(json.dumps(objects, ensure_ascii=False).encode())
    return bodies
