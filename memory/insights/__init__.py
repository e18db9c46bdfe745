"""Long-term insights shared across threads (the "AgentCore Memory" stand-in).

Insights live in a LangGraph store under `("insights", <namespace>)`. `recall` finds them by
words and by meaning:

- words: the share of the question's content words an insight (claim, value, question) contains;
- meaning: the cosine between the question's and the claim's embeddings, from one of two places.
  With an embedder on the store (`set_embedder`; `redis_store` sets the one
  `FLOTILLA_EMBEDDINGS` names, by default the local MiniLM), `remember` stores each claim's
  vector (`{model, vector}`) under the insight's key in `("insight_vectors", <namespace>)`,
  beside the insight rather than in it: reading insights stays as cheap as before, and vectors
  by another model are never compared. Without one, a store with its own index (LangGraph's
  `IndexConfig`, as `langgraph.json` gives LangGraph Server's store) embeds each claim when it
  is put and scores each insight by its cosine to the question (`store.asearch(query=...)`).
  Insights stored without either are found by words only.

An insight is recalled when it shares a word with the question, or when its meaning is close: at
least the model's `min_similarity`, and within `MEANING_MARGIN` of the closest insight (a strong
match pushes out mere neighbours of the topic). Recalled insights rank by words + meaning.

On a store from `redis_store` the candidates come from RediSearch indices of our own, queried
through redisvl (`memory.insights.stores`, `memory.insights.search`); on any other store every
item of the namespace is scanned (`memory.insights.retrieve`).
"""

from memory.insights.model import VECTOR_ROOT, Insight, insight_key
from memory.insights.retrieve import MEANING_MARGIN, recall, recall_with_keys
from memory.insights.stores import (
    FROM_ENV,
    INSIGHTS_INDEX,
    embedder_loading,
    embedder_of,
    redis_store,
    set_embedder,
    vector_index_name,
)
from memory.insights.write import forget, insight_puts, remember

__all__ = [
    "FROM_ENV",
    "INSIGHTS_INDEX",
    "MEANING_MARGIN",
    "VECTOR_ROOT",
    "Insight",
    "embedder_loading",
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
