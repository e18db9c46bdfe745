"""The Flotilla graph, top to bottom as the README's architecture section draws it.

START → coordinator → Send × N → browser → analyst → report → remember → END

`graph` is compiled without a checkpointer (the dev server brings its own); programs and the CLI
call `build_graph(checkpointer=..., store=...)` with the Redis saver and store.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from graph import models
from graph.context import Context
from graph.state import ResearchInput, ResearchOutput, ResearchState
from graph.timeline import Node, timed
from memory.serde import Saver, trust_only
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
    # Each node is `timed`: its start and end go to the state's timeline (the report draws it).
    nodes: dict[str, Node] = {
        "coordinator": partial(coordinator, models=models),
        "browser": partial(browser, models=models, subagent=subagent),
        "analyst": partial(analyst, models=models, sessions=code_sessions),
        "report": partial(report, models=models),
        "remember": remember_node,
    }
    for name, node in nodes.items():
        builder.add_node(name, timed(name, node))
    builder.add_edge(START, "coordinator")
    builder.add_conditional_edges("coordinator", fan_out, ["browser", "analyst"])
    builder.add_edge("browser", "analyst")
    builder.add_edge("analyst", "report")
    builder.add_edge("report", "remember")
    builder.add_edge("remember", END)
    return builder


def trust_only_our_models(saver: Saver) -> Saver:
    """A copy of `saver` that revives LangGraph's safe types and `graph.models`, nothing else."""
    return trust_only(saver, models)


def build_graph(
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
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
