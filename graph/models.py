"""Pydantic models that cross node boundaries: what a subagent returns, what the analyst makes.

Only small things live here. Tables, charts and other files travel as `ArtifactRef`s that
point into the run's artifact directory; raw HTML and page text never enter graph state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SUMMARY_MAX_CHARS = 1500


class ArtifactRef(BaseModel):
    """A file produced by a subagent or a sandbox, referred to by path and digest."""

    path: str = Field(description="Path of the file, absolute or relative to the run directory.")
    media_type: str = Field(description="MIME type, e.g. image/png or text/csv.")
    size: int = Field(description="Size in bytes.")
    sha256: str = Field(description="Hex digest of the content.")


class TableRef(BaseModel):
    """A table extracted from a page, stored as CSV with its cells' text kept verbatim."""

    artifact: ArtifactRef
    source_url: str = Field(description="Page the table was read from.")
    caption: str = Field(default="", description="Caption or nearest heading, if any.")
    columns: list[str] = Field(default_factory=list, description="Column headers as shown.")
    n_rows: int = Field(default=0, description="Number of data rows.")
    numeric: bool = Field(default=False, description="Whether any cell holds a number.")


class Fact(BaseModel):
    """A sentence from the main content relevant to the goal; numbers keep units and currency."""

    text: str = Field(description="The sentence, verbatim.")
    source_url: str
    score: float = Field(default=0.0, description="Relevance to the goal, higher is better.")


class SubagentError(BaseModel):
    """Something that went wrong in one branch, said so a person can act on it."""

    where: str = Field(description="Site, URL or step where it happened.")
    kind: str = Field(description="Short machine-readable kind, e.g. 'timeout', 'refused'.")
    rule: str = Field(default="", description="For refusals: the egress rule that refused it.")
    message: str = Field(description="What happened, what was kept, what to do next.")


class SandboxUsage(BaseModel):
    """What one sandbox session spent, measured on this machine, for the run's cost estimate.

    Local tiers: CPU seconds (user + system) and resident memory of the session's process tree,
    sampled from ``/proc``. Remote (AgentCore) sessions: wall seconds only; AWS does not report a
    session's CPU or memory back.
    """

    kind: Literal["browser", "code_interpreter"]
    task_id: str = Field(default="", description="The browser subagent's task, if any.")
    tier: str = Field(default="", description="Where it ran: 'bwrap+netns', 'gvisor', 'agentcore'.")
    wall_s: float = Field(default=0.0, description="From start requested to stop.")
    cpu_s: float | None = Field(default=None, description="CPU seconds; None: not measured.")
    peak_rss_bytes: int | None = None
    rss_byte_s: float | None = Field(
        default=None, description="Resident memory integrated over the session (byte-seconds)."
    )
    samples: int = 0


class Findings(BaseModel):
    """What one browser subagent returns: small, structured, and safe to keep in state."""

    task_id: str
    site: str = Field(description="The start URL of the site this subagent researched.")
    site_name: str = Field(default="", description="The site's name, as its page titles give it.")
    goal: str
    status: Literal["ok", "partial", "failed", "refused"] = "ok"
    pages_visited: list[str] = Field(default_factory=list)
    summary: str = Field(default="", max_length=SUMMARY_MAX_CHARS + 100)
    key_facts: list[Fact] = Field(default_factory=list)
    tables: list[TableRef] = Field(default_factory=list)
    screenshots: list[ArtifactRef] = Field(
        default_factory=list, description="Screenshots the subagent took (llm brain)."
    )
    errors: list[SubagentError] = Field(default_factory=list)
    elapsed_s: float = 0.0
    brain: str = "offline"
    model: str = Field(default="", description="The chat model that drove it (llm brain).")
    browser_jail: str = Field(
        default="", description="How the browser was isolated: 'bwrap', or 'none: <why>'."
    )
    sandbox: SandboxUsage | None = Field(default=None, description="What its browser spent.")


class SiteTask(BaseModel):
    """One planned unit of work: a site and what to find there."""

    task_id: str
    url: str
    goal: str
    fields: list[str] = Field(
        default_factory=list, description="What to extract there, e.g. 'price per TB per month'."
    )


class RefusedTarget(BaseModel):
    """A target the coordinator did not plan, and why."""

    url: str
    rule: str = Field(description="Name of the rule that refused it, e.g. 'max_subagents'.")
    reason: str


class Plan(BaseModel):
    """The coordinator's plan: tasks to run, targets refused, insights recalled."""

    tasks: list[SiteTask] = Field(default_factory=list)
    refused: list[RefusedTarget] = Field(default_factory=list)
    recalled: list[str] = Field(default_factory=list, description="Prior insights used.")
    review: Literal["", "approved", "edited", "rejected"] = Field(
        default="", description="What a person did with the plan, when asked to approve it."
    )
    planner: str = Field(default="offline", description="'offline', or the model that planned.")
    notes: list[str] = Field(
        default_factory=list, description="Why targets were trimmed or goals narrowed."
    )


class Analysis(BaseModel):
    """What the analyst produced in its code-interpreter session."""

    charts: list[ArtifactRef] = Field(default_factory=list)
    outputs: list[ArtifactRef] = Field(default_factory=list, description="CSV/JSON outputs.")
    comparison_markdown: str = Field(default="", description="A bounded markdown table.")
    highlights: list[str] = Field(default_factory=list, description="Computed comparisons.")
    sandbox_tier: str = ""
    code_path: str = ""
    author: str = Field(default="offline", description="'offline', or the model that wrote it.")
    attempts: int = Field(default=0, description="Code runs it took (the LLM analyst repairs).")
    errors: list[SubagentError] = Field(default_factory=list)
    sandboxes: list[SandboxUsage] = Field(
        default_factory=list, description="What each code session it ran spent."
    )


class ModelUsage(BaseModel):
    """Model calls and tokens one node spent (one record per node run or subagent)."""

    node: str = Field(description="Graph node: coordinator, browser, analyst or report.")
    task_id: str = Field(default="", description="The browser subagent's task, if any.")
    model: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    truncated: int = Field(default=0, description="Replies cut at the call's output bound.")
    max_input_tokens: int = Field(
        default=0, description="The largest prompt one call sent (instructions, tools, pages)."
    )

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens
