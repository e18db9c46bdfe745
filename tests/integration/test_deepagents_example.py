"""The Deep Agents example end to end, offline: a scripted coordinator, real browsers and sandbox.

The coordinator model is scripted (tests/fakes.py, as in the llm brain's graph tests); the rest
is real: `create_deep_agent` with Flotilla's sandbox as its backend, its `task` tool fanning out
to Flotilla's browser subagent (jailed Chromium per site) over the bundled demo sites, and the
analysis run with `execute` in the gVisor/bwrap session over the tables the browsers read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from demo_sites.server import DemoSites
from examples import deepagents_research
from integrations.deepagents.browser_subagent import NAME
from tests.fakes import ScriptedChatModel, ai_text, tool_results

pytestmark = pytest.mark.slow

OFF_LIST = "http://127.0.0.2:9/"
ANALYSIS = (
    'python3 -c "import glob, pandas as pd; '
    "[print(p.split('/')[3], len(pd.read_csv(p))) for p in sorted(glob.glob('/work/findings/*/*.csv'))]\""
)


def coordinator(sites: DemoSites, offered: list[str]) -> ScriptedChatModel:
    urls = sorted(sites.urls.values())

    def script(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        offered.extend(tools)
        done = tool_results(messages)
        if not done:
            calls = [
                {
                    "name": "task",
                    "args": {"subagent_type": NAME, "description": f"{url} - price of each plan"},
                    "id": f"task-{n}",
                }
                for n, url in enumerate([*urls, OFF_LIST])
            ]
            return AIMessage(content="", tool_calls=calls)
        if not any(m.name == "execute" for m in done):
            return AIMessage(
                content="",
                tool_calls=[{"name": "execute", "args": {"command": ANALYSIS}, "id": "x"}],
            )
        return ai_text("Tables per vendor:\n" + str(done[-1].content))

    return ScriptedChatModel(script=script, name="fake-coordinator")


async def test_example_researches_the_demo_sites_offline(
    demo_sites: DemoSites, tmp_path: Path
) -> None:
    offered: list[str] = []
    model = coordinator(demo_sites, offered)
    answer = await deepagents_research.research(model, runs_dir=str(tmp_path), sites=demo_sites)

    assert {"task", "execute", "ls", "read_file", "write_file", "grep", "glob"} <= set(offered)
    calls = model.calls[-1]
    findings = {
        json.loads(str(m.content))["site"]: json.loads(str(m.content))
        for m in calls
        if isinstance(m, ToolMessage) and m.name == "task"
    }
    assert set(findings) == {*demo_sites.urls.values(), OFF_LIST}
    for url in demo_sites.urls.values():
        found = findings[url]
        assert found["status"] == "ok", found
        assert found["tables"], found
        assert all(t["artifact"]["path"].startswith("/work/findings/") for t in found["tables"])
        assert found["browser_jail"].startswith("bwrap"), found["browser_jail"]
    refused = findings[OFF_LIST]
    assert refused["status"] == "refused" and refused["errors"][0]["rule"] == "off_plan"
    assert refused["pages_visited"] == [] and refused["browser_jail"] == ""
    # The analysis ran in the sandbox over the tables the browsers uploaded there.
    assert answer.startswith("Tables per vendor:")
    lines = [line for line in answer.splitlines()[1:] if line.strip()]
    tasks = {found["task_id"] for url, found in findings.items() if url != OFF_LIST}
    assert {line.split()[0] for line in lines if line.split()[0].startswith("deepagents-")} == tasks
