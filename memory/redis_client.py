"""Reaching a Redis: its error, its checks, the shared async client.

`RedisUnavailable` is what every Redis helper raises; `check_redis` asks a server for PING and
the JSON and Search modules; `async_client` is the client the saver and the store share; and
`connection_failure` finds the connection error in what libraries above the client re-raise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import redis
import redis.asyncio

from memory.backend import MemoryUnavailable

REDIS_URL_ENV = "REDIS_URL"
REQUIRED_MODULES = frozenset({"ReJSON", "search"})
_CHECK_TIMEOUT_S = 2.0


class RedisUnavailable(MemoryUnavailable):
    """Redis could not be started or reached; the message says which and what to do."""


def _unreachable(url: str, reason: object) -> RedisUnavailable:
    msg = (
        f"Redis at {url!r} is not reachable: {str(reason).rstrip('. ')}. Start that server, "
        f"fix {REDIS_URL_ENV}, or unset {REDIS_URL_ENV} to use the embedded Redis."
    )
    return RedisUnavailable(msg)


def _module_names(modules: Any) -> set[str]:
    names = {m.get(b"name", m.get("name")) for m in modules if isinstance(m, dict)}
    return {n.decode() if isinstance(n, bytes) else str(n) for n in names}


def _check_modules(url: str, modules: Any) -> None:
    missing = REQUIRED_MODULES - _module_names(modules)
    if missing:
        msg = (
            f"Redis at {url!r} lacks the {', '.join(sorted(missing))} module(s) that checkpoints "
            f"need. Use Redis 8 or Redis Stack, or unset {REDIS_URL_ENV} to use the embedded Redis."
        )
        raise RedisUnavailable(msg)


# Managed services may forbid MODULE LIST; then we cannot tell, and let the saver report it.
_UNKNOWN_MODULES = [{"name": name} for name in REQUIRED_MODULES]

_C = TypeVar("_C", redis.Redis, redis.asyncio.Redis)


def _check_client(cls: type[_C], url: str, timeout: float) -> _C:
    try:
        return cls.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:
        msg = f"{url!r} is not a Redis URL ({exc}). Use redis://host:port/db or rediss://…"
        raise RedisUnavailable(msg) from None


async def check_redis(url: str, *, connect_timeout: float = _CHECK_TIMEOUT_S) -> None:
    """Raise RedisUnavailable unless `url` answers PING and has the JSON + Search modules."""
    client = _check_client(redis.asyncio.Redis, url, connect_timeout)
    try:
        await client.ping()
        try:
            modules = list(await client.module_list())
        except redis.ResponseError:
            modules = _UNKNOWN_MODULES
    except (redis.RedisError, OSError) as exc:
        raise _unreachable(url, exc) from None
    finally:
        await client.aclose()
    _check_modules(url, modules)


def check_redis_sync(url: str, *, connect_timeout: float = _CHECK_TIMEOUT_S) -> None:
    """Blocking twin of `check_redis`."""
    client = _check_client(redis.Redis, url, connect_timeout)
    try:
        client.ping()
        try:
            modules = list(client.module_list())
        except redis.ResponseError:
            modules = _UNKNOWN_MODULES
    except (redis.RedisError, OSError) as exc:
        raise _unreachable(url, exc) from None
    finally:
        client.close()
    _check_modules(url, modules)


@asynccontextmanager
async def async_client(url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An async client for `url` (redis:// or rediss://), closed with its pool on exit.

    The saver and store get a client from here rather than a URL: given a URL, they build one
    through redisvl's `get_async_redis_connection`, which emits a DeprecationWarning on every
    call (redisvl 0.28). RESP2 is what redisvl expects.
    """
    client = redis.asyncio.Redis.from_url(url, protocol=2)
    try:
        yield client
    finally:
        await client.aclose()


def connection_failure(exc: BaseException) -> BaseException | None:
    """The Redis connection error in `exc`, its causes or its group; None if there is none.

    Libraries above the client (redisvl, the saver) re-raise connection errors as their own
    types, so the whole chain is searched.
    """
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, redis.ConnectionError | redis.TimeoutError):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


__all__ = [
    "REDIS_URL_ENV",
    "REQUIRED_MODULES",
    "RedisUnavailable",
    "async_client",
    "check_redis",
    "check_redis_sync",
    "connection_failure",
]
