"""Scripted models, one per role, for a whole llm-brain run over the bundled demo sites.

The coordinator plans one task per vendor, each browser navigates to its pricing page and
submits what the tables say, the analyst's first script fails on a missing manifest key and is
repaired from the error it is shown, and the report model answers briefly. Used by the graph
test (tests/graph/test_llm_graph.py) and the llm benchmark (bench/llm_bench.py).
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from demo_sites.server import DemoSites
from tests.fakes import ScriptedChatModel, ai_text, ai_tool_call, all_text, by_site, replies

QUESTION = "Which cloud storage plan is cheapest per month?"
PRICING = {"nimbus_vault": "pricing.html", "strato_cask": "tiers.html", "cumulo_crate": "plans/"}

ANALYSIS = """\
import json, os
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

os.makedirs("out", exist_ok=True)
manifest = json.load(open("manifest.json"))
plans = {{t["site"]: len(pd.read_csv(t["path"])) for t in manifest[{key!r}]}}
ax = pd.Series(plans).sort_index().plot.bar(title="Plans listed per site")
ax.get_figure().savefig("out/plans_per_site.png")
plt.close("all")
json.dump(
    {{"highlights": [f"{{site}} lists {{n}} plans" for site, n in sorted(plans.items())],
     "comparison_markdown": ""}},
    open("out/summary.json", "w"),
)
"""


def python_reply(code: str) -> AIMessage:
    return ai_text(f"```python\n{code}```")


def coordinator_model(sites: DemoSites) -> ScriptedChatModel:
    tasks = [
        {"url": url, "goal": f"Monthly price of each plan at {name}", "fields": ["price"]}
        for name, url in sorted(sites.urls.items())
    ]
    plan = ai_tool_call("ResearchPlan", tasks=tasks, skipped=[], notes=["one task per vendor"])
    return ScriptedChatModel(script=replies(plan), name="fake-coordinator")


def browser_model(sites: DemoSites) -> ScriptedChatModel:
    turns = {
        url: [
            ai_tool_call("navigate", url=url),
            ai_tool_call("navigate", url=url + PRICING[name]),
            ai_tool_call("extract_tables"),
            ai_tool_call("submit_findings", summary=f"{name}: plan prices read.", key_facts=[]),
        ]
        for name, url in sites.urls.items()
    }
    return ScriptedChatModel(script=by_site(turns), name="fake-browser")


def analyst_model() -> ScriptedChatModel:
    def script(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        shown = all_text([m for m in messages if isinstance(m, HumanMessage)])
        # The first script reads a manifest key that does not exist; the error shows why.
        return python_reply(ANALYSIS.format(key="tables" if "KeyError" in shown else "table"))

    return ScriptedChatModel(script=script, name="fake-analyst")


def report_model() -> ScriptedChatModel:
    answer = ai_tool_call("ShortAnswer", bullets=["All three vendors list their plans."])
    return ScriptedChatModel(script=replies(answer), name="fake-report")
