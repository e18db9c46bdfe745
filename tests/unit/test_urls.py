"""Every place that asks whether two URLs are the same page gets the same answer."""

from __future__ import annotations

import pytest

from nodes.urls import page_identity

SAME = [
    ("HTTP://Example.COM:80/plans/#monthly", "http://example.com/plans"),
    ("https://example.com:443", "https://example.com/"),
    ("  http://example.com/?tab=2#top ", "http://example.com?tab=2"),
    ("http://[::1]:8080/x/", "http://[::1]:8080/x"),
]
DIFFERENT = [
    ("http://example.com/a", "https://example.com/a"),  # scheme
    ("http://example.com:8080/", "http://example.com/"),  # a port that is not the default
    ("http://example.com/a?x=1", "http://example.com/a?x=2"),  # query
    ("http://example.com/A", "http://example.com/a"),  # paths are case sensitive
]


@pytest.mark.parametrize(("one", "two"), SAME)
def test_spellings_of_one_page_share_an_identity(one: str, two: str) -> None:
    assert page_identity(one) == page_identity(two)


@pytest.mark.parametrize(("one", "two"), DIFFERENT)
def test_different_pages_keep_different_identities(one: str, two: str) -> None:
    assert page_identity(one) != page_identity(two)


def test_text_that_is_not_a_url_is_its_own_identity() -> None:
    assert page_identity(" http://h:99999/ ") == "http://h:99999/"
    assert page_identity("not a url") == "not a url"
