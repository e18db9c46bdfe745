"""Long-term insights shared across threads (the "AgentCore Memory" stand-in).

Insights live in a LangGraph store under `("insights", <namespace>)`. `recall` ranks them by
word overlap with the question, so it ranks the same on any `BaseStore` (the Redis store, or
`InMemoryStore` in graph tests). langgraph's Redis store indexes only namespace and key, so on a
store from `redis_store` the candidates come from a RediSearch full-text index of our own over the
store's JSON documents (`flotilla_insights`: claim, value, question, namespace tag); on any other
store every item of the namespace is scanned. Semantic recall (embeddings) is not wired in yet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime
from typing import Any

import redis
from langgraph.store.base import BaseStore, Item
from langgraph.store.redis import RedisStore
from langgraph.store.redis.aio import AsyncRedisStore
from langgraph.store.redis.base import _namespace_to_text
from pydantic import BaseModel, Field, ValidationError

from memory.redis_server import async_client

logger = logging.getLogger(__name__)

NAMESPACE_ROOT = "insights"
INSIGHTS_INDEX = "flotilla_insights_v1"  # A new schema gets a new name (FT.CREATE keeps old ones).
_STORE_PREFIX = "store:"  # Where langgraph's Redis store keeps its JSON documents.
_PAGE = 200
_MAX_SCAN = 5_000  # Bounds the cost of one recall on a huge namespace (scan path).
_CANDIDATES = 50  # Full-text matches (best TF-IDF first) re-ranked by word overlap.
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


# RediSearch over the store's documents: namespace as an exact tag, the insight's words as text.
_INDEX_SCHEMA = (
    "$.prefix", "AS", "ns", "TAG", "SEPARATOR", "|",
    "$.key", "AS", "key", "TAG", "SEPARATOR", "|",
    "$.value.claim", "AS", "claim", "TEXT",
    "$.value.value", "AS", "value", "TEXT",
    "$.value.question", "AS", "question", "TEXT",
    "$.created_at", "AS", "created_at", "NUMERIC", "SORTABLE",
)  # fmt: skip

Execute = Callable[..., Awaitable[Any]]
# Stores made by `redis_store`, with the command runner recall uses for full-text search.
_FULLTEXT: weakref.WeakKeyDictionary[BaseStore, Execute] = weakref.WeakKeyDictionary()


async def _create_index(execute: Execute) -> None:
    """Create the insights full-text index once; an existing one is kept."""
    try:
        await execute(
            "FT.CREATE", INSIGHTS_INDEX, "ON", "JSON", "PREFIX", "1", _STORE_PREFIX,
            "SCHEMA", *_INDEX_SCHEMA,
        )  # fmt: skip
    except redis.ResponseError as exc:
        if "already exists" not in str(exc).lower():
            raise


@asynccontextmanager
async def redis_store(url: str, *, ttl_minutes: float | None = None) -> AsyncIterator[BaseStore]:
    """Yield a LangGraph Redis store on `url` with its indices created; close it on exit.

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
                await _create_index(client.execute_command)
                _FULLTEXT[store] = client.execute_command
                yield store
            return
    with closing(redis.Redis.from_url(url, protocol=2)) as sync_client:
        sync_store = RedisStore(sync_client, ttl=ttl)  # type: ignore[arg-type]
        await asyncio.to_thread(sync_store.setup)

        async def execute(*args: Any) -> Any:
            return await asyncio.to_thread(sync_client.execute_command, *args)

        await _create_index(execute)
        _FULLTEXT[sync_store] = execute
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


def _parse(value: Any, key: str, namespace: object) -> Insight | None:
    try:
        return Insight.model_validate(value)
    except ValidationError:
        logger.warning("Skipping a stored value that is not an Insight: %r in %r", key, namespace)
        return None


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS}


def _score(query_words: set[str], insight: Insight) -> int:
    return len(query_words & _words(f"{insight.claim} {insight.value} {insight.question}"))


def _escape(text: str) -> str:
    """Backslash every character RediSearch's query syntax could read as an operator."""
    return re.sub(r"([^\w])", r"\\\1", text)


async def _fulltext_candidates(
    execute: Execute, ns: tuple[str, str], query_words: set[str], *, limit: int
) -> AsyncIterator[tuple[str, Any]]:
    """(key, value) of documents in `ns` sharing a word with the query; newest when no words."""
    # The tag holds the namespace as the store wrote it (its own escaping), escaped once more.
    query = "@ns:{%s}" % _escape(_namespace_to_text(ns))  # noqa: UP031 - braces are query syntax
    args: list[Any] = []
    if query_words:
        query += " @claim|value|question:(%s)" % "|".join(map(_escape, sorted(query_words)))  # noqa: UP031
    else:
        args = ["SORTBY", "created_at", "DESC"]
    reply = await execute(
        "FT.SEARCH", INSIGHTS_INDEX, query, *args, "RETURN", "2", "$.key", "$.value",
        "LIMIT", "0", str(limit), "DIALECT", "2",
    )  # fmt: skip
    for fields in reply[2::2]:
        doc = dict(zip(fields[::2], fields[1::2], strict=True))
        raw_key, raw_value = doc.get(b"$.key"), doc.get(b"$.value")
        if raw_key is None or raw_value is None:
            continue
        try:
            yield raw_key.decode(), json.loads(raw_value)
        except ValueError:
            continue


async def _candidates(
    store: BaseStore, ns: tuple[str, str], query_words: set[str], *, limit: int
) -> AsyncIterator[tuple[str, Any]]:
    execute = _FULLTEXT.get(store)
    if execute is not None:
        async for row in _fulltext_candidates(
            execute, ns, query_words, limit=max(limit, _CANDIDATES)
        ):
            yield row
        return
    async for item in _items(store, ns):
        yield item.key, item.value


async def recall_with_keys(
    store: BaseStore, namespace: str, query: str, *, limit: int = 5
) -> list[tuple[str, Insight]]:
    """`recall`, with each insight's key in the store (what `forget` takes)."""
    ns = _namespace(namespace)
    query_words = _words(query)
    scored: list[tuple[int, str, str, Insight]] = []
    async for key, value in _candidates(store, ns, query_words, limit=limit):
        insight = _parse(value, key, ns)
        if insight is None:
            continue
        score = _score(query_words, insight)
        if score or not query_words:
            scored.append((score, insight.date, key, insight))
    scored.sort(key=lambda row: (row[0], row[1]), reverse=True)
    return [(key, insight) for _, _, key, insight in scored[:limit]]


async def recall(store: BaseStore, namespace: str, query: str, *, limit: int = 5) -> list[Insight]:
    """Insights in `namespace` sharing words with `query`, best first, newest first on ties.

    A query without content words returns the newest insights. Values that are not insights
    are skipped with a warning in the log.
    """
    return [insight for _, insight in await recall_with_keys(store, namespace, query, limit=limit)]


async def forget(store: BaseStore, namespace: str, key: str) -> bool:
    """Delete the insight stored under `key`; False when there was none."""
    ns = _namespace(namespace)
    execute = _FULLTEXT.get(store)
    if execute is None:
        found = await store.aget(ns, key) is not None
    else:
        # AsyncRedisStore.aget (0.5.2) finds nothing under a namespace holding an escaped "."
        # ("insights.<ns>"), so look the key up in our index instead.
        query = "@ns:{%s} @key:{%s}" % (_escape(_namespace_to_text(ns)), _escape(key))  # noqa: UP031
        reply = await execute("FT.SEARCH", INSIGHTS_INDEX, query, "NOCONTENT", "DIALECT", "2")
        found = bool(reply[0])
    if found:
        await store.adelete(ns, key)
    return found


__all__ = [
    "INSIGHTS_INDEX",
    "Insight",
    "forget",
    "insight_key",
    "recall",
    "recall_with_keys",
    "redis_store",
    "remember",
]
