"""Soft 404s: error pages served as 200 are told from real pages by title/heading and thin text.

The fixture pages (tests/fixtures/soft404/) are in the shape of real shops', blogs' and docs'
error templates (navigation, search, suggested products, newsletter, cookie banner) and of
real pages that mention errors; each goes through the same main-text extraction as a
browsed page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodes.browse.extract.soft404 import error_phrase, page_headings, soft_404
from nodes.browse.extract.text import main_text
from nodes.browse.pages import soft_404_error

PAGES = Path(__file__).parent.parent / "fixtures" / "soft404"
URL = "http://127.0.0.1:8000/some/page"


def _verdict(name: str) -> str:
    html = (PAGES / name).read_text(encoding="utf-8")
    title_match = re.search(r"<title>(.*?)</title>", html, re.S)
    title = title_match.group(1) if title_match else ""
    return soft_404(title, page_headings(html), main_text(html, URL))


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("shop-404.html", 'its title says "Page not found"'),
        ("blog-oops.html", 'its heading says "can\'t find"'),
        ("docs-missing.html", 'its heading says "page doesn\'t exist"'),
        ("error-title-only.html", 'its title says "404"'),
    ],
)
def test_error_templates_served_as_200_are_soft_404s(name: str, why: str) -> None:
    assert _verdict(name) == why


@pytest.mark.parametrize(
    "name",
    [
        "real-article-about-404s.html",  # its title says "Page not found", its body is long
        "real-product-mentions-not-found.html",  # "size not found?" in the text only
        "real-docs-error-codes.html",  # a short page listing "404 Not Found" in a table
    ],
)
def test_real_pages_that_mention_errors_are_read(name: str) -> None:
    assert _verdict(name) == ""


def test_the_error_names_soft_404_and_is_an_http_error() -> None:
    html = (PAGES / "shop-404.html").read_text(encoding="utf-8")
    error = soft_404_error(URL, "Page not found | Pedalia Bikes", html, main_text(html, URL))
    assert error is not None and error.kind == "http_error" and error.where == URL
    assert error.message.startswith("soft 404: the page was served as 200 but its title says")
    page = "<html><head><title>Pricing</title></head><body><h1>Plans</h1></body></html>"
    assert soft_404_error(URL, "Pricing", page, "Plans") is None


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Page Not Found – Acme", "Page Not Found"),
        ("Not Found", "Not Found"),
        ("Error 404", "Error 404"),
        ("Sorry, this page is no longer available", "page is no longer available"),
        ("We couldn’t find that page", "couldn’t find"),
        ("Error response", "Error response"),
        ("Lost cat not found yet, owners say", ""),
        ("No results found for “battery”", ""),
        ("Found: the lightest e-bike of 2026", ""),
        ("Pricing | Acme", ""),
        ("404 " + "words " * 40, ""),  # a headline this long is an article's, not a message
    ],
)
def test_error_phrases(text: str, phrase: str) -> None:
    assert error_phrase(text) == phrase
