"""What an insight is, where it is stored, and the words it is recalled by."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

logger = logging.getLogger("memory.insights")

NAMESPACE_ROOT = "insights"
VECTOR_ROOT = "insight_vectors"  # Claim vectors, under the insight's key: ("insight_vectors", ns).
_WORD = re.compile(r"\w+")
# Words too common to say two texts are about the same thing.
_STOPWORDS = frozenset(
    [
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
    ]
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


def namespace_of(namespace: str) -> tuple[str, str]:
    """The store namespace of `namespace`'s insights; ValueError for one the store can't hold."""
    if not namespace or "." in namespace:
        # The Redis store joins namespace labels with "." and forbids empty labels.
        msg = f"Insight namespace must be non-empty and contain no '.': got {namespace!r}"
        raise ValueError(msg)
    return (NAMESPACE_ROOT, namespace)


def vector_namespace(ns: tuple[str, str]) -> tuple[str, str]:
    """Where the claim vectors of the insights in `ns` are stored, under the same keys."""
    return (VECTOR_ROOT, ns[1])


def content_words(text: str) -> set[str]:
    """The casefolded words of `text`, less the ones too common to tell topics apart."""
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS}


def shared_words(query_words: set[str], insight: Insight) -> int:
    """How many of the question's content words the insight (claim, value, question) holds."""
    return len(query_words & content_words(f"{insight.claim} {insight.value} {insight.question}"))


def parse_insight(value: Any, key: str, namespace: object) -> Insight | None:
    """`value` as an Insight, or None (logged) when it is not one."""
    try:
        return Insight.model_validate(value)
    except ValidationError:
        logger.warning("Skipping a stored value that is not an Insight: %r in %r", key, namespace)
        return None


__all__ = [
    "NAMESPACE_ROOT",
    "VECTOR_ROOT",
    "Insight",
    "content_words",
    "insight_key",
    "namespace_of",
    "parse_insight",
    "shared_words",
    "vector_namespace",
]
