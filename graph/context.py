"""Run-time configuration: the graph's `context_schema`, rendered by Studio as a form."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Literal

# The LangGraph templates' marker for a model choice, which Studio renders as a model picker. It
# goes on the type (as the templates put it) and into the served JSON schema (json_schema_extra).
MODEL_CHOICE = {"__template_metadata__": {"kind": "llm"}}
ModelChoice = Annotated[str, MODEL_CHOICE]
# The roles a model can be chosen for: each has a Context field `<role>_model`.
Role = Literal["coordinator", "browser", "analyst", "report"]
ROLES: tuple[Role, ...] = ("coordinator", "browser", "analyst", "report")


def _model_extra(*nodes: str) -> dict[str, object]:
    return {"langgraph_nodes": list(nodes), **MODEL_CHOICE}


def _role_model(role: str, does: str) -> str:
    """A per-role model field: empty, so the role uses `Context.model`."""
    description = f"Model that {does}; empty uses `model`."
    return field(
        default="",
        metadata={"description": description, "json_schema_extra": _model_extra(role)},
    )


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(kw_only=True)
class Context:
    """How one run behaves: brains and models, quotas, sandbox tier and egress allow-list."""

    brain: Literal["auto", "offline", "llm"] = field(
        default_factory=lambda: os.environ.get("FLOTILLA_BRAIN", "auto"),  # type: ignore[arg-type,return-value]
        metadata={
            "description": "Decision policy. 'llm': chat models plan, browse with tools, write "
            "and repair the analysis and write the answer. 'offline': generic, deterministic, no "
            "model. 'auto' (env FLOTILLA_BRAIN): llm when a model is configured (a model field, "
            "env FLOTILLA_MODEL, or AWS credentials for Bedrock), offline otherwise. The run "
            "reports the brain it used."
        },
    )
    model: ModelChoice = field(
        default_factory=lambda: os.environ.get("FLOTILLA_MODEL", ""),
        metadata={
            "description": "Chat model for every role, as 'provider:model' for init_chat_model "
            "(e.g. bedrock_converse:us.anthropic.claude-sonnet-4-5-20250929-v1:0, "
            "ollama:llama3.1). Env FLOTILLA_MODEL. Empty: Amazon Bedrock when AWS credentials "
            "are present, else none (the offline brain runs).",
            "json_schema_extra": _model_extra(*ROLES),
        },
    )
    coordinator_model: ModelChoice = _role_model("coordinator", "plans (structured output)")
    browser_model: ModelChoice = _role_model("browser", "drives each browser subagent's tool loop")
    analyst_model: ModelChoice = _role_model("analyst", "writes and repairs the analysis code")
    report_model: ModelChoice = _role_model("report", "writes the report's answer")
    max_run_tokens: int = field(
        default=0,
        metadata={
            "description": "Token budget for the whole run (input + output, every model call); "
            "when reached, no new model work starts and the run finishes with what it has. "
            "0: no budget."
        },
    )
    subagent_max_steps: int = field(
        default=12,
        metadata={
            "description": "Most model calls one LLM browser subagent makes; at the limit it "
            "returns what it has, marked partial."
        },
    )
    subagent_max_tokens: int = field(
        default=60_000,
        metadata={"description": "Token limit for one LLM browser subagent (0: none)."},
    )
    page_text_chars: int = field(
        default=6_000,
        metadata={
            "description": "Most characters of one page's text that reach a model, fenced as "
            "untrusted data."
        },
    )
    analyst_max_attempts: int = field(
        default=3,
        metadata={
            "description": "Most attempts the LLM analyst gets to write code that runs; it "
            "reads each failure and repairs the code."
        },
    )
    approve_plan: bool = field(
        default=False,
        metadata={
            "description": "Pause after planning so a person can approve, edit (drop a site, "
            "change a goal) or reject the plan before any browser starts."
        },
    )
    max_subagents: int = field(
        default=8,
        metadata={
            "description": "Most browser subagents one run may plan; extra targets are refused."
        },
    )
    max_parallel: int = field(
        default=4,
        metadata={"description": "Most browser subagents running at the same time."},
    )
    max_pages: int = field(
        default=4,
        metadata={"description": "Most pages one subagent reads, start page included."},
    )
    subagent_timeout_s: float = field(
        default=60.0,
        metadata={"description": "Wall-time limit for one browser subagent, in seconds."},
    )
    page_timeout_s: float = field(
        default=15.0,
        metadata={"description": "Wall-time limit for loading one page, in seconds."},
    )
    sandbox_tier: Literal["auto", "gvisor", "bwrap", "none", "agentcore"] = field(
        default_factory=lambda: os.environ.get("FLOTILLA_SANDBOX_TIER", "auto"),  # type: ignore[arg-type,return-value]
        metadata={
            "description": "Code-interpreter isolation. 'auto' picks the first tier that works "
            "here (gvisor, then bwrap with seccomp); 'none' runs without isolation and says so "
            "loudly; 'agentcore' runs the analysis on Amazon Bedrock AgentCore Code "
            "Interpreter (AWS credentials, region and endpoint below)."
        },
    )
    agentcore_region: str = field(
        default_factory=lambda: os.environ.get("FLOTILLA_AGENTCORE_REGION", ""),
        metadata={
            "description": "AWS region of the AgentCore tier; empty: AWS_REGION, else us-east-1."
        },
    )
    agentcore_endpoint: str = field(
        default="",
        metadata={
            "description": "AgentCore data-plane endpoint; empty: "
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE, else the region's. The global "
            "AWS_ENDPOINT_URL is never used (it would move the model calls too)."
        },
    )
    agentcore_session_timeout_s: int = field(
        default=900,
        metadata={
            "description": "Lifetime AgentCore gives a remote session, in seconds (60 to "
            "28800); it is stopped as soon as its work is done."
        },
    )
    sandbox_pool_size: int = field(
        default=0,
        metadata={
            "description": "Warm code-interpreter sessions (pandas and matplotlib imported) "
            "kept ready per process for the analyst; 0 starts a fresh session per analysis. "
            "Each session is used once, then destroyed. Worth 1 in a long-lived server "
            "(langgraph dev): a one-shot CLI run only pays for the spare it never uses."
        },
    )
    sandbox_timeout_s: float = field(
        default=60.0,
        metadata={"description": "Wall-time limit for one analysis execution, in seconds."},
    )
    sandbox_memory_mb: int = field(
        default=1024,
        metadata={"description": "Address-space limit for the analysis sandbox, in MiB."},
    )
    allow_hosts: list[str] = field(
        default_factory=lambda: _env_list("FLOTILLA_ALLOW_HOSTS"),
        metadata={
            "description": "HOST or HOST:PORT entries allowed even on loopback/private "
            "addresses (env FLOTILLA_ALLOW_HOSTS, comma-separated)."
        },
    )
    runs_dir: str = field(
        default_factory=lambda: os.environ.get("FLOTILLA_RUNS_DIR", "runs"),
        metadata={"description": "Folder for reports and artifacts: <runs_dir>/<thread_id>/."},
    )
    memory_namespace: str = field(
        default="default",
        metadata={"description": "Long-term memory namespace (user or project)."},
    )
    checkpoint_ttl_minutes: float | None = field(
        default=None,
        metadata={
            "description": "Expire a thread's checkpoints this many minutes after their last "
            "write or read (the CLI's Redis saver); empty keeps them until deleted."
        },
    )
