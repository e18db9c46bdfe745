"""The report a person reads: answer first, every failure listed, sources linked, nothing lost."""

from pathlib import Path

import pytest

from graph.models import Analysis, ArtifactRef, Fact, Findings, Plan, RefusedTarget, SubagentError
from nodes.browse.extract.site_name import site_name
from nodes.report.node import render, short_answer, sources


def _findings(task_id: str, site: str, **kw) -> Findings:
    return Findings(task_id=task_id, site=site, goal="prices", **kw)


def _state(**kw):
    return {"question": "Compare prices", "urls": [], "brain": "offline", **kw}


def test_report_lists_every_failure_and_keeps_the_good_branch(tmp_path):
    good = _findings(
        "site-1",
        "https://a.example/",
        site_name="Acme",
        pages_visited=["https://a.example/", "https://a.example/pricing"],
        key_facts=[
            Fact(text="Pro costs $9.99/mo.", source_url="https://a.example/pricing", score=3)
        ],
    )
    bad = _findings(
        "site-2",
        "https://b.example/",
        status="failed",
        errors=[
            SubagentError(
                where="https://b.example/", kind="timeout", message="did not load in time"
            )
        ],
    )
    plan = Plan(
        refused=[
            RefusedTarget(url="ftp://x", rule="scheme", reason="scheme 'ftp' is not http or https")
        ]
    )
    analysis = Analysis(
        errors=[SubagentError(where="analyst", kind="no_tables", message="no table to compare")]
    )
    markdown, answer, failed = render(
        _state(findings=[bad, good], plan=plan, analysis=analysis),
        thread_id="t1",
        report_path=tmp_path / "report.md",
    )
    assert answer == ["Pro costs $9.99/mo. ([source](https://a.example/pricing))"]
    assert "### Acme" in markdown and "Pro costs $9.99/mo." in markdown
    assert "1. <https://a.example/>" in markdown and "2. <https://a.example/pricing>" in markdown
    assert len(failed) == 3
    # A refused target is what someone typed: shown as text (no autolink), the rule as code.
    for needle in ("ftp\\://x: refused by rule `scheme`", "(timeout)", "analyst (no_tables)"):
        assert needle in markdown


def test_charts_are_linked_relative_to_the_report(tmp_path):
    chart = tmp_path / "analysis" / "charts" / "price_usd_month.png"
    ref = ArtifactRef(path=str(chart), media_type="image/png", size=1, sha256="0")
    analysis = Analysis(charts=[ref], highlights=["Cheapest: Mini at Acme — $3.00/mo"])
    markdown, answer, failed = render(
        _state(analysis=analysis), thread_id="t", report_path=tmp_path / "report.md"
    )
    assert "![price usd month](analysis/charts/price_usd_month.png)" in markdown
    assert answer == ["Cheapest: Mini at Acme — $3.00/mo"]
    assert failed == [] and "_Nothing failed._" in markdown


def test_sources_are_unique_and_in_plan_order():
    a = _findings("site-1", "https://a/", pages_visited=["https://a/", "https://a/p"])
    b = _findings("site-2", "https://b/", pages_visited=["https://b/", "https://a/p"])
    assert sources([b, a]) == ["https://a/", "https://a/p", "https://b/"]
    assert short_answer(Analysis(), [a, b]) == []


@pytest.mark.parametrize(
    ("titles", "url", "name"),
    [
        (
            ["Plans & pricing — Acme Cloud", "Acme Cloud — home", "Blog | Acme Cloud"],
            "https://acme.example/",
            "Acme Cloud",
        ),
        # A whole title is not a site's name: the host is (tests/unit/test_site_name.py).
        (["Only one page title"], "https://x.example/", "x.example"),
        ([], "https://x.example:8443/path", "x.example:8443"),
        (["", ""], "http://127.0.0.1:8000/", "127.0.0.1:8000"),
    ],
)
def test_site_name_is_what_the_pages_titles_share(titles, url, name):
    assert site_name(titles, url) == name


def test_report_file_is_plain_markdown(tmp_path):
    markdown, _, _ = render(_state(), thread_id="t", report_path=Path(tmp_path / "r.md"))
    assert markdown.startswith("# Research report\n\n**Question:** Compare prices")
    assert "## What failed" in markdown


def test_a_subagents_screenshots_are_linked_under_its_site(tmp_path):
    shot = tmp_path / "artifacts" / "site-1" / "screenshot-1.png"
    ref = ArtifactRef(path=str(shot), media_type="image/png", size=1, sha256="0")
    found = _findings("site-1", "https://a.example/", site_name="Acme", screenshots=[ref])
    markdown, _, _ = render(
        _state(findings=[found]), thread_id="t", report_path=tmp_path / "report.md"
    )
    assert "Screenshots:\n\n- [screenshot-1.png](artifacts/site-1/screenshot-1.png)" in markdown
