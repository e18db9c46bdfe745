"""The Flotilla graph, top to bottom as DESIGN.md draws it.

START → coordinator → Send × N → browser → analyst → report → remember → END

`graph` is compiled without a checkpointer (the dev server brings its own); programs and the CLI
call `build_graph(checkpointer=..., store=...)` with the Redis saver and store.
"""

from __future__ import annotations

import builtins
import copy
from functools import partial

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import maybe_add_typed_methods
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from graph import models
from graph.context import Context
from graph.state import ResearchInput, ResearchOutput, ResearchState
from nodes.analyse.node import analyst
from nodes.analyse.workbench import SessionFactory
from nodes.browse.node import browser
from nodes.browse.subagent import Subagent
from nodes.llm.chat import ModelOverrides
from nodes.plan.node import coordinator, fan_out
from nodes.remember.node import remember_node
from nodes.report.node import report


def build_builder(
    models: ModelOverrides | None = None,
    *,
    subagent: Subagent | None = None,
    code_sessions: SessionFactory | None = None,
) -> StateGraph[ResearchState, Context, ResearchInput, ResearchOutput]:
    """The uncompiled graph, for callers that compile it their own way.

    `models` gives roles ("coordinator", "browser", "analyst", "report", or "default") a chat
    model instance or a `provider:model` spec, ahead of what `Context` configures.
    `subagent` researches each site for the offline brain instead of a subagent in a real
    browser sandbox; `code_sessions` opens the analyst's code sessions instead of the sandbox
    tier's. Both default to the real ones; tests pass fakes to run the graph without either.
    """
    builder = StateGraph(
        ResearchState,
        context_schema=Context,
        input_schema=ResearchInput,
        output_schema=ResearchOutput,
    )
    builder.add_node("coordinator", partial(coordinator, models=models))
    builder.add_node("browser", partial(browser, models=models, subagent=subagent))
    builder.add_node("analyst", partial(analyst, models=models, sessions=code_sessions))
    builder.add_node("report", partial(report, models=models))
    builder.add_node("remember", remember_node)
    builder.add_edge(START, "coordinator")
    builder.add_conditional_edges("coordinator", fan_out, ["browser", "analyst"])
    builder.add_edge("browser", "analyst")
    builder.add_edge("analyst", "report")
    builder.add_edge("report", "remember")
    builder.add_edge("remember", END)
    return builder


# Our pydantic models travel through checkpoints; name them so the saver trusts exactly these.
_OUR_MODELS = tuple(
    name
    for name, value in vars(models).items()
    if isinstance(value, type)
    and issubclass(value, models.BaseModel)
    and value is not models.BaseModel
)
SERDE_ALLOWLIST = tuple(("graph.models", name) for name in _OUR_MODELS)

# A node that raised leaves its exception as a pending write, which resume reads back (and the
# node runs again). In the JSON form (the Redis saver's) LangGraph never rebuilds an exception,
# it only looks the class up first: naming the builtin ones keeps that lookup from warning.
_BUILTIN_ERRORS = tuple(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
)

# The JSON form names a class by its dotted path, split.
JSON_ALLOWLIST = (
    *(("graph", "models", name) for name in _OUR_MODELS),
    *(("builtins", name) for name in _BUILTIN_ERRORS),
)


def trust_only_our_models(saver: BaseCheckpointSaver) -> BaseCheckpointSaver:
    """A saver that revives LangGraph's safe types and our models, and nothing else.

    Savers default to reviving any type (with a warning): a checkpoint store someone can write
    to should not be able to make us construct arbitrary classes.
    """
    serde = saver.serde
    # `True` is the permissive default; a saver made strict already just gets our names added.
    if isinstance(serde, JsonPlusSerializer) and serde._allowed_msgpack_modules is True:
        clone = copy.copy(saver)
        strict = type(serde)(
            allowed_msgpack_modules=SERDE_ALLOWLIST, allowed_json_modules=JSON_ALLOWLIST
        )
        clone.serde = maybe_add_typed_methods(strict)
        return clone
    return saver.with_allowlist(SERDE_ALLOWLIST)


def build_graph(
    *,
    checkpointer: BaseCheckpointSaver | None = None,
    store: BaseStore | None = None,
    models: ModelOverrides | None = None,
    subagent: Subagent | None = None,
    code_sessions: SessionFactory | None = None,
) -> CompiledStateGraph[ResearchState, Context, ResearchInput, ResearchOutput]:
    """Compile the Flotilla graph with the saver, store and (optionally) chat models given.

    `subagent` and `code_sessions` stand in for the browser and code sandboxes
    (`build_builder`).
    """
    if checkpointer is not None:
        checkpointer = trust_only_our_models(checkpointer)
    builder = build_builder(models, subagent=subagent, code_sessions=code_sessions)
    return builder.compile(checkpointer=checkpointer, store=store, name="flotilla")


graph = build_graph()
