"""Recall: the insights related to a question, by words and by meaning, best first.

Candidates come from a store's RediSearch indices (a store from `redis_store`), else from
scanning the namespace: with the store's embedder, cosines from the stored claim vectors; without
one, from the store's own index (LangGraph's `IndexConfig`, e.g. LangGraph Server's store),
which scores each item by its cosine to the question. See `memory.insights` for the ranking.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from langgraph.store.base import BaseStore, Item

from memory.embeddings import Embedder
from memory.insights.model import (
    Insight,
    content_words,
    namespace_of,
    parse_insight,
    shared_words,
    vector_namespace,
)
from memory.insights.search import by_keys, fulltext_candidates, holds_vectors, nearest
from memory.insights.stores import Search, embed_or_none, embedder_of, search_of

_PAGE = 200
_MAX_SCAN = 5_000  # Bounds the cost of one recall on a huge namespace (scan path).
_CANDIDATES = 50  # Full-text matches (best first) re-ranked by words and meaning.
_KNN_SLACK = 5  # Nearest vectors fetched beyond `limit`, for ones on values that are not insights.
MEANING_MARGIN = 0.25  # A meaning-only match must be this close to the closest insight's cosine.
# The cosine floor on a store's own index, whose model recall does not know: the local
# MiniLM's, which langgraph.json configures for LangGraph Server's store.
STORE_INDEX_MIN_SIMILARITY = 0.35

Vector = npt.NDArray[np.float32]
Candidates = list[tuple[str, Any, float | None]]  # key, value, cosine to the question or None


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


def _cosine(stored: Any, model: str, query_vector: Vector) -> float | None:
    """Cosine between the query and a stored `{model, vector}`; None unless `model` made it."""
    if not isinstance(stored, dict) or stored.get("model") != model:
        return None
    try:
        vector = np.asarray(stored.get("vector"), dtype=np.float32)
    except (TypeError, ValueError):
        return None
    if vector.shape != query_vector.shape or not np.isfinite(vector).all():
        return None
    norm = float(np.linalg.norm(vector))
    return float(vector @ query_vector) / norm if norm > 0 else None


async def _query_vector(embedder: Embedder, query: str) -> Vector | None:
    vectors = await embed_or_none(embedder, [query], "the question")
    return None if vectors is None else vectors[0]


async def _by_store_index(store: BaseStore, ns: tuple[str, str], query: str) -> Candidates:
    """Every item of `ns`, scored by the store's own index (None where it has none)."""
    # One page: a store ranks by score before paging, and pages unscored items unreliably.
    items = await store.asearch(ns, query=query, limit=_MAX_SCAN)
    return [(i.key, i.value, i.score) for i in items if tuple(i.namespace) == ns]


async def _scanned_candidates(
    store: BaseStore, ns: tuple[str, str], query: str, embedder: Embedder | None
) -> Candidates:
    """Every item of `ns`, with cosines from the stored vectors (any store; no index)."""
    rows = [(item.key, item.value) async for item in _items(store, ns)]
    query_vector = None if embedder is None else await _query_vector(embedder, query)
    if embedder is None or query_vector is None:
        return [(key, value, None) for key, value in rows]
    stored = {item.key: item.value async for item in _items(store, vector_namespace(ns))}
    return [
        (key, value, _cosine(stored.get(key), embedder.name, query_vector)) for key, value in rows
    ]


async def _has_vectors(search: Search, ns: tuple[str, str], embedder: Embedder) -> bool:
    """Whether `ns` holds a vector by `embedder` (True when its length is not known yet)."""
    if (ns[1], embedder.name) in search.with_vectors:
        return True
    dims = getattr(embedder, "dims", None)
    if not isinstance(dims, int):
        if len(search.vectors) != 1:
            return True
        (dims,) = search.vectors
    found = await holds_vectors(search, ns, dims, embedder.name)
    if found:
        search.with_vectors.add((ns[1], embedder.name))
    return found


async def _indexed_candidates(
    search: Search,
    ns: tuple[str, str],
    query: str,
    query_words: set[str],
    embedder: Embedder | None,
    *,
    limit: int,
) -> Candidates:
    """Word matches from the full-text index, joined by the nearest claims from a KNN index.

    The question is embedded while the full-text search runs. Then, at once, two KNN queries:
    the cosines of the word matches (filtered by their keys), and the `limit` (+ slack) nearest
    claims: one found only by meaning ranks by its cosine alone, so one farther than `limit`
    valid others can't reach the top. Last, the values of the nearest that words did not find.
    (One KNN of the 50 nearest instead, scoring the word matches among them, saved ~1.5 of
    ~8 ms at 10,000 insights and left word matches farther away without a meaning score.)
    """
    words = fulltext_candidates(search, ns, query_words, limit=max(limit, _CANDIDATES))
    if embedder is None:
        return [(key, value, None) for key, value in await words]

    async def question_vector() -> Vector | None:
        # A namespace with no vector by this model: no need to embed (nor load the model).
        if not await _has_vectors(search, ns, embedder):
            return None
        return await _query_vector(embedder, query)

    rows, query_vector = await asyncio.gather(words, question_vector())
    if query_vector is None:
        return [(key, value, None) for key, value in rows]
    matched = [key for key, _ in rows]
    of_words, near = await asyncio.gather(
        nearest(search, ns, embedder.name, query_vector, limit=len(matched), among=matched),
        nearest(search, ns, embedder.name, query_vector, limit=limit + _KNN_SLACK),
    )
    found: Candidates = [(key, value, of_words.get(key)) for key, value in rows]
    by_words = set(matched)
    only_meaning = [key for key in near if key not in by_words]
    if only_meaning:
        for key, value in await by_keys(search, ns, only_meaning):
            found.append((key, value, near.get(key)))
    return found


@dataclass
class _Scored:
    key: str
    insight: Insight
    words: float  # share of the question's content words the insight contains
    meaning: float | None  # cosine between question and claim; None without a comparable vector

    def relevant(self, floor: float) -> bool:
        return self.words > 0 or (self.meaning is not None and self.meaning >= floor)

    def rank(self) -> tuple[float, str]:
        return (self.words + max(self.meaning or 0.0, 0.0), self.insight.date)


async def _candidates(
    store: BaseStore, ns: tuple[str, str], query: str, query_words: set[str], limit: int
) -> Candidates:
    embedder = embedder_of(store) if query_words else None  # no words: newest, no meaning
    search = search_of(store)
    if search is not None:
        return await _indexed_candidates(search, ns, query, query_words, embedder, limit=limit)
    if embedder is None and query_words:
        return await _by_store_index(store, ns, query)
    return await _scanned_candidates(store, ns, query, embedder)


async def recall_with_keys(
    store: BaseStore, namespace: str, query: str, *, limit: int = 5
) -> list[tuple[str, Insight]]:
    """`recall`, with each insight's key in the store (what `forget` takes)."""
    ns = namespace_of(namespace)
    query_words = content_words(query)
    scored: list[_Scored] = []
    for key, value, cosine in await _candidates(store, ns, query, query_words, limit):
        insight = parse_insight(value, key, ns)
        if insight is not None:
            words = shared_words(query_words, insight) / len(query_words) if query_words else 0.0
            scored.append(_Scored(key, insight, words, cosine))
    if query_words:
        embedder = embedder_of(store)
        floor = STORE_INDEX_MIN_SIMILARITY if embedder is None else embedder.min_similarity
        closest = max((s.meaning for s in scored if s.meaning is not None), default=0.0)
        scored = [s for s in scored if s.relevant(max(floor, closest - MEANING_MARGIN))]
    scored.sort(key=_Scored.rank, reverse=True)
    return [(s.key, s.insight) for s in scored[:limit]]


async def recall(store: BaseStore, namespace: str, query: str, *, limit: int = 5) -> list[Insight]:
    """Insights in `namespace` related to `query`, best first, newest first on ties.

    Related: sharing a content word with it or, with an embedder (or a store's own index),
    close in meaning (see `memory.insights`). A query without content words returns the newest
    insights. Values that are not insights are skipped with a warning in the log.
    """
    return [insight for _, insight in await recall_with_keys(store, namespace, query, limit=limit)]


__all__ = ["MEANING_MARGIN", "STORE_INDEX_MIN_SIMILARITY", "recall", "recall_with_keys"]
