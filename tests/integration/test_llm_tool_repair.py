"""A small model's tool calls in a real browser: calls written as text, bad arguments, prose.

The scripted replies are shaped as Qwen2.5-Coder-1.5B wrote them through llama.cpp's
OpenAI-compatible server (the call as fenced or tagged JSON text with `tool_calls` empty, a
call missing its argument, prose instead of a call, a reply running to its output bound); the
browser, the egress policy, the tools and the loop are real.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from graph.models import SiteTask
from nodes.llm.limits import OUTPUT_CEILINGS
from tests.fakes import ai_text, ai_tool_call, tool_results
from tests.integration.test_llm_browser import GOAL, context, fake, run_node

pytestmark = pytest.mark.slow


def _submit(url: str) -> AIMessage:
    return ai_text(
        "```json\n"
        '{"name": "submit_findings", "arguments": {"summary": "Standard is $12.50 per month.", '
        f'"key_facts": [{{"text": "Standard: $12.50 per month", "source_url": "{url}"}}]}}}}\n'
        "```"
    )


async def test_calls_written_as_text_run_and_bad_arguments_get_the_error_back(
    site_server, tmp_path
):
    site = site_server("static_table")

    def retried(messages: list[BaseMessage]) -> AIMessage:
        # The model reads the validation error, then calls again with the argument.
        (error,) = [m for m in tool_results(messages) if m.status == "error"]
        assert "invalid arguments for navigate: url: Field required" in str(error.content)
        return ai_text(
            f'<tool_call>\n{{"name": "navigate", "arguments": {{"url": "{site.url}"}}}}\n</tool_call>'
        )

    model = fake(
        {
            site.url: [
                ai_tool_call("navigate"),  # no url: answered with the validation error
                retried,
                ai_text('```json\n{"name": "read_text", "arguments": {}}\n```'),
                _submit(site.url),
            ]
        }
    )
    task = SiteTask(task_id="txt", url=site.url, goal=GOAL)
    update, events = await run_node(task, context(tmp_path, [site.host]), model)
    findings = update["findings"][0]
    assert findings.status == "ok", findings.errors
    assert findings.summary == "Standard is $12.50 per month."
    assert [(f.text, f.source_url) for f in findings.key_facts] == [
        ("Standard: $12.50 per month", site.url)
    ]
    tools = [(e["tool"], e["repaired"], e["valid"]) for e in events if e.get("state") == "tool"]
    assert tools == [
        ("navigate", False, False),
        ("navigate", True, True),
        ("read_text", True, True),
        ("submit_findings", True, True),
    ]
    # Every call carried the browser's output bound.
    assert model.bounds == [OUTPUT_CEILINGS["browser"]] * 4


async def test_prose_instead_of_a_call_ends_the_subagent_partial_with_the_reason(
    site_server, tmp_path
):
    site = site_server("static_table")
    model = fake(
        {
            site.url: [
                ai_tool_call("navigate", url=site.url),
                ai_text("The Standard plan costs $99 per month and includes everything."),
            ]
        }
    )
    task = SiteTask(task_id="prose", url=site.url, goal=GOAL)
    update, _ = await run_node(task, context(tmp_path, [site.host]), model)
    findings = update["findings"][0]
    assert findings.status == "partial"
    assert [e.kind for e in findings.errors] == ["no_tool_call"]
    assert "replied without calling a tool" in findings.errors[0].message
    # What was read is kept; the prose is not taken as the summary.
    assert findings.pages_visited == [site.url] and "$99" not in findings.summary
    assert any("$12.50 per month" in f.text for f in findings.key_facts)


async def test_a_runaway_reply_is_cut_counted_and_ends_its_step(site_server, tmp_path):
    site = site_server("static_table")
    runaway = AIMessage(content="{" * 5_000, response_metadata={"finish_reason": "length"})
    model = fake({site.url: [ai_tool_call("navigate", url=site.url), runaway, runaway]})
    task = SiteTask(task_id="cut", url=site.url, goal=GOAL)
    ctx = context(tmp_path, [site.host], subagent_max_steps=3, subagent_max_tokens=1_000)
    update, _ = await run_node(task, ctx, model)
    findings, usage = update["findings"][0], update["usage"][0]
    assert usage.truncated == 2 and usage.calls == 3
    assert [e.kind for e in findings.errors] == ["step_limit"]
    # The bound follows the subagent's tokens left (120 a call); a cut reply is not replayed whole.
    assert model.bounds == [OUTPUT_CEILINGS["browser"]] * 2 + [760]
    last = model.calls[-1]
    assert isinstance(last[-1], HumanMessage) and "cut off at its output limit" in last[-1].text
    assert all(len(str(m.content)) <= 300 for m in last if isinstance(m, AIMessage))


async def test_the_llm_brain_reads_listed_items_as_records_across_a_lists_pages(
    site_server, tmp_path
):
    from tests.integration.test_records_sites import MODELS, record_table

    site = site_server("card_shop")
    first, second = site.url + "e-bikes/", site.url + "e-bikes/page-2.html"

    def saw_records(messages: list[BaseMessage]) -> AIMessage:
        said = str(tool_results(messages)[-1].content)
        assert "saved" in said and "Voltaro City 7" in said, said
        return ai_tool_call("navigate", url=second)

    model = fake(
        {
            first: [
                ai_tool_call("navigate", url=first),
                ai_tool_call("extract_tables"),
                saw_records,
                ai_tool_call("extract_tables"),
                ai_tool_call(
                    "submit_findings",
                    summary="Five e-bikes over two pages.",
                    key_facts=[{"text": "Voltaro City 7: 625 Wh", "source_url": first}],
                ),
            ]
        }
    )
    task = SiteTask(task_id="cards", url=first, goal="battery, range and price of every e-bike")
    update, _ = await run_node(task, context(tmp_path, [site.host]), model)
    findings = update["findings"][0]
    table = record_table(findings)
    assert table[0] == ["Name", "Battery", "Range", "Weight", "Price"]
    assert {row[0] for row in table[1:]} == set(MODELS)
