"""Long-term insights shared across threads (the "AgentCore Memory" stand-in).

Insights live in a LangGraph store under `("insights", <namespace>)`. `recall` ranks them by
word overlap with the question on the client side, so it behaves the same on any `BaseStore`
(the Redis store, or `InMemoryStore` in graph tests): langgraph's Redis store indexes only
namespace and key, and ignores the query text unless an embedding index is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime

import redis
from langgraph.store.base import BaseStore, Item
from langgraph.store.redis import RedisStore
from langgraph.store.redis.aio import AsyncRedisStore
from pydantic import BaseModel, Field, ValidationError

from memory.redis_server import async_client

logger = logging.getLogger(__name__)

NAMESPACE_ROOT = "insights"
_PAGE = 200
_MAX_SCAN = 5_000  # Bounds the cost of one recall on a huge namespace.
_WORD = re.compile(r"\w+")
# Words too common to say two texts are about the same thing.
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
    }
)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


class Insight(BaseModel):
    """One finding worth remembering beyond the thread that produced it."""

    claim: str = Field(description="The finding, as one self-contained sentence.")
    value: str = Field(default="", description="The number or fact the claim rests on, if any.")
    source_url: str = Field(default="", description="Page the claim was read from.")
    date: str = Field(default_factory=_today, description="ISO date the claim was recorded.")
    thread_id: str = Field(description="Thread (research run) that produced the claim.")
    question: str = Field(default="", description="The user question that thread answered.")


def insight_key(insight: Insight) -> str:
    """Stable key from claim + source, so remembering the same finding twice overwrites it."""
    claim = " ".join(insight.claim.split()).casefold()
    digest = hashlib.sha256(f"{claim}\n{insight.source_url.strip()}".encode())
    return digest.hexdigest()[:32]


def _namespace(namespace: str) -> tuple[str, str]:
    if not namespace or "." in namespace:
        # The Redis store joins namespace labels with "." and forbids empty labels.
        msg = f"Insight namespace must be non-empty and contain no '.': got {namespace!r}"
        raise ValueError(msg)
    return (NAMESPACE_ROOT, namespace)


@asynccontextmanager
async def redis_store(url: str, *, ttl_minutes: float | None = None) -> AsyncIterator[BaseStore]:
    """Yield a LangGraph Redis store on `url` with its index created; close it on exit.

    `AsyncRedisStore` where it can be built, else the sync `RedisStore`, whose async methods
    run in a worker thread. `ttl_minutes` expires unread insights; None keeps them.
    """
    ttl = None if ttl_minutes is None else {"default_ttl": ttl_minutes, "refresh_on_read": True}
    async with async_client(url) as client:
        try:
            store = AsyncRedisStore(redis_client=client, ttl=ttl)  # type: ignore[arg-type]
        except TypeError as exc:
            # langgraph-checkpoint-redis 0.5.2 with redisvl >= 0.28: BaseRedisStore.__init__
            # wraps the async client in a sync SearchIndex, which redisvl now rejects.
            logger.debug("AsyncRedisStore unusable (%s); using RedisStore", exc)
        else:
            async with store:
                await store.setup()
                yield store
            return
    with closing(redis.Redis.from_url(url, protocol=2)) as sync_client:
        sync_store = RedisStore(sync_client, ttl=ttl)  # type: ignore[arg-type]
        await asyncio.to_thread(sync_store.setup)
        yield sync_store


async def remember(store: BaseStore, namespace: str, insights: list[Insight]) -> list[str]:
    """Store `insights` under `("insights", namespace)`; return their keys, in order."""
    ns = _namespace(namespace)
    keys = []
    for insight in insights:
        key = insight_key(insight)
        # index=False: recall ranks words itself; never embed unless a store asks for it.
        await store.aput(ns, key, insight.model_dump(mode="json"), index=False)
        keys.append(key)
    return keys


async def _items(store: BaseStore, ns: tuple[str, str]) -> AsyncIterator[Item]:
    """Every item stored exactly in `ns` (stores search by prefix, so deeper ones are dropped)."""
    offset = 0
    while offset < _MAX_SCAN:
        page = await store.asearch(ns, limit=_PAGE, offset=offset)
        for item in page:
            if tuple(item.namespace) == ns:
                yield item
        if len(page) < _PAGE:
            return
        offset += _PAGE


def _parse(item: Item) -> Insight | None:
    try:
        return Insight.model_validate(item.value)
    except ValidationError:
        logger.warning(
            "Skipping a stored value that is not an Insight: %r in %r", item.key, item.namespace
        )
        return None


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS}


def _score(query_words: set[str], insight: Insight) -> int:
    return len(query_words & _words(f"{insight.claim} {insight.value} {insight.question}"))


async def recall(store: BaseStore, namespace: str, query: str, *, limit: int = 5) -> list[Insight]:
    """Insights in `namespace` sharing words with `query`, best first, newest first on ties.

    A query without content words returns the newest insights. Values that are not insights
    are skipped with a warning in the log.
    """
    query_words = _words(query)
    scored: list[tuple[int, str, Insight]] = []
    async for item in _items(store, _namespace(namespace)):
        insight = _parse(item)
        if insight is None:
            continue
        score = _score(query_words, insight)
        if score or not query_words:
            scored.append((score, insight.date, insight))
    scored.sort(key=lambda row: (row[0], row[1]), reverse=True)
    return [insight for _, _, insight in scored[:limit]]


__all__ = ["Insight", "insight_key", "recall", "redis_store", "remember"]
