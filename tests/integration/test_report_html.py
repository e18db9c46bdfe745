"""The HTML report of a real local run, opened in real headless Chromium.

One offline run researches the three demo sites and a page written to inject markdown and HTML
into whatever renders its report (tests/sites/report_injection). Its report.html is then opened
from disk with every request routed: nothing may be asked for but the file itself. The charts
must be drawn from their embedded bytes, every site has its card, the sources and the timeline
are there, and the page's markup shows as words in both reports, never as a link, image or tag.
A screenshot of the report is left in the test's tmp dir (its path is printed).
"""

from __future__ import annotations

import asyncio
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from demo_sites.demo import DEMO_QUESTION
from demo_sites.server import DemoSites
from graph.context import Context
from graph.runner import Runner
from scripts.screenshot_report import report_page
from tests.fixtures_sites import SiteServerFactory

pytestmark = pytest.mark.slow

# What tests/sites/report_injection/index.html writes as text.
INJECTIONS = (
    "![x](https://tracker.example/p.png)",
    "<img src=https://tracker.example/i.png>",
    '<script>alert("report")</script>',
    "[click](javascript:alert(1))",
)


@pytest.fixture(scope="module")
def run(
    demo_sites: DemoSites,
    site_server: SiteServerFactory,
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """One offline run over the demo sites and the injection page; its output."""
    hostile = site_server("report_injection")
    urls = [*demo_sites.urls.values(), hostile.url]
    ctx = Context(
        brain="offline",
        allow_hosts=[*demo_sites.allow_hosts, hostile.host],
        runs_dir=str(tmp_path_factory.mktemp("report-html") / "runs"),
        memory_namespace=f"report-html-{uuid.uuid4().hex[:8]}",
        sandbox_tier="bwrap",
        max_pages=3,
    )
    runner = Runner(redis_url=redis_server_url)
    thread = f"t-report-{uuid.uuid4().hex[:8]}"
    result = asyncio.run(runner.run(DEMO_QUESTION, urls, ctx, thread=thread))
    assert result.usable, result.output["errors"]
    return result.output


def _markdown_tokens(markdown: str) -> list[Any]:
    parsed = MarkdownIt("commonmark").enable("table").parse(markdown)
    return [t for block in parsed for t in [block, *(block.children or [])]]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def test_report_md_shows_the_pages_markup_as_text(run: dict[str, Any]) -> None:
    markdown = Path(run["report_path"]).read_text()
    tokens = _markdown_tokens(markdown)
    assert not {"html_inline", "html_block"} & {t.type for t in tokens}
    images = [t.attrs["src"] for t in tokens if t.type == "image"]
    report_dir = Path(run["report_path"]).parent
    assert sorted(images) == sorted(str(Path(c).relative_to(report_dir)) for c in run["charts"])
    links = [str(t.attrs["href"]) for t in tokens if t.type == "link_open"]
    outside = [u for u in links if "://" in u and u not in run["sources"]]
    assert links and not outside, outside
    text = _Text()
    text.feed(MarkdownIt("commonmark").enable("table").render(markdown))
    rendered = " ".join(" ".join(text.parts).split())
    for injection in INJECTIONS:
        assert injection in rendered, injection


async def test_report_html_is_self_contained_and_complete_in_chromium(
    run: dict[str, Any], tmp_path: Path
) -> None:
    document = Path(run["report_path"]).with_suffix(".html").as_uri()
    requested: list[str] = []
    # Chromium as the task asks: /usr/bin/chromium (or $FLOTILLA_CHROMIUM), headless, every
    # request but the file's own refused and listed.
    async with report_page(document) as (page, routed):
        page.on("request", lambda request: requested.append(request.url))
        await page.reload(wait_until="load")
        await page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        charts = await page.eval_on_selector_all(
            "#charts img", "els => els.map(e => [e.naturalWidth, e.src.slice(0, 22)])"
        )
        cards = await page.eval_on_selector_all(
            ".site-card", "els => els.map(e => e.querySelector('h3').innerText)"
        )
        sources = await page.eval_on_selector_all(
            "#sources li a", "els => els.map(e => e.getAttribute('href'))"
        )
        bars = await page.eval_on_selector_all(
            ".tl-row",
            """rows => rows.map(r => {
                const b = r.querySelector('.tl-bar').getBoundingClientRect();
                return [r.querySelector('.tl-label').innerText, b.left, b.right];
            })""",
        )
        dom = await page.evaluate(
            """() => ({
                scripts: document.querySelectorAll('script').length,
                imgs: Array.from(document.images).map(i => i.src.slice(0, 11)),
                hrefs: Array.from(document.links).map(a => a.getAttribute('href')),
                text: document.body.innerText,
            })"""
        )
        shot = tmp_path / "report.png"
        await page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the HTML report: {shot}")

    assert routed == [], "the report asked for something besides itself"
    assert all(u == document or u.startswith("data:") for u in requested), requested
    assert len(charts) == len(run["charts"]) >= 2
    assert all(width > 0 and src.startswith("data:image/") for width, src in charts), charts
    assert len(cards) == len(run["subagents"]) == 4
    assert {row["name"] for row in run["subagents"]} <= set(cards)
    assert sources == run["sources"] and len(sources) >= 5
    labels = [label for label, _, _ in bars]
    assert labels[0] == "plan" and labels[-2:] == ["analyst", "report"]
    browsers = [(left, right) for label, left, right in bars if label.startswith("site-")]
    assert len(browsers) == 4 and all(right > left for left, right in browsers)
    # The subagents ran in parallel: their bars overlap on the time axis.
    assert max(left for left, _ in browsers) < min(right for _, right in browsers)
    assert dom["scripts"] == 0 and all(src.startswith("data:image/") for src in dom["imgs"])
    allowed = set(run["sources"]) | {row["site"] for row in run["subagents"]}
    for href in dom["hrefs"]:
        # A source page, or one of the run's own files (a table's CSV) by relative path.
        assert href in allowed or (href.startswith("artifacts/") and ":" not in href), href
    for injection in INJECTIONS:
        assert injection in dom["text"], injection
    assert shot.stat().st_size > 10_000
