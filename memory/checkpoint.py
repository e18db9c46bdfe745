"""Short-term memory: LangGraph checkpoints per thread in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from memory.redis_server import async_client
from memory.saver import FlotillaRedisSaver


@asynccontextmanager
async def redis_saver(
    url: str, *, ttl_minutes: float | None = None
) -> AsyncIterator[FlotillaRedisSaver]:
    """Yield the project's Redis saver on `url` with its indices created; close it on exit.

    That is upstream's `AsyncRedisSaver` with its conformance gaps fixed (`memory.saver`); its
    serde revives any type until `memory.serde.trust_only` makes it strict (`build_graph` does).

    `ttl_minutes` expires a thread's checkpoints that long after their last write or read;
    None keeps them until deleted. Check the URL first with `memory.redis_client.check_redis`
    (or get it from `redis_url()`) for a readable error when Redis is down.
    """
    ttl = None if ttl_minutes is None else {"default_ttl": ttl_minutes, "refresh_on_read": True}
    # The saver's __aenter__ runs asetup(): idempotent index creation.
    async with async_client(url) as client:
        saver = FlotillaRedisSaver(redis_client=client, ttl=ttl)
        async with saver:
            yield saver


__all__ = ["redis_saver"]
