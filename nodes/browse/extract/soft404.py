"""Soft 404s: error pages served with status 200, told by their title or heading and thin content.

A shop or blog that answers a missing page with "200 OK" and a "Page not found" template
would otherwise be read as a page of the site (its title taken for the site's name, its
"you may also like" links followed). A page is one when its title or its main heading says
so in the words such pages use ("404", "Page not found", "This page doesn't exist",
"Oops, we can't find that page", "no longer available") *and* its main content is thin:
an article about 404 errors, or a page whose text merely mentions "not found", has a body
of its own and is read as usual. Nothing here knows any site.
"""

from __future__ import annotations

import re

from nodes.browse.extract.dom import WS, parse_html

#: Main content below this many words is thin: an error message and a few links.
THIN_WORDS = 120
# Longest title or heading read as an error message (a long headline is an article's).
_MAX_MESSAGE_CHARS = 120

_APOS = "['’]"
_ERROR_MESSAGE = re.compile(
    r"\b(?:"
    r"(?:error\s*)?404\b"
    r"|(?:page|file|url|content|resource|article|post|product|document|link|item)s?\s+"
    r"(?:was\s+|is\s+|could\s+not\s+be\s+)?not\s+found"
    r"|^not\s+found"
    r"|error\s+(?:response|page|occurred)"
    rf"|(?:page|content|product|post)\s+(?:does\s+not|doesn{_APOS}t|no\s+longer)\s+exists?"
    rf"|can(?:not|{_APOS}t|\s+not)\s+(?:be\s+)?f(?:ind|ound)"
    rf"|could(?:\s+not|n{_APOS}t)\s+(?:be\s+)?f(?:ind|ound)"
    r"|(?:page|content|product)\s+(?:is\s+)?(?:missing|unavailable|gone|no\s+longer\s+available)"
    r"|nothing\s+(?:was\s+)?found\s+(?:here|at\s+this)"
    r"|page\s+(?:has\s+been\s+)?(?:removed|deleted|moved)"
    r")",
    re.IGNORECASE,
)


def error_phrase(text: str) -> str:
    """The words of an error message in a title or heading ("Page not found"); "" if none."""
    text = WS.sub(" ", text).strip()
    if not text or len(text) > _MAX_MESSAGE_CHARS:
        return ""
    found = _ERROR_MESSAGE.search(text)
    return found.group(0) if found else ""


def page_headings(html: str) -> list[str]:
    """The page's main headings: its ``h1``s, else its first ``h2`` (as text)."""
    root = parse_html(html)
    if root is None:
        return []
    texts = [WS.sub(" ", h.text_content()).strip() for h in root.iter("h1")]
    if not any(texts):
        texts = [WS.sub(" ", h.text_content()).strip() for h in root.iter("h2")][:1]
    return [t for t in texts if t]


def soft_404(title: str, headings: list[str], main: str) -> str:
    """Why a page served as 200 is an error page (`where: "phrase"`); "" when it is not.

    `main` is the page's main content as text (``main_text``): thin content is what tells an
    error page from a page about errors.
    """
    if len(main.split()) >= THIN_WORDS:
        return ""
    for where, text in (("title", title), *(("heading", h) for h in headings)):
        phrase = error_phrase(text)
        if phrase:
            return f'its {where} says "{phrase}"'
    return ""
