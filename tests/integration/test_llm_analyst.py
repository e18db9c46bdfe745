"""The llm analyst in a real code sandbox: a scripted model writes code, reads errors, repairs.

The model is the only fake (a scripted chat model); the sandbox, the manifest, the CSVs and the
offline fallback are real, so charts are real PNGs drawn by matplotlib inside the sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Findings, ModelUsage, TableRef
from nodes.analyse.llm import extract_code, summary_problem
from nodes.analyse.node import analyst, run_analysis
from nodes.artifacts import write_csv
from nodes.llm.usage import Meter, run_budget
from tests.fakes import ScriptedChatModel, ai_text, all_text, replies

pytestmark = pytest.mark.slow

QUESTION = "Which plan is cheapest per month?"

READ_TABLES = """\
import json, os, re
import pandas as pd
import matplotlib.pyplot as plt

os.makedirs("out", exist_ok=True)
manifest = json.load(open("manifest.json"))
rows = []
for table in manifest["tables"]:
    df = pd.read_csv(table["path"], dtype=str)
    label = df.columns[0]
"""

# The first attempt guesses a column name the tables do not have.
BAD_CODE = (
    READ_TABLES
    + """\
    for _, row in df.iterrows():
        rows.append({"plan": row[label], "price": row["Cost"]})
"""
)

GOOD_CODE = (
    READ_TABLES
    + """\
    price = next(c for c in df.columns if "price" in c.lower())
    for _, row in df.iterrows():
        value = float(re.sub(r"[^0-9.]", "", row[price].split("/")[0]))
        rows.append({"site": table["site"], "plan": row[label], "usd_month": value})
data = pd.DataFrame(rows).sort_values("usd_month")
ax = data.plot.bar(x="plan", y="usd_month", legend=False, title="Price per month (USD)")
ax.get_figure().savefig("out/price_per_month.png")
plt.close("all")
cheapest = data.iloc[0]
table = "| site | plan | USD/month |\\n|---|---|--:|\\n" + "\\n".join(
    f"| {r.site} | {r.plan} | {r.usd_month:.2f} |" for r in data.itertuples()
)
summary = {
    "highlights": [f"Cheapest: {cheapest.plan} at {cheapest.site}, ${cheapest.usd_month:.2f}/mo"],
    "comparison_markdown": table,
}
json.dump(summary, open("out/summary.json", "w"))
open("out/analysis.py", "w").write("# an output may not replace the kept script")
"""
)


def _python(code: str) -> AIMessage:
    return ai_text(f"Here is the script.\n\n```python\n{code}```\n")


def _findings(tmp_path: Path) -> list[Findings]:
    sites = {
        "site-1": ("Acme", ["Plan", "Price", "Storage"], [["Mini", "$3.00/mo", "50 GB"]]),
        "site-2": ("Beta", ["Tier", "Monthly price", "Capacity"], [["Lite", "$2.50/mo", "1 TB"]]),
    }
    found = []
    for task_id, (name, columns, rows) in sites.items():
        url = f"https://{name.lower()}.example/pricing"
        ref = write_csv(tmp_path / "tables" / f"{task_id}.csv", columns, rows)
        table = TableRef(
            artifact=ref, source_url=url, caption=f"{name} plans", columns=columns, n_rows=1
        )
        found.append(
            Findings(task_id=task_id, site=url, site_name=name, goal=QUESTION, tables=[table])
        )
    return found


def _meter(model: ScriptedChatModel, *, limit: int = 0, spent: int = 0) -> Meter:
    recorded = [ModelUsage(node="coordinator", model="m", input_tokens=spent)] if spent else []
    return Meter(run_budget(f"t-{id(model)}", limit, recorded), node="analyst", model=model.name)


def _is_png(path: str) -> bool:
    return Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_failing_first_attempt_is_repaired_from_its_error(tmp_path: Path) -> None:
    def script(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        shown = all_text([m for m in messages if isinstance(m, HumanMessage)])
        return _python(GOOD_CODE if "KeyError" in shown else BAD_CODE)

    model = ScriptedChatModel(script=script, name="fake-analyst")
    meter = _meter(model)
    out = tmp_path / "analysis"
    analysis = await run_analysis(
        QUESTION, _findings(tmp_path), Context(), out=out, model=model, meter=meter
    )

    assert len(model.calls) == 2
    first, second = (all_text(call) for call in model.calls)
    # The first request shows the tables as fenced page content, with their real columns.
    assert "tables/site-2-1.csv" in first and '"Monthly price"' in first
    assert "<<<UNTRUSTED_WEB_CONTENT" in first
    # The second request carries the failure: the error type and the missing column.
    assert "KeyError" in second and "'Cost'" in second
    assert analysis.errors == []
    assert (analysis.author, analysis.attempts) == ("fake-analyst", 2)
    assert [Path(c.path).name for c in analysis.charts] == ["price_per_month.png"]
    assert all(_is_png(c.path) for c in analysis.charts)
    assert analysis.highlights == ["Cheapest: Lite at Beta, $2.50/mo"]
    assert "| Beta | Lite | 2.50 |" in analysis.comparison_markdown
    assert (out / "attempt-1.py").read_text() == BAD_CODE
    assert (out / "attempt-2.py").read_text() == GOOD_CODE
    assert Path(analysis.code_path).read_text() == GOOD_CODE
    assert (meter.record.calls, meter.record.input_tokens) == (2, 200)


async def test_when_every_attempt_fails_the_offline_code_still_charts(tmp_path: Path) -> None:
    model = ScriptedChatModel(
        script=replies(_python("raise ValueError('no idea how to parse these')\n")),
        name="fake-analyst",
    )
    out = tmp_path / "analysis"
    analysis = await run_analysis(
        QUESTION,
        _findings(tmp_path),
        Context(analyst_max_attempts=2),
        out=out,
        model=model,
        meter=_meter(model),
    )

    assert len(model.calls) == 2
    assert (analysis.author, analysis.attempts) == ("offline (fallback after 2 failed attempts)", 2)
    failed = [e for e in analysis.errors if e.kind == "analysis_failed"]
    assert [e.message.split(":")[0] for e in failed] == ["attempt 1", "attempt 2"]
    assert "ValueError" in failed[0].message and "no idea" in failed[0].message
    assert analysis.charts and all(_is_png(c.path) for c in analysis.charts)
    assert analysis.highlights, "the offline analysis computes highlights"
    assert (out / "attempt-1.py").is_file() and (out / "attempt-2.py").is_file()
    kept = Path(analysis.code_path).read_text()  # the offline script written for this run
    assert "comparison = Comparison(QUESTION" in kept and "comparison.metric(" in kept


async def test_a_spent_budget_skips_the_model_and_falls_back(tmp_path: Path) -> None:
    model = ScriptedChatModel(script=replies(_python(GOOD_CODE)), name="fake-analyst")
    meter = _meter(model, limit=100, spent=150)
    analysis = await run_analysis(
        QUESTION, _findings(tmp_path), Context(), out=tmp_path / "a", model=model, meter=meter
    )
    assert model.calls == []
    assert meter.record.calls == 0
    assert [e.kind for e in analysis.errors][:1] == ["budget"]
    assert "max_run_tokens" in analysis.errors[0].message
    assert analysis.author.startswith("offline (fallback after 0 failed attempts")
    assert analysis.charts and all(_is_png(c.path) for c in analysis.charts)


async def test_a_model_error_falls_back_and_is_recorded(tmp_path: Path) -> None:
    def broken(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        raise RuntimeError("throttled by the provider")

    model = ScriptedChatModel(script=broken, name="fake-analyst")
    analysis = await run_analysis(
        QUESTION,
        _findings(tmp_path),
        Context(),
        out=tmp_path / "a",
        model=model,
        meter=_meter(model),
    )
    assert analysis.errors[0].kind == "model_error"
    assert "throttled by the provider" in analysis.errors[0].message
    assert analysis.attempts == 0 and analysis.charts


async def test_no_tables_means_no_model_call(tmp_path: Path) -> None:
    model = ScriptedChatModel(script=replies(_python(GOOD_CODE)), name="fake-analyst")
    findings = [Findings(task_id="site-1", site="https://a.example/", goal=QUESTION)]
    analysis = await run_analysis(
        QUESTION, findings, Context(), out=tmp_path / "a", model=model, meter=_meter(model)
    )
    assert model.calls == []
    assert [e.kind for e in analysis.errors] == ["no_tables"]


async def test_node_with_the_llm_brain_returns_its_usage(tmp_path: Path) -> None:
    model = ScriptedChatModel(script=replies(_python(GOOD_CODE)), name="fake-analyst")
    ctx = Context(runs_dir=str(tmp_path / "runs"))
    state = {"question": QUESTION, "brain": "llm", "findings": _findings(tmp_path), "usage": []}
    update = await analyst(state, Runtime(context=ctx), models={"analyst": model})  # type: ignore[arg-type]
    assert update["analysis"].author == "fake-analyst"
    assert update["analysis"].attempts == 1 and update["analysis"].charts
    (record,) = update["usage"]
    assert (record.node, record.model, record.calls) == ("analyst", "fake-analyst", 1)


async def test_node_without_an_analyst_model_says_so_and_runs_offline(
    tmp_path: Path, no_model: pytest.MonkeyPatch
) -> None:
    ctx = Context(runs_dir=str(tmp_path / "runs"), model="")
    state = {"question": QUESTION, "brain": "llm", "findings": _findings(tmp_path)}
    update = await analyst(state, Runtime(context=ctx))  # type: ignore[arg-type]
    analysis = update["analysis"]
    assert analysis.errors[0].kind == "model_unavailable"
    assert "analyst" in analysis.errors[0].message
    assert analysis.author == "offline (fallback: no analyst model)" and analysis.charts
    assert "usage" not in update


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (ai_text("```python\nprint(1)\n```"), "print(1)\n"),
        (ai_text("```py\nx = 1\n```\nand usage:\n```python\nx\n```"), "x = 1\n"),
        (ai_text("Sure:\n```\nprint(2)\n```"), "print(2)\n"),
        (ai_text("```python\nprint(3)\n"), "print(3)\n"),  # cut off before the closing fence
        (ai_text("import json\nprint(json.dumps({}))"), "import json\nprint(json.dumps({}))\n"),
        (AIMessage(content=[{"type": "text", "text": "```python\nprint(4)\n```"}]), "print(4)\n"),
        (
            AIMessage(content="", tool_calls=[{"name": "s", "args": {"code": "y=2"}, "id": "1"}]),
            "y=2\n",
        ),
        (ai_text("I cannot help with that."), None),
        (ai_text("```text\nnot code\n```"), None),
    ],
)
def test_code_is_found_in_any_reasonable_reply(reply: AIMessage, code: str | None) -> None:
    assert extract_code(reply) == code


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "did not write out/summary.json"),
        (b"{not json", "not valid JSON"),
        (b"[1]", "JSON object"),
        (b'{"highlights": "cheap"}', '"highlights"'),
        (b'{"highlights": [], "warnings": "x"}', '"warnings"'),
        (json.dumps({"highlights": ["a"], "comparison_markdown": "|a|"}).encode(), ""),
    ],
)
def test_summary_contract_is_checked(data: bytes | None, problem: str) -> None:
    found = summary_problem(data)
    assert (problem in found) if problem else found == ""
