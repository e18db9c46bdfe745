"""Run-time configuration: the graph's `context_schema`, rendered by Studio as a form."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(kw_only=True)
class Context:
    """How one run behaves: brains and models, quotas, sandbox tier and egress allow-list."""

    brain: Literal["offline"] = field(
        default="offline",
        metadata={
            "description": "Decision policy. This version ships the offline brain: generic, "
            "deterministic, no model needed. The run reports the brain it used."
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
    sandbox_tier: Literal["auto", "gvisor", "bwrap", "none"] = field(
        default_factory=lambda: os.environ.get("FLOTILLA_SANDBOX_TIER", "auto"),  # type: ignore[arg-type,return-value]
        metadata={
            "description": "Code-interpreter isolation. 'auto' picks the first tier that works "
            "here (bwrap with seccomp, then gvisor); 'none' runs without isolation and says so "
            "loudly."
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
