"""Soft 404s in a real browser: an error template served as 200 is a failure, like a 404.

Real Chromium against a loopback server that answers missing pages the way many shops do:
status 200 and a "Page not found" template with navigation, suggestions and a newsletter box
(tests/fixtures/soft404/). A real article about such pages is read as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from langgraph.runtime import ExecutionInfo, Runtime

from graph.context import Context
from graph.models import Findings, SiteTask
from graph.state import BrowseTask
from nodes.browse.node import browser
from nodes.browse.subagent import run_subagent
from tests.fakes import ScriptedChatModel, ai_tool_call, by_site, tool_results
from tests.fixtures_sites import serve_handler

pytestmark = pytest.mark.slow

PAGES = Path(__file__).parent.parent / "fixtures" / "soft404"
GOAL = "What do the e-bikes cost? Their prices and batteries"
HOME = """<!DOCTYPE html><html><head><title>E-bikes | Pedalia Bikes</title>
<meta property="og:site_name" content="Pedalia Bikes"></head><body>
<header><nav><a href="/">Home</a> <a href="/old-range">Last year's e-bike prices</a>
<a href="/engineering/soft-404s">Engineering blog: our e-bike shop's lost week</a></nav></header>
<main><h1>E-bikes</h1>
<p>The Roamer costs €3,999 and carries a 720 Wh battery for up to 75 miles.</p>
<p>The Hopper costs €2,199 with a 400 Wh battery and weighs 20 kg.</p></main>
<footer>&copy; 2026 Pedalia Bikes GmbH</footer></body></html>"""
FILES = {
    "/": HOME,
    "/engineering/soft-404s": (PAGES / "real-article-about-404s.html").read_text("utf-8"),
}


class _Handler(BaseHTTPRequestHandler):
    """Known paths answer their page; every other path answers 200 with the shop's 404 page."""

    def do_GET(self) -> None:
        page = FILES.get(self.path) or (PAGES / "shop-404.html").read_text("utf-8")
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """host:port of the server above, on loopback."""
    with serve_handler(_Handler) as host:
        yield host


async def offline(url: str, host: str, tmp_path: Path, max_pages: int = 1) -> Findings:
    ctx = Context(allow_hosts=[host], runs_dir=str(tmp_path), max_pages=max_pages)
    task = SiteTask(task_id="site-1", url=url, goal=GOAL)
    return await run_subagent(
        task, ctx, artifacts_root=str(tmp_path), thread_id="t", progress=lambda *_: None
    )


def _nothing_of_the_error_page(findings: Findings) -> None:
    for said in [findings.site_name, findings.summary, *(f.text for f in findings.key_facts)]:
        assert "not found" not in said.lower() and "continue shopping" not in said.lower()


async def test_a_soft_404_start_page_fails_like_a_404(site, tmp_path):
    findings = await offline(f"http://{site}/products/roamer-2025", site, tmp_path)
    assert findings.status == "failed"
    assert [e.kind for e in findings.errors] == ["http_error"]
    assert findings.errors[0].message.startswith("soft 404:")
    assert 'title says "Page not found"' in findings.errors[0].message
    assert findings.pages_visited == [] and findings.tables == []
    assert findings.site_name == site  # not the error page's title
    _nothing_of_the_error_page(findings)


async def test_a_soft_404_among_real_pages_is_partial_and_the_article_is_read(site, tmp_path):
    findings = await offline(f"http://{site}/", site, tmp_path, max_pages=3)
    assert findings.status == "partial", findings.errors
    assert [(e.kind, e.where) for e in findings.errors] == [
        ("http_error", f"http://{site}/old-range")
    ]
    assert "soft 404" in findings.errors[0].message
    # The article whose title says "Page not found" has a body of its own: it is read.
    assert f"http://{site}/engineering/soft-404s" in findings.pages_visited
    assert findings.site_name == "Pedalia Bikes"
    assert "€3,999" in findings.summary + " ".join(f.text for f in findings.key_facts)


async def test_the_llm_brain_is_told_it_landed_on_a_soft_404(site, tmp_path):
    home = f"http://{site}/"
    calls = [
        ai_tool_call("navigate", url=home),
        ai_tool_call("navigate", url="/old-range"),
        ai_tool_call("read_text"),
    ]
    submit = ai_tool_call("submit_findings", summary="The Roamer costs €3,999.", key_facts=[])
    model = ScriptedChatModel(script=by_site({home: [*calls, submit]}), name="fake-browser")
    ctx = Context(allow_hosts=[site], runs_dir=str(tmp_path / "runs"))
    info = ExecutionInfo(checkpoint_id="c", checkpoint_ns="", task_id="n", thread_id="t-soft")
    runtime = Runtime(context=ctx, stream_writer=lambda _: None, execution_info=info)
    state = BrowseTask(task=SiteTask(task_id="q", url=home, goal=GOAL), brain="llm")
    update = await browser(state, runtime, models={"browser": model})
    findings = update["findings"][0]
    said = [str(m.content) for call in model.calls for m in tool_results(call)]

    assert findings.status == "partial", findings.errors
    assert [(e.kind, e.where) for e in findings.errors] == [("http_error", f"{home}old-range")]
    assert findings.pages_visited == [home]
    assert findings.site_name == "Pedalia Bikes"
    assert any(r.startswith("Not read: soft 404") for r in said)
    assert not any("Continue shopping" in r for r in said)
