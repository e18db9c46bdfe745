"""Remembering insights (with their claims' vectors) and forgetting them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from langgraph.store.base import BaseStore, PutOp

from memory.insights.model import Insight, insight_key, namespace_of, vector_namespace
from memory.insights.search import holds_key
from memory.insights.stores import embed_or_none, embedder_of, search_of

# What a store with its own index (LangGraph's `IndexConfig`) embeds of an insight.
INDEXED_FIELDS = ["claim"]


def insight_puts(
    namespace: str, insights: list[Insight], model: str | None = None, vectors: Any = None
) -> list[PutOp]:
    """The store writes that remember `insights`, with `model`'s claim `vectors` when given.

    Without vectors of ours, a store with its own index embeds each claim itself (a store
    without one ignores the request).
    """
    ns = namespace_of(namespace)
    ours = model is not None and vectors is not None
    ops = []
    for i, insight in enumerate(insights):
        key = insight_key(insight)
        value = insight.model_dump(mode="json")
        ops.append(PutOp(ns, key, value, index=False if ours else INDEXED_FIELDS))
        if ours:
            # Six decimals of a unit vector: cosines move < 1e-5; the JSON is half as long.
            vector = np.round(np.asarray(vectors[i], dtype=np.float64), 6).tolist()
            stored = {"model": model, "vector": vector}
            ops.append(PutOp(vector_namespace(ns), key, stored, index=False))
    return ops


def _without_repeated_texts(ops: list[PutOp]) -> list[list[PutOp]]:
    """`ops` in batches in which no text the store is asked to embed repeats.

    LangGraph's `InMemoryStore` (LangGraph Server's dev store) fails on a batch that embeds one
    text twice (two sources for one claim). The n-th put of a claim goes in the n-th batch.
    """
    batches: list[list[PutOp]] = [[]]
    seen: Counter[str] = Counter()
    for op in ops:
        level = 0
        if op.index and isinstance(op.value, dict):
            text = str(op.value.get("claim"))
            level, seen[text] = seen[text], seen[text] + 1
        if level == len(batches):
            batches.append([])
        batches[level].append(op)
    return batches


async def remember(store: BaseStore, namespace: str, insights: list[Insight]) -> list[str]:
    """Store `insights` under `("insights", namespace)`; return their keys, in order.

    With an embedder on the store, each claim's vector is stored under the same key in
    `("insight_vectors", namespace)`: recall reads insights without carrying their vectors.
    """
    namespace_of(namespace)
    embedder, search = embedder_of(store), search_of(store)
    vectors = None
    if embedder is not None and insights:
        vectors = await embed_or_none(embedder, [i.claim for i in insights], "insights")
        if vectors is not None and search is not None:
            await search.vector_index(vectors.shape[1])
    model = None if embedder is None or vectors is None else embedder.name
    for batch in _without_repeated_texts(insight_puts(namespace, insights, model, vectors)):
        if batch:
            await store.abatch(batch)
    if model is not None and search is not None:
        search.with_vectors.add((namespace, model))
    return [insight_key(insight) for insight in insights]


async def forget(store: BaseStore, namespace: str, key: str) -> bool:
    """Delete the insight stored under `key` (and its vector); False when there was none."""
    ns = namespace_of(namespace)
    search = search_of(store)
    if search is None:
        found = await store.aget(ns, key) is not None
    else:
        # AsyncRedisStore.aget (0.5.2) finds nothing under a namespace holding an escaped "."
        # ("insights.<ns>"), so look the key up in our index instead.
        found = await holds_key(search, ns, key)
    if found:
        await store.adelete(ns, key)
        await store.adelete(vector_namespace(ns), key)
    return found


__all__ = ["INDEXED_FIELDS", "forget", "insight_puts", "remember"]
