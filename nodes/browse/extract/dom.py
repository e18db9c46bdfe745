"""DOM helpers the extractors share: parsing, chrome and hidden nodes, block-aware text.

Boilerplate is recognised by HTML semantics (``nav``, ``footer``, ARIA roles) and by generic
words in class/id attributes (``cookie``, ``newsletter``, ``ad``), never by selectors for a
particular page.
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

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
WS = re.compile(r"\s+")


def parse_html(html: str) -> HtmlElement | None:
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
    """Say "strong" for unmistakable chrome, "weak" for a hint a page-wide wrapper may carry."""
    if el.tag in _BOILER_TAGS:
        return "strong"
    if el.get("role", "").lower() in _BOILER_ROLES or el.get("aria-modal") == "true":
        return "strong"
    tokens = _class_tokens(el)
    if _BOILER_STRONG.search("".join(tokens)):
        return "strong"
    return "weak" if el.tag == "form" or any(t in _BOILER_WORDS for t in tokens) else ""


def is_chrome(el: HtmlElement, total: int) -> bool:
    """True for containers holding site chrome rather than page content.

    Weak hints ("<form>", "with-sidebar") are ignored on an element that holds half the page:
    ASP.NET pages wrap everything in one form, and layouts name wrappers after their sidebar.
    """
    kind = _chrome_kind(el)
    if not kind or _protected(el):
        return False
    return kind == "strong" or visible_len(el) < 0.5 * total


def visible_len(el: HtmlElement) -> int:
    """Length of the text a reader could see inside ``el`` (scripts and styles left out)."""
    texts = el.xpath(_VISIBLE_TEXT)
    return sum(len(t.strip()) for t in texts) if isinstance(texts, list) else 0


def is_hidden(el: HtmlElement) -> bool:
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


def strip_boilerplate(root: HtmlElement) -> None:
    """Remove scripts, hidden nodes and then chrome containers from ``root`` in place."""
    for el in _elements(root):
        if el.getparent() is not None and (el.tag in _DROP_TAGS or is_hidden(el)):
            el.drop_tree()
    total = visible_len(root)  # measured without scripts: SPA state blobs dwarf the text
    for el in _elements(root):
        if el.getparent() is not None and is_chrome(el, total):
            el.drop_tree()


def is_layout_table(table: HtmlElement) -> bool:
    """Tables used for layout: ARIA presentation, or wrapping other tables."""
    role = table.get("role", "").lower()
    return role in ("presentation", "none") or bool(table.xpath(".//table"))


def block_text(el: HtmlElement) -> str:
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
        parts.append(WS.sub(" ", el.text or ""))  # source line breaks are not page breaks
        for child in el:
            _walk_text(child, parts)
        parts.append("\n" if block else "")
    parts.append(WS.sub(" ", el.tail or ""))
