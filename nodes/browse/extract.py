"""Generic extraction for the offline brain: main text, tables, quantities, ranking, links.

Everything here is a pure function over a rendered DOM (an HTML string) or plain text. It knows
no site: boilerplate is recognised by HTML semantics (``nav``, ``footer``, ARIA roles) and by
generic words in class/id attributes (``cookie``, ``newsletter``, ``ad``), never by selectors
for a particular page.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
import trafilatura
from lxml.html import HtmlElement

from nodes.urls import DEFAULT_PORTS, page_identity

if TYPE_CHECKING:
    import pandas

__all__ = [
    "CONSENT_ACCEPT",
    "NEXT_PAGE",
    "NUMBER_WITH_UNIT",
    "Link",
    "PageTable",
    "extract_tables",
    "main_text",
    "merge_paginated",
    "merge_tables",
    "quantities",
    "rank_links",
    "rank_sentences",
    "split_sentences",
    "summarise",
    "table_frame",
]

# --------------------------------------------------------------------------------------------
# DOM helpers
# --------------------------------------------------------------------------------------------

_DROP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
_BOILER_TAGS = frozenset({"nav", "header", "footer", "aside", "dialog"})
_BOILER_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "dialog", "alertdialog", "complementary", "search"}
)
# Substrings strong enough to match inside glued names ("cookiebar", "newsletterSignup").
_BOILER_STRONG = re.compile(
    r"cookie|consent|gdpr|newsletter|advert|sponsor|onetrust|didomi|paywall|adsense"
)
# Words that must stand alone as a class/id token ("ad-slot" yes, "shadow"/"header-pad" no).
_BOILER_WORDS = frozenset(
    {
        "ad",
        "ads",
        "adslot",
        "adunit",
        "promo",
        "promotion",
        "popup",
        "modal",
        "overlay",
        "lightbox",
        "social",
        "share",
        "sharing",
        "breadcrumb",
        "breadcrumbs",
        "sidebar",
        "navbar",
        "nav",
        "menu",
        "footer",
        "masthead",
        "toolbar",
        "subscribe",
        "signup",
        "related",
        "comments",
        "comment",
        "skip",
        "toast",
        "snackbar",
        "banner-ad",
    }
)
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "br",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "caption",
        "button",
        "label",
        "option",
    }
)
_VISIBLE_TEXT = (
    ".//text()[not(ancestor::script or ancestor::style or ancestor::noscript"
    " or ancestor::template)]"
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")
_WS = re.compile(r"\s+")


def _parse(html: str) -> HtmlElement | None:
    """Parse an HTML string into a document tree; None when there is nothing to parse."""
    if not html or not html.strip():
        return None
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return None
    return root if isinstance(root, HtmlElement) else None


def _class_tokens(el: HtmlElement) -> list[str]:
    """Lower-case words of an element's class and id (camelCase split too)."""
    raw = f"{el.get('class', '')} {el.get('id', '')}"
    raw = re.sub(r"([a-z])([A-Z])", r"\1 \2", raw).lower()
    return [t for t in re.split(r"[^a-z0-9]+", raw) if t]


def _chrome_kind(el: HtmlElement) -> str:
    """ "strong" for unmistakable chrome, "weak" for a hint a page-wide wrapper may also carry."""
    if el.tag in _BOILER_TAGS:
        return "strong"
    if el.get("role", "").lower() in _BOILER_ROLES or el.get("aria-modal") == "true":
        return "strong"
    tokens = _class_tokens(el)
    if _BOILER_STRONG.search("".join(tokens)):
        return "strong"
    return "weak" if el.tag == "form" or any(t in _BOILER_WORDS for t in tokens) else ""


def _is_chrome(el: HtmlElement, total: int) -> bool:
    """True for containers holding site chrome rather than page content.

    Weak hints ("<form>", "with-sidebar") are ignored on an element that holds half the page:
    ASP.NET pages wrap everything in one form, and layouts name wrappers after their sidebar.
    """
    kind = _chrome_kind(el)
    if not kind or _protected(el):
        return False
    return kind == "strong" or _visible_len(el) < 0.5 * total


def _visible_len(el: HtmlElement) -> int:
    """Length of the text a reader could see inside ``el`` (scripts and styles left out)."""
    texts = el.xpath(_VISIBLE_TEXT)
    return sum(len(t.strip()) for t in texts) if isinstance(texts, list) else 0


def _is_hidden(el: HtmlElement) -> bool:
    """True for elements the rendered page does not show."""
    return el.get("hidden") is not None or bool(_HIDDEN_STYLE.search(el.get("style", "")))


def _protected(el: HtmlElement) -> bool:
    """Never drop the page's own content holders, even when a class word looks like chrome."""
    if el.tag in ("html", "body", "main", "article") or el.get("role") == "main":
        return True
    probe = ".//main | .//article | .//h1 | .//*[@role='main']"
    return el.tag != "nav" and bool(el.xpath(probe))


def _elements(root: HtmlElement) -> list[HtmlElement]:
    """All element nodes of a tree (comments and processing instructions left out)."""
    return [el for el in root.iter() if isinstance(el, HtmlElement)]


def _strip_boilerplate(root: HtmlElement) -> None:
    """Remove scripts, hidden nodes and then chrome containers from ``root`` in place."""
    for el in _elements(root):
        if el.getparent() is not None and (el.tag in _DROP_TAGS or _is_hidden(el)):
            el.drop_tree()
    total = _visible_len(root)  # measured without scripts: SPA state blobs dwarf the text
    for el in _elements(root):
        if el.getparent() is not None and _is_chrome(el, total):
            el.drop_tree()


def _is_layout_table(table: HtmlElement) -> bool:
    """Tables used for layout: ARIA presentation, or wrapping other tables."""
    role = table.get("role", "").lower()
    return role in ("presentation", "none") or bool(table.xpath(".//table"))


def _block_text(el: HtmlElement) -> str:
    """Visible text with a line break at every block boundary, whitespace normalised per line."""
    parts: list[str] = []
    _walk_text(el, parts)
    lines = (line.strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _walk_text(el: HtmlElement, parts: list[str]) -> None:
    """Collect ``el``'s text into ``parts``, breaking lines around block elements."""
    if isinstance(el.tag, str) and el.tag not in _DROP_TAGS:
        block = el.tag in _BLOCK_TAGS
        parts.append("\n" if block else "")
        parts.append(_WS.sub(" ", el.text or ""))  # source line breaks are not page breaks
        for child in el:
            _walk_text(child, parts)
        parts.append("\n" if block else "")
    parts.append(_WS.sub(" ", el.tail or ""))


# --------------------------------------------------------------------------------------------
# Main text
# --------------------------------------------------------------------------------------------


def main_text(html: str, url: str) -> str:
    """Main content of a rendered page as plain text ("" when there is none).

    Chrome is stripped first, then trafilatura extracts with precision favoured (no comments,
    no tables). Precision mode often keeps one card of a grid of ``div``s, so when it holds
    well under what the cleaned page shows, trafilatura's balanced mode is tried, and a
    readability-like heuristic over the cleaned DOM is the last resort.
    """
    root = _parse(html)
    if root is None:
        return ""
    _strip_boilerplate(root)
    for table in list(root.iter("table")):
        if not _is_layout_table(table):
            table.drop_tree()  # tables are delivered by extract_tables, not as prose
    fallback = _heuristic_text(root)
    for precise, share in ((True, 0.5), (False, 0.3)):
        text = _trafilatura_text(copy.deepcopy(root), url, precise=precise)
        if text and len(text) >= share * len(fallback):
            return text
    return fallback


def _trafilatura_text(root: HtmlElement, url: str, *, precise: bool) -> str:
    """Run trafilatura on a cleaned tree; "" when it finds no main content."""
    result = trafilatura.extract(
        root,
        url=url or None,
        favor_precision=precise,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        with_metadata=False,
        deduplicate=False,
    )
    return (result or "").strip()


def _heuristic_text(root: HtmlElement) -> str:
    """Readability-like fallback: text of the explicit main region or the densest container."""
    body = root.find("body")
    scope = body if body is not None else root
    marked = scope.xpath(".//main | .//*[@role='main'] | .//article")
    if marked:
        best = max(marked, key=lambda el: len(el.text_content()))
    else:
        best = max(_candidates(scope), key=_density_score, default=scope)
    return _block_text(best)


def _candidates(scope: HtmlElement) -> Iterator[HtmlElement]:
    """Containers that could hold the main content."""
    yield scope
    yield from scope.iter("div", "section", "td")


def _density_score(el: HtmlElement) -> float:
    """Text length discounted by link density, with a nudge towards tighter containers."""
    text = len(_WS.sub(" ", el.text_content()).strip())
    if text == 0:
        return 0.0
    links = sum(len(a.text_content()) for a in el.iter("a"))
    depth = sum(1 for _ in el.iterancestors())
    return text * (1.0 - links / text) * (1.0 + 0.01 * depth)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass
class PageTable:
    """A data table read from a page, cells verbatim (whitespace normalised)."""

    rows: list[list[str]]
    columns: list[str]
    caption: str
    numeric: bool


_PRECEDING_HEADINGS = (
    "preceding::*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]"
)
_MAX_SPAN = 50


def extract_tables(html: str) -> list[PageTable]:
    """Data tables of a page, skipping chrome, layout tables and exact duplicates."""
    root = _parse(html)
    if root is None:
        return []
    tables: list[PageTable] = []
    seen: set[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = set()
    total = _visible_len(root)
    for el in root.iter("table"):
        if _is_layout_table(el) or _in_chrome(el, total):
            continue
        table = _read_table(el, total)
        if table is None:
            continue
        key = (tuple(table.columns), tuple(tuple(r) for r in table.rows))
        if key not in seen:
            seen.add(key)
            tables.append(table)
    return tables


def _in_chrome(el: HtmlElement, total: int) -> bool:
    """True when an ancestor is navigation, a footer, a dialog, a form or similar chrome."""
    return any(_is_chrome(a, total) or _is_hidden(a) for a in el.iterancestors())


def _read_table(el: HtmlElement, total: int) -> PageTable | None:
    """Parse one <table>; None when it is too small to be data (< 2 columns or < 2 rows)."""
    header, body = _header_and_body(el)
    width = max((len(r) for r in [header, *body]), default=0)
    body = [r for r in body if any(r)]
    if width < 2 or len(body) < 2:
        return None
    columns = _column_names(header, width)
    rows = [r + [""] * (width - len(r)) for r in body]
    return PageTable(
        rows=rows, columns=columns, caption=_caption(el, total), numeric=_is_numeric(rows)
    )


def _header_and_body(el: HtmlElement) -> tuple[list[str], list[list[str]]]:
    """Split a table's rows into a header row and data rows."""
    head_rows = el.xpath("./thead/tr")
    rows = el.xpath("./tr | ./tbody/tr | ./tfoot/tr")
    if head_rows:
        return _cells(head_rows[-1]), [_cells(r) for r in rows]
    if not rows:
        return [], []
    return _cells(rows[0]), [_cells(r) for r in rows[1:]]


def _cells(tr: HtmlElement) -> list[str]:
    """Cell texts of a row, repeating a cell across its colspan."""
    out: list[str] = []
    for cell in tr.xpath("./th | ./td"):
        text = _WS.sub(" ", _block_text(cell)).strip()
        try:
            span = int(cell.get("colspan", "1"))
        except ValueError:
            span = 1
        out.extend([text] * min(max(span, 1), _MAX_SPAN))
    return out


def _column_names(header: list[str], width: int) -> list[str]:
    """Unique, non-empty column names for a header row padded to ``width``."""
    names: list[str] = []
    for i, raw in enumerate(header + [""] * (width - len(header))):
        name = raw or f"column_{i + 1}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def _caption(el: HtmlElement, total: int) -> str:
    """The table's <caption>, aria-label, or the nearest preceding heading outside chrome."""
    caption = el.find("caption")
    if caption is not None and caption.text_content().strip():
        return _WS.sub(" ", caption.text_content()).strip()
    if el.get("aria-label"):
        return _WS.sub(" ", el.get("aria-label", "")).strip()
    for heading in reversed(el.xpath(_PRECEDING_HEADINGS)):  # nearest first
        if not _in_chrome(heading, total) and heading.text_content().strip():
            return _WS.sub(" ", heading.text_content()).strip()
    return ""


def _is_numeric(rows: list[list[str]]) -> bool:
    """True when some column holds numbers in at least half of its non-empty cells."""
    for col in zip(*rows, strict=False):
        filled = [c for c in col if c]
        if filled and sum(bool(re.search(r"\d", c)) for c in filled) * 2 >= len(filled):
            return True
    return False


def table_frame(t: PageTable) -> pandas.DataFrame:
    """The table as a DataFrame whose columns are all strings."""
    import pandas as pd

    return pd.DataFrame(t.rows, columns=t.columns).astype(str)


def merge_tables(a: PageTable, b: PageTable) -> PageTable:
    """Append ``b``'s rows to ``a`` (pagination), dropping rows already present."""
    if a.columns != b.columns:
        msg = f"cannot merge tables with different columns: {a.columns!r} vs {b.columns!r}"
        raise ValueError(msg)
    rows = [list(r) for r in dict.fromkeys(tuple(r) for r in [*a.rows, *b.rows])]
    return PageTable(
        rows=rows,
        columns=list(a.columns),
        caption=a.caption or b.caption,
        numeric=a.numeric or b.numeric,
    )


def merge_paginated(tables: Iterable[PageTable]) -> list[PageTable]:
    """Merge tables that share a header (pages of one table) into one, first-seen order."""
    merged: dict[tuple[str, ...], PageTable] = {}
    for t in tables:
        key = tuple(t.columns)
        merged[key] = merge_tables(merged[key], t) if key in merged else merge_tables(t, t)
    return list(merged.values())


# --------------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------------

_CUR_SYMBOL = r"(?:(?<![A-Za-z])(?:US|CA|AU|NZ|HK|[ACRS]))?\$|[€£¥₹₩₽₺₪₫฿₴₦]"
_CUR_CODE = (
    r"\b(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|INR|CNY|RMB|SEK|NOK|DKK|PLN|BRL|MXN|SGD|HKD|ZAR|"
    r"KRW|CZK|HUF|TRY)\b"
)
_NUM = r"\d{1,3}(?:[,.\u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_MAG = r"(?:k|m|mn|bn|thousand|million|billion|trillion)(?![a-z])"
_UNIT = (
    r"(?:%|percent\b|per\s?cent\b|°[CF]\b|"
    r"(?:[kmgtpe]i?b|[kmg]bps|bytes?|(?:kilo|mega|giga|tera|peta)bytes?|"
    r"ms|secs?|seconds?|mins?|minutes?|hrs?|hours?|days?|weeks?|months?|years?|yrs?|"
    r"[kmg]hz|kwh|kw|watts?|kg|lbs?|oz|km|cm|mm|miles?|px|dpi|fps|x|"
    r"users?|seats?|members?|projects?|sites?|domains?|devices?|requests?|calls?|credits?|"
    r"emails?|messages?|contacts?|licen[cs]es?|accounts?|workspaces?|repos?|repositories|"
    r"builds?|gpus?|v?cpus?|cores?|nodes?|instances?|queries|tokens?|pages?|files?|"
    r"(?:usd|eur|gbp|chf|cad|aud|jpy|inr|sek|nok|dkk|pln)|€|£|¥)(?![a-z]))"
)
_PERIOD_WORD = (
    r"(?:mo|mos|mth|months?|yr|years?|annum|wk|weeks?|days?|hr|hours?|min|minutes?|"
    r"users?|seats?|members?|person|licen[cs]es?|[kmgt]i?b|requests?|devices?|sites?|"
    r"projects?|hosts?|nodes?|instances?|cores?|v?cpus?|units?)(?![a-z])"
)
_PERIOD = rf"(?:\s?(?:/|\bper\b|\ba\b|\ban\b)\s?{_PERIOD_WORD}|\s(?:monthly|yearly|annually|weekly|daily)\b)"

NUMBER_WITH_UNIT = re.compile(
    rf"""
    (?:(?:{_CUR_SYMBOL}|{_CUR_CODE})\s?[-−]?(?:{_NUM})(?:\s?{_MAG})?(?:\s?{_UNIT})?
      |(?<![\w.,])[-−]?(?:{_NUM})(?:\s?{_MAG}(?:\s?{_UNIT})?|\s?{_UNIT}))
    {_PERIOD}{{0,3}}
    """,
    re.IGNORECASE | re.VERBOSE,
)
"""A number together with its currency, unit, percent sign and per-period, as one span."""


def quantities(text: str) -> list[str]:
    """Numbers in ``text`` that carry a unit or currency, each with that unit, in order."""
    return [_WS.sub(" ", m.group(0)).strip() for m in NUMBER_WITH_UNIT.finditer(text)]


# --------------------------------------------------------------------------------------------
# Sentences and ranking
# --------------------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    {
        "e.g",
        "i.e",
        "etc",
        "vs",
        "approx",
        "inc",
        "ltd",
        "co",
        "corp",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "no",
        "fig",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "est",
        "u.s",
        "u.k",
        "cf",
        "al",
        "incl",
        "excl",
    }
)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9$€£¥])")
_BULLET = re.compile(r"^\s*(?:[-*•·▪◦‣–—>]|\d{1,2}[.)])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: every line (bullet, heading) stands alone, then split at stops.

    A stop ends a sentence only when followed by space and a capital, digit or currency, and
    not after a known abbreviation or a single-letter initial, so "9.99" and "e.g. X" hold.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", _WS.sub(" ", line)).strip()
        if line:
            out.extend(_split_line(line))
    return out


def _split_line(line: str) -> list[str]:
    """Split one line at sentence stops that are not abbreviations."""
    parts: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(line):
        words = line[start : m.start()].split()
        last = words[-1].lower().rstrip(".") if words else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        parts.append(line[start : m.end()].strip())
        start = m.end()
    parts.append(line[start:].strip())
    return [p for p in parts if p]


_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """a about above after all also an and any are as at be been but by can could do does
        each for from get got had has have how i if in into is it its just like may me more most
        my no not of on or our out over per so such than that the their them then there these
        they this to up us use via was we what when where which while who why will with would
        you your compare comparison find list show tell give versus vs between across""",
    )
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ed", "es", "ly", "age", "s", "e")
# A handful of generic equivalences so goal words meet the page's wording.
_SYNONYMS = {"cost": "pric", "fee": "pric", "charg": "pric", "capacity": "stor", "space": "stor"}
_BOILERPLATE = re.compile(
    r"\bcookies?\b|\bsubscribe\b|\bunsubscribe\b|all rights reserved|\bnewsletter\b|"
    r"sign up for|privacy policy|terms of (?:service|use)|©|\bcopyright\b|follow us|"
    r"skip to (?:main )?content|enable javascript|accept all|\bsponsored\b",
    re.IGNORECASE,
)


def _stem(word: str) -> str:
    """Light suffix stripping so price~prices~pricing~priced and store~storage agree."""
    w = word.lower()
    if len(w) > 4 and w.endswith(("ies", "ied")):
        return _SYNONYMS.get(w[:-3] + "y", w[:-3] + "y")
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if not (suffix == "s" and w.endswith("ss")):  # class, business
                w = w[: -len(suffix)]
            break
    return _SYNONYMS.get(w, w)


def _content_stems(text: str) -> set[str]:
    """Stems of the content words of ``text`` (stop words and single letters dropped)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {_stem(w) for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())}


def _scored(text: str, goal: str) -> list[tuple[int, str, float]]:
    """(position, sentence, score) for every non-boilerplate sentence with a positive score."""
    goal_stems = _content_stems(goal)
    allowed = _BOILERPLATE.search(goal)
    scored: list[tuple[int, str, float]] = []
    seen: set[str] = set()
    for i, sentence in enumerate(split_sentences(text)):
        if sentence in seen or (_BOILERPLATE.search(sentence) and not allowed):
            continue
        seen.add(sentence)
        score = _sentence_score(sentence, goal_stems)
        if score > 0:
            scored.append((i, sentence, score))
    return scored


def _sentence_score(sentence: str, goal_stems: set[str]) -> float:
    """Goal-word overlap plus a bonus for carried quantities, minus a little for rambling."""
    stems = _content_stems(sentence)
    overlap = len(goal_stems & stems)
    found = quantities(sentence)
    if overlap == 0 and not found:
        return 0.0
    if len(sentence.split()) < 3 and not found:
        return 0.0  # a bare heading restates the goal without carrying a fact
    bonus = 0.5 * min(len(found), 3)
    rambling = 0.02 * max(0, len(sentence.split()) - 40)
    return round(overlap + bonus - rambling, 4)


def rank_sentences(text: str, goal: str, *, k: int = 8) -> list[tuple[str, float]]:
    """The ``k`` sentences most relevant to ``goal``, best first; ties keep document order."""
    scored = sorted(_scored(text, goal), key=lambda t: (-t[2], t[0]))
    return [(sentence, score) for _, sentence, score in scored[:k]]


def summarise(text: str, goal: str, *, max_chars: int = 1500) -> str:
    """The best sentences for ``goal`` in document order, at most ``max_chars`` long."""
    ranked = sorted(_scored(text, goal), key=lambda t: (-t[2], t[0]))
    chosen: list[tuple[int, str]] = []
    used = 0
    for pos, sentence, _ in ranked:
        cost = len(sentence) + (1 if chosen else 0)
        if used + cost <= max_chars:
            chosen.append((pos, sentence))
            used += cost
    if not chosen and ranked:
        return _truncate(ranked[0][1], max_chars)
    return " ".join(s for _, s in sorted(chosen))


def _truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` at a word boundary so it fits ``max_chars`` with an ellipsis."""
    if len(text) <= max_chars:
        return text
    cut = text[: max(max_chars - 1, 0)].rsplit(" ", 1)[0]
    return f"{cut}…" if max_chars > 0 else ""


# --------------------------------------------------------------------------------------------
# Links
# --------------------------------------------------------------------------------------------


@dataclass
class Link:
    """A same-site link worth following, with its relevance to the goal."""

    url: str
    text: str
    score: float


_DOWNLOAD = re.compile(
    r"\.(?:pdf|zip|gz|tgz|bz2|xz|rar|7z|exe|dmg|pkg|msi|deb|rpm|apk|iso|csv|xlsx?|docx?|"
    r"pptx?|mp[34]|mov|avi|webm|png|jpe?g|gif|svg|webp|ico)$",
    re.IGNORECASE,
)
_AVOID_PATH = re.compile(
    r"(?:^|[^a-z])(?:log-?in|log-?out|sign-?in|sign-?up|sign-?out|register|auth|oauth|sso|"
    r"account|my-?account|password|cart|basket|checkout|privacy|terms|tos|legal|cookies?|"
    r"gdpr|imprint|impressum|unsubscribe|subscribe|wp-admin|admin)(?:[^a-z]|$)",
    re.IGNORECASE,
)


def _site(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def _followable(href: str, base_url: str) -> str | None:
    """The absolute URL of ``href`` when it is a same-site page worth visiting, else None."""
    href = href.strip()
    if not href or href.startswith("#") or re.match(r"(?i)(?:mailto|javascript|tel|data):", href):
        return None
    try:
        absolute = urljoin(base_url, href)
        parts = urlsplit(absolute)
        same_site = _site(absolute) == _site(base_url)
    except ValueError:  # malformed ports or IPv6 literals in hand-written hrefs
        return None
    if parts.scheme not in ("http", "https") or not same_site:
        return None
    if _DOWNLOAD.search(parts.path) or _AVOID_PATH.search(f"{parts.path}?{parts.query}"):
        return None
    return absolute


def rank_links(
    links: list[tuple[str, str]],
    *,
    base_url: str,
    goal: str,
    visited: set[str],
    limit: int,
) -> list[Link]:
    """Same-site links ranked by goal overlap of anchor text and path, best first, ≤ ``limit``."""
    goal_stems = _content_stems(goal)
    seen = {page_identity(u) for u in visited} | {page_identity(base_url)}
    best: dict[str, tuple[int, Link]] = {}
    for order, (href, text) in enumerate(links):
        absolute = _followable(href, base_url)
        if absolute is None or (key := page_identity(absolute)) in seen:
            continue
        score = _link_score(key, text, goal_stems)
        if score > 0 and (key not in best or score > best[key][1].score):
            best[key] = (order, Link(url=key, text=_WS.sub(" ", text).strip(), score=score))
    ranked = sorted(best.values(), key=lambda t: (-t[1].score, t[0]))
    return [link for _, link in ranked[: max(limit, 0)]]


def _link_score(url: str, text: str, goal_stems: set[str]) -> float:
    """Anchor words count fully, path words half; deep paths are nudged down slightly."""
    path = urlsplit(url).path
    anchor = len(goal_stems & _content_stems(text))
    in_path = len(goal_stems & _content_stems(re.sub(r"[^A-Za-z0-9]+", " ", path)))
    if anchor + in_path == 0:
        return 0.0
    depth = path.strip("/").count("/")
    return round(anchor + 0.5 * in_path - 0.05 * depth, 4)


# --------------------------------------------------------------------------------------------
# Buttons the browser subagent may press
# --------------------------------------------------------------------------------------------

CONSENT_ACCEPT = re.compile(
    r"""^\s*(?:
        accept(?:\s+(?:all|cookies|all\s+cookies|and\s+close|&\s+close))?
      | i\s+(?:agree|accept|understand)
      | agree(?:\s+(?:and|&)\s+(?:close|continue))?
      | allow(?:\s+all)?(?:\s+cookies)?
      | got\s+it
      | ok(?:ay)?
      | close
      | dismiss
      | no,?\s+thanks
      | not\s+now
      | maybe\s+later
      | reject\s+all
      | [×✕✖╳x]
    )\s*[.!]?\s*\Z""",
    re.IGNORECASE | re.VERBOSE,
)
"""Whole button texts that dismiss a cookie, consent or newsletter overlay."""

NEXT_PAGE = re.compile(
    r"""^\s*(?:
        (?:next(?:\s+page)?|load\s+more|show\s+more|more\s+results|see\s+more|older\s+posts)
        (?:\s*[›»→>]{1,2})?
      | [›»→>]{1,2}
    )\s*\Z""",
    re.IGNORECASE | re.VERBOSE,
)
"""Whole button or link texts of pagination controls ("Next ›", "Load more", "»")."""


_TITLE_SEPARATORS = re.compile(r"\s+[|·—–:-]\s+")


def site_name(titles: list[str], url: str) -> str:
    """The site's own name: the title segment its pages share, else the first title, else the host.

    Sites repeat their name in every page title ("Pricing — Acme", "Acme — home"); the segment
    seen most often across the pages read is taken as the name.
    """
    segments = [
        [part.strip() for part in _TITLE_SEPARATORS.split(title) if part.strip()]
        for title in titles
        if title.strip()
    ]
    counts: dict[str, int] = {}
    for parts in segments:
        for part in dict.fromkeys(parts):
            counts[part] = counts.get(part, 0) + 1
    shared = [part for part, n in counts.items() if n >= 2 and len(part) <= 60]
    if shared:
        return max(shared, key=lambda part: counts[part])
    if titles and titles[0].strip():
        return titles[0].strip()[:60]
    return urlsplit(url).netloc or url
