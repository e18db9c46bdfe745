"""Both report files from one view, through Jinja2 templates that escape what they print.

`report.md.j2` runs in an environment whose every `{{ … }}` is markdown-escaped unless a
filter marked it as markdown already (`Md`); `report.html.j2` runs with HTML autoescaping.
Filters (`prose`, `coded`, `link`, `autolink`) are the only way to make a link, and they link
only the run's own sources. The templates ship in the package (`nodes/report/templates/`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from nodes.report.escape import (
    coded,
    link_target,
    md_autolink,
    md_block,
    md_coded,
    md_link,
    md_prose,
    md_text,
    segments,
)
from nodes.report.view import ReportView

MARKDOWN_TEMPLATE = "report.md.j2"
_BLANK_RUNS = re.compile(r"\n{3,}")
_HEADING = re.compile(r"\n(#{1,3} )")
HTML_TEMPLATE = "report.html.j2"


class Md(str):
    """Text that is markdown already (made by a filter here): printed as it is."""

    __slots__ = ()


def _md_finalize(value: Any) -> str:
    if isinstance(value, Md):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return md_text(value)


def _secs(value: float) -> Md:
    return Md(f"{value:.1f} s")


def _md_code(text: object) -> Md:
    inner = " ".join(str(text).replace("`", "'").split()) or " "
    return Md(f"`{inner}`")


def _md_filters() -> dict[str, Any]:
    def prose(text: str, allowed: Collection[str]) -> Md:
        return Md(md_prose(text, allowed))

    def link(label: str, url: str, allowed: Collection[str]) -> Md:
        return Md(md_link(label, url, allowed))

    def autolink(url: str, allowed: Collection[str]) -> Md:
        return Md(md_autolink(url, allowed))

    def cell(value: Any) -> Md:
        return Md(md_text(value) or " ")

    return {
        "prose": prose,
        "link": link,
        "autolink": autolink,
        "coded": lambda text: Md(md_coded(str(text))),
        "block": lambda text: Md(md_block(text)),
        "cell": cell,
        "secs": _secs,
        # Our own relative file paths (percent-encoded by the view), never page text.
        "raw": lambda text: Md(str(text)),
        "num": lambda n: Md(f"{int(n):,}"),
        "code": _md_code,
    }


def _html_filters() -> dict[str, Any]:
    def prose(text: str, allowed: Collection[str]) -> Markup:
        out = Markup("")
        for seg in segments(text, allowed):
            if seg.url:
                out += Markup('<a href="{}" rel="noreferrer">{}</a>').format(seg.url, seg.text)
            else:
                out += escape(seg.text)
        return out

    def link(label: str, url: str, allowed: Collection[str]) -> Markup:
        target = link_target(url, allowed)
        if target is None:
            return Markup("{} (<span class=url>{}</span>)").format(label, url)
        return Markup('<a href="{}" rel="noreferrer">{}</a>').format(target, label)

    def autolink(url: str, allowed: Collection[str]) -> Markup:
        return link(url, url, allowed)

    def coded_html(text: str) -> Markup:
        out = Markup("")
        for piece, code in coded(str(text)):
            out += Markup("<code>{}</code>").format(piece) if code else escape(piece)
        return out

    return {
        "prose": prose,
        "link": link,
        "autolink": autolink,
        "coded": coded_html,
        "secs": lambda v: f"{v:.1f} s",
        "num": lambda n: f"{int(n):,}",
        "code": lambda text: Markup("<code>{}</code>").format(text),
    }


@cache
def environment(kind: str) -> Environment:
    """The Jinja2 environment for `kind` ("md" or "html"), templates from the package."""
    loader = PackageLoader("nodes.report", "templates")
    if kind == "md":
        env = Environment(
            loader=loader,
            autoescape=False,
            finalize=_md_finalize,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(_md_filters())
    else:
        env = Environment(
            loader=loader,
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(_html_filters())
    return env


def render_markdown(view: ReportView) -> str:
    """`report.md` for the view."""
    text = environment("md").get_template(MARKDOWN_TEMPLATE).render(v=view)
    # Page text holds no newline and starts no line with "#" (escaping folds and escapes
    # them), so this only tidies the template's own lines: a blank line before each heading,
    # never two in a row.
    text = _HEADING.sub("\n\n\\1", text)
    return _BLANK_RUNS.sub("\n\n", text).strip("\n") + "\n"


def render_html(view: ReportView) -> str:
    """`report.html` for the view: one file, charts inline, no request to anywhere."""
    return environment("html").get_template(HTML_TEMPLATE).render(v=view)
