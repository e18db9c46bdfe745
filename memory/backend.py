"""Where a run's memory lives: its checkpoints, its thread's recorded settings, its insights.

A `MemoryBackend` opens a `ThreadMemory`, which the runner asks for three things and nothing
else: the settings a thread was last run with (what `flotilla resume` needs), a saver and a store
for the graph, and whether an error means the memory went away mid-run (then the run stops with
a message naming `flotilla resume`, finished steps kept). `RedisBackend` keeps everything in one
Redis, as the CLI always has; `memory.agentcore_backend.AgentCoreBackend` keeps it in Amazon
Bedrock AgentCore Memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

Savers = tuple[BaseCheckpointSaver[Any], BaseStore]


class MemoryUnavailable(RuntimeError):
    """The run's memory could not be reached, or went away; the message says what to do."""


class ThreadMemory(Protocol):
    """An opened backend: what a run reads and writes besides its graph's state."""

    where: str
    """The memory, as a message names it: "Redis at 'redis://…'"."""

    async def load_settings(self, thread_id: str) -> dict[str, Any] | None:
        """The settings `thread_id` last ran with, or None when there are none."""
        ...

    async def save_settings(
        self, thread_id: str, settings: dict[str, Any], *, ttl_minutes: float | None
    ) -> None:
        """Record the settings `thread_id` runs with (JSON values only)."""
        ...

    def checkpoints(self, *, ttl_minutes: float | None) -> AbstractAsyncContextManager[Savers]:
        """The graph's saver and store, open for the run."""
        ...

    def insights(self) -> AbstractAsyncContextManager[BaseStore]:
        """The store of long-term insights alone (`flotilla memory`)."""
        ...

    def lost(self, exc: BaseException, thread_id: str) -> MemoryUnavailable | None:
        """The error to stop with when `exc` means the memory went away; None otherwise."""
        ...


class MemoryBackend(Protocol):
    """A place runs keep their memory (see `ThreadMemory`)."""

    def open(self) -> AbstractAsyncContextManager[ThreadMemory]:
        """Reach the memory; raises `MemoryUnavailable` when it cannot be reached."""
        ...


@dataclass(frozen=True)
class RedisBackend:
    """Checkpoints, settings and insights in one Redis: `url`, else `$REDIS_URL`, else embedded."""

    url: str | None = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[ThreadMemory]:
        """Reach (or start) the Redis; stop an embedded one on exit."""
        from memory.redis_server import async_client, redis_url

        async with redis_url(self.url) as url, async_client(url) as client:
            yield _RedisMemory(url, client)


class _RedisMemory:
    def __init__(self, url: str, client: Any) -> None:
        self.url = url
        self.client = client
        self.where = f"Redis at {url!r}"

    async def load_settings(self, thread_id: str) -> dict[str, Any] | None:
        from memory.threads import load_thread_context

        return await load_thread_context(self.client, thread_id)

    async def save_settings(
        self, thread_id: str, settings: dict[str, Any], *, ttl_minutes: float | None
    ) -> None:
        from memory.threads import save_thread_context

        await save_thread_context(self.client, thread_id, settings, ttl_minutes=ttl_minutes)

    @asynccontextmanager
    async def checkpoints(self, *, ttl_minutes: float | None) -> AsyncIterator[Savers]:
        from memory.checkpoint import redis_saver
        from memory.insights import redis_store

        async with (
            redis_saver(self.url, ttl_minutes=ttl_minutes) as saver,
            redis_store(self.url) as store,
        ):
            yield saver, store

    def insights(self) -> AbstractAsyncContextManager[BaseStore]:
        from memory.insights import redis_store

        return redis_store(self.url)

    def lost(self, exc: BaseException, thread_id: str) -> MemoryUnavailable | None:
        from memory.redis_client import connection_failure

        failure = connection_failure(exc)
        if failure is None:
            return None
        reason = str(failure).splitlines()[0].rstrip(". ") or type(failure).__name__
        msg = (
            f"Redis at {self.url!r} went away during the run ({reason}). Finished steps are "
            f"checkpointed: once Redis is back, run `flotilla resume {thread_id}`."
        )
        from memory.redis_client import RedisUnavailable

        return RedisUnavailable(msg)


def settings_json(settings: dict[str, Any]) -> str:
    """A thread's settings as stored (compact JSON)."""
    return json.dumps(settings, separators=(",", ":"))


def settings_from_json(raw: Any) -> dict[str, Any] | None:
    """Stored settings back, or None when they are unreadable."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = [
    "MemoryBackend",
    "MemoryUnavailable",
    "RedisBackend",
    "Savers",
    "ThreadMemory",
    "settings_from_json",
    "settings_json",
]
