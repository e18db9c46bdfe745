"""`make eval`'s scoring: asked-for values found, true numbers in facts, items in the report."""

from __future__ import annotations

from pathlib import Path

from eval.run import score, table
from graph.models import Analysis, Fact, Findings, Plan, SiteTask

TRUTH = {
    "question": "Compare the monthly price and storage",
    "sites": {
        "shop": {
            "Lite": {"price": "2,50", "storage": "100"},
            "Max": {"price": "9,90", "storage": "500"},
        }
    },
}
URL = "http://127.0.0.1:8001/"


def test_values_found_facts_that_are_true_and_items_the_report_names(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text(
        "- Lite costs € 2,50 per month\n| shop | Lite | storage | 100 GB |\n- Max: 500 GB\n"
    )
    finding = Findings(
        task_id="site-1",
        site=URL,
        goal="g",
        pages_visited=[URL],
        summary="Lite is € 2,50 a month for 100 GB.",
        key_facts=[Fact(text="Max has 500 GB for € 9,99", source_url=URL)],  # 9,99: not true
    )
    state = {
        "findings": [finding],
        "report_path": str(report),
        "plan": Plan(tasks=[SiteTask(task_id="site-1", url=URL, goal="g")], planner="m"),
        "analysis": Analysis(highlights=["x"], attempts=2, author="m"),
    }
    row = score(TRUTH, {"shop": URL}, state)
    assert row["recall"] == 0.75  # Max's price 9,90 was not found
    assert row["fact_precision"] == 0.5  # 500 is true, 9.99 is not
    assert row["report_items"] == "1/2"  # Max's price is not in the report
    assert row["plan_valid"] and row["pages"] == 1 and row["analyst_attempts"] == 2
    row.update(brain="llm", model="m", tool_calls=3, tool_calls_repaired=1, tool_calls_refused=1)
    row.update(tokens={}, wall_s=1.0, tool_calls_constrained=0, max_prompt={"browser": 2345})
    row["phases"] = {"plan": 0.5}
    shown = table([row])
    assert "| tool calls (schema-constrained / repaired from text / refused) | 3 (0 / 1 / 1) |" in (
        shown
    )
    assert "| largest prompt per role (tokens) | browser 2,345 |" in shown
