"""Article pages read through the real browser: the summary is the article, not the chrome.

Real Chromium renders the pages of ``tests/fixtures/articles`` (cookie banners, share bars,
newsletter boxes, comment prompts) served on loopback; the subagent's summary is measured
against the article's own text with the measures of ``tests/unit/test_article_summaries.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demo_sites.server import SiteServer, serve_directory
from graph.context import Context
from graph.models import SiteTask
from nodes.browse.subagent import run_subagent
from tests.unit.test_article_summaries import (
    ARTICLES,
    MIN_COVERAGE,
    MIN_PRECISION,
    article,
    coverage,
    precision,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def articles() -> Iterator[SiteServer]:
    with serve_directory(ARTICLES) as server:
        yield server


@pytest.mark.parametrize("name", ["news_tram", "blog_sourdough", "docs_rate_limits"])
async def test_the_main_article_is_summarised_from_the_rendered_page(articles, tmp_path, name):
    ctx = Context(allow_hosts=[articles.host], runs_dir=str(tmp_path), max_pages=1)
    task = SiteTask(task_id=name, url=f"{articles.url}{name}.html", goal="the main article")
    findings = await run_subagent(
        task, ctx, artifacts_root=str(tmp_path), thread_id="t", progress=lambda *_: None
    )
    assert findings.status == "ok", findings.errors
    body = article(name)
    assert precision(findings.summary, body) >= MIN_PRECISION, findings.summary
    assert coverage(findings.summary, body) >= MIN_COVERAGE, findings.summary
    assert "hear what you think" not in findings.summary and "cookies" not in findings.summary
