"""Graph state: typed, small, merged by reducers. Findings and references, never raw pages."""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired

from typing_extensions import TypedDict

from graph.models import Analysis, Findings, ModelUsage, Plan, SiteTask


class ResearchInput(TypedDict):
    """What a user types: the question and the sites to research."""

    question: str
    urls: list[str]


class ResearchOutput(TypedDict, total=False):
    """What a user gets back."""

    thread_id: str
    brain: str
    answer: str
    report_path: str
    report_html: str  # the self-contained HTML report beside report.md
    charts: list[str]
    sources: list[str]
    subagents: list[dict[str, Any]]
    token_usage: dict[str, Any]
    cost: dict[str, Any]  # what the run cost (or would have) on AgentCore, and its prices
    errors: list[str]


class PhaseSpan(TypedDict):
    """When one node run (a phase of the run, or one browser branch) started and ended."""

    phase: str  # the graph node: coordinator, browser, analyst, report, remember
    task_id: str  # the browser branch's task; "" for the other nodes
    start: float  # wall-clock seconds since the epoch (comparable across processes)
    end: float


class ResearchState(ResearchInput, ResearchOutput, total=False):
    """Everything the graph keeps between nodes."""

    plan: Plan
    # One entry per browser branch; arrival order is not meaningful.
    findings: Annotated[list[Findings], operator.add]
    analysis: Analysis
    # Model calls and tokens, one record per node run (llm brain); the report sums them.
    usage: Annotated[list[ModelUsage], operator.add]
    # Start and end of every node run, for the report's timeline (absent in older checkpoints).
    timeline: Annotated[list[PhaseSpan], operator.add]


class BrowseTask(TypedDict):
    """Private payload a `Send` gives one browser branch."""

    task: SiteTask
    brain: str
    # Tokens the run had spent when it fanned out: a branch resumed in a new process starts
    # its budget from them (absent in sends checkpointed before this field existed).
    usage: NotRequired[list[ModelUsage]]
