"""The saver's serde writes exactly the bytes upstream's Redis serde writes, only faster.

`FlotillaRedisSerializer` skips upstream's per-value imports and answers pydantic's
`hasattr(obj, "to_json")` from the class where that is exact. These values are the ones where a
shortcut could change the output: markers upstream treats specially, containers it rebuilds,
models that could carry a `to_json` outside their class, and values that fall back to msgpack.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from typing import Any, NamedTuple

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.redis.jsonplus_redis import JsonPlusRedisSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.types import Interrupt, Send
from pydantic import BaseModel, ConfigDict, PrivateAttr

from bench.memory_bench import demo_findings
from graph.builder import JSON_ALLOWLIST, SERDE_ALLOWLIST
from graph.models import Findings, ModelUsage, Plan, SiteTask
from memory.saver import FlotillaRedisSerializer


class Extra(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class WithPrivate(BaseModel):
    name: str
    _secret: str = PrivateAttr(default="p")

    def __getattr__(self, item: str) -> Any:  # a model that answers unknown attributes
        if item == "to_json":
            return lambda: {"lc": 1, "type": "not_implemented", "id": ["x"]}
        return super().__getattr__(item)  # type: ignore[misc]


class Plain(BaseModel):
    name: str


class WithToJson(BaseModel):
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"lc": 1, "type": "constructor", "id": ["custom"], "kwargs": {"n": self.name}}


@dataclasses.dataclass
class Summary:
    text: str
    inner: Plain


class Pair(NamedTuple):
    left: int
    right: str


def _findings() -> Findings:
    return demo_findings(SiteTask(task_id="site-1", url="http://a.example/", goal="prices"))


VALUES: list[Any] = [
    "text",
    7,
    2.5,
    True,
    [1, "a", None, 2.5, False],
    {"a": {"b": [1, {"c": "d"}]}},
    ("tuple", 1, ["x"]),
    OrderedDict([("z", 1), ("a", Plain(name="n"))]),
    {"one", "two"},
    _findings(),
    [_findings(), _findings()],
    Plan(tasks=[SiteTask(task_id="site-1", url="http://a.example/", goal="g")]),
    {"usage": [ModelUsage(node="coordinator", model="m", calls=1)], "n": 1.5},
    Extra(name="e", to_json="an extra field"),
    WithPrivate(name="w"),
    Plain(name="p"),
    WithToJson(name="t"),
    Summary(text="s", inner=Plain(name="in")),
    Pair(1, "r"),
    Send("browser", {"task": _findings()}),
    Interrupt(value={"question": "approve?"}, id="i-1"),
    _DeltaSnapshot(value=[1, 2]),
    [HumanMessage(content="hi"), AIMessage(content="hello")],
    {"nested bytes": b"\x00\x01"},
    b"raw",
    None,
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_our_serde_writes_the_same_bytes_as_upstreams(value: Any) -> None:
    ours = FlotillaRedisSerializer().dumps_typed(value)
    assert ours == JsonPlusRedisSerializer().dumps_typed(value)
    # ... and a second time, when the per-class answers are cached.
    assert FlotillaRedisSerializer().dumps_typed(value) == ours


class ForeignError(Exception):
    """Not ours and not a builtin: a checkpoint naming it must not make us construct it."""


def test_a_builtin_error_in_a_pending_write_reads_back_quietly_foreign_classes_stay_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A node that raised leaves its exception in a pending write; resume reads it back.
    strict = FlotillaRedisSerializer(
        allowed_msgpack_modules=SERDE_ALLOWLIST, allowed_json_modules=JSON_ALLOWLIST
    )
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
