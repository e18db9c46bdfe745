"""Long-term insights shared across threads (the "AgentCore Memory" stand-in).

Insights live in a LangGraph store under `("insights", <namespace>)`. `recall` finds them by
words and, when the store has an embedder (`set_embedder`; `redis_store` sets the one
`FLOTILLA_EMBEDDINGS` names, by default the local MiniLM when installed), by meaning too:

- words: the share of the question's content words an insight (claim, value, question) contains;
- meaning: the cosine between the question's and the claim's embeddings. `remember` stores each
  claim's vector (`{model, vector}`) under the insight's key in `("insight_vectors",
  <namespace>)`, beside the insight rather than in it: reading insights stays as cheap as before
  (vectors in the values doubled the time of recall by words). Insights stored without an
  embedder, or by another model, are found by words only.

An insight is recalled when it shares a word with the question, or when its meaning is close: at
least the model's `min_similarity`, and within `MEANING_MARGIN` of the closest insight (a strong
match pushes out mere neighbours of the topic). Recalled insights rank by words + meaning.

langgraph's Redis store indexes only namespace and key, so on a store from `redis_store` the
candidates come from RediSearch indices of our own over the store's JSON documents: full text
(`flotilla_insights_v1`: claim, value, question, namespace tag) and, per vector length, a KNN
index (`flotilla_vectors_<dims>_v1`: FLAT, COSINE; namespace, key and model tags). A malformed
vector fails only in the vector index, so its insight is still found by words. On any other store
every item of the namespace (and of its vector namespace) is scanned.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import logging
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import redis
from langgraph.store.base import BaseStore, Item, PutOp
from langgraph.store.redis import RedisStore
from langgraph.store.redis.aio import AsyncRedisStore
from langgraph.store.redis.base import _namespace_to_text
from pydantic import BaseModel, Field, ValidationError

from memory.embeddings import Embedder, aembed, embedder_from_env
from memory.redis_server import async_client

logger = logging.getLogger(__name__)

NAMESPACE_ROOT = "insights"
VECTOR_ROOT = "insight_vectors"  # Claim vectors, under the insight's key: ("insight_vectors", ns).
INSIGHTS_INDEX = "flotilla_insights_v1"  # A new schema gets a new name (FT.CREATE keeps old ones).
_STORE_PREFIX = "store:"  # Where langgraph's Redis store keeps its JSON documents.
_PAGE = 200
_MAX_SCAN = 5_000  # Bounds the cost of one recall on a huge namespace (scan path).
_CANDIDATES = 50  # Full-text matches (best TF-IDF first) re-ranked by words and meaning.
_KNN_SLACK = 5  # Nearest vectors fetched beyond `limit`, for ones on values that are not insights.
MEANING_MARGIN = 0.25  # A meaning-only match must be this close to the closest insight's cosine.
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


def _vector_namespace(ns: tuple[str, str]) -> tuple[str, str]:
    return (VECTOR_ROOT, ns[1])


# RediSearch over the store's documents: namespace as an exact tag, the insight's words as text.
_INDEX_SCHEMA = (
    "$.prefix", "AS", "ns", "TAG", "SEPARATOR", "|",
    "$.key", "AS", "key", "TAG", "SEPARATOR", "|",
    "$.value.claim", "AS", "claim", "TEXT",
    "$.value.value", "AS", "value", "TEXT",
    "$.value.question", "AS", "question", "TEXT",
    "$.created_at", "AS", "created_at", "NUMERIC", "SORTABLE",
)  # fmt: skip


def vector_index_name(dims: int) -> str:
    """The KNN index over claim vectors of `dims` floats (one per length: FT.CREATE fixes it)."""
    return f"flotilla_vectors_{dims}_v1"


def _vector_schema(dims: int) -> tuple[str, ...]:
    # FLAT: exact KNN, brute force over the namespace's vectors (a few ms at 10,000: make bench).
    return (
        "$.prefix", "AS", "ns", "TAG", "SEPARATOR", "|",
        "$.key", "AS", "key", "TAG", "SEPARATOR", "|",
        "$.value.model", "AS", "model", "TAG", "SEPARATOR", "|",
        "$.value.vector", "AS", "vector", "VECTOR", "FLAT", "6",
        "TYPE", "FLOAT32", "DIM", str(dims), "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip


Execute = Callable[..., Awaitable[Any]]


@dataclass
class _Search:
    """How recall reaches a Redis store's indices: its command runner, the vector indices made."""

    execute: Execute
    vector_dims: set[int] = field(default_factory=set)
    # (namespace, model) seen holding vectors: not asked again (a stale yes costs one embedding).
    with_vectors: set[tuple[str, str]] = field(default_factory=set)


# Stores made by `redis_store`, with the command runner recall uses for RediSearch.
_FULLTEXT: weakref.WeakKeyDictionary[BaseStore, _Search] = weakref.WeakKeyDictionary()
# Stores that embed claims and questions (`set_embedder`).
_EMBEDDERS: weakref.WeakKeyDictionary[BaseStore, Embedder] = weakref.WeakKeyDictionary()


def set_embedder(store: BaseStore, embedder: Embedder | None) -> None:
    """Recall by meaning on `store` with `embedder` (None: by words only)."""
    if embedder is None:
        _EMBEDDERS.pop(store, None)
    else:
        _EMBEDDERS[store] = embedder


def embedder_of(store: BaseStore) -> Embedder | None:
    """The embedder `store` recalls with, if any."""
    return _EMBEDDERS.get(store)


async def _create_index(execute: Execute, name: str, schema: tuple[str, ...]) -> None:
    """Create a RediSearch index over the store's documents once; an existing one is kept."""
    try:
        await execute(
            "FT.CREATE", name, "ON", "JSON", "PREFIX", "1", _STORE_PREFIX, "SCHEMA", *schema
        )  # fmt: skip
    except redis.ResponseError as exc:
        if "already exists" not in str(exc).lower():
            raise


async def _vector_index(search: _Search, dims: int) -> str:
    name = vector_index_name(dims)
    if dims not in search.vector_dims:
        await _create_index(search.execute, name, _vector_schema(dims))
        search.vector_dims.add(dims)
    return name


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
                await store.setup()
                await _attach(store, client.execute_command, chosen)
                yield store
            return
    with closing(redis.Redis.from_url(url, protocol=2)) as sync_client:
        sync_store = RedisStore(sync_client, ttl=ttl)  # type: ignore[arg-type]
        await asyncio.to_thread(sync_store.setup)

        async def execute(*args: Any) -> Any:
            return await asyncio.to_thread(sync_client.execute_command, *args)

        await _attach(sync_store, execute, chosen)
        yield sync_store


async def _attach(store: BaseStore, execute: Execute, embedder: Embedder | None) -> None:
    await _create_index(execute, INSIGHTS_INDEX, _INDEX_SCHEMA)
    search = _Search(execute)
    dims = getattr(embedder, "dims", None)
    if isinstance(dims, int):  # known ahead (the local model); others on their first vector
        await _vector_index(search, dims)
    _FULLTEXT[store] = search
    set_embedder(store, embedder)


async def _embed(embedder: Embedder, texts: list[str], what: str) -> Any | None:
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


def insight_puts(
    namespace: str, insights: list[Insight], model: str | None = None, vectors: Any = None
) -> list[PutOp]:
    """The store writes that remember `insights`, with `model`'s claim `vectors` when given."""
    ns = _namespace(namespace)
    ops = []
    for i, insight in enumerate(insights):
        key = insight_key(insight)
        # index=False: the store's own vector index is not used; ours is.
        ops.append(PutOp(ns, key, insight.model_dump(mode="json"), index=False))
        if model is not None and vectors is not None:
            # Six decimals of a unit vector: cosines move < 1e-5; the JSON is half as long.
            vector = np.round(np.asarray(vectors[i], dtype=np.float64), 6).tolist()
            value = {"model": model, "vector": vector}
            ops.append(PutOp(_vector_namespace(ns), key, value, index=False))
    return ops


async def remember(store: BaseStore, namespace: str, insights: list[Insight]) -> list[str]:
    """Store `insights` under `("insights", namespace)`; return their keys, in order.

    With an embedder on the store, each claim's vector is stored under the same key in
    `("insight_vectors", namespace)`: recall reads insights without carrying their vectors.
    """
    _namespace(namespace)
    embedder, search = _EMBEDDERS.get(store), _FULLTEXT.get(store)
    vectors = None
    if embedder is not None and insights:
        vectors = await _embed(embedder, [i.claim for i in insights], "insights")
        if vectors is not None and search is not None:
            await _vector_index(search, vectors.shape[1])
    model = None if embedder is None or vectors is None else embedder.name
    if insights:
        await store.abatch(insight_puts(namespace, insights, model, vectors))
    if model is not None and search is not None:
        search.with_vectors.add((namespace, model))
    return [insight_key(insight) for insight in insights]


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


def _cosine(stored: Any, model: str, query_vector: Any) -> float | None:
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


def _escape(text: str) -> str:
    """Backslash every character RediSearch's query syntax could read as an operator."""
    return re.sub(r"([^\w])", r"\\\1", text)


def _tag(name: str, values: list[str]) -> str:
    return "@%s:{%s}" % (name, "|".join(map(_escape, values)))  # noqa: UP031 - query syntax


def _ns_tag(ns: tuple[str, ...]) -> str:
    # The tag holds the namespace as the store wrote it (its own escaping), escaped once more.
    return _tag("ns", [_namespace_to_text(ns)])


def _documents(reply: Any) -> Iterator[tuple[str, dict[bytes, Any]]]:
    """(key, returned fields) of each document in an FT.SEARCH reply (RESP2)."""
    for raw in reply[2::2]:
        doc = dict(zip(raw[::2], raw[1::2], strict=True))
        raw_key = doc.get(b"$.key")
        if isinstance(raw_key, bytes):
            yield raw_key.decode(errors="replace"), doc


def _values(reply: Any) -> list[tuple[str, Any]]:
    """(key, value) of each document in an FT.SEARCH reply that returned `$.value`."""
    rows = []
    for key, doc in _documents(reply):
        try:
            rows.append((key, json.loads(doc[b"$.value"])))
        except (KeyError, ValueError):
            continue
    return rows


async def _fulltext_candidates(
    execute: Execute, ns: tuple[str, str], query_words: set[str], *, limit: int
) -> list[tuple[str, Any]]:
    """(key, value) of documents in `ns` sharing a word with the query; newest when no words."""
    query = _ns_tag(ns)
    args: list[Any] = []
    if query_words:
        query += " @claim|value|question:(%s)" % "|".join(map(_escape, sorted(query_words)))  # noqa: UP031
    else:
        args = ["SORTBY", "created_at", "DESC"]
    reply = await execute(
        "FT.SEARCH", INSIGHTS_INDEX, query, *args, "RETURN", "2", "$.key", "$.value",
        "LIMIT", "0", str(limit), "DIALECT", "2",
    )  # fmt: skip
    return _values(reply)


async def _by_keys(execute: Execute, ns: tuple[str, str], keys: list[str]) -> list[tuple[str, Any]]:
    """(key, value) of the documents in `ns` under `keys`."""
    reply = await execute(
        "FT.SEARCH", INSIGHTS_INDEX, f"{_ns_tag(ns)} {_tag('key', keys)}",
        "RETURN", "2", "$.key", "$.value", "LIMIT", "0", str(len(keys)), "DIALECT", "2",
    )  # fmt: skip
    return _values(reply)


async def _nearest(
    search: _Search,
    ns: tuple[str, str],
    model: str,
    query_vector: Any,
    *,
    limit: int,
    among: list[str] | None = None,
) -> dict[str, float]:
    """Key → cosine of the `limit` claims in `ns` (or among keys `among`) nearest the query."""
    if limit <= 0:
        return {}
    index = await _vector_index(search, int(query_vector.shape[0]))
    keys = "" if among is None else " " + _tag("key", among)
    where = f"{_ns_tag(_vector_namespace(ns))} {_tag('model', [model])}{keys}"
    reply = await search.execute(
        "FT.SEARCH", index, f"({where})=>[KNN {limit} @vector $vec AS distance]",
        "PARAMS", "2", "vec", query_vector.astype(np.float32).tobytes(), "SORTBY", "distance",
        "RETURN", "2", "$.key", "distance", "LIMIT", "0", str(limit), "DIALECT", "2",
    )  # fmt: skip
    found: dict[str, float] = {}
    for key, doc in _documents(reply):
        try:
            found[key] = 1.0 - float(doc[b"distance"])
        except (KeyError, ValueError):
            continue
    return found


async def _has_vectors(search: _Search, ns: tuple[str, str], embedder: Embedder) -> bool:
    """Whether `ns` holds a vector by `embedder` (True when its length is not known yet)."""
    if (ns[1], embedder.name) in search.with_vectors:
        return True
    dims = getattr(embedder, "dims", None)
    if not isinstance(dims, int):
        if len(search.vector_dims) != 1:
            return True
        (dims,) = search.vector_dims
    index = await _vector_index(search, dims)
    where = f"{_ns_tag(_vector_namespace(ns))} {_tag('model', [embedder.name])}"
    reply = await search.execute(
        "FT.SEARCH", index, where, "NOCONTENT", "LIMIT", "0", "0", "DIALECT", "2"
    )
    if reply[0]:
        search.with_vectors.add((ns[1], embedder.name))
    return bool(reply[0])


async def _query_vector(embedder: Embedder, query: str) -> Any | None:
    vectors = await _embed(embedder, [query], "the question")
    return None if vectors is None else vectors[0]


Candidates = list[tuple[str, Any, float | None]]  # key, value, cosine to the question or None


async def _scanned_candidates(
    store: BaseStore, ns: tuple[str, str], query: str, embedder: Embedder | None
) -> Candidates:
    """Every item of `ns`, with cosines from the stored vectors (any store; no index)."""
    rows = [(item.key, item.value) async for item in _items(store, ns)]
    query_vector = None if embedder is None else await _query_vector(embedder, query)
    if embedder is None or query_vector is None:
        return [(key, value, None) for key, value in rows]
    stored = {item.key: item.value async for item in _items(store, _vector_namespace(ns))}
    return [
        (key, value, _cosine(stored.get(key), embedder.name, query_vector)) for key, value in rows
    ]


async def _indexed_candidates(
    search: _Search,
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
    words = _fulltext_candidates(search.execute, ns, query_words, limit=max(limit, _CANDIDATES))
    if embedder is None:
        return [(key, value, None) for key, value in await words]

    async def question_vector() -> Any | None:
        # A namespace with no vector by this model: no need to embed (nor load the model).
        if not await _has_vectors(search, ns, embedder):
            return None
        return await _query_vector(embedder, query)

    rows, query_vector = await asyncio.gather(words, question_vector())
    if query_vector is None:
        return [(key, value, None) for key, value in rows]
    matched = [key for key, _ in rows]
    of_words, nearest = await asyncio.gather(
        _nearest(search, ns, embedder.name, query_vector, limit=len(matched), among=matched),
        _nearest(search, ns, embedder.name, query_vector, limit=limit + _KNN_SLACK),
    )
    found: Candidates = [(key, value, of_words.get(key)) for key, value in rows]
    by_words = set(matched)
    only_meaning = [key for key in nearest if key not in by_words]
    if only_meaning:
        for key, value in await _by_keys(search.execute, ns, only_meaning):
            found.append((key, value, nearest.get(key)))
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


async def recall_with_keys(
    store: BaseStore, namespace: str, query: str, *, limit: int = 5
) -> list[tuple[str, Insight]]:
    """`recall`, with each insight's key in the store (what `forget` takes)."""
    ns = _namespace(namespace)
    query_words = _words(query)
    embedder = _EMBEDDERS.get(store) if query_words else None  # no words: newest, no meaning
    search = _FULLTEXT.get(store)
    if search is None:
        rows = await _scanned_candidates(store, ns, query, embedder)
    else:
        rows = await _indexed_candidates(search, ns, query, query_words, embedder, limit=limit)
    scored: list[_Scored] = []
    for key, value, cosine in rows:
        insight = _parse(value, key, ns)
        if insight is not None:
            words = _score(query_words, insight) / len(query_words) if query_words else 0.0
            scored.append(_Scored(key, insight, words, cosine))
    if embedder is not None:
        closest = max((s.meaning for s in scored if s.meaning is not None), default=0.0)
        floor = max(embedder.min_similarity, closest - MEANING_MARGIN)
        scored = [s for s in scored if s.relevant(floor)]
    elif query_words:
        scored = [s for s in scored if s.words > 0]
    scored.sort(key=_Scored.rank, reverse=True)
    return [(s.key, s.insight) for s in scored[:limit]]


async def recall(store: BaseStore, namespace: str, query: str, *, limit: int = 5) -> list[Insight]:
    """Insights in `namespace` related to `query`, best first, newest first on ties.

    Related: sharing a content word with it or, with an embedder, close in meaning (see the
    module's docstring). A query without content words returns the newest insights. Values
    that are not insights are skipped with a warning in the log.
    """
    return [insight for _, insight in await recall_with_keys(store, namespace, query, limit=limit)]


async def forget(store: BaseStore, namespace: str, key: str) -> bool:
    """Delete the insight stored under `key` (and its vector); False when there was none."""
    ns = _namespace(namespace)
    search = _FULLTEXT.get(store)
    if search is None:
        found = await store.aget(ns, key) is not None
    else:
        # AsyncRedisStore.aget (0.5.2) finds nothing under a namespace holding an escaped "."
        # ("insights.<ns>"), so look the key up in our index instead.
        query = f"{_ns_tag(ns)} {_tag('key', [key])}"
        reply = await search.execute(
            "FT.SEARCH", INSIGHTS_INDEX, query, "NOCONTENT", "DIALECT", "2"
        )
        found = bool(reply[0])
    if found:
        await store.adelete(ns, key)
        await store.adelete(_vector_namespace(ns), key)
    return found


__all__ = [
    "FROM_ENV",
    "INSIGHTS_INDEX",
    "MEANING_MARGIN",
    "VECTOR_ROOT",
    "Insight",
    "embedder_of",
    "forget",
    "insight_key",
    "insight_puts",
    "recall",
    "recall_with_keys",
    "redis_store",
    "remember",
    "set_embedder",
    "vector_index_name",
]
