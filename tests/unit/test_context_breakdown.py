"""The context bench's breakdown of a coordinator call: every part counted under its kind."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage

from bench.context_bench import KINDS, _call_parts, _plan_parts, breakdown, minilm_counter
from graph.models import Analysis, Fact, Findings
from nodes.plan.llm import planning_messages
from nodes.report.llm import material, system_prompt

QUESTION = "Compare the monthly price and storage of each vendor's plans"


def _values() -> dict:
    finding = Findings(
        task_id="site-1",
        site="https://beta.example/",
        site_name="Beta",
        goal=QUESTION,
        summary="Beta sells storage.",
        key_facts=[Fact(text="Lite costs $2.50 per month.", source_url="https://beta.example/p")],
    )
    analysis = Analysis(highlights=["Cheapest: Lite at Beta — $2.50 per month"])
    return {"question": QUESTION, "analysis": analysis, "findings": [finding]}


def test_a_plan_call_splits_into_instructions_question_and_insights() -> None:
    messages = planning_messages(QUESTION, ["https://beta.example/"], ["Beta sells Lite"], 8)
    parts = dict(_plan_parts(str(messages[0].content), str(messages[1].content)))
    assert "ResearchPlan" in parts["instructions"]
    assert "https://beta.example/" in parts["question and URLs"]
    assert (
        "Beta sells Lite" in parts["insights"]
        and "Beta sells Lite" not in parts["question and URLs"]
    )


def test_a_report_call_is_counted_by_kind_and_adds_up() -> None:
    values = _values()
    text = material(QUESTION, values["analysis"], values["findings"])
    call = [SystemMessage(system_prompt()), HumanMessage(text)]
    parts = _call_parts("report", call, values)
    kinds = {kind for kind, _ in parts}
    assert kinds == {"instructions", "question and URLs", "analysis summary", "per-site digests"}
    counter = minilm_counter()
    tokens = breakdown(parts, counter)
    assert list(tokens) == list(KINDS) and tokens["per-site digests"] > 0
    whole = counter.count(system_prompt()) + counter.count(text)
    assert abs(sum(tokens.values()) - whole) <= 5  # parts are joined by blank lines only


def test_a_report_call_that_is_not_the_material_is_counted_as_other() -> None:
    call = [SystemMessage(system_prompt()), HumanMessage("something else")]
    assert _call_parts("report", call, _values())[1] == ("other", "something else")
