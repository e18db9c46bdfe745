"""Page text in both reports is text: never a link, an image, a tag or emphasis it did not have.

report.md is parsed by a CommonMark parser (markdown-it-py) and report.html by the standard
library's HTML parser; what a page wrote must come out of each as the same words, and the only
links are to pages the subagents read.
"""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from graph.models import Analysis, ArtifactRef, Fact, Findings, Plan, SubagentError, TableRef
from nodes.report.escape import md_block, md_prose, md_text
from nodes.report.node import render, write_report
from nodes.report.timeline import build, ticks

INJECTIONS = (
    "![x](https://tracker.example/p.png)",
    "<img src=https://tracker.example/i.png>",
    '<script>alert("report")</script>',
    "[click](javascript:alert(1))",
    "<https://tracker.example/auto>",
    "**loud** _quiet_ `code` ~~gone~~ &amp; \\*",
)
SITE = "https://quill.example/"
PAGE = "https://quill.example/plans"
ALLOWED = {SITE, PAGE}
MD = MarkdownIt("commonmark").enable("table")
# A 1×1 PNG: the HTML report embeds chart files as they are.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAX+XDSwAAAABJRU5ErkJggg=="
)


def _text_of(html: str) -> str:
    parser = _Collect()
    parser.feed(html)
    return " ".join(" ".join(parser.text).split())


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize(
    "text",
    [
        *INJECTIONS,
        "Pro costs $9.99/mo. (billed yearly)",
        "a_b_c __init__ snake_case _lead trail_",
        "# heading? > quote? - item? 1. item? +1 =",
        "mail sales@tracker.example or www.tracker.example or http://tracker.example/x",
        "pipes | in | cells \\| and back\\slashes \\",
        "&lt;entity&gt; &#x3C;num&#x3E; &copy;",
    ],
)
def test_escaped_text_renders_as_exactly_that_text(text: str) -> None:
    for escaped in (md_text(text), md_block(text)):
        tokens = MD.parseInline(escaped)[0].children or []
        assert [t.type for t in tokens] == ["text"] * len(tokens), escaped
        assert "".join(t.content for t in tokens) == " ".join(text.split())


def test_autolinks_gfm_would_make_are_broken_up() -> None:
    escaped = md_text("see https://tracker.example/x, www.tracker.example and me@tracker.example")
    assert "https\\://" in escaped and "www\\." in escaped and "me\\@" in escaped


def test_model_prose_keeps_links_to_sources_only() -> None:
    prose = (
        f"Cheapest is Basic ([source]({PAGE})), see ![x](https://tracker.example/p.png) "
        "and [click](javascript:alert(1)) or [here](https://tracker.example/)"
    )
    tokens = MD.parseInline(md_prose(prose, ALLOWED))[0].children or []
    links = [t.attrs["href"] for t in tokens if t.type == "link_open"]
    assert links == [PAGE]
    assert not [t for t in tokens if t.type in ("image", "html_inline")]


def _state(tmp_path: Path) -> dict[str, Any]:
    chart = tmp_path / "runs" / "t" / "analysis" / "charts" / "price.png"
    chart.parent.mkdir(parents=True)
    chart.write_bytes(PNG)
    csv = tmp_path / "runs" / "t" / "artifacts" / "site-1" / "table-1.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("Plan,Price\n" + "".join(f'"{i}",$6.00/mo\n' for i in INJECTIONS))
    joined = " ".join(INJECTIONS)
    finding = Findings(
        task_id="site-1",
        site=SITE,
        site_name=f"Quill {INJECTIONS[2]}",
        goal="q",
        pages_visited=[SITE, PAGE],
        summary=f"Quill sells backups. {joined}",
        key_facts=[Fact(text=f"Basic costs $6.00 {i}", source_url=PAGE) for i in INJECTIONS]
        + [Fact(text="Elsewhere", source_url="https://tracker.example/fact")],
        tables=[
            TableRef(
                artifact=ArtifactRef(path=str(csv), media_type="text/csv", size=1, sha256="0"),
                source_url=PAGE,
                caption=INJECTIONS[0],
                columns=["Plan", INJECTIONS[3]],
                n_rows=len(INJECTIONS),
            )
        ],
        errors=[SubagentError(where=PAGE, kind="odd", message=f"page said {INJECTIONS[1]}")],
        elapsed_s=1.5,
        browser_jail="bwrap+netns",
    )
    cells = [i.replace("|", "\\|") for i in INJECTIONS]
    rows = "\n".join(f"| Quill | {cell} | price | 6 USD | $6 |" for cell in cells)
    analysis = Analysis(
        charts=[ArtifactRef(path=str(chart), media_type="image/png", size=len(PNG), sha256="0")],
        comparison_markdown=f"| site | item | metric | value | raw |\n|---|---|---|---|---|\n{rows}",
        highlights=[f"Cheapest: Basic {INJECTIONS[0]} at Quill"],
        sandbox_tier="bwrap+seccomp",
    )
    plan = Plan(recalled=[f"{INJECTIONS[3]} (from run t-0, 2026-01-01)"])
    spans = [
        {"phase": "coordinator", "task_id": "", "start": 100.0, "end": 100.5},
        {"phase": "browser", "task_id": "site-1", "start": 100.6, "end": 102.6},
        {"phase": "analyst", "task_id": "", "start": 102.7, "end": 104.0},
    ]
    return {
        "question": f"Which plan? {INJECTIONS[4]}",
        "urls": [SITE],
        "brain": "offline",
        "plan": plan,
        "findings": [finding],
        "analysis": analysis,
        "timeline": spans,
    }


def test_a_pages_markup_is_text_in_report_md(tmp_path: Path) -> None:
    path, answer, _ = write_report(_state(tmp_path), runs_dir=str(tmp_path / "runs"), thread_id="t")
    markdown = path.read_text()
    tokens = [t for block in MD.parse(markdown) for t in [block, *(block.children or [])]]
    kinds = {t.type for t in tokens}
    assert "html_inline" not in kinds and "html_block" not in kinds
    images = [t.attrs["src"] for t in tokens if t.type == "image"]
    assert images == ["analysis/charts/price.png"], "only the run's own chart is an image"
    links = {t.attrs["href"] for t in tokens if t.type == "link_open"}
    assert links <= ALLOWED | {"artifacts/site-1/table-1.csv"}
    assert PAGE in links and "https://tracker.example/fact" not in links
    text = _text_of(MD.render(markdown))
    for injection in INJECTIONS:
        assert injection in text, injection
    assert "tracker.example/p.png" in answer[0] and "![x]" not in answer[0]


def test_a_pages_markup_is_text_in_report_html(tmp_path: Path) -> None:
    path, _, _ = write_report(_state(tmp_path), runs_dir=str(tmp_path / "runs"), thread_id="t")
    html = path.with_suffix(".html").read_text()
    parser = _Collect()
    parser.feed(html)
    tags = [tag for tag, _ in parser.tags]
    assert "script" not in tags and "iframe" not in tags and "object" not in tags
    images = [attrs["src"] or "" for tag, attrs in parser.tags if tag == "img"]
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(images[0].split(",", 1)[1]) == PNG
    hrefs = {attrs.get("href") for tag, attrs in parser.tags if tag == "a"}
    assert hrefs <= ALLOWED | {"artifacts/site-1/table-1.csv"} and PAGE in hrefs
    assert not any(attrs.get("src") for tag, attrs in parser.tags if tag != "img")
    text = " ".join(" ".join(parser.text).split())
    for injection in INJECTIONS:
        assert injection in text, injection


def test_the_timeline_puts_every_step_on_one_axis(tmp_path: Path) -> None:
    state = _state(tmp_path)
    earlier = {"phase": "coordinator", "task_id": "", "start": 1.0, "end": 2.0}
    line = build([earlier, *state["timeline"]], state["findings"], report_start=104.1, now=104.5)
    name = state["findings"][0].site_name
    assert [b.label for b in line.bars] == ["plan", f"site-1 {name}", "analyst", "report"]
    assert line.total_s == pytest.approx(4.5)
    site = line.bars[1]
    # Its subagent ran its last 1.5 s (elapsed_s); the 0.5 s before was waiting for a slot.
    assert (site.start_s, site.run_start_s, site.end_s) == pytest.approx((0.6, 1.1, 2.6))
    assert site.left == pytest.approx(0.6 / 4.5 * 100, abs=1e-3)
    assert site.wait_width == pytest.approx(0.5 / 4.5 * 100, abs=1e-3)
    assert ticks(4.5)[-1] == (pytest.approx(4 / 4.5 * 100, abs=1e-3), "4 s")
    markdown, _, _ = render(state, thread_id="t", report_path=tmp_path / "runs/t/report.md")
    section = markdown.split("## Timeline")[1].split("## ")[0]
    assert f"| site-1 {md_text(name)} | 0.6 s | 2.0 s | 0.5 s |" in section
    assert "| analyst | 2.7 s | 1.3 s | — |" in section
    assert (
        "_Not recorded for this run._"
        in render({"question": "q"}, thread_id="t", report_path=tmp_path / "r.md")[0]
    )


def test_a_model_written_answer_keeps_only_links_to_sources_in_both_files(
    tmp_path: Path,
) -> None:
    state = _state(tmp_path) | {"brain": "llm"}
    bullet = f"Basic is cheapest ([source]({PAGE})) ![x](https://tracker.example/p.png)"
    path, answer, _ = write_report(
        state, runs_dir=str(tmp_path / "runs"), thread_id="t", answer=[bullet], writer="w"
    )
    assert answer == [
        f"Basic is cheapest ([source]({PAGE})) !\\[x\\](https\\://tracker.example/p.png)"
    ]
    parser = _Collect()
    parser.feed(path.with_suffix(".html").read_text())
    answer_links = [a.get("href") for tag, a in parser.tags if tag == "a"]
    assert PAGE in answer_links and "https://tracker.example/p.png" not in answer_links
    assert "- Report writer: `w`" in path.read_text()
