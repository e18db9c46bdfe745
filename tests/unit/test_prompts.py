"""Snapshots of every prompt the llm brain sends, rendered as each role renders it.

A prompt change shows up here as a diff against `tests/unit/snapshots/<name>.txt`. To accept
an intended change, rewrite the snapshots and review the diff before committing:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest -q tests/unit/test_prompts.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from graph.context import Context
from graph.models import SiteTask
from nodes.analyse import llm as analyst
from nodes.analyse.prompts import ANALYST_NO_CODE
from nodes.analyse.workbench import CodeRun
from nodes.browse import llm as browser
from nodes.plan.llm import planning_messages
from nodes.report import llm as writer
from sandbox.interpreter import ExecResult

SNAPSHOTS = Path(__file__).with_name("snapshots")
# Fixed values, not Context's defaults, so a changed default does not read as a prompt change.
CTX = Context(
    max_subagents=8,
    max_pages=4,
    subagent_max_steps=12,
    sandbox_timeout_s=60.0,
    sandbox_memory_mb=1024,
)
TASK = SiteTask(
    task_id="site-1",
    url="http://127.0.0.1:8001/",
    goal="Find the monthly price of each plan.",
    fields=["monthly price per plan (with currency)", "storage per plan"],
)
FAILED_RUN = CodeRun(
    result=ExecResult(
        stdout="reading manifest\n",
        stderr="Traceback (most recent call last):\nKeyError: 'price'\n",
        exit_status=1,
        error_type="KeyError",
        error_message="'price'",
        tier="bwrap",
    )
)


def _plan_system() -> str:
    [system, _] = planning_messages("q", [TASK.url], [], CTX.max_subagents)
    assert isinstance(system.content, str)
    return system.content


PROMPTS: dict[str, Callable[[], str]] = {
    "plan_system": _plan_system,
    "browse_system": lambda: browser.system_prompt(TASK, CTX),
    "browse_system_no_fields": lambda: browser.system_prompt(
        TASK.model_copy(update={"fields": []}), CTX
    ),
    "analyse_system": lambda: analyst.system_prompt(CTX),
    "analyse_repair": lambda: analyst.repair_prompt(
        2, "it raised KeyError (exit status 1)", FAILED_RUN
    ),
    "analyse_no_code": lambda: ANALYST_NO_CODE,
    "report_system": writer.system_prompt,
}


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_prompt_matches_snapshot(name: str) -> None:
    rendered = PROMPTS[name]()
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 to write it"
    assert rendered == path.read_text(encoding="utf-8")


def test_every_snapshot_has_a_prompt() -> None:
    assert {p.stem for p in SNAPSHOTS.glob("*.txt")} == set(PROMPTS)
