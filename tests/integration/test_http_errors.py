"""A main document answered 4xx/5xx is a failure naming its code, in both brains.

Real Chromium against a real loopback server whose error pages are Python's own ("Error
response", the text a misconfigured site really serves): their title and text must never
become the site's name, summary or facts.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.runtime import ExecutionInfo, Runtime

from graph.context import Context
from graph.models import Findings, SiteTask
from graph.state import BrowseTask
from nodes.browse.node import browser
from nodes.browse.subagent import run_subagent
from tests.fakes import ScriptedChatModel, ai_tool_call, by_site, tool_results
from tests.fixtures_sites import serve_handler

pytestmark = pytest.mark.slow

GOAL = "Compare the monthly price and storage of the plans"

GOOD = """<!DOCTYPE html><html><head><title>TITLE</title></head><body>
<header><nav><a href="/">Home</a> <a href="/pricing">Pricing</a>
<a href="/plans-archive">Plans archive</a></nav></header>
<main><h1>Pricing</h1>
<p>Quarry Storage keeps your team's files in two regions and bills by the month.</p>
<p>The Slate plan costs $6 per month and includes 200 GB of storage for three users.</p>
</main><footer>&copy; 2026 Quarry Storage</footer></body></html>"""
TITLES = {"/": "Quarry Storage — files for teams", "/pricing": "Pricing | Quarry Storage"}


class _Handler(BaseHTTPRequestHandler):
    """ "/" and "/pricing" answer 200; "/plans-archive" 404; "/down" 500; else 404."""

    def do_GET(self) -> None:
        if self.path in TITLES:
            page = GOOD.replace("TITLE", TITLES[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif self.path == "/down":
            self.send_error(500, "Internal Server Error", "The plans database is unavailable.")
        else:
            # http.server's page: <title>Error response</title>, "Error code: 404", a message.
            self.send_error(404, "File not found", "Nothing matches the given URI, plans 50 GB.")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """host:port of the server above, on loopback."""
    with serve_handler(_Handler) as host:
        yield host


def _no_error_page_content(findings: Findings) -> None:
    assert findings.site_name != "Error response"
    for said in [findings.summary, *(fact.text for fact in findings.key_facts)]:
        assert "Error" not in said and "URI" not in said and "50 GB" not in said


async def offline(url: str, host: str, tmp_path: Path, **limits: Any) -> Findings:
    ctx = Context(allow_hosts=[host], runs_dir=str(tmp_path), **limits)
    task = SiteTask(task_id="site-1", url=url, goal=GOAL)
    return await run_subagent(
        task, ctx, artifacts_root=str(tmp_path), thread_id="t", progress=lambda *_: None
    )


@pytest.mark.parametrize(("path", "code"), [("/missing", 404), ("/down", 500)])
async def test_an_error_start_page_fails_naming_its_status(site, tmp_path, path, code):
    findings = await offline(f"http://{site}{path}", site, tmp_path)
    assert findings.status == "failed"
    assert [e.kind for e in findings.errors] == ["http_error"]
    assert f"HTTP {code}" in findings.errors[0].message
    assert findings.pages_visited == [] and findings.tables == []
    assert findings.summary == "" and findings.key_facts == []
    assert findings.site_name == site  # the host, not the error page's title
    _no_error_page_content(findings)


async def test_a_good_page_and_a_missing_one_is_partial(site, tmp_path):
    findings = await offline(f"http://{site}/", site, tmp_path, max_pages=3)
    assert findings.status == "partial", findings.errors
    assert [(e.kind, e.where) for e in findings.errors] == [
        ("http_error", f"http://{site}/plans-archive")
    ]
    assert "HTTP 404" in findings.errors[0].message
    assert f"http://{site}/plans-archive" not in findings.pages_visited
    assert findings.site_name == "Quarry Storage"
    assert "$6 per month" in findings.summary
    assert any("$6 per month" in fact.text for fact in findings.key_facts)
    _no_error_page_content(findings)


async def llm_browse(
    site: str, tmp_path: Path, calls: list[AIMessage]
) -> tuple[Findings, list[str]]:
    """The llm brain's findings on `site` with a scripted model, and the tool results it saw."""
    home = f"http://{site}/"
    submit = ai_tool_call("submit_findings", summary="Slate is $6 per month.", key_facts=[])
    model = ScriptedChatModel(script=by_site({home: [*calls, submit]}), name="fake-browser")
    ctx = Context(allow_hosts=[site], runs_dir=str(tmp_path / "runs"))
    info = ExecutionInfo(checkpoint_id="c", checkpoint_ns="", task_id="n", thread_id="t-http")
    runtime = Runtime(context=ctx, stream_writer=lambda _: None, execution_info=info)
    state = BrowseTask(task=SiteTask(task_id="q", url=home, goal=GOAL), brain="llm")
    update = await browser(state, runtime, models={"browser": model})
    # Each call shows the conversation so far: one result per tool call id.
    said = {m.tool_call_id: str(m.content) for call in model.calls for m in tool_results(call)}
    return update["findings"][0], list(said.values())


async def test_the_llm_brain_is_told_the_status_and_cannot_read_the_error_page(site, tmp_path):
    home = f"http://{site}/"
    findings, said = await llm_browse(
        site,
        tmp_path,
        [
            ai_tool_call("navigate", url=home),
            ai_tool_call("read_text"),
            ai_tool_call("navigate", url="/down"),
            ai_tool_call("read_text"),
            ai_tool_call("extract_tables"),
        ],
    )
    assert findings.status == "partial"
    assert [e.kind for e in findings.errors] == ["http_error"]
    assert "HTTP 500" in findings.errors[0].message
    assert findings.pages_visited == [home]
    assert "Quarry Storage" in findings.site_name
    assert any("could not load" in r and "HTTP 500" in r for r in said)
    assert sum(r.startswith("Not read: HTTP 500") for r in said) == 2  # read_text, tables
    assert not any("plans database" in r for r in said)
    _no_error_page_content(findings)


async def test_an_error_page_reached_by_a_click_is_not_read_either(site, tmp_path):
    home = f"http://{site}/"
    findings, said = await llm_browse(
        site,
        tmp_path,
        [
            ai_tool_call("navigate", url=home),
            ai_tool_call("click_element", selector="text=Plans archive"),
            ai_tool_call("read_text"),
        ],
    )
    assert findings.status == "partial", findings.errors
    assert [(e.kind, e.where) for e in findings.errors] == [("http_error", f"{home}plans-archive")]
    assert "HTTP 404" in findings.errors[0].message
    assert findings.pages_visited == [home]
    assert any(r.startswith("Not read: HTTP 404") for r in said)
    _no_error_page_content(findings)
