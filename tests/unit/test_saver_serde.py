"""The checkpoint type policy (`memory.serde`): our models and LangGraph's types revive, others
are refused, and a builtin error in a pending write reads back without a warning."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.redis.jsonplus_redis import JsonPlusRedisSerializer

from graph import models
from graph.builder import trust_only_our_models
from graph.models import Plan
from memory.serde import type_policy


def _strict() -> JsonPlusRedisSerializer:
    policy = type_policy(models)
    return JsonPlusRedisSerializer(
        allowed_msgpack_modules=policy.msgpack, allowed_json_modules=policy.json
    )


class ForeignError(Exception):
    """Not ours and not a builtin: a checkpoint naming it must not make us construct it."""


def test_the_policy_names_every_model_of_the_graph_and_nothing_else() -> None:
    policy = type_policy(models)
    assert ("graph.models", "Plan") in policy.msgpack
    assert ("graph", "models", "Findings") in policy.json
    assert ("builtins", "RuntimeError") in policy.json
    assert ("graph.models", "BaseModel") not in policy.msgpack
    assert all(module == "graph.models" for module, _ in policy.msgpack)


def test_a_builtin_error_in_a_pending_write_reads_back_quietly_foreign_classes_stay_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A node that raised leaves its exception in a pending write; resume reads it back.
    strict = _strict()
    with caplog.at_level(logging.WARNING):
        revived = strict.loads_typed(strict.dumps_typed(RuntimeError("killed")))
        plan = strict.loads_typed(strict.dumps_typed(Plan(tasks=[])))
    assert revived is None  # LangGraph never rebuilds an exception from JSON: the task re-runs
    assert isinstance(plan, Plan)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    with caplog.at_level(logging.WARNING):
        refused = strict.loads_typed(strict.dumps_typed(ForeignError("x")))
    assert not isinstance(refused, ForeignError)
    assert any("not in the deserialization allowlist" in r.getMessage() for r in caplog.records)


@dataclasses.dataclass
class Foreign:
    """A type no policy names."""

    x: int


def test_a_permissive_saver_is_copied_strict_and_left_as_it_was() -> None:
    saver = InMemorySaver()
    permissive = saver.serde
    strict = trust_only_our_models(saver).serde
    assert saver.serde is permissive and type(strict) is type(permissive)
    assert strict.loads_typed(strict.dumps_typed(Plan(tasks=[]))) == Plan(tasks=[])
    assert strict.loads_typed(strict.dumps_typed(Foreign(1))) == {"x": 1}  # not constructed
    assert permissive.loads_typed(permissive.dumps_typed(Foreign(1))) == Foreign(1)
