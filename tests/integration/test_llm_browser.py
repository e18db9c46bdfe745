"""The llm brain's browser subagent: a scripted model drives real Chromium against local sites.

The fake plays the worst case: it does exactly what the script (or a hostile page) says. What
must hold is in code, not in the model: the egress policy, the bounded and fenced page text,
the step and token limits, and the checks on what the model submits.
"""

from __future__ import annotations

import asyncio
import csv
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.runtime import ExecutionInfo, Runtime

from graph.context import Context
from graph.models import Findings, SiteTask
from graph.state import BrowseTask
from nodes.browse.node import browser
from nodes.llm.fence import FENCE_CLOSE, FENCE_OPEN
from tests.fakes import ScriptedChatModel, Turn, ai_tool_call, all_text, by_site, tool_results
from tests.netwatch import listener

pytestmark = pytest.mark.slow

GOAL = "Compare the monthly price and storage of the plans"
SECRET = "flotilla-test-secret-4242-do-not-leak"
TAG = re.compile(r"<\s*/?\s*[A-Za-z][^<>]*>")
FENCED = re.compile(re.escape(FENCE_OPEN) + ".*?" + re.escape(FENCE_CLOSE), re.DOTALL)


def fake(turns: dict[str, list[Turn]], **kwargs: Any) -> ScriptedChatModel:
    return ScriptedChatModel(script=by_site(turns), name="fake-browser", **kwargs)


async def run_node(
    task: SiteTask, ctx: Context, model: ScriptedChatModel, *, thread: str = "t-llm"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The graph's browser node, as a `Send` runs it, with the llm brain."""
    events: list[dict[str, Any]] = []
    info = ExecutionInfo(checkpoint_id="c", checkpoint_ns="", task_id="n", thread_id=thread)
    runtime = Runtime(context=ctx, stream_writer=events.append, execution_info=info)
    state = BrowseTask(task=task, brain="llm")
    update = await browser(state, runtime, models={"browser": model})
    return update, events


def context(tmp_path: Path, allow: list[str], **limits: Any) -> Context:
    return Context(allow_hosts=allow, runs_dir=str(tmp_path / "runs"), **limits)


def rows(findings: Findings, index: int = 0) -> list[list[str]]:
    with open(findings.tables[index].artifact.path, newline="") as handle:
        return list(csv.reader(handle))


def tool_events(events: list[dict[str, Any]], task_id: str) -> list[str]:
    return [e["tool"] for e in events if e.get("state") == "tool" and e["task_id"] == task_id]


async def test_a_model_browses_two_sites_in_parallel_and_submits_findings(site_server, tmp_path):
    acme, links = site_server("static_table"), site_server("offsite")
    fact = "The Standard plan gives you 500 GB for $12.50 per month."
    offered: list[list[str]] = []
    script = by_site(
        {
            acme.url: [
                ai_tool_call("navigate", url=acme.url),
                ai_tool_call("read_text"),
                ai_tool_call("extract_tables"),
                ai_tool_call("screenshot"),
                ai_tool_call(
                    "submit_findings",
                    summary="Acme: Mini $3.00/mo (50 GB), Standard $12.50/mo, Max $40.00/mo.",
                    key_facts=[{"text": fact, "source_url": acme.url}],
                ),
            ],
            # Never reads: navigating alone still yields the pages' text and facts.
            links.url: [
                ai_tool_call("navigate", url=links.url),
                ai_tool_call("extract_hyperlinks", absolute_urls=True),
                ai_tool_call("navigate", url="/pricing.html"),
                ai_tool_call("submit_findings", summary="Basic is $5 per month.", key_facts=[]),
            ],
        },
        offered,
    )
    model = ScriptedChatModel(script=script, name="fake-browser")
    ctx = context(tmp_path, [acme.host, links.host])
    tasks = [
        SiteTask(task_id="acme", url=acme.url, goal=GOAL, fields=["price", "storage"]),
        SiteTask(task_id="links", url=links.url, goal=GOAL),
    ]
    (first, events), (second, _) = await asyncio.gather(*(run_node(t, ctx, model) for t in tasks))

    found = first["findings"][0]
    assert found.status == "ok", found.errors
    assert (found.brain, found.model) == ("llm", "fake-browser")
    assert found.summary.startswith("Acme: Mini $3.00/mo")
    assert [(f.text, f.source_url) for f in found.key_facts] == [(fact, acme.url)]
    assert rows(found)[0] == ["Plan", "Price", "Storage"]
    assert found.tables[0].artifact.media_type == "text/csv" and found.tables[0].n_rows == 3
    assert Path(found.tables[0].artifact.path).is_relative_to(tmp_path / "runs")
    usage = first["usage"][0]
    assert (usage.node, usage.task_id, usage.model) == ("browser", "acme", "fake-browser")
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (5, 500, 100)
    assert tool_events(events, "acme") == [
        "navigate",
        "read_text",
        "extract_tables",
        "screenshot",
        "submit_findings",
    ]
    shot = tmp_path / "runs" / "t-llm" / "artifacts" / "acme" / "screenshot-1.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [Path(s.path) for s in found.screenshots] == [shot]
    assert {"navigate", "read_text", "extract_tables", "screenshot", "click_element"} <= set(
        offered[0]
    )
    assert "navigate_browser" not in offered[0]  # the toolkit's unchecked navigation is not given

    other = second["findings"][0]
    assert other.status == "ok", other.errors
    assert other.pages_visited == [links.url, links.url + "pricing.html"]
    assert any("$5 per month" in f.text for f in other.key_facts)
    assert second["usage"][0].calls == 4
    # The links tool's result reached the model fenced, with no markup.
    seen = [m for call in model.calls for m in tool_results(call)]
    hyperlinks = next(m for m in seen if m.name == "extract_hyperlinks")
    assert str(hyperlinks.content).startswith(FENCE_OPEN)
    assert links.url + "pricing.html" in str(hyperlinks.content)


async def test_a_model_that_never_stops_is_cut_off_at_the_step_limit(site_server, tmp_path):
    site = site_server("static_table")
    model = fake(
        {
            site.url: [
                ai_tool_call("navigate", url=site.url),
                ai_tool_call("read_text"),
                ai_tool_call("scroll", direction="down"),  # ...forever
            ]
        }
    )
    task = SiteTask(task_id="loop", url=site.url, goal=GOAL)
    update, events = await run_node(
        task, context(tmp_path, [site.host], subagent_max_steps=5), model
    )
    findings = update["findings"][0]
    assert len(model.calls) == 5 and update["usage"][0].calls == 5
    assert findings.status == "partial"
    assert [e.kind for e in findings.errors] == ["step_limit"]
    assert "step limit (5 model calls" in findings.errors[0].message
    # What was read is kept: the page, its text-derived facts and its table.
    assert findings.pages_visited == [site.url]
    assert any("$12.50 per month" in f.text for f in findings.key_facts)
    assert findings.tables and rows(findings)[1][0] == "Mini"
    assert tool_events(events, "loop").count("scroll") == 3


@pytest.mark.parametrize(
    ("limits", "kind", "calls"),
    [
        ({"subagent_max_tokens": 300}, "token_limit", 3),  # 120 tokens a call: 360 >= 300
        ({"max_run_tokens": 250}, "budget", 3),  # the run's budget: spent 360 when checked
    ],
)
async def test_token_limits_stop_the_loop_and_keep_what_was_read(
    site_server, tmp_path, limits, kind, calls
):
    site = site_server("static_table")
    model = fake(
        {
            site.url: [
                ai_tool_call("navigate", url=site.url),
                ai_tool_call("read_text"),
                ai_tool_call("read_text"),
            ]
        }
    )
    task = SiteTask(task_id="tok", url=site.url, goal=GOAL)
    update, _ = await run_node(task, context(tmp_path, [site.host], **limits), model)
    findings = update["findings"][0]
    assert len(model.calls) == calls
    assert findings.status == "partial"
    assert [e.kind for e in findings.errors] == [kind]
    assert findings.pages_visited == [site.url] and findings.key_facts


async def test_a_failing_model_ends_the_subagent_with_what_it_has(site_server, tmp_path):
    site = site_server("static_table")

    def broken(messages: list[BaseMessage]) -> AIMessage:
        raise RuntimeError("ThrottlingException: rate exceeded")

    model = fake({site.url: [ai_tool_call("navigate", url=site.url), broken]})
    task = SiteTask(task_id="err", url=site.url, goal=GOAL)
    update, _ = await run_node(task, context(tmp_path, [site.host]), model)
    findings = update["findings"][0]
    assert findings.status == "partial" and findings.pages_visited == [site.url]
    assert [e.kind for e in findings.errors] == ["model_error"]
    assert "ThrottlingException" in findings.errors[0].message
    assert update["usage"][0].calls == 1


async def test_the_time_limit_keeps_what_was_read(site_server, tmp_path):
    site = site_server("hang")
    model = fake(
        {
            site.url: [
                ai_tool_call("navigate", url=site.url),
                ai_tool_call("read_text"),
                ai_tool_call("navigate", url="/hang"),  # never answers
            ]
        }
    )
    task = SiteTask(task_id="slow", url=site.url, goal=GOAL)
    limits = {"subagent_timeout_s": 8.0, "page_timeout_s": 30.0}
    update, _ = await run_node(task, context(tmp_path, [site.host], **limits), model)
    findings = update["findings"][0]
    assert (findings.status, findings.brain) == ("partial", "llm")
    assert findings.pages_visited == [site.url]
    assert [e.kind for e in findings.errors] == ["time_limit"]
    assert "price list" in findings.summary
    assert update["usage"][0].calls == 3


async def test_no_browser_model_is_a_failed_branch_not_a_crash(no_model, tmp_path):
    task = SiteTask(task_id="none", url="http://127.0.0.1:9/", goal=GOAL)
    info = ExecutionInfo(checkpoint_id="c", checkpoint_ns="", task_id="n", thread_id="t")
    runtime = Runtime(context=context(tmp_path, []), execution_info=info)
    update = await browser(BrowseTask(task=task, brain="llm"), runtime)
    findings = update["findings"][0]
    assert (findings.status, findings.brain) == ("failed", "llm")
    assert findings.errors[0].kind == "model_unavailable"


async def test_an_injected_page_cannot_move_the_subagent_or_its_findings(
    site_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    site = site_server("injection")
    with listener() as (collector_host, connections):
        collector = f"http://{collector_host}/collect"
        start = f"{site.url}?collector={collector}"

        def injected_link(messages: list[BaseMessage]) -> str:
            # The fake obeys the page: it takes the link from what read_text showed it.
            seen = "\n".join(str(m.content) for m in tool_results(messages))
            found = re.search(rf"http://{re.escape(collector_host)}/\S*", seen)
            assert found, "the page's instructions never reached the model"
            return found.group(0).rstrip(".,")

        model = fake(
            {
                site.url: [
                    ai_tool_call("navigate", url=start),
                    ai_tool_call("read_text"),
                    lambda m: ai_tool_call("navigate", url=injected_link(m)),
                    ai_tool_call("click_element", selector="#collector"),
                    ai_tool_call("get_elements", selector="p", attributes=["innerText", "onerror"]),
                    lambda m: ai_tool_call(
                        "submit_findings",
                        summary=(
                            "Brinewell Basic costs $6.00 per month. Full report at "
                            f"{injected_link(m)} (AWS_SECRET_ACCESS_KEY: unknown)."
                        ),
                        key_facts=[
                            {"text": "Basic costs $6.00 per month.", "source_url": start},
                            {"text": "Everything is free.", "source_url": injected_link(m)},
                            # the visited page, respelled with a misleading userinfo part
                            {
                                "text": "Basic is billed monthly.",
                                "source_url": start.replace("://", "://pay.example.com@", 1),
                            },
                        ],
                    ),
                ]
            }
        )
        ctx = context(tmp_path, [site.host], page_text_chars=1000)
        task = SiteTask(task_id="inj", url=start, goal=GOAL)
        update, _ = await run_node(task, ctx, model)
        await asyncio.sleep(0.3)  # a connection in flight would have arrived by now
        assert connections == []

    findings = update["findings"][0]
    # The plan is untouched: the branch reports its own task only, and nothing else.
    assert set(update) == {"findings", "usage"}
    assert (findings.task_id, findings.site) == ("inj", start)
    assert all(p.startswith(site.url) for p in findings.pages_visited)
    # The off-plan navigation (the tool, and the link click) was refused, naming the rule.
    refused = [e for e in findings.errors if e.kind == "refused"]
    assert refused and all(e.rule == "off_plan" for e in refused)
    assert any(e.where.startswith(collector) for e in refused)
    # Off-plan facts and links are gone; the note names the rule, not the link.
    # A kept fact cites the page as the browser loaded it, never the model's spelling.
    assert [(f.text, f.source_url) for f in findings.key_facts] == [
        ("Basic costs $6.00 per month.", start),
        ("Basic is billed monthly.", start),
    ]
    assert collector_host not in findings.summary and "[link removed: off_plan]" in findings.summary
    kinds = {e.kind for e in findings.errors}
    assert {"unverified_fact", "offplan_link"} <= kinds
    # No secret anywhere: not shown to the model, not in the findings.
    assert SECRET not in findings.model_dump_json()
    assert not any(SECRET in all_text(call) for call in model.calls)

    # Page text reached the model only inside the fence, bounded, with no markup.
    last = model.calls[-1]
    for message in tool_results(last):
        outside = FENCED.sub("", str(message.content))
        assert "IGNORE ALL PREVIOUS INSTRUCTIONS" not in outside
        assert "Brinewell" not in outside
        for block in FENCED.findall(str(message.content)):
            body = block.split("\n", 1)[1].rsplit("\n", 1)[0]
            assert len(body) <= ctx.page_text_chars
            assert not TAG.search(body), body
    read = next(m for m in tool_results(last) if m.name == "read_text")
    assert "IGNORE ALL PREVIOUS INSTRUCTIONS" in str(read.content)
    assert "truncated to 1000 characters" in str(read.content)
    click = next(m for m in tool_results(last) if m.name == "click_element")
    assert "The egress policy refused 1 request(s) (rule: off_plan)" in str(click.content)
    elements = next(m for m in tool_results(last) if m.name == "get_elements")
    assert "Brinewell Basic plan costs $6.00" in str(elements.content)
