"""Which types a checkpoint may restore: LangGraph's safe types, the graph's models, no others.

Savers default to reviving any type (with a warning): a checkpoint store someone can write to
should not be able to make us construct arbitrary classes. The graph names the module holding
its pydantic models (`graph.models`, the name stored checkpoints carry); this module turns it
into the two allowlists LangGraph's serde takes and makes a saver strict with them.
"""

from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, TypeVar, cast

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import maybe_add_typed_methods
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

Saver = TypeVar("Saver", bound=BaseCheckpointSaver[Any])

# A node that raised leaves its exception as a pending write, which resume reads back (and the
# node runs again). In the JSON form (the Redis saver's) LangGraph never rebuilds an exception,
# it only looks the class up first: naming the builtin ones keeps that lookup from warning.
BUILTIN_ERRORS = tuple(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
)


@dataclass(frozen=True)
class TypePolicy:
    """The allowlists of a strict serde: msgpack names (module, class), JSON a dotted path."""

    msgpack: tuple[tuple[str, ...], ...]
    json: tuple[tuple[str, ...], ...]


@cache
def type_policy(models: ModuleType) -> TypePolicy:
    """The pydantic models defined in `models`, and the builtin errors (JSON form only)."""
    ours = tuple(
        name
        for name, value in vars(models).items()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    )
    path = tuple(models.__name__.split("."))
    return TypePolicy(
        msgpack=tuple((models.__name__, name) for name in ours),
        json=(
            *((*path, name) for name in ours),
            *(("builtins", name) for name in BUILTIN_ERRORS),
        ),
    )


def trust_only(saver: Saver, models: ModuleType) -> Saver:
    """A copy of `saver` that revives LangGraph's safe types and `models`' classes, nothing else.

    A permissive serde (the default) is replaced by a strict one of the same class; a saver made
    strict already just gets the models' names added to its msgpack allowlist.
    """
    policy = type_policy(models)
    serde = saver.serde
    if isinstance(serde, JsonPlusSerializer) and serde._allowed_msgpack_modules is True:
        clone = copy.copy(saver)
        strict = type(serde)(
            allowed_msgpack_modules=policy.msgpack, allowed_json_modules=policy.json
        )
        clone.serde = maybe_add_typed_methods(strict)
        return clone
    return cast(Saver, saver.with_allowlist(policy.msgpack))


__all__ = ["BUILTIN_ERRORS", "Saver", "TypePolicy", "trust_only", "type_policy"]
