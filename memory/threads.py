"""What a thread needs besides its checkpoints: the run settings it was started with.

`flotilla resume` must run a thread with the same `Context` as the run that was killed (its
allow-listed hosts, quotas, runs folder), so the CLI keeps it in one small JSON key per thread,
`flotilla:thread:<id>:context`, which expires with the thread's checkpoints when they have a TTL.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio

CONTEXT_KEY = "flotilla:thread:{thread_id}:context"


async def save_thread_context(
    client: redis.asyncio.Redis,
    thread_id: str,
    context: dict[str, Any],
    *,
    ttl_minutes: float | None = None,
) -> None:
    """Record the settings `thread_id` runs with (JSON-serialisable values only)."""
    ttl = None if ttl_minutes is None else max(1, round(ttl_minutes * 60))
    await client.set(CONTEXT_KEY.format(thread_id=thread_id), json.dumps(context), ex=ttl)


async def load_thread_context(client: redis.asyncio.Redis, thread_id: str) -> dict[str, Any] | None:
    """The settings recorded for `thread_id`, or None when there are none (or they are unreadable)."""
    raw = await client.get(CONTEXT_KEY.format(thread_id=thread_id))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


__all__ = ["CONTEXT_KEY", "load_thread_context", "save_thread_context"]
