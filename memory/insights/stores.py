"""Stores for insights: `redis_store`, its RediSearch indices, and each store's embedder.

langgraph's Redis store indexes only namespace and key, so a store from `redis_store` gets
RediSearch indices of our own over the store's JSON documents, declared as `redisvl` schemas:
full text (`flotilla_insights_v1`: claim, value, question; namespace and key tags) and, per
vector length, a KNN index (`flotilla_vectors_<dims>_v1`: FLAT, COSINE; namespace, key and model
tags). A malformed vector fails only in the vector index, so its insight is still found by words.
"""

from __future__ import annotations

import asyncio
import enum
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import redis
from langgraph.store.base import BaseStore
from langgraph.store.redis import RedisStore
from langgraph.store.redis.aio import AsyncRedisStore
from redisvl.index import AsyncSearchIndex
from redisvl.schema import IndexSchema

from memory.embeddings import Embedder, aembed, embedder_from_env
from memory.insights.model import logger
from memory.redis_server import async_client

INSIGHTS_INDEX = "flotilla_insights_v1"  # A new schema gets a new name (FT.CREATE keeps old ones).
_STORE_PREFIX = "store:"  # Where langgraph's Redis store keeps its JSON documents.
TEXT_FIELDS = ("claim", "value", "question")


def _tag(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "type": "tag", "path": path, "attrs": {"separator": "|"}}


def _schema(name: str, fields: list[dict[str, Any]]) -> IndexSchema:
    index = {"name": name, "prefix": _STORE_PREFIX, "storage_type": "json"}
    return IndexSchema.from_dict({"index": index, "fields": fields})


# Namespace (as the store wrote it) and key as exact tags, the insight's words as text.
_INSIGHTS_SCHEMA = _schema(
    INSIGHTS_INDEX,
    [
        _tag("ns", "$.prefix"),
        _tag("key", "$.key"),
        *({"name": f, "type": "text", "path": f"$.value.{f}"} for f in TEXT_FIELDS),
        {
            "name": "created_at",
            "type": "numeric",
            "path": "$.created_at",
            "attrs": {"sortable": True},
        },
    ],
)


def vector_index_name(dims: int) -> str:
    """The KNN index over claim vectors of `dims` floats (one per length: FT.CREATE fixes it)."""
    return f"flotilla_vectors_{dims}_v1"


def _vector_schema(dims: int) -> IndexSchema:
    # FLAT: exact KNN, brute force over the namespace's vectors (a few ms at 10,000: make bench).
    vector = {"algorithm": "flat", "dims": dims, "distance_metric": "cosine", "datatype": "float32"}
    return _schema(
        vector_index_name(dims),
        [
            _tag("ns", "$.prefix"),
            _tag("key", "$.key"),
            _tag("model", "$.value.model"),
            {"name": "vector", "type": "vector", "path": "$.value.vector", "attrs": vector},
        ],
    )


async def _create(index: AsyncSearchIndex) -> AsyncSearchIndex:
    """Create the index once; an existing one (made by another process too) is kept."""
    try:
        await index.create(overwrite=False)
    except Exception as exc:  # redisvl wraps the server's error; a racing creator is fine
        if "already exists" not in str(exc).lower():
            raise
    return index


@dataclass
class Search:
    """How recall reaches a Redis store's indices: the full-text one, the vector ones made."""

    client: Any  # redis.asyncio.Redis
    fulltext: AsyncSearchIndex
    vectors: dict[int, AsyncSearchIndex] = field(default_factory=dict)
    # (namespace, model) seen holding vectors: not asked again (a stale yes costs one embedding).
    with_vectors: set[tuple[str, str]] = field(default_factory=set)

    async def vector_index(self, dims: int) -> AsyncSearchIndex:
        """The KNN index over vectors of `dims` floats, created on first use."""
        if dims not in self.vectors:
            index = AsyncSearchIndex(_vector_schema(dims), redis_client=self.client)
            self.vectors[dims] = await _create(index)
        return self.vectors[dims]


# Stores made by `redis_store`, with the indices recall searches.
_SEARCH: weakref.WeakKeyDictionary[BaseStore, Search] = weakref.WeakKeyDictionary()
# Stores that embed claims and questions (`set_embedder`).
_EMBEDDERS: weakref.WeakKeyDictionary[BaseStore, Embedder] = weakref.WeakKeyDictionary()


def set_embedder(store: BaseStore, embedder: Embedder | None) -> None:
    """Recall by meaning on `store` with `embedder` (None: by words, or the store's own index)."""
    if embedder is None:
        _EMBEDDERS.pop(store, None)
    else:
        _EMBEDDERS[store] = embedder


def embedder_of(store: BaseStore) -> Embedder | None:
    """The embedder `store` recalls with, if any."""
    return _EMBEDDERS.get(store)


def search_of(store: BaseStore) -> Search | None:
    """The RediSearch indices of a store from `redis_store`; None for any other store."""
    return _SEARCH.get(store)


class _FromEnv(enum.Enum):
    FROM_ENV = "from FLOTILLA_EMBEDDINGS"


FROM_ENV = _FromEnv.FROM_ENV


@asynccontextmanager
async def redis_store(
    url: str,
    *,
    ttl_minutes: float | None = None,
    embedder: Embedder | _FromEnv | None = FROM_ENV,
) -> AsyncIterator[BaseStore]:
    """Yield a LangGraph Redis store on `url` with its indices created; close it on exit.

    `AsyncRedisStore` where it can be built, else the sync `RedisStore`, whose async methods
    run in a worker thread. `ttl_minutes` expires unread insights; None keeps them. `embedder`
    (default: the one `FLOTILLA_EMBEDDINGS` names, see `memory.embeddings`) adds recall by
    meaning; None recalls by words only. A misconfigured embedder raises
    `EmbeddingsUnavailable` (a ValueError) before Redis is touched.
    """
    # (Finding the model's files touches the disk: not on the event loop.)
    chosen = await asyncio.to_thread(embedder_from_env) if embedder is FROM_ENV else embedder
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
                for attempt in range(_SETUP_TRIES):
                    try:
                        await store.setup()
                        break
                    except Exception as exc:
                        _raced(exc, attempt)
                await _attach(store, client, chosen)
                yield store
            return
        with closing(redis.Redis.from_url(url, protocol=2)) as sync_client:
            sync_store = RedisStore(sync_client, ttl=ttl)  # type: ignore[arg-type]
            await asyncio.to_thread(_setup_sync, sync_store)
            await _attach(sync_store, client, chosen)
            yield sync_store


# A store's setup checks for its indices, then creates the missing ones: two processes starting
# on one Redis at once (two CLI runs) can both see none, and the later create fails with "Index
# already exists". Setting up again then finds the index and keeps it.
_SETUP_TRIES = 3


def _raced(exc: Exception, attempt: int) -> None:
    """Re-raise `exc` unless it is a racing creator's index and a try is left."""
    if "already exists" not in str(exc).lower() or attempt == _SETUP_TRIES - 1:
        raise exc


def _setup_sync(store: RedisStore) -> None:
    for attempt in range(_SETUP_TRIES):
        try:
            store.setup()
            return
        except Exception as exc:
            _raced(exc, attempt)


async def _attach(store: BaseStore, client: Any, embedder: Embedder | None) -> None:
    fulltext = await _create(AsyncSearchIndex(_INSIGHTS_SCHEMA, redis_client=client))
    search = Search(client, fulltext)
    dims = getattr(embedder, "dims", None)
    if isinstance(dims, int):  # known ahead (the local model); others on their first vector
        await search.vector_index(dims)
    _SEARCH[store] = search
    set_embedder(store, embedder)


@asynccontextmanager
async def embedder_loading(store: BaseStore) -> AsyncIterator[None]:
    """While the body runs, the store's embedder loads its model in a worker thread.

    For a caller that will embed later (a run: its remember step), so the model's ~0.5-1 s
    load overlaps the work before instead of adding to it; the first `embed` waits for the load
    (the model's lock). A load that fails is not raised here: the first `embed` raises it again
    (kept by the model), and recall and remember fall back to words as without a preload. An
    embedder without a `load` (Bedrock, a test's) is left alone. The body's exit waits for the
    load.
    """
    load = getattr(embedder_of(store), "load", None)
    if not callable(load):
        yield
        return

    def warm() -> None:
        try:
            load()
        except Exception as exc:  # said again by the first embed, where it is handled
            logger.debug("Loading the embedder ahead failed: %s", exc)

    loading = asyncio.create_task(asyncio.to_thread(warm))
    try:
        yield
    finally:
        await loading


async def embed_or_none(
    embedder: Embedder, texts: Sequence[str], what: str
) -> npt.NDArray[np.float32] | None:
    """Vectors for `texts`, or None (logged) when the model fails: recall by words still works."""
    try:
        vectors = await aembed(embedder, texts)
    except Exception:  # a model or service failure must not lose the run's insights or recall
        logger.warning(
            "Embedding %s with %s failed; words only", what, embedder.name, exc_info=True
        )
        return None
    if vectors.shape[0] != len(texts) or not np.isfinite(vectors).all():
        logger.warning(
            "Embedding %s with %s gave unusable vectors; words only", what, embedder.name
        )
        return None
    return vectors


__all__ = [
    "FROM_ENV",
    "INSIGHTS_INDEX",
    "TEXT_FIELDS",
    "Search",
    "embed_or_none",
    "embedder_loading",
    "embedder_of",
    "redis_store",
    "search_of",
    "set_embedder",
    "vector_index_name",
]
